package auth

import (
	"context"
	"fmt"
	"os"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/credentials"
)

// FromDockerConfig finds the credentials `docker login` stored for the
// registry at host (as the daemon names it: "docker.io" for Docker Hub), reading the docker config in configDir ("" means
// DOCKER_CONFIG or ~/.docker, as for the docker CLI). It goes through
// docker's own config library, so credsStore, credHelpers and
// DOCKER_AUTH_CONFIG behave as they do for docker push. No entry is not an
// error: it gives empty credentials, an anonymous push.
func FromDockerConfig(ctx context.Context, configDir, host string) (Credentials, error) {
	if err := ctx.Err(); err != nil {
		return Credentials{}, err
	}
	if configDir == "" {
		// config.Dir reads DOCKER_CONFIG once per process; a library
		// called more than once (the tests) reads it each time.
		configDir = os.Getenv(config.EnvOverrideConfigDir)
	}
	if configDir == "" {
		configDir = config.Dir()
	}
	cfg, err := config.Load(configDir)
	if err != nil {
		return Credentials{}, fmt.Errorf("reading docker config in %q: %w", configDir, err)
	}
	if !cfg.ContainsAuth() {
		cfg.CredentialsStore = credentials.DetectDefaultStore(cfg.CredentialsStore)
	}
	ac, err := cfg.GetAuthConfig(host)
	if err != nil {
		return Credentials{}, fmt.Errorf("getting credentials for %s from the docker config's credential store: %w", host, err)
	}
	return Credentials{Username: ac.Username, Password: ac.Password, IdentityToken: ac.IdentityToken}, nil
}
