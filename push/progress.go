package push

import (
	"errors"
	"fmt"
	"io"
	"time"

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

// HumanBytes writes a size as people read it: 3.0 MiB.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
