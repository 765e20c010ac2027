package registry

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
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
