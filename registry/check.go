package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/scratchpush/scratchpush/auth"
)

// Check asks the registry of repo itself whether it takes the client's
// credentials for a push there: its /v2/ endpoint through the registry's
// own auth flow, a basic challenge or a bearer token from its token
// service with push scope, as a push would go, so that a wrong password
// fails before anything is made. A push from here is checked so, and a
// push through a daemon whose login endpoint cannot check them (Podman's,
// for a plain-HTTP registry).
//
// A refusal wraps auth.ErrAuth; no verdict (the registry unreachable, or
// answering neither yes nor no) wraps auth.ErrUnchecked.
func (c *Client) Check(ctx context.Context, repo reference.Named) error {
	host := reference.Domain(repo)
	// One try: a transient failure gives no verdict, and the push, which
	// retries and says so, checks the credentials then. The handshake is
	// the session's: the push goes on with it.
	ctx = oneTry(ctx)
	r, err := c.repository(repo)
	if err != nil {
		return checkFailure(host, err)
	}
	t, err := c.authorized(ctx, r)
	if err != nil {
		return checkFailure(host, err)
	}
	hc := &http.Client{Transport: t}
	u := url.URL{Scheme: r.Registry.Scheme(), Host: r.RegistryStr(), Path: "/v2/"}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("checking credentials at %s: %w: %w", host, auth.ErrUnchecked, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return checkFailure(host, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusUnauthorized:
		return fmt.Errorf("checking credentials at %s: %w: the registry answered 401 Unauthorized", host, auth.ErrAuth)
	}
	return fmt.Errorf("checking credentials at %s: %w: the registry answered %s", host, auth.ErrUnchecked, resp.Status)
}

// checkFailure words what go-containerregistry's handshake returned: a 401
// from the registry or its token service is a refusal; anything else, no
// verdict.
func checkFailure(host string, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("checking credentials at %s: %w: it answered %s", host, auth.ErrAuth, answer(terr))
	}
	return fmt.Errorf("checking credentials at %s: %w: %w", host, auth.ErrUnchecked, err)
}
