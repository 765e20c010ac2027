package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/term"

	"github.com/scratchpush/scratchpush/daemon"
)

// redactor replaces every known secret in what is written through it: a
// last line of defence so that no password reaches stderr even if a daemon
// or registry echoes it in an error. stdout is left alone: it only carries
// results built from names and digests, and must never be altered. Every line is written with a
// single Write, so a secret cannot straddle two writes.
type redactor struct {
	mu      sync.Mutex
	secrets []string
}

// minSecret is the shortest secret redacted: shorter strings turn up in
// ordinary output by chance, and replacing them would garble it.
const minSecret = 4

func (r *redactor) add(secret string) {
	if len(secret) < minSecret {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = append(r.secrets, secret)
}

func (r *redactor) clean(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}

func (r *redactor) wrap(w io.Writer) io.Writer { return redactingWriter{r: r, w: w} }

type redactingWriter struct {
	r *redactor
	w io.Writer
}

func (rw redactingWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(rw.w, rw.r.clean(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Progress modes (--progress).
const (
	progressAuto  = "auto"  // tty on a terminal, else plain
	progressTTY   = "tty"   // a line per layer, rewritten in place, as docker push draws it
	progressPlain = "plain" // one timestamped line per change
	progressJSON  = "json"  // the daemon's messages as they came, one JSON object per line
	progressQuiet = "quiet" // nothing
)

// printer shows progress on stderr in the chosen mode. Events arrive from
// the goroutine reading a daemon stream and from the one sending a build
// context, so it locks.
type printer struct {
	mu     sync.Mutex
	w      io.Writer
	mode   string
	start  time.Time
	status map[string]string
	live   *liveDisplay // tty mode
	closed bool
}

// newPrinter makes a printer for mode; fd is the terminal's descriptor in
// tty mode, for its width.
func newPrinter(w io.Writer, mode string, fd uintptr) *printer {
	p := &printer{w: w, mode: mode, start: time.Now(), status: map[string]string{}}
	if mode == progressTTY {
		width := 80
		if ws, err := term.GetWinsize(fd); err == nil && ws.Width > 0 {
			width = int(ws.Width)
		}
		p.live = newLiveDisplay(w, width)
	}
	return p
}

// close finishes the display. Events that still come (a build context's
// last read racing the end of a failed run) are dropped.
func (p *printer) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
}

// note prints a message of scratch-push's own.
func (p *printer) note(format string, args ...any) {
	p.line(fmt.Sprintf(format, args...))
}

func (p *printer) line(text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	switch p.mode {
	case progressPlain:
		fmt.Fprintf(p.w, "[%6.1fs] %s\n", time.Since(p.start).Seconds(), text)
	case progressTTY:
		p.live.text(text)
	case progressJSON:
		b, _ := json.Marshal(jsonstream.Message{Stream: text + "\n"})
		fmt.Fprintf(p.w, "%s\n", b)
	}
}

func (p *printer) event(e daemon.Event) {
	if p.mode == progressJSON {
		if e.Raw != nil {
			b, err := json.Marshal(e.Raw)
			p.mu.Lock()
			if err == nil && !p.closed {
				fmt.Fprintf(p.w, "%s\n", b)
			}
			p.mu.Unlock()
		} else if !e.Echo && e.Text != "" {
			p.line(e.Text) // scratch-push's own word on the run: a retry, a fallback
		}
		return
	}
	if e.Text == "" || p.mode == progressQuiet {
		return
	}
	if e.ID == "" {
		p.line(e.Text)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if p.mode == progressTTY {
		p.live.update(e.ID, e.Text, &jsonstream.Progress{Current: e.Current, Total: e.Total, Start: p.start.Unix()})
		return
	}
	if p.status[e.ID] == e.Text {
		return
	}
	p.status[e.ID] = e.Text
	fmt.Fprintf(p.w, "[%6.1fs] %s: %s\n", time.Since(p.start).Seconds(), e.ID, e.Text)
}

func warn(s *streams, msg string) {
	fmt.Fprintf(s.err, "scratch-push: warning: %s\n", msg)
}

// oneLine keeps an error to one line: a daemon's message can hold newlines.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
