package display

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client/pkg/jsonmessage"
)

// liveDisplay draws progress on a terminal as docker push does: a line per
// layer (and one for the build context), rewritten in place below the
// output, with every other line printed above them. A line that reaches its
// end ("Pushed", "sent 79.3MB in 0.5s") shows those words in its place, and
// leaves the live area, printed for good, once every line above it has
// too: layers keep their order, and nothing stays on screen half-done.
//
// Each change redraws the live area in one write: up to its first line,
// erase to the end of the screen, draw it again. Live lines are cut to the
// terminal's width, so that the count of lines to go up stays true.
type liveDisplay struct {
	w     io.Writer
	width int
	order []string          // live IDs, first seen first
	lines map[string]string // each live ID's line as drawn
	done  map[string]string // live IDs whose line has reached its end: the whole line
	drawn int               // live lines on the screen now
}

func newLiveDisplay(w io.Writer, width int) *liveDisplay {
	if width < 20 {
		width = 80
	}
	return &liveDisplay{w: w, width: width, lines: map[string]string{}, done: map[string]string{}}
}

// text prints a line above the live area.
func (d *liveDisplay) text(line string) {
	var b bytes.Buffer
	d.erase(&b)
	b.WriteString(strings.TrimRight(line, "\n") + "\n")
	d.draw(&b)
	_, _ = d.w.Write(b.Bytes())
}

// update shows id's status and progress (nil for none); a final status
// takes the line out of the live area, printed for good.
func (d *liveDisplay) update(id, status string, p *jsonstream.Progress) {
	line := id + ": " + status
	if p != nil && (p.Current > 0 || p.Total > 0) {
		line += " " + jsonmessage.RenderTUIProgress(*p, uint16(d.width))
	}
	final := finalStatus(status)
	if final && len(d.order) == 0 {
		d.text(line)
		return
	}
	whole := line
	line = cut(line, d.width-1)
	if _, ok := d.lines[id]; !ok {
		d.order = append(d.order, id)
	} else if d.lines[id] == line && !final {
		return
	}
	d.lines[id] = line
	if final {
		d.done[id] = whole
	}
	var b bytes.Buffer
	d.erase(&b)
	// Finished lines leave the live area from its top only, in the order
	// they came: a layer keeps its place until those above it end.
	for len(d.order) > 0 && d.done[d.order[0]] != "" {
		b.WriteString(d.done[d.order[0]] + "\n")
		delete(d.lines, d.order[0])
		delete(d.done, d.order[0])
		d.order = d.order[1:]
	}
	d.draw(&b)
	_, _ = d.w.Write(b.Bytes())
}

func (d *liveDisplay) erase(b *bytes.Buffer) {
	if d.drawn > 0 {
		fmt.Fprintf(b, "\x1b[%dA\r\x1b[J", d.drawn)
	}
	d.drawn = 0
}

func (d *liveDisplay) draw(b *bytes.Buffer) {
	for _, id := range d.order {
		b.WriteString(d.lines[id] + "\n")
	}
	d.drawn = len(d.order)
}

// finalStatus tells the words that end a line: a layer pushed, found or
// mounted, the build context sent.
func finalStatus(s string) bool {
	for _, end := range []string{"Pushed", "Layer already exists", "Already exists", "Mounted from ", "sent "} {
		if strings.HasPrefix(s, end) {
			return true
		}
	}
	return false
}

// cut keeps s to n columns.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
