package push

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/docker/go-units"

	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon"
)

// sending reports a stream's progress to the daemon as events for id: every
// tenth of a second while it is read, and how long it took at the end.
type sending struct {
	r           io.ReadCloser
	id, what    string
	total, n    int64
	start, last time.Time
	progress    daemon.Progress
	finished    bool
}

func newSending(r io.ReadCloser, id, what string, total int64, progress daemon.Progress) *sending {
	now := time.Now()
	return &sending{r: r, id: id, what: what, total: total, start: now, last: now, progress: progress}
}

func (s *sending) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	s.n += int64(n)
	now := time.Now()
	switch {
	case s.progress == nil:
	case errors.Is(err, io.EOF) && !s.finished:
		s.finished = true
		secs := max(now.Sub(s.start).Seconds(), 0.001)
		s.progress(daemon.Event{Phase: "build", ID: s.id, Text: fmt.Sprintf("sent %s in %.1fs (%s/s)", HumanBytes(s.n), secs, HumanBytes(int64(float64(s.n)/secs)))})
	case err == nil && now.Sub(s.last) >= 100*time.Millisecond:
		s.last = now
		s.progress(daemon.Event{Phase: "build", ID: s.id, Text: "sending " + s.what, Current: min(s.n, s.total), Total: s.total})
	}
	return n, err
}

func (s *sending) Close() error { return s.r.Close() }

// HumanBytes writes a size as docker writes it, in its push's progress
// bars and docker images: 212.9MB (decimal units, go-units' HumanSize), so
// that the same bytes read the same on every line.
func HumanBytes(n int64) string { return units.HumanSize(float64(n)) }

// count is n things, in the singular for one: "1 file", "3 files".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// buildSteps passes the build's progress on, its steps named as the user
// knows them: BuildKit's own steps for a remote context ("[internal] load
// remote build context", "copy /context /") are left out, and the copy of
// the folder's files from where the context keeps them ("[1/2] COPY
// rootfs-1/ /") is said as such. The daemon's messages themselves (Raw,
// for --progress json) pass as they came.
func buildSteps(p daemon.Progress) daemon.Progress {
	return func(e daemon.Event) {
		if e.Raw == nil && e.ID == "" && e.Phase == "build" {
			if strings.HasPrefix(e.Text, "[internal] ") || strings.HasPrefix(e.Text, "copy /context /") {
				return
			}
			if m := copyStep.FindStringSubmatch(e.Text); m != nil {
				layer := ""
				if m[2] != "" {
					layer = ", layer " + m[2]
				}
				e.Text = m[1] + "copying the folder's files" + layer + strings.TrimPrefix(e.Text, m[0])
			}
		}
		p(e)
	}
}

// copyStep is a build step copying the folder's files (or a part of them,
// one layer's) from the build context, as BuildKit ("[1/2] COPY rootfs-1/
// /", then "… DONE 0.2s"), the classic builder ("Step 2/3 : COPY …") and
// Podman ("STEP 2/3: COPY …") say it.
var copyStep = regexp.MustCompile(`^(\[\d+/\d+\] |Step \d+/\d+ : |STEP \d+/\d+: )COPY ` + builder.ContextRoot + `(?:-(\d+))?/ /`)
