package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/scratchpush/scratchpush/field"
)

// Builder chooses the daemon's builder behind the build endpoint.
type Builder string

const (
	// BuilderAuto uses BuildKit where the daemon offers it and falls back to
	// the classic builder where it does not.
	BuilderAuto Builder = "auto"
	// BuilderBuildKit needs BuildKit (version=2): faster, and no
	// intermediate images.
	BuilderBuildKit Builder = "buildkit"
	// BuilderClassic is the first-generation builder (version=1), served by
	// every Docker since 1.x and by Podman.
	BuilderClassic Builder = "classic"
)

// ParseBuilder reads the name of a builder; "" is auto.
func ParseBuilder(s string) (Builder, error) {
	switch b := Builder(s); b {
	case BuilderAuto, BuilderBuildKit, BuilderClassic:
		return b, nil
	case "":
		return BuilderAuto, nil
	}
	return "", field.Errorf("Builder", "%q: use auto, buildkit or classic", s)
}

// BuildOptions tune a build. The zero value builds with the cache, with
// BuildKit where the daemon offers it.
type BuildOptions struct {
	// Dockerfile is the Dockerfile's path inside the build context.
	Dockerfile string
	// NoCache makes the daemon ignore its build cache.
	NoCache bool
	// Builder picks the builder; "" means BuilderAuto.
	Builder Builder
	// Progress receives the build's progress: the classic builder's output
	// line by line, BuildKit's steps as they start and end.
	Progress Progress
	// Platform, when set, is the image's platform, for a program built for
	// another architecture than the daemon's.
	Platform *ocispec.Platform
	// Workdir says the Dockerfile sets a working directory other than /.
	// BuilderAuto then uses the classic builder: BuildKit's WORKDIR always
	// adds a layer, if only an empty one, and the classic builder adds none
	// when the folder holds the directory, which the build context sees to.
	Workdir bool
}

// Built is a finished build: the image ID, the builder that made it, and the
// images this build made (rather than took from the cache), so that a run
// that fails later can leave the daemon as it found it.
type Built struct {
	ID      string
	Builder Builder
	created []string
	// tidied is closed once the build cache is tidied (nil: nothing to
	// tidy); see Tidied.
	tidied chan struct{}
}

// Tidied waits until the daemon's build cache has been tidied after the
// build, which runs while the run goes on (removing a large folder's
// copies takes the daemon a while): call it before the process ends.
func (b Built) Tidied() {
	if b.tidied != nil {
		<-b.tidied
	}
}

// errNoBuildKit marks a BuildKit build the daemon refused before starting it.
var errNoBuildKit = errors.New("the daemon offers no BuildKit")

// Build streams a build context (a tar, from newContext) to the daemon's
// build endpoint and returns the built image. The image is not tagged:
// tagging comes after a complete build, so a failed build moves no tag.
// Cancelling ctx aborts the request, and the daemon cancels the build with
// it. When the build fails, the images it made are removed; the classic
// builder's intermediate containers are removed by the daemon (forcerm).
//
// With BuilderAuto a daemon that refuses BuildKit (BuildKit turned off, an
// old API) gets the classic builder instead, with a notice. Podman 4.3 takes
// the request and builds with Buildah, whose plain output passes through.
//
// newContext is called once per attempt. A build is tried again, up to
// twice, when the daemon lost an image from its build cache under it: the
// classic builder and Podman's fail so when another client removes an image
// while the build is looking through the cache.
func Build(ctx context.Context, api API, newContext func() io.ReadCloser, opts BuildOptions) (Built, error) {
	want := opts.Builder
	if want == "" {
		want = BuilderAuto
	}
	use := want
	switch {
	case use == BuilderAuto && opts.Workdir:
		use, want = BuilderClassic, BuilderClassic
	case use == BuilderAuto:
		use = BuilderBuildKit
	}
	for attempt := 0; ; attempt++ {
		b, err := buildOnce(ctx, api, newContext, opts, use)
		if err != nil && want == BuilderAuto && use == BuilderBuildKit && errors.Is(err, errNoBuildKit) && ctx.Err() == nil {
			opts.Progress.send(Event{Phase: "build", Text: fmt.Sprintf("%s; building with the classic builder", err)})
			use = BuilderClassic
			continue
		}
		if err == nil || attempt == 2 || ctx.Err() != nil || !cacheRace.MatchString(err.Error()) {
			return b, err
		}
		opts.Progress.send(Event{Phase: "build", Text: fmt.Sprintf("the daemon lost a cached image during the build (%s); building again", err)})
	}
}

