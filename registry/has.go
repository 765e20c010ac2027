package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
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
// each through the transport the run's pushes to repo use (push access,
// which holds pull): a run reuses an image pushed from here earlier,
// whose layers it no longer keeps, only when the registry still has them
// all.
func (c *Client) Has(ctx context.Context, repo reference.Named, blobs []digest.Digest) (bool, error) {
	r, err := c.repository(repo)
	if err != nil {
		return false, classify(ctx, repo, err)
	}
	t, err := c.authorized(ctx, r)
	if err != nil {
		return false, classify(ctx, repo, err)
	}
	hc := &http.Client{Transport: t}
	for _, d := range blobs {
		u := url.URL{Scheme: r.Registry.Scheme(), Host: r.RegistryStr(), Path: "/v2/" + r.RepositoryStr() + "/blobs/" + d.String()}
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, u.String(), nil)
		if err != nil {
			return false, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return false, classify(ctx, repo, fmt.Errorf("asking for blob %s: %w", d, err))
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
		case http.StatusNotFound:
			return false, nil
		default:
			return false, classify(ctx, repo, fmt.Errorf("asking for blob %s: %w", d, transport.CheckError(resp, http.StatusOK)))
		}
	}
	return true, nil
}

// Names reads what ref names in the registry, through the session: the
// manifest's descriptor (media type, digest, size) and its config's
// digest (an image manifest, OCI or Docker's; an index has none). A run whose daemon would push an image it reuses
// asks first: when the tag names that image already (its config is the
// image on the classic store and Podman; its manifest on the containerd
// store), there is nothing to push.
func (c *Client) Names(ctx context.Context, ref reference.NamedTagged) (manifest ocispec.Descriptor, config digest.Digest, err error) {
	w, err := c.wire(ctx, ref)
	if err != nil {
		return manifest, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.url("/manifests/"+ref.Tag()), nil)
	if err != nil {
		return manifest, "", err
	}
	req.Header.Set("Accept", manifestTypes)
	resp, err := w.hc.Do(req)
	if err != nil {
		return manifest, "", classify(ctx, ref, err)
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return manifest, "", classify(ctx, ref, err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return manifest, "", classify(ctx, ref, err)
	}
	var m struct {
		MediaType string `json:"mediaType"`
		Config    struct {
			Digest digest.Digest `json:"digest"`
		} `json:"config"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return manifest, "", fmt.Errorf("reading the manifest %s names: %w", reference.FamiliarString(ref), err)
	}
	mediaType := resp.Header.Get("Content-Type")
	if m.MediaType != "" {
		mediaType = m.MediaType
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(body), Size: int64(len(body))}, m.Config.Digest, nil
}

// Warm makes the session's handshake with repo's registry now, so that
// the run's later requests there do not wait for it; a failure is left
// to them.
func (c *Client) Warm(ctx context.Context, repo reference.Named) {
	_, _ = c.wire(ctx, repo)
}
