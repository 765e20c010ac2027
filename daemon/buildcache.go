package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// A BuildKit build of an uploaded context leaves two records in the
// daemon's build cache that no later build uses: the context as uploaded,
// stored under a URL made up for this one build ("http url
// http://build-context-…"), and the context unpacked ("copy /context /";
// BuildKit before v0.10 calls it "fileop target"). Each is the size of the
// folder, and they were most of the build cache that repeated runs piled
// up (1.6 GB after ten runs of 50 MiB), where docker build's classic
// builder leaves none. The COPY steps' records stay: they hold the image's
// own layers (the daemon counts them as shared with it, not as build
// cache), and they are what lets a touched folder (same bytes, new times)
// build from the cache.

// contextSteps names the steps whose records are the uploaded context and
// its unpacking, and tells each record made by one of them.
var contextSteps = []struct {
	step string
	made func(description string) bool
}{
	{"[internal] load remote build context", func(d string) bool {
		return strings.HasPrefix(d, "http url http://build-context-")
	}},
	{"copy /context /", func(d string) bool {
		return d == "copy /context /" || d == "fileop target"
	}},
}

// span is when a step ran, by the daemon's clock, widened by stepSlack.
type span struct {
	from, to time.Time
	ran      bool
}

// stepSlack widens a step's time span when matching the records it made:
// both times come from the daemon's clock, so this only absorbs rounding.
const stepSlack = 100 * time.Millisecond

// tidyBuildCache removes the records of the uploaded context that this
// build's steps made: those created while the step ran (by the daemon's
// clock, from the trace), not in use and not shared with an image. A
// record another client's build made in the same instant with the same
// description could go too; for the uploaded context that costs nothing
// (no build finds it again), for the unpacked one a later unpacking. It
// gives up quietly after a few seconds: the run's result does not depend
// on it, and a failure is reported as a note.
func tidyBuildCache(ctx context.Context, api API, trace *traceDecoder, progress Progress) {
	spans := make([]span, len(contextSteps))
	anyRan := false
	for i, s := range contextSteps {
		from, to, ok := trace.ran(s.step)
		spans[i] = span{from.Add(-stepSlack), to.Add(stepSlack), ok}
		anyRan = anyRan || ok
	}
	if !anyRan {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	removed := 0
	defer func() {
		switch {
		case removed == 1:
			progress.send(Event{Phase: "build", Text: "removed the build's copy of the folder from the daemon's build cache (1 record; the image's layers stay)"})
		case removed > 1:
			progress.send(Event{Phase: "build", Text: fmt.Sprintf("removed the build's copies of the folder from the daemon's build cache (%d records; the image's layers stay)", removed)})
		}
	}()
	// BuildKit lets go of a build's records a moment after the build
	// ends: one still in use is looked at again, a few times.
	for try := 0; try < tidyTries; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(tidyWait):
			}
		}
		// The build-cache type needs API 1.42; before it the daemon
		// sizes everything, which costs more but answers the same
		// question.
		du, err := api.DiskUsage(ctx, client.DiskUsageOptions{BuildCache: true, Verbose: true})
		if err != nil {
			progress.send(Event{Phase: "build", Text: fmt.Sprintf("note: the build's copy of the folder stays in the daemon's build cache (listing it: %v); docker builder prune removes it", err)})
			return
		}
		busy := 0
		for _, r := range du.BuildCache.Items {
			if r.Shared || !madeByContextStep(r.Description, r.CreatedAt, spans) {
				continue
			}
			if r.InUse {
				busy++
				continue
			}
			if _, err := api.BuildCachePrune(ctx, client.BuildCachePruneOptions{Filters: make(client.Filters).Add("id", r.ID)}); err != nil {
				progress.send(Event{Phase: "build", Text: fmt.Sprintf("note: the build's copy of the folder stays in the daemon's build cache (removing it: %v); docker builder prune removes it", err)})
				return
			}
			removed++
		}
		if busy == 0 {
			return
		}
	}
}

// How often, and how far apart, tidyBuildCache looks at records in use.
const (
	tidyTries = 10
	tidyWait  = 200 * time.Millisecond
)

// madeByContextStep says a record of that description, created then, is
// one a context step made while it ran.
func madeByContextStep(description string, created time.Time, spans []span) bool {
	for i, s := range contextSteps {
		if sp := spans[i]; sp.ran && s.made(description) && !created.Before(sp.from) && !created.After(sp.to) {
			return true
		}
	}
	return false
}
