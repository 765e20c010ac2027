package main

import (
	"fmt"
	"io"
	"strings"
	"sync"

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

// printer shows progress on stderr as plain lines: the daemon's build output,
// and for a push one line each time a layer's status changes.
type printer struct {
	w      io.Writer
	quiet  bool
	status map[string]string
}

func newPrinter(w io.Writer, quiet bool) *printer {
	return &printer{w: w, quiet: quiet, status: map[string]string{}}
}

func (p *printer) note(format string, args ...any) {
	if !p.quiet {
		fmt.Fprintf(p.w, format+"\n", args...)
	}
}

func (p *printer) event(e daemon.Event) {
	if p.quiet || e.Text == "" {
		return
	}
	if e.ID == "" {
		fmt.Fprintln(p.w, e.Text)
		return
	}
	if p.status[e.ID] == e.Text {
		return
	}
	p.status[e.ID] = e.Text
	fmt.Fprintf(p.w, "%s: %s\n", e.ID, e.Text)
}

func warn(s *streams, msg string) {
	fmt.Fprintf(s.err, "scratch-push: warning: %s\n", msg)
}

// oneLine keeps an error to one line: a daemon's message can hold newlines.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func humanBytes(n int64) string {
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
