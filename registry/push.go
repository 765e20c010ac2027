// Package registry pushes an image made here (builder.Image) to a registry
// from this process, without the daemon: go-containerregistry's remote, the
// registry client ko and crane use, uploads the compressed layers as they
// are, several at once, through the registry's own auth flow (a basic
// challenge or a bearer token from its token service), retrying what a
// registry reports as transient, mounting blobs the registry already has.
// It is chosen over a client of our own because that flow, chunked and
// resumed uploads and the registries' quirks are what it is made for.
package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/scratchpush/scratchpush/auth"
	"github.com/scratchpush/scratchpush/builder"
)

// Options are how a push goes.
type Options struct {
	// Credentials for the registry; empty pushes anonymously.
	Credentials auth.Credentials
	// Retries is how often a transient failure of a request is retried,
	// with backoff from a second, doubling.
	Retries int
	// Jobs is how many blobs upload at once; 0 means four.
	Jobs int
	// Progress, when set, is told the bytes uploaded so far of the total,
	// as they go.
	Progress func(complete, total int64)
	// UserAgent names the client to the registry.
	UserAgent string
}

// Push uploads img's blobs and then its manifest under each tag, and
// returns the manifest's digest, which the registry confirmed. A tag is
// set only once every blob is in the registry, so a failure leaves no tag
// naming a half-pushed image; tags set before it stay, complete.
func Push(ctx context.Context, img builder.Image, tags []reference.NamedTagged, o Options) (pushed []string, err error) {
	image, err := partial.CompressedToImage(core{img})
	if err != nil {
		return nil, fmt.Errorf("preparing the image for the registry: %w", err)
	}
	return push(ctx, image, img.Made.Manifest, tags, o)
}

// PushIndex uploads every platform's image of ix by its digest, then the
// index under each tag, and returns the index's digest, which the registry
// confirmed. As with Push, a tag names only a complete index.
func PushIndex(ctx context.Context, ix builder.Index, tags []reference.NamedTagged, o Options) (pushed []string, err error) {
	return push(ctx, index{ix}, ix.Digest, tags, o)
}

// push writes t under each tag and reads the tag back: it must name want.
func push(ctx context.Context, t remote.Taggable, want digest.Digest, tags []reference.NamedTagged, o Options) (pushed []string, err error) {
	for _, ref := range tags {
		tag, err := name.NewTag(ref.String())
		if err != nil {
			return pushed, fmt.Errorf("pushing %s: %w", reference.FamiliarString(ref), err)
		}
		if err := write(ctx, tag, t, o); err != nil {
			return pushed, classify(ctx, ref, err)
		}
		desc, err := remote.Head(tag, remoteOptions(ctx, o)...)
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

// write pushes an image or index under one tag, reporting progress.
func write(ctx context.Context, tag name.Tag, t remote.Taggable, o Options) error {
	jobs := o.Jobs
	if jobs <= 0 {
		jobs = 4
	}
	opts := append(remoteOptions(ctx, o), remote.WithJobs(jobs))
	if o.Progress == nil {
		return remote.Push(tag, t, opts...)
	}
	updates := make(chan v1.Update, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for u := range updates {
			if u.Error == nil {
				o.Progress(u.Complete, u.Total)
			}
		}
	}()
	err := remote.Push(tag, t, append(opts, remote.WithProgress(updates))...)
	<-done // remote.Push closes updates when it returns
	return err
}

// remoteOptions are every request's: the context, the credentials, the
// transport, and retries with backoff from a second, doubling.
func remoteOptions(ctx context.Context, o Options) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuth(authenticator(o.Credentials)),
		remote.WithTransport(transportFor(o)),
		remote.WithRetryBackoff(remote.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.1, Steps: max(o.Retries, 0) + 1}),
	}
}

func authenticator(c auth.Credentials) authn.Authenticator {
	if c.Empty() {
		return authn.Anonymous
	}
	return authn.FromConfig(authn.AuthConfig{Username: c.Username, Password: c.Password, IdentityToken: c.IdentityToken})
}

func transportFor(o Options) http.RoundTripper {
	rt := remote.DefaultTransport
	if o.UserAgent != "" {
		rt = transport.NewUserAgent(rt, o.UserAgent)
	}
	return rt
}

// classify marks a refusal of the credentials with auth.ErrAuth and of
// access with auth.ErrDenied, as the daemon's push errors are.
func classify(ctx context.Context, ref reference.Named, err error) error {
	name := reference.FamiliarString(ref)
	if ctx.Err() != nil {
		return fmt.Errorf("push of %s cancelled: %w", name, context.Cause(ctx))
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch {
		case terr.StatusCode == http.StatusUnauthorized || hasCode(terr, transport.UnauthorizedErrorCode):
			return fmt.Errorf("pushing %s: %w at %s: %w", name, auth.ErrAuth, reference.Domain(ref), err)
		case terr.StatusCode == http.StatusForbidden || hasCode(terr, transport.DeniedErrorCode):
			return fmt.Errorf("pushing %s: %w: %w", name, auth.ErrDenied, err)
		}
	}
	return fmt.Errorf("pushing %s: %w", name, err)
}

func hasCode(err *transport.Error, code transport.ErrorCode) bool {
	for _, d := range err.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
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

// Copy copies src@d, an image, an index or an artifact already in a
// registry (from's), to dst (to's) under each tag, or by its digest alone
// when tags is empty, and returns the digest each tag names, read back.
// Blobs stream from one registry to the other; a registry mounts what it
// has in another repository. An artifact's subject brings the referrers
// tag schema's index up to date at dst, as Attach does.
func Copy(ctx context.Context, src reference.Named, d digest.Digest, from Options, dst reference.Named, tags []reference.NamedTagged, to Options) ([]string, error) {
	srcRef, err := name.NewDigest(src.Name() + "@" + d.String())
	if err != nil {
		return nil, fmt.Errorf("naming %s@%s: %w", reference.FamiliarName(src), d, err)
	}
	desc, err := remote.Get(srcRef, remoteOptions(ctx, from)...)
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
		return push(ctx, t, d, tags, to)
	}
	dstRef, err := name.NewDigest(dst.Name() + "@" + d.String())
	if err != nil {
		return nil, err
	}
	if err := remote.Push(dstRef, t, remoteOptions(ctx, to)...); err != nil {
		return nil, classify(ctx, dst, fmt.Errorf("copying %s: %w", d, err))
	}
	return nil, nil
}
