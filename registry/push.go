package registry

import (
	"context"
	"fmt"
	"io"

	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/scratchpush/scratchpush/builder"
)

// Push uploads img's blobs and then its manifest under each tag, and
// returns the manifest's digest, which the registry confirmed. A tag is
// set only once every blob is in the registry, so a failure leaves no tag
// naming a half-pushed image; tags set before it stay, complete.
func (c *Client) Push(ctx context.Context, img builder.Image, tags []reference.NamedTagged) (pushed []string, err error) {
	c.total = img.Size() - int64(len(img.Manifest))
	return c.push(ctx, func(ctx context.Context, w *wire) error { return c.imageBlobs(ctx, w, img) },
		img.Manifest, ocispec.MediaTypeImageManifest, tags)
}

// PushIndex uploads every platform's image of ix by its digest, then the
// index under each tag, and returns the index's digest, which the registry
// confirmed. As with Push, a tag names only a complete index.
func (c *Client) PushIndex(ctx context.Context, ix builder.Index, tags []reference.NamedTagged) (pushed []string, err error) {
	for _, img := range ix.Images {
		c.total += img.Size() - int64(len(img.Manifest))
	}
	children := func(ctx context.Context, w *wire) error {
		g, gctx := errgroup.WithContext(ctx)
		for _, img := range ix.Images {
			g.Go(func() error {
				if err := c.imageBlobs(gctx, w, img); err != nil {
					return err
				}
				_, err := w.putManifest(gctx, img.Made.Manifest.String(), ocispec.MediaTypeImageManifest, img.Manifest)
				return err
			})
		}
		return g.Wait()
	}
	return c.push(ctx, children, ix.Manifest, ocispec.MediaTypeImageIndex, tags)
}

// push has deps put what the manifest refers to, then puts the manifest
// under the first tag, then under the others at once; each put must
// answer with the manifest's digest. Tags the session read to name the
// manifest already are left as they are, and when one does, deps is not
// needed.
func (c *Client) push(ctx context.Context, deps func(context.Context, *wire) error, manifest []byte, mediaType string, tags []reference.NamedTagged) (pushed []string, err error) {
	if len(tags) == 0 {
		return nil, nil
	}
	w, err := c.wire(ctx, tags[0])
	if err != nil {
		return nil, err
	}
	// A tag the run read to name this manifest already (Check) is not put
	// again, and the registry has every blob of a manifest it holds.
	want := digest.FromBytes(manifest)
	there := make([]bool, len(tags))
	needDeps := true
	for i, ref := range tags {
		if ref.Name() != tags[0].Name() {
			return nil, fmt.Errorf("pushing %s: a push goes to one repository, %s", reference.FamiliarString(ref), reference.FamiliarName(tags[0]))
		}
		d, ok := c.session.tagged(ref)
		there[i] = ok && d == want
		needDeps = needDeps && !there[i]
	}
	if needDeps {
		if err := deps(ctx, w); err != nil {
			return nil, classify(ctx, tags[0], err)
		}
	}
	pushed = make([]string, len(tags))
	var g errgroup.Group
	for i, ref := range tags {
		if there[i] {
			pushed[i] = want.String()
			continue
		}
		put := func() error {
			p, err := w.putManifest(ctx, ref.Tag(), mediaType, manifest)
			if err != nil {
				return classify(ctx, ref, err)
			}
			pushed[i] = p.digest.String()
			return nil
		}
		if needDeps && i == 0 { // the first tag once the blobs are there
			if err := put(); err != nil {
				return nil, err
			}
			continue
		}
		g.Go(put) // the manifest is there: the other tags at once
	}
	err = g.Wait()
	// The tags pushed, in order, up to the first that failed.
	for i, d := range pushed {
		if d == "" {
			return pushed[:i], err
		}
	}
	return pushed, err
}

// imageBlobs uploads img's layers (through go-containerregistry, which
// skips those the registry has) and its config, all at once, up to
// defaultJobs at a time; blobs the session streamed up (StreamBlob) or
// found there (Has) are not sent again.
func (c *Client) imageBlobs(ctx context.Context, w *wire, img builder.Image) error {
	opts, err := c.repoOptions(ctx, w.repo)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(defaultJobs)
	if !c.session.uploaded(w.r.Name(), digest.FromBytes(img.Config)) {
		g.Go(func() error { return w.uploadBlob(gctx, img.Config) })
	}
	for _, l := range img.Layers {
		if c.session.uploaded(w.r.Name(), l.Digest) { // streamed up while it was made
			c.sent(l.Size)
			continue
		}
		g.Go(func() error {
			if err := remote.WriteLayer(w.r, layer{l, c}, append(opts, remote.WithContext(gctx))...); err != nil {
				return fmt.Errorf("uploading layer %s: %w", l.Digest, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	c.sent(int64(len(img.Config)))
	return nil
}

// sent reports n more bytes uploaded of the push's total.
func (c *Client) sent(n int64) {
	if c.progress == nil {
		return
	}
	c.mu.Lock()
	c.complete = min(c.complete+n, c.total)
	complete, total := c.complete, c.total
	c.mu.Unlock()
	c.progress(complete, total)
}

// layer is a builder.Layer as go-containerregistry wants a layer; what is
// read of it counts as uploaded to c.
type layer struct {
	l builder.Layer
	c *Client
}

func (l layer) Digest() (v1.Hash, error) { return v1.NewHash(l.l.Digest.String()) }
func (l layer) Compressed() (io.ReadCloser, error) {
	r, err := l.l.Open()
	if err != nil {
		return nil, err
	}
	return counted{r, l.c}, nil
}
func (l layer) Uncompressed() (io.ReadCloser, error) {
	return nil, fmt.Errorf("the layer %s is sent compressed", l.l.Digest)
}
func (l layer) DiffID() (v1.Hash, error)            { return v1.NewHash(l.l.DiffID.String()) }
func (l layer) Size() (int64, error)                { return l.l.Size, nil }
func (l layer) MediaType() (types.MediaType, error) { return types.MediaType(l.l.MediaType), nil }

// counted counts what is read of a layer as uploaded.
type counted struct {
	io.ReadCloser
	c *Client
}

func (r counted) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if r.c != nil {
		r.c.sent(int64(n))
	}
	return n, err
}
