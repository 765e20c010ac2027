package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

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
	p := newPrinter(&b, mode, 0)
	p.note("sending %s", "the folder")
	for _, e := range events() {
		p.event(e)
	}
	p.close()
	return b.String()
}

func TestProgressPlain(t *testing.T) {
	got := render(progressPlain)
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
	got := render(progressJSON)
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
	got := render(progressTTY)
	for _, want := range []string{"sending the folder\n", "a1b2: Pushed", "\x1b[2K", "a1b2: Pushing [="} {
		if !strings.Contains(got, want) {
			t.Errorf("tty progress lacks %q:\n%q", want, got)
		}
	}
}

func TestProgressQuiet(t *testing.T) {
	if got := render(progressQuiet); got != "" {
		t.Errorf("quiet printed %q", got)
	}
}

func TestChooseProgress(t *testing.T) {
	for _, c := range []struct {
		progress string
		given    bool
		quiet    bool
		terminal bool
		want     string
		err      string
	}{
		{progressAuto, false, false, true, progressTTY, ""},
		{progressAuto, false, false, false, progressPlain, ""},
		{progressAuto, false, true, true, progressQuiet, ""},
		{progressJSON, true, false, true, progressJSON, ""},
		{progressJSON, true, true, false, "", "-q and --progress=json conflict"},
		{"fancy", true, false, false, "", `--progress "fancy": give auto, tty, plain, json or quiet`},
	} {
		o := options{progress: c.progress, quiet: c.quiet}
		err := chooseProgress(&streams{errTerminal: c.terminal}, c.given, &o)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%+v: error %v, want %q", c, err, c.err)
		case c.err == "" && (err != nil || o.progress != c.want):
			t.Errorf("%+v: mode %q, error %v; want %q", c, o.progress, err, c.want)
		}
	}
}

// An event after close, as a build context's last read can race the end of
// a failed run, is dropped, never a panic.
func TestProgressAfterClose(t *testing.T) {
	for _, mode := range []string{progressTTY, progressPlain, progressJSON} {
		var b bytes.Buffer
		p := newPrinter(&b, mode, 0)
		p.close()
		p.event(daemon.Event{ID: "context", Text: "sending the build context", Current: 1, Total: 2})
		p.event(daemon.Event{Raw: &jsonstream.Message{Status: "late"}})
		p.note("late")
		if b.Len() != 0 {
			t.Errorf("%s: printed after close: %q", mode, b.String())
		}
	}
}
