package registry

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// repository names repo as go-containerregistry does.
func (c *Client) repository(repo reference.Named) (name.Repository, error) {
	r, err := name.NewRepository(repo.Name(), c.nameOptions(reference.Domain(repo))...)
	if err != nil {
		return r, fmt.Errorf("naming %s: %w", reference.FamiliarName(repo), err)
	}
	return r, nil
}

// Has says whether repo holds every one of blobs, asked with a HEAD of
// each, all at once, through the transport the run's pushes to repo use
// (push access, which holds pull): a run reuses an image pushed from here
// earlier, whose layers it no longer keeps, only when the registry still
// has them all. The session counts those found as uploaded, so that
// pushing the image again sends its manifest alone.
func (c *Client) Has(ctx context.Context, repo reference.Named, blobs []digest.Digest) (bool, error) {
	w, err := c.wire(ctx, repo)
	if err != nil {
		return false, err
	}
	found := make([]bool, len(blobs))
	g, gctx := errgroup.WithContext(ctx)
	for i, d := range blobs {
		g.Go(func() (err error) {
			if found[i], err = w.hasBlob(gctx, d); err != nil {
				return classify(ctx, repo, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return false, err
	}
	for i, d := range blobs {
		if !found[i] {
			return false, nil
		}
		c.session.upload(w.r.Name(), d)
	}
	return true, nil
}

// Manifest reads the manifest ref names in repo (a tag or a digest),
// through the session: its bytes and descriptor (media type, digest,
// size), and its config's digest (an image manifest, OCI or Docker's; an
// index has none). A run whose daemon would push an image it reuses asks
// first: when the tag names that image already (its config is the image
// on the classic store and Podman; its manifest on the containerd store),
// or the repository holds it under the digest it was last pushed as,
// there is nothing to push.
func (c *Client) Manifest(ctx context.Context, repo reference.Named, ref string) (body []byte, desc ocispec.Descriptor, config digest.Digest, err error) {
	w, err := c.wire(ctx, repo)
	if err != nil {
		return nil, desc, "", err
	}
	body, resp, err := w.get(ctx, "/manifests/"+ref, manifestTypes)
	switch {
	case err != nil:
		return nil, desc, "", classify(ctx, repo, err)
	case body == nil:
		return nil, desc, "", fmt.Errorf("%s@%s: no such manifest", reference.FamiliarName(repo), ref)
	}
	var m struct {
		MediaType string `json:"mediaType"`
		Config    struct {
			Digest digest.Digest `json:"digest"`
		} `json:"config"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, desc, "", fmt.Errorf("reading the manifest %s@%s: %w", reference.FamiliarName(repo), ref, err)
	}
	mediaType := resp.Header.Get("Content-Type")
	if m.MediaType != "" {
		mediaType = m.MediaType
	}
	return body, ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(body), Size: int64(len(body))}, m.Config.Digest, nil
}

// Tag puts body, a manifest the repository holds (Manifest read it), under
// ref's tag: one request, its blobs being there.
func (c *Client) Tag(ctx context.Context, ref reference.NamedTagged, mediaType string, body []byte) error {
	w, err := c.wire(ctx, ref)
	if err != nil {
		return err
	}
	if _, err := w.putManifest(ctx, ref.Tag(), mediaType, body); err != nil {
		return classify(ctx, ref, err)
	}
	return nil
}

// Warm makes the session's handshake with repo's registry now, so that
// the run's later requests there do not wait for it; a failure is left
// to them.
func (c *Client) Warm(ctx context.Context, repo reference.Named) {
	_, _ = c.wire(ctx, repo)
}
