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

// httpClient is a client for requests of our own to repo's registry,
// through rt and the registry's auth flow for scope (transport.PullScope,
// PushScope), or with rt nil through the transport the client's calls to
// repo share (authorized); r names the repository as go-containerregistry
// does.
func (c *Client) httpClient(ctx context.Context, repo reference.Named, scope string, rt http.RoundTripper) (r name.Repository, hc *http.Client, err error) {
	if r, err = name.NewRepository(repo.Name(), c.nameOptions(reference.Domain(repo))...); err != nil {
		return r, nil, fmt.Errorf("naming %s: %w", reference.FamiliarName(repo), err)
	}
	var t http.RoundTripper
	if rt == nil {
		t, err = c.authorized(ctx, r) // push scope, which holds pull
	} else {
		t, err = transport.NewWithContext(ctx, r.Registry, c.authenticator(), rt, []string{r.Scope(scope)})
	}
	if err != nil {
		return r, nil, err
	}
	return r, &http.Client{Transport: t}, nil
}

// Has says whether repo holds every one of blobs, asked with a HEAD of
// each (pull access): a run reuses an image pushed from here earlier,
// whose layers it no longer keeps, only when the registry still has them
// all.
func (c *Client) Has(ctx context.Context, repo reference.Named, blobs []digest.Digest) (bool, error) {
	r, hc, err := c.httpClient(ctx, repo, transport.PullScope, nil)
	if err != nil {
		return false, classify(ctx, repo, err)
	}
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
