// Package display shows a run's progress, given as daemon.Event data, to a
// person or a log: on a terminal a live line per layer rewritten in place as
// docker push draws it, else timestamped lines, or the daemon's own JSON
// messages as they came. It writes only what it is given to write; the
// caller chooses the writer (stderr) and the mode.
package display

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/term"

	"github.com/scratchpush/scratchpush/daemon"
)

// Modes of showing progress.
const (
	Auto  = "auto"  // TTY on a terminal, else Plain: for the caller to settle
	TTY   = "tty"   // a line per layer, rewritten in place, as docker push draws it
	Plain = "plain" // one timestamped line per change
	JSON  = "json"  // the daemon's messages as they came, one JSON object per line
	Quiet = "quiet" // nothing
)

// Modes lists every mode, Auto first.
var Modes = []string{Auto, TTY, Plain, JSON, Quiet}

// Printer shows progress in one mode. Events arrive from the goroutine
// reading a daemon stream and from the one sending a build context, so it
// locks.
type Printer struct {
	mu     sync.Mutex
	w      io.Writer
	mode   string
	start  time.Time
	status map[string]string
	live   *liveDisplay // TTY mode
	closed bool
}

// New makes a Printer writing to w in mode (not Auto). In TTY mode, fd is
// the terminal's descriptor, whose width the live lines are cut to (80
// columns when it cannot be read).
func New(w io.Writer, mode string, fd uintptr) *Printer {
	p := &Printer{w: w, mode: mode, start: time.Now(), status: map[string]string{}}
	if mode == TTY {
		width := 80
		if ws, err := term.GetWinsize(fd); err == nil && ws.Width > 0 {
			width = int(ws.Width)
		}
		p.live = newLiveDisplay(w, width)
	}
	return p
}

// Close finishes the display, so that what follows (the results) is never
// drawn inside it. Events that still come (a build context's last read
// racing the end of a failed run) are dropped.
func (p *Printer) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
}

// Note shows a message of the caller's own.
func (p *Printer) Note(format string, args ...any) {
	p.line(fmt.Sprintf(format, args...))
}

func (p *Printer) line(text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	switch p.mode {
	case Plain:
		fmt.Fprintf(p.w, "[%6.1fs] %s\n", time.Since(p.start).Seconds(), text)
	case TTY:
		p.live.text(text)
	case JSON:
		b, _ := json.Marshal(jsonstream.Message{Stream: text + "\n"})
		fmt.Fprintf(p.w, "%s\n", b)
	}
}

// Event shows one step of progress; it is a daemon.Progress.
func (p *Printer) Event(e daemon.Event) {
	if p.mode == JSON {
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
	if e.Text == "" || p.mode == Quiet {
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
	if p.mode == TTY {
		p.live.update(e.ID, e.Text, &jsonstream.Progress{Current: e.Current, Total: e.Total, Start: p.start.Unix()})
		return
	}
	if p.status[e.ID] == e.Text {
		return
	}
	p.status[e.ID] = e.Text
	fmt.Fprintf(p.w, "[%6.1fs] %s: %s\n", time.Since(p.start).Seconds(), e.ID, e.Text)
}

// Line is text as a line of its own in mode's output, outside a
// Printer's: in JSON mode a message ({"stream": …}), so that a reader of
// JSON lines never meets plain text; else the text and a newline.
func Line(mode, text string) []byte {
	if mode != JSON {
		return []byte(text + "\n")
	}
	b, _ := json.Marshal(jsonstream.Message{Stream: text + "\n"})
	return append(b, '\n')
}

// ErrorLine is a run's failure as the last line of mode's output: in JSON
// mode an error message, as the daemon's own streams end
// ({"errorDetail":{"message":…},"error":…}); else the text and a newline.
func ErrorLine(mode, text string) []byte {
	if mode != JSON {
		return []byte(text + "\n")
	}
	b, _ := json.Marshal(struct {
		Detail jsonstream.Error `json:"errorDetail"`
		Error  string           `json:"error"`
	}{jsonstream.Error{Message: text}, text})
	return append(b, '\n')
}
