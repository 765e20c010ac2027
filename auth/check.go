package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// ErrAuth marks credentials a registry refused: a login or push that failed
// for them, whoever asked.
var ErrAuth = errors.New("registry authentication failed")

// ErrDenied marks a push the registry refused to valid credentials that
// lack access to the repository.
var ErrDenied = errors.New("the registry denied access")

// ErrUnchecked marks a check that could not reach a verdict: the registry
// could not be reached from here, or answered neither yes nor no. The push,
// which the daemon makes, checks the credentials then.
var ErrUnchecked = errors.New("the credentials could not be checked before the push")

// Check asks the registry at host itself whether it takes creds for a push
// to repository (a path such as team/app): its /v2/ endpoint through the
// registry's own auth flow, a basic challenge or a bearer token from its
// token service with push scope, as a push would go. It is for daemons
// whose login endpoint cannot check them (Podman's, for a plain-HTTP
// registry), so that a wrong password fails before anything is built.
//
// It speaks HTTPS, and plain HTTP only where go-containerregistry allows it
// without being told (localhost, loopback and private addresses), which is
// also where daemons expect it. A refusal wraps ErrAuth; no verdict wraps
// ErrUnchecked.
func Check(ctx context.Context, host, repository string, creds Credentials) error {
	if host == "docker.io" {
		host = name.DefaultRegistry
	}
	repo, err := name.NewRepository(host + "/" + repository)
	if err != nil {
		return fmt.Errorf("checking credentials for %s/%s: %w: %w", host, repository, ErrUnchecked, err)
	}
	cfg := authn.AuthConfig{Username: creds.Username, Password: creds.Password, IdentityToken: creds.IdentityToken}
	rt, err := transport.NewWithContext(ctx, repo.Registry, authn.FromConfig(cfg), http.DefaultTransport, []string{repo.Scope(transport.PushScope)})
	if err != nil {
		return checkFailure(host, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+repo.RegistryStr()+"/v2/", nil)
	if err != nil {
		return fmt.Errorf("checking credentials at %s: %w: %w", host, ErrUnchecked, err)
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return checkFailure(host, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusUnauthorized:
		return fmt.Errorf("checking credentials at %s: %w: the registry answered 401 Unauthorized", host, ErrAuth)
	}
	return fmt.Errorf("checking credentials at %s: %w: the registry answered %s", host, ErrUnchecked, resp.Status)
}

// checkFailure words what go-containerregistry's handshake returned: a 401
// from the registry or its token service is a refusal; anything else, no
// verdict.
func checkFailure(host string, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("checking credentials at %s: %w: %w", host, ErrAuth, err)
	}
	return fmt.Errorf("checking credentials at %s: %w: %w", host, ErrUnchecked, err)
}
