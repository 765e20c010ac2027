package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"

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
// repo with a tag (the run's first) is checked with a HEAD of the tag's
// manifest, which the session keeps (Tagged): an unchanged image already
// there costs nothing more to push.
//
// A refusal wraps auth.ErrAuth; no verdict (the registry unreachable, or
// answering neither yes nor no) wraps auth.ErrUnchecked.
func (c *Client) Check(ctx context.Context, repo reference.Named) error {
	host := reference.Domain(repo)
	// One try: a transient failure gives no verdict, and the push, which
	// retries and says so, checks the credentials then. The handshake is
	// the session's: the push goes on with it.
	ctx = oneTry(ctx)
	w, err := c.openWire(ctx, repo)
	if err != nil {
		return checkFailure(host, err)
	}
	if tagged, ok := repo.(reference.NamedTagged); ok {
		// The tag's manifest, asked after with the credentials: a 200 or
		// 404 takes them, and the session learns what the tag names.
		resp, err := w.do(ctx, http.MethodHead, w.url("/manifests/"+tagged.Tag()), http.Header{"Accept": {manifestTypes}}, nil, http.StatusOK, http.StatusNotFound)
		if err == nil {
			d := digest.Digest(resp.Header.Get("Docker-Content-Digest"))
			switch {
			case resp.StatusCode == http.StatusNotFound:
				c.session.tag(tagged, "")
			case d.Validate() == nil:
				c.session.tag(tagged, d)
			}
			return nil
		}
		var terr *transport.Error
		if c.creds.Empty() && errors.As(err, &terr) && terr.StatusCode == http.StatusUnauthorized {
			// No credentials, and a registry that wants some: Docker Hub
			// gives anyone a token, which takes /v2/ but no push.
			return fmt.Errorf("checking credentials at %s: %w: it answered 401 Unauthorized to a request without credentials", host, auth.ErrAuth)
		}
		// Anything else (a token without push scope refused, a registry
		// that answers a HEAD oddly): the /v2/ endpoint gives the verdict.
	}
	_, err = w.do(ctx, http.MethodGet, w.root(), nil, nil, http.StatusOK)
	var terr *transport.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &terr) && terr.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("checking credentials at %s: %w: the registry answered 401 Unauthorized", host, auth.ErrAuth)
	case errors.As(err, &terr):
		return fmt.Errorf("checking credentials at %s: %w: the registry answered %d %s", host, auth.ErrUnchecked, terr.StatusCode, http.StatusText(terr.StatusCode))
	}
	return checkFailure(host, err)
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
