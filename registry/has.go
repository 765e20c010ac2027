package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
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
		g.Go(func() error {
			resp, err := w.do(gctx, http.MethodHead, w.url("/blobs/"+d.String()), nil, nil, http.StatusOK, http.StatusNotFound)
			if err != nil {
				return classify(ctx, repo, fmt.Errorf("asking for blob %s: %w", d, err))
			}
			found[i] = resp.StatusCode == http.StatusOK
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.url("/manifests/"+ref), nil)
	if err != nil {
		return nil, desc, "", err
	}
	req.Header.Set("Accept", manifestTypes)
	resp, err := w.hc.Do(req)
	if err != nil {
		return nil, desc, "", classify(ctx, repo, err)
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return nil, desc, "", classify(ctx, repo, err)
	}
	if body, err = io.ReadAll(io.LimitReader(resp.Body, 4<<20)); err != nil {
		return nil, desc, "", classify(ctx, repo, err)
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
