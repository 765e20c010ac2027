package daemon

import (
	"fmt"
	"os"
	"strings"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/connhelper"
	"github.com/docker/cli/cli/context/docker"
	"github.com/docker/cli/cli/context/store"
	"github.com/moby/moby/client"
)

// defaultContext is the docker CLI's name for "the environment decides".
const defaultContext = "default"

// Endpoint says how to reach the daemon, in the docker CLI's order:
// the context named (docker --context), else DOCKER_HOST when set, else DOCKER_CONTEXT, else the docker
// config's current context, else the environment (DOCKER_HOST,
// DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) or the default socket. A context is
// read from the docker CLI's own store with its own packages, TLS material
// included; an ssh:// host goes through docker's connection helper, which
// runs `ssh HOST docker system dial-stdio` as the docker CLI does. A
// command calls it once, with the context its user named (or ""), and
// hands the result to Connect.
func Endpoint(contextName string) ([]client.Opt, error) {
	name := contextName
	if name == "" && os.Getenv("DOCKER_HOST") == "" {
		name = os.Getenv("DOCKER_CONTEXT")
		if name == "" {
			if cfg, err := config.Load(config.Dir()); err == nil {
				name = cfg.CurrentContext
			}
		}
	}
	if name != "" && name != defaultContext {
		return contextOpts(name)
	}
	opts := []client.Opt{client.FromEnv}
	if host := os.Getenv("DOCKER_HOST"); strings.HasPrefix(host, "ssh://") {
		helper, err := connhelper.GetConnectionHelper(host)
		if err != nil {
			return nil, fmt.Errorf("DOCKER_HOST %s: %w", host, err)
		}
		opts = append(opts, client.WithHost(helper.Host), client.WithDialContext(helper.Dialer))
	}
	return opts, nil
}

func contextOpts(name string) ([]client.Opt, error) {
	s := store.New(config.ContextStoreDir(), store.NewConfig(
		func() any { return &map[string]any{} },
		store.EndpointTypeGetter(docker.DockerEndpoint, func() any { return &docker.EndpointMeta{} }),
	))
	meta, err := s.GetMetadata(name)
	if err != nil {
		return nil, fmt.Errorf("docker context %q: %w: list them with docker context ls", name, err)
	}
	epMeta, err := docker.EndpointFromContext(meta)
	if err != nil {
		return nil, fmt.Errorf("docker context %q: %w", name, err)
	}
	ep, err := docker.WithTLSData(s, name, epMeta)
	if err != nil {
		return nil, fmt.Errorf("docker context %q: reading its TLS material: %w", name, err)
	}
	opts, err := ep.ClientOpts()
	if err != nil {
		return nil, fmt.Errorf("docker context %q: %w", name, err)
	}
	return opts, nil
}
