package display

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/moby/moby/api/types/jsonstream"

	"github.com/scratchpush/scratchpush/daemon"
)

// events is a push as the daemon package reports it: each daemon message
// raw, then the event made from it; and a note of scratch-push's own.
func events() []daemon.Event {
	build := jsonstream.Message{Stream: "Step 1/2 : FROM scratch\n"}
	out := []daemon.Event{{Phase: "build", Raw: &build}, {Phase: "build", Text: "Step 1/2 : FROM scratch", Echo: true}}
	for _, m := range []jsonstream.Message{
		{ID: "a1b2", Status: "Preparing"},
		{ID: "a1b2", Status: "Pushing", Progress: &jsonstream.Progress{Current: 512, Total: 1024}},
		{ID: "a1b2", Status: "Pushing", Progress: &jsonstream.Progress{Current: 1024, Total: 1024}},
		{ID: "a1b2", Status: "Pushed"},
	} {
		out = append(out, daemon.Event{Phase: "push", Raw: &m}, daemon.Event{Phase: "push", ID: m.ID, Text: m.Status, Current: progressOf(m).Current, Total: progressOf(m).Total, Echo: true})
	}
	return append(out, daemon.Event{Phase: "push", Text: "push failed: 503; retrying in 1s (retry 1 of 3)"})
}

func progressOf(m jsonstream.Message) jsonstream.Progress {
	if m.Progress == nil {
		return jsonstream.Progress{}
	}
	return *m.Progress
}

func render(mode string) string {
	var b bytes.Buffer
	p := New(&b, mode, 0)
	p.Note("sending %s", "the folder")
	for _, e := range events() {
		p.Event(e)
	}
	p.Close()
	return b.String()
}

func TestProgressPlain(t *testing.T) {
	got := render(Plain)
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	stamp := regexp.MustCompile(`^\[ *\d+\.\ds\] `)
	var bare []string
	for _, l := range lines {
		if !stamp.MatchString(l) {
			t.Errorf("line without a timestamp: %q", l)
		}
		bare = append(bare, stamp.ReplaceAllString(l, ""))
	}
	want := []string{"sending the folder", "Step 1/2 : FROM scratch", "a1b2: Preparing", "a1b2: Pushing", "a1b2: Pushed", "push failed: 503; retrying in 1s (retry 1 of 3)"}
	if strings.Join(bare, "\n") != strings.Join(want, "\n") {
		t.Errorf("plain progress:\n%s\nwant (timestamps aside):\n%s", got, strings.Join(want, "\n"))
	}
}

func TestProgressJSON(t *testing.T) {
	got := render(JSON)
	var statuses []string
	for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		var m jsonstream.Message
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		statuses = append(statuses, m.Status+m.Stream)
	}
	want := []string{"sending the folder\n", "Step 1/2 : FROM scratch\n", "Preparing", "Pushing", "Pushing", "Pushed", "push failed: 503; retrying in 1s (retry 1 of 3)\n"}
	if strings.Join(statuses, "|") != strings.Join(want, "|") {
		t.Errorf("json progress passes %q, want the daemon's messages and our notes: %q", statuses, want)
	}
}

func TestProgressTTY(t *testing.T) {
	got := render(TTY)
	want := []string{"sending the folder", "Step 1/2 : FROM scratch", "a1b2: Pushed", "push failed: 503; retrying in 1s (retry 1 of 3)"}
	if screen := terminal(got); !slices.Equal(screen, want) {
		t.Errorf("tty progress leaves\n%s\nwant\n%s\n(written: %q)", strings.Join(screen, "\n"), strings.Join(want, "\n"), got)
	}
	if !strings.Contains(got, "a1b2: Pushing  1.024kB/1.024kB") {
		t.Errorf("tty progress never showed the layer's bytes: %q", got)
	}
}

