package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// BuildOptions tune a build. The zero value builds with the cache.
type BuildOptions struct {
	// Dockerfile is the Dockerfile's path inside the build context.
	Dockerfile string
	// NoCache makes the daemon ignore its build cache.
	NoCache bool
	// Progress receives the daemon's build output line by line.
	Progress Progress
}

// Build streams buildContext (a tar) to the daemon's build endpoint with the
// classic builder, which Docker 20.10+ and Podman both serve, and returns the
// built image's ID. The image is not tagged: tagging comes after a complete
// build, so a failed build moves no tag. Cancelling ctx aborts the request,
// and the daemon cancels the build with it.
func Build(ctx context.Context, api API, buildContext io.Reader, opts BuildOptions) (string, error) {
	res, err := api.ImageBuild(ctx, buildContext, client.ImageBuildOptions{
		Dockerfile:  opts.Dockerfile,
		NoCache:     opts.NoCache,
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	})
	if err != nil {
		return "", fmt.Errorf("starting the build: %w", err)
	}
	defer res.Body.Close()
	stop := context.AfterFunc(ctx, func() { res.Body.Close() })
	defer stop()

	var id string
	err = decodeStream(res.Body, func(m jsonstream.Message) error {
		if m.Error != nil {
			return fmt.Errorf("the daemon's build failed: %s", strings.TrimSpace(m.Error.Message))
		}
		if m.Aux != nil {
			var aux build.Result
			if err := json.Unmarshal(*m.Aux, &aux); err == nil && aux.ID != "" {
				id = aux.ID
			}
		}
		if text := strings.TrimRight(m.Stream, "\n"); text != "" {
			for _, line := range strings.Split(text, "\n") {
				opts.Progress.send(Event{Phase: "build", Text: line})
			}
		}
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("build cancelled: %w", context.Cause(ctx))
		}
		return "", err
	}
	if id == "" {
		return "", errors.New("the daemon's build stream ended without reporting an image ID")
	}
	return id, nil
}

// decodeStream reads a JSON message stream to its end, handing each message
// to fn; the first error fn returns stops it.
func decodeStream(r io.Reader, fn func(jsonstream.Message) error) error {
	dec := json.NewDecoder(r)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading the daemon's response: %w", err)
		}
		if err := fn(m); err != nil {
			return err
		}
	}
}
