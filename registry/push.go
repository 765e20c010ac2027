package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/scratchpush/scratchpush/builder"
)

// Push uploads img's blobs and then its manifest under each tag, and
// returns the manifest's digest, which the registry confirmed. A tag is
// set only once every blob is in the registry, so a failure leaves no tag
// naming a half-pushed image; tags set before it stay, complete.
func (c *Client) Push(ctx context.Context, img builder.Image, tags []reference.NamedTagged) (pushed []string, err error) {
	image, err := partial.CompressedToImage(core{img})
	if err != nil {
		return nil, fmt.Errorf("preparing the image for the registry: %w", err)
	}
	return c.push(ctx, image, img.Made.Manifest, tags)
}

// PushIndex uploads every platform's image of ix by its digest, then the
// index under each tag, and returns the index's digest, which the registry
// confirmed. As with Push, a tag names only a complete index.
func (c *Client) PushIndex(ctx context.Context, ix builder.Index, tags []reference.NamedTagged) (pushed []string, err error) {
	return c.push(ctx, index{ix}, ix.Digest, tags)
}

// push writes t under the first tag, then its manifest under each other
// one, and reads each tag back: it must name want.
func (c *Client) push(ctx context.Context, t remote.Taggable, want digest.Digest, tags []reference.NamedTagged) (pushed []string, err error) {
	for _, ref := range tags {
		tag, err := name.NewTag(ref.String(), c.nameOptions(reference.Domain(ref))...)
		if err != nil {
			return pushed, fmt.Errorf("pushing %s: %w", reference.FamiliarString(ref), err)
		}
		opts, err := c.repoOptions(ctx, ref)
		if err != nil {
			return pushed, classify(ctx, ref, err)
		}
		if len(pushed) == 0 {
			err = c.write(tag, t, opts)
		} else { // every blob is there: the manifest alone, under this tag
			err = remote.Tag(tag, t, opts...)
		}
		if err != nil {
			return pushed, classify(ctx, ref, err)
		}
		desc, err := remote.Head(tag, opts...)
		if err != nil {
			return pushed, classify(ctx, ref, fmt.Errorf("reading back the pushed manifest: %w", err))
		}
		if desc.Digest.String() != want.String() {
			return pushed, fmt.Errorf("pushing %s: the registry names the tag %s, but the manifest pushed is %s", reference.FamiliarString(ref), desc.Digest, want)
		}
		pushed = append(pushed, desc.Digest.String())
	}
	return pushed, nil
}

// write pushes an image or index under one tag with opts, reporting
// progress.
func (c *Client) write(tag name.Tag, t remote.Taggable, opts []remote.Option) error {
	if c.progress == nil {
		return remote.Push(tag, t, opts...)
	}
	updates := make(chan v1.Update, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for u := range updates {
			if u.Error == nil {
				c.progress(u.Complete, u.Total)
			}
		}
	}()
	err := remote.Push(tag, t, append(opts, remote.WithProgress(updates))...)
	<-done // remote.Push closes updates when it returns
	return err
}

// core is a builder.Image as go-containerregistry's partial package wants
// a compressed image: the manifest and config as made, layers read from
// their files.
type core struct{ img builder.Image }

func (c core) RawConfigFile() ([]byte, error)      { return c.img.Config, nil }
func (c core) RawManifest() ([]byte, error)        { return c.img.Manifest, nil }
func (c core) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func (c core) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range c.img.Layers {
		if l.Digest.String() == h.String() {
			return layer{l}, nil
		}
	}
	return nil, fmt.Errorf("the image has no layer %s", h)
}

type layer struct{ l builder.Layer }

func (l layer) Digest() (v1.Hash, error)            { return v1.NewHash(l.l.Digest.String()) }
func (l layer) Compressed() (io.ReadCloser, error)  { return l.l.Open() }
func (l layer) Size() (int64, error)                { return l.l.Size, nil }
func (l layer) MediaType() (types.MediaType, error) { return types.MediaType(l.l.MediaType), nil }

// index is a builder.Index as go-containerregistry wants an image index:
// the index blob as made, each platform's image as core makes it.
type index struct{ ix builder.Index }

func (i index) MediaType() (types.MediaType, error) { return types.OCIImageIndex, nil }
func (i index) Digest() (v1.Hash, error)            { return v1.NewHash(i.ix.Digest.String()) }
func (i index) Size() (int64, error)                { return int64(len(i.ix.Manifest)), nil }
func (i index) RawManifest() ([]byte, error)        { return i.ix.Manifest, nil }

func (i index) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(i.ix.Manifest))
}

func (i index) Image(h v1.Hash) (v1.Image, error) {
	for _, img := range i.ix.Images {
		if img.Made.Manifest.String() == h.String() {
			return partial.CompressedToImage(core{img})
		}
	}
	return nil, fmt.Errorf("the index names no image %s", h)
}

func (i index) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	return nil, fmt.Errorf("the index names no index %s", h)
}
