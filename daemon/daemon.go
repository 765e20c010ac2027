// Package daemon speaks the Docker Engine API: it streams a build context to
// the build endpoint, tags the result and pushes it, decoding every response
// stream to its end. A nil error from an HTTP call proves nothing here; only
// the stream's own report counts, and an errorDetail in it is a failure.
//
// It uses the maintained Engine API modules github.com/moby/moby/client and
// github.com/moby/moby/api (github.com/docker/docker is frozen at v28.5.2).
// They negotiate the API version down to 1.40, so Docker 20.10 and Podman's
// compatible socket work.
package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// API is the part of the Engine API scratch-push uses. It is small so that a
// unit test can fake it; *client.Client satisfies it.
type API interface {
	Ping(ctx context.Context, options client.PingOptions) (client.PingResult, error)
	ImageBuild(ctx context.Context, buildContext io.Reader, options client.ImageBuildOptions) (client.ImageBuildResult, error)
	ImageTag(ctx context.Context, options client.ImageTagOptions) (client.ImageTagResult, error)
	ImagePush(ctx context.Context, image string, options client.ImagePushOptions) (client.ImagePushResponse, error)
	ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (client.ImageInspectResult, error)
	ImageRemove(ctx context.Context, image string, options client.ImageRemoveOptions) (client.ImageRemoveResult, error)
	RegistryLogin(ctx context.Context, options client.RegistryLoginOptions) (client.RegistryLoginResult, error)
	BuildCancel(ctx context.Context, id string, options client.BuildCancelOptions) (client.BuildCancelResult, error)
	ImageLoad(ctx context.Context, input io.Reader, opts ...client.ImageLoadOption) (client.ImageLoadResult, error)
	ServerVersion(ctx context.Context, options client.ServerVersionOptions) (client.ServerVersionResult, error)
	Info(ctx context.Context, options client.InfoOptions) (client.SystemInfoResult, error)
	DiskUsage(ctx context.Context, options client.DiskUsageOptions) (client.DiskUsageResult, error)
	BuildCachePrune(ctx context.Context, opts client.BuildCachePruneOptions) (client.BuildCachePruneResult, error)
}

var _ API = (*client.Client)(nil)

// Connect makes an Engine API client with opts (client.FromEnv reads
// DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH as the docker CLI
// does) and checks that a daemon answers, negotiating the API version.
func Connect(ctx context.Context, opts ...client.Opt) (*client.Client, error) {
	c, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("configuring the Docker client: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if _, err := c.Ping(pingCtx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		c.Close()
		if ctx.Err() == nil && pingCtx.Err() != nil {
			err = fmt.Errorf("no answer within %s", pingTimeout)
		}
		var tlsErr *tls.CertificateVerificationError
		if errors.As(err, &tlsErr) {
			return nil, fmt.Errorf("the daemon at %s is not trusted: %w: check the CA in DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem)", c.DaemonHost(), tlsErr)
		}
		return nil, fmt.Errorf("no Docker daemon answers at %s: %w: start it, or point DOCKER_HOST at one", c.DaemonHost(), err)
	}
	return c, nil
}

// pingTimeout bounds the first contact: a daemon that accepts connections
// but does not answer is as good as none.
const pingTimeout = 10 * time.Second

// Event is one step of progress, delivered as data: the caller decides how
// to show it. Phase is "build" or "push".
type Event struct {
	Phase string
	// ID names the layer a push status is about; empty for build output.
	ID string
	// Text is a line of build output or a push status ("Pushed").
	Text string
	// Current and Total count bytes, when the daemon reports them.
	Current, Total int64
	// Raw is a message of the daemon's as it came, for tools that read
	// them (--progress=json). It comes on an event of its own, without
	// Text, before the events made from it.
	Raw *jsonstream.Message
	// Echo marks an event made from the Raw message before it, so that
	// whoever passes Raw messages on can skip it; scratch-push's own words
	// (a retry, a fallback) are not echoes.
	Echo bool
}

// Progress receives events. It must not block for long: it runs on the
// goroutine that reads the daemon's stream.
type Progress func(Event)

func (p Progress) send(e Event) {
	if p != nil {
		p(e)
	}
}
