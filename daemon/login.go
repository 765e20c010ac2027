package daemon

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// Login has the daemon log in to the registry at host with the credentials,
// so that a wrong password fails in a second, before anything is built, and
// so that a later "unauthorized" in a push can be told from a registry that
// was briefly unwell. Transient failures are retried as opts say. The daemon
// keeps nothing: the push sends the credentials again.
func Login(ctx context.Context, api API, host string, creds client.RegistryLoginOptions, opts RegistryOptions) error {
	return retry(ctx, opts, "login to "+host, func() error {
		_, err := api.RegistryLogin(ctx, creds)
		if err == nil {
			return nil
		}
		rerr := &registryError{msg: err.Error()}
		if cerrdefs.IsUnauthorized(err) || rerr.auth() {
			return fmt.Errorf("logging in to %s: %w: %w", host, ErrAuth, rerr)
		}
		return fmt.Errorf("logging in to %s: %w", host, rerr)
	})
}
