package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

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

// Built is a finished build: the image ID, and the images this build made
// (rather than took from the cache), so that a run that fails later can
// leave the daemon as it found it.
type Built struct {
	ID      string
	created []string
}

// Build streams a build context (a tar, from newContext) to the daemon's
// build endpoint with the classic builder, which Docker 20.10+ and Podman
// both serve, and returns the built image. The image is not tagged: tagging
// comes after a complete build, so a failed build moves no tag. Cancelling
// ctx aborts the request, and the daemon cancels the build with it. When the
// build fails, the intermediate images it made are removed; intermediate
// containers are removed by the daemon (forcerm).
//
// newContext is called once per attempt. A build is tried again, up to
// twice, when the daemon lost an image from its build cache under it: the
// classic builder fails so when another client removes an image while the
// build is looking through the cache.
func Build(ctx context.Context, api API, newContext func() io.ReadCloser, opts BuildOptions) (Built, error) {
	for attempt := 0; ; attempt++ {
		b, err := buildOnce(ctx, api, newContext, opts)
		if err == nil || attempt == 2 || ctx.Err() != nil || !cacheRace.MatchString(err.Error()) {
			return b, err
		}
		opts.Progress.send(Event{Phase: "build", Text: fmt.Sprintf("the daemon lost a cached image during the build (%s); building again", err)})
	}
}

var cacheRace = regexp.MustCompile(`(?i)unable to find image|no such image`)

func buildOnce(ctx context.Context, api API, newContext func() io.ReadCloser, opts BuildOptions) (Built, error) {
	buildContext := newContext()
	defer buildContext.Close()
	res, err := api.ImageBuild(ctx, buildContext, client.ImageBuildOptions{
		Dockerfile:  opts.Dockerfile,
		NoCache:     opts.NoCache,
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	})
	if err != nil {
		return Built{}, fmt.Errorf("starting the build: %w", err)
	}
	defer res.Body.Close()
	stop := context.AfterFunc(ctx, func() { res.Body.Close() })
	defer stop()

	var b Built
	steps := stepTracker{}
	err = decodeStream(res.Body, func(m jsonstream.Message) error {
		if m.Error != nil {
			return fmt.Errorf("the daemon's build failed: %s", strings.TrimSpace(m.Error.Message))
		}
		if m.Aux != nil {
			var aux build.Result
			if err := json.Unmarshal(*m.Aux, &aux); err == nil && aux.ID != "" {
				b.ID = aux.ID
			}
		}
		if text := strings.TrimRight(m.Stream, "\n"); text != "" {
			for _, line := range strings.Split(text, "\n") {
				steps.line(line)
				opts.Progress.send(Event{Phase: "build", Text: line})
			}
		}
		return nil
	})
	b.created = steps.created
	if err == nil && b.ID == "" {
		err = errors.New("the daemon's build stream ended without reporting an image ID")
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("build cancelled: %w", context.Cause(ctx))
		}
		b.Discard(ctx, api)
		return Built{}, err
	}
	return b, nil
}

// Discard removes the images this build made, newest first, leaving images
// the build took from the cache. It runs on a context of its own, as the
// run's context is often cancelled by then, and gives up after a few
// seconds: cleanup must not turn a failure into a hang. An image that has
// gained a tag or a child meanwhile (another run's cache hit) stays.
func (b Built) Discard(ctx context.Context, api API) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for i := len(b.created) - 1; i >= 0; i-- {
		img, err := api.ImageInspect(ctx, b.created[i])
		if err != nil || len(img.RepoTags) > 0 {
			continue
		}
		_, _ = api.ImageRemove(ctx, b.created[i], client.ImageRemoveOptions{})
	}
}

// stepTracker reads the classic builder's output for the images each step
// made: " ---> 0123456789ab" after a step, unless " ---> Using cache" came
// first. BuildKit and Podman print otherwise; for them it finds nothing and
// a failed run leaves their images for the daemon's own pruning.
type stepTracker struct {
	cached  bool
	created []string
}

var stepImage = regexp.MustCompile(`^ ---> ([0-9a-f]{12,64})$`)

func (s *stepTracker) line(l string) {
	switch {
	case l == " ---> Using cache":
		s.cached = true
	case stepImage.MatchString(l):
		if !s.cached {
			s.created = append(s.created, stepImage.FindStringSubmatch(l)[1])
		}
		s.cached = false
	}
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