// cacheRace matches Docker's words for an image lost from the build cache
// and Podman's ("checking if cached image exists from a previous build:
// getting top layer info: layer not known").
var cacheRace = regexp.MustCompile(`(?i)unable to find image|no such image|cached image exists from a previous build: .*not known`)

func buildOnce(ctx context.Context, api API, newContext func() io.ReadCloser, opts BuildOptions, use Builder) (Built, error) {
	buildContext := newContext()
	defer buildContext.Close()
	options := client.ImageBuildOptions{
		Dockerfile:  opts.Dockerfile,
		NoCache:     opts.NoCache,
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	}
	if opts.Platform != nil {
		options.Platforms = []ocispec.Platform{*opts.Platform}
	}
	if use == BuilderBuildKit {
		options.Version = build.BuilderBuildKit
		options.BuildID = randomID()
		// Closing the connection cancels a BuildKit build too; the cancel
		// call makes sure, as the docker CLI does.
		defer context.AfterFunc(ctx, func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_, _ = api.BuildCancel(cctx, options.BuildID, client.BuildCancelOptions{})
		})()
	}
	res, err := api.ImageBuild(ctx, buildContext, options)
	if err != nil {
		// Only the daemon's own refusal means no BuildKit; a broken
		// connection is a failure like any other.
		if use == BuilderBuildKit && ctx.Err() == nil && strings.Contains(err.Error(), "Error response from daemon") {
			return Built{}, fmt.Errorf("%w (the daemon said: %w)", errNoBuildKit, err)
		}
		return Built{}, fmt.Errorf("starting the build: %w", err)
	}
	defer res.Body.Close()
	stop := context.AfterFunc(ctx, func() { res.Body.Close() })
	defer stop()

	b := Built{Builder: use}
	steps := stepTracker{}
	trace := newTraceDecoder()
	traced := false
	err = decodeStream(res.Body, func(m jsonstream.Message) error {
		opts.Progress.send(Event{Phase: "build", Raw: &m})
		if m.Error != nil {
			msg := strings.TrimSpace(m.Error.Message)
			if use == BuilderBuildKit && !traced {
				return fmt.Errorf("%w (the daemon said: %s)", errNoBuildKit, msg)
			}
			return fmt.Errorf("the daemon's build failed: %s", msg)
		}
		if m.ID == "moby.buildkit.trace" && m.Aux != nil {
			traced = true
			events, err := trace.decode(*m.Aux)
			if err != nil {
				return err
			}
			for _, e := range events {
				e.Echo = true
				opts.Progress.send(e)
			}
			return nil
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
				opts.Progress.send(Event{Phase: "build", Text: line, Echo: true})
			}
		}
		return nil
	})
	if traced {
		b.tidied = make(chan struct{})
		go func() {
			defer close(b.tidied)
			tidyBuildCache(ctx, api, trace, opts.Progress)
		}()
	}
	b.created = steps.created
	if use == BuilderBuildKit && b.ID != "" {
		// BuildKit makes no intermediate images: the image is the one to
		// remove should the run fail later, unless it is tagged by then.
		b.created = []string{b.ID}
	}
	if err == nil && b.ID == "" {
		err = errors.New("the daemon's build stream ended without reporting an image ID")
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("build cancelled: %w", context.Cause(ctx))
		}
		b.Discard(ctx, api)
		b.Tidied()
		return Built{}, err
	}
	return b, nil
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
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
// first; and Podman's, where Buildah writes "--> 0123456789a" and
// "--> Using cache 0123…". BuildKit makes no image per step.
type stepTracker struct {
	cached  bool
	created []string
}

var stepImage = regexp.MustCompile(`^(?: ---|--)> ([0-9a-f]{11,64})$`)

func (s *stepTracker) line(l string) {
	switch {
	case l == " ---> Using cache" || strings.HasPrefix(l, "--> Using cache "):
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