// The live lines of several layers and the build context, with other
// lines between their updates: a line per layer, rewritten in place, the
// finished ones in their final words only and in the order the layers
// came (a layer that ends first keeps its place below one still going),
// none left half-done.
func TestLiveDisplay(t *testing.T) {
	var b bytes.Buffer
	d := newLiveDisplay(&b, 100)
	progress := func(cur, total int64) *jsonstream.Progress {
		return &jsonstream.Progress{Current: cur, Total: total}
	}
	d.update("context", "sending the build context", progress(10, 100))
	d.text("[internal] load remote build context")
	d.update("context", "sending the build context", progress(90, 100))
	d.text("copy /context /")
	d.update("context", "sent 100 B in 0.1s (1000 B/s)", nil)
	d.text("The push refers to repository [r/app]")
	d.update("aaaa", "Preparing", nil)
	d.update("bbbb", "Preparing", nil)
	d.update("aaaa", "Pushing", progress(1, 4))
	d.update("bbbb", "Pushing", progress(3, 4))
	d.update("bbbb", "Pushed", nil)
	mid := terminal(b.String())
	d.update("aaaa", "Pushing", progress(2, 4))
	d.update("aaaa", "Layer already exists", nil)
	d.text("v1: digest: sha256:00 size: 1")
	want := []string{
		"[internal] load remote build context", "copy /context /", "context: sent 100 B in 0.1s (1000 B/s)",
		"The push refers to repository [r/app]", "aaaa: Layer already exists", "bbbb: Pushed", "v1: digest: sha256:00 size: 1",
	}
	if got := terminal(b.String()); !slices.Equal(got, want) {
		t.Errorf("the screen shows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if last := mid[len(mid)-1]; last != "bbbb: Pushed" || !strings.HasPrefix(mid[len(mid)-2], "aaaa: Pushing") {
		t.Errorf("while aaaa pushes, the screen ends\n%s", strings.Join(mid[len(mid)-2:], "\n"))
	}
}

// terminal plays what was written on a screen, as a terminal would, for
// the escapes the live display writes (cursor up, carriage return, erase to
// the end of the screen), and returns the lines left on it.
func terminal(out string) []string {
	var screen []string
	row, col := 0, 0
	put := func(r rune) {
		for len(screen) <= row {
			screen = append(screen, "")
		}
		line := []rune(screen[row])
		for len(line) < col {
			line = append(line, ' ')
		}
		if col < len(line) {
			line[col] = r
		} else {
			line = append(line, r)
		}
		screen[row] = string(line)
		col++
	}
	up := regexp.MustCompile(`^\x1b\[(\d+)A`)
	for i := 0; i < len(out); {
		switch {
		case strings.HasPrefix(out[i:], "\x1b[J"):
			if row < len(screen) {
				screen = append(screen[:row], string([]rune(screen[row])[:min(col, len([]rune(screen[row])))]))
			}
			i += 3
		case up.MatchString(out[i:]):
			m := up.FindStringSubmatch(out[i:])
			n, _ := strconv.Atoi(m[1])
			row = max(row-n, 0)
			i += len(m[0])
		case out[i] == '\r':
			col = 0
			i++
		case out[i] == '\n':
			row, col = row+1, 0
			i++
		default:
			r, size := utf8.DecodeRuneInString(out[i:])
			put(r)
			i += size
		}
	}
	for len(screen) > 0 && screen[len(screen)-1] == "" {
		screen = screen[:len(screen)-1]
	}
	return screen
}

func TestProgressQuiet(t *testing.T) {
	if got := render(Quiet); got != "" {
		t.Errorf("quiet printed %q", got)
	}
}

// An event after close, as a build context's last read can race the end of
// a failed run, is dropped, never a panic.
func TestProgressAfterClose(t *testing.T) {
	for _, mode := range []string{TTY, Plain, JSON} {
		var b bytes.Buffer
		p := New(&b, mode, 0)
		p.Close()
		p.Event(daemon.Event{ID: "context", Text: "sending the build context", Current: 1, Total: 2})
		p.Event(daemon.Event{Raw: &jsonstream.Message{Status: "late"}})
		p.Note("late")
		if b.Len() != 0 {
			t.Errorf("%s: printed after close: %q", mode, b.String())
		}
	}
}
