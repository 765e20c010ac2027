package registry

import (
	"context"
	"fmt"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Copy copies src, an image, an index or an artifact already in a
// registry (c's credentials read it), to dst (to's write it) under each
// tag, or by its digest alone when tags is empty, and returns the digest
// each tag names, read back. Blobs stream from one registry to the other;
// a registry mounts what it has in another repository. An artifact's
// subject brings the referrers tag schema's index up to date at dst, as
// Attach does.
func (c *Client) Copy(ctx context.Context, src reference.Canonical, to *Client, dst reference.Named, tags []reference.NamedTagged) ([]string, error) {
	d := src.Digest()
	srcRef, err := name.NewDigest(src.String(), c.nameOptions(reference.Domain(src))...)
	if err != nil {
		return nil, fmt.Errorf("naming %s: %w", reference.FamiliarString(src), err)
	}
	desc, err := remote.Get(srcRef, c.options(ctx)...)
	if err != nil {
		return nil, classify(ctx, src, fmt.Errorf("reading %s to copy it: %w", d, err))
	}
	var t remote.Taggable = desc
	switch {
	case desc.MediaType.IsIndex():
		t, err = desc.ImageIndex()
	case desc.MediaType.IsImage():
		t, err = desc.Image()
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s to copy it: %w", d, err)
	}
	if len(tags) > 0 {
		deps := func(ctx context.Context, w *wire) error { // the source's manifest, by digest, and what it refers to
			opts, err := to.repoOptions(ctx, dst)
			if err != nil {
				return err
			}
			return remote.Push(w.r.Digest(d.String()), t, append(opts, remote.WithContext(ctx))...)
		}
		return to.push(ctx, deps, desc.Manifest, string(desc.MediaType), tags)
	}
	dstRef, err := name.NewDigest(dst.Name()+"@"+d.String(), to.nameOptions(reference.Domain(dst))...)
	if err != nil {
		return nil, fmt.Errorf("naming %s@%s: %w", reference.FamiliarName(dst), d, err)
	}
	if err := remote.Push(dstRef, t, to.options(ctx)...); err != nil {
		return nil, classify(ctx, dst, fmt.Errorf("copying %s: %w", d, err))
	}
	return nil, nil
}
