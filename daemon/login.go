package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/scratchpush/scratchpush/auth"
)

// Login has the daemon log in to the registry at host with the credentials,
// so that a wrong password fails in a second, before anything is built, and
// so that a later "unauthorized" in a push can be told from a registry that
// was briefly unwell. Transient failures are retried as opts say. The daemon
// keeps nothing: the push sends the credentials again.
func Login(ctx context.Context, api API, host string, creds auth.Credentials, opts RegistryOptions) error {
	login := client.RegistryLoginOptions{
		Username:      creds.Username,
		Password:      creds.Password,
		IdentityToken: creds.IdentityToken,
		ServerAddress: auth.ServerAddress(host),
	}
	return retry(ctx, opts, "login to "+host, func() error {
		_, err := api.RegistryLogin(ctx, login)
		if err == nil {
			return nil
		}
		if PlainHTTP(err) && opts.Podman {
			return fmt.Errorf("logging in to %s: %w", host, ErrLoginUnchecked)
		}
		rerr := &registryError{msg: err.Error()}
		if cerrdefs.IsUnauthorized(err) || rerr.auth() {
			return fmt.Errorf("logging in to %s: %w: %w", host, auth.ErrAuth, rerr)
		}
		return fmt.Errorf("logging in to %s: %w", host, rerr)
	})
}

// ErrLoginUnchecked says the daemon could not check the credentials before
// the push. Podman's Docker-compatible login endpoint tries HTTPS even for a
// registry its registries.conf marks insecure, while its push honours the
// mark; the caller then checks them with the registry itself (registry.Client.Check).
var ErrLoginUnchecked = errors.New("Podman's login endpoint cannot reach a plain-HTTP registry")

// PlainHTTP reports whether err is the daemon saying it found plain HTTP
// where it expected a registry to speak HTTPS.
func PlainHTTP(err error) bool {
	return strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

// EngineName names the daemon from its version answer: "Podman Engine" for
// Podman's service, whose platform name is its OS's ("linux/amd64/debian-12"),
// else the platform name ("Docker Engine - Community"), which Debian's
// Docker leaves empty.
func EngineName(v client.ServerVersionResult) string {
	for _, c := range v.Components {
		if strings.Contains(c.Name, "Podman") {
			return c.Name
		}
	}
	return v.Platform.Name
}
