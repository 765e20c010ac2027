package push

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/jsonstream"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/scratchpush/scratchpush/auth"
	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon"
	"github.com/scratchpush/scratchpush/daemon/daemontest"
	"github.com/scratchpush/scratchpush/field"
	"github.com/scratchpush/scratchpush/plan"
	"github.com/scratchpush/scratchpush/target"
)

// A daemon that found plain HTTP where it expected HTTPS gets advice for
// its own configuration, the error kept.
func TestPlainHTTPAdvice(t *testing.T) {
	cause := errors.New(`pinging container registry localhost:5000: Get "https://localhost:5000/v2/": http: server gave HTTP response to HTTPS client`)
	for _, c := range []struct {
		podman bool
		want   string
	}{
		{false, `add it to "insecure-registries" in the daemon's daemon.json`},
		{true, `registries.conf ([[registry]] location = "localhost:5000", insecure = true) and restart podman system service`},
	} {
		err := plainHTTPAdvice(cause, "localhost:5000", c.podman)
		if !errors.Is(err, cause) || !strings.Contains(err.Error(), c.want) || !daemon.PlainHTTP(cause) {
			t.Errorf("podman %t: %v; want it to wrap the cause and say %q", c.podman, err, c.want)
		}
	}
}

// options is a reproducible run of a small folder to app:v1 on a registry
// named r.example, as the command line would make it.
func options(t *testing.T, push bool) plan.Plan {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app"), []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dest, err := target.Parse("r.example", "team/app", []string{"v1"})
	if err != nil {
		t.Fatal(err)
	}
	return plan.Plan{CacheDir: t.TempDir(),
		Dir: dir, Spec: builder.Spec{Cmd: []string{"./app"}}, Layout: builder.Layout{ModTime: time.Unix(1700000000, 0)},
		Builder: daemon.BuilderAuto, Reproducible: true, MaxLayers: 1, Target: dest, Push: push,
		Credentials: auth.Credentials{Username: "bob", Password: "right"},
	}
}

// A push that fails puts the tag back where it was, removes the image the
// run made, and writes no result file.
func TestRunUndoesAFailedPush(t *testing.T) {
	fake := daemontest.New()
	fake.AddImage("sha256:old", "r.example/team/app:v1")
	fake.PushError = "unknown: the registry is read-only"
	o := options(t, true)
	o.Files.IID = filepath.Join(t.TempDir(), "iid")
	res, err := Run(context.Background(), fake.Engine, o)
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("error %v, want the push's", err)
	}
	if got := fake.ImageOf("r.example/team/app:v1"); got != "sha256:old" {
		t.Errorf("the tag names %q after the failure, want sha256:old back", got)
	}
	if !slices.Equal(fake.Images(), []string{"sha256:old"}) || len(fake.Removed) != 1 || fake.Removed[0] != res.ImageID {
		t.Errorf("the daemon holds %q, removed %q; want only the old image, the made one %s removed", fake.Images(), fake.Removed, res.ImageID)
	}
	if _, err := os.Stat(o.Files.IID); !os.IsNotExist(err) || len(res.Tags) != 0 {
		t.Errorf("a failed run left an iid file (%v) or reports tags %v", err, res.Tags)
	}
}

// A wrong password stops the run before anything is made.
func TestRunChecksCredentialsFirst(t *testing.T) {
	fake := daemontest.New()
	fake.LoginError = errors.New("Error response from daemon: login attempt failed with status: 401 Unauthorized")
	_, err := Run(context.Background(), fake.Engine, options(t, true))
	if fe := field.Of(err); !errors.Is(err, auth.ErrAuth) || fe == nil || fe.Field != "Credentials" {
		t.Errorf("error %v, want an authentication failure about Credentials", err)
	}
	if fake.Loads != 0 || fake.Pushes != 0 || len(fake.Images()) != 0 {
		t.Errorf("%d loads, %d pushes, images %q after a refused login; want none", fake.Loads, fake.Pushes, fake.Images())
	}
}

// The same folder and options, again: the image is reused, not made, and
// the result says so; the files are written on success.
func TestRunReusesAndWritesResults(t *testing.T) {
	fake := daemontest.New()
	o := options(t, true)
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(o.Dir, "app"), past, past); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // past the settle time: the folder's ctime is now
	first, err := Run(context.Background(), fake.Engine, o)
	if err != nil || first.Reused || len(first.Tags) != 1 || !strings.HasPrefix(first.Tags[0].Pinned, "r.example/team/app@sha256:") {
		t.Fatalf("first run: %+v, %v", first, err)
	}
	o.Files = plan.Files{IID: filepath.Join(t.TempDir(), "iid"), Metadata: filepath.Join(t.TempDir(), "metadata.json")}
	second, err := Run(context.Background(), fake.Engine, o)
	if err != nil || !second.Reused || second.ImageID != first.ImageID || fake.Loads != 1 {
		t.Fatalf("second run: %+v, %v after %d loads; want the first image reused", second, err, fake.Loads)
	}
	if b, err := os.ReadFile(o.Files.IID); err != nil || string(b) != first.ImageID {
		t.Errorf("iid file %q, %v; want %s", b, err, first.ImageID)
	}
	var meta struct {
		ImageID string
		Reused  bool
		Tags    []Tag
	}
	if b, err := os.ReadFile(o.Files.Metadata); err != nil || json.Unmarshal(b, &meta) != nil || meta.ImageID != first.ImageID || !meta.Reused || len(meta.Tags) != 1 {
		t.Errorf("metadata file %+v, %v", meta, err)
	}
}

// The platform the options name is the image's, whatever the daemon's.
func TestRunPlatform(t *testing.T) {
	fake := daemontest.New()
	o := options(t, false)
	o.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm64"}
	res, err := Run(context.Background(), fake.Engine, o)
	if err != nil {
		t.Fatal(err)
	}
	var img ocispec.Image
	if err := json.Unmarshal(fake.Config(res.ImageID), &img); err != nil || img.Architecture != "arm64" {
		t.Errorf("the loaded config is for %q (%v), want arm64", img.Architecture, err)
	}
	if len(res.Tags) != 1 || res.Tags[0].Digest != "" || fake.Pushes != 0 || fake.ImageOf("r.example/team/app:v1") != res.ImageID {
		t.Errorf("without a push: tags %+v, %d pushes", res.Tags, fake.Pushes)
	}
}

// A folder touched after its image was made (the same bytes, new stat
// data, as a fresh checkout has) is read, found the same, and its image
// reused without a load; a byte changed in place (same size) is found
// too, and made again.
func TestRunReusesATouchedFolder(t *testing.T) {
	fake := daemontest.New()
	o := options(t, false)
	app := filepath.Join(o.Dir, "app")
	touch := func(at time.Time) {
		t.Helper()
		if err := os.Chtimes(app, at, at); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // past the settle time: the folder's ctime is now
	}
	var notes []string
	run := func() Result {
		t.Helper()
		notes = nil
		res, err := Run(context.Background(), fake.Engine, o, WithProgress(func(e daemon.Event) {
			if e.Phase == "note" {
				notes = append(notes, e.Text)
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	touch(time.Now().Add(-time.Hour))
	first := run()
	touch(time.Now().Add(-time.Minute))
	second := run()
	if !second.Reused || second.ImageID != first.ImageID || fake.Loads != 1 || !strings.Contains(strings.Join(notes, "\n"), "only their times changed") {
		t.Fatalf("touched: %+v after %d loads, notes %q; want the first image reused", second, fake.Loads, notes)
	}
	if third := run(); !third.Reused || !strings.Contains(strings.Join(notes, "\n"), "nothing in") {
		t.Errorf("unchanged after the touched run: %+v, notes %q; want it reused by its stat data", third, notes)
	}
	if err := os.WriteFile(app, []byte("#!/bin/tru2\n"), 0o755); err != nil { // the same size
		t.Fatal(err)
	}
	touch(time.Now().Add(-time.Minute))
	if changed := run(); changed.Reused || changed.ImageID == first.ImageID || fake.Loads != 2 {
		t.Errorf("a byte changed: %+v after %d loads; want a new image", changed, fake.Loads)
	}
}

// A big file on the classic store's default path gets the advice to push
// from here, which compresses on every core; a small one, or --push
// direct, does not.
func TestBigFileAdvice(t *testing.T) {
	for _, c := range []struct {
		size   int64
		direct bool
		advice bool
	}{{bigFile, false, true}, {bigFile - 1, false, false}, {bigFile, true, false}} {
		o := options(t, true)
		o.Direct = c.direct
		// A push from here goes nowhere: a closed port on loopback.
		o.Credentials = auth.Credentials{}
		dest, err := target.Parse("127.0.0.1:1", "team/app", []string{"v1"})
		if err != nil {
			t.Fatal(err)
		}
		o.Target = dest
		if err := os.Truncate(filepath.Join(o.Dir, "app"), c.size); err != nil { // sparse
			t.Fatal(err)
		}
		var notes []string
		_, _ = Run(context.Background(), daemontest.New().Engine, o, WithProgress(func(e daemon.Event) {
			if e.Phase == "note" {
				notes = append(notes, e.Text)
			}
		}))
		if got := strings.Contains(strings.Join(notes, "\n"), "--push direct compresses it on every core"); got != c.advice {
			t.Errorf("%d bytes, direct %v: advice %v, want %v; notes %q", c.size, c.direct, got, c.advice, notes)
		}
	}
}

// The build's progress names its steps as the user knows them: BuildKit's
// own steps for a remote context are left out, the copy of the folder is
// said as such, and the daemon's messages pass as they came.
func TestBuildSteps(t *testing.T) {
	var got []string
	p := buildSteps(func(e daemon.Event) { got = append(got, e.Text) })
	for _, text := range []string{
		"[internal] load remote build context", "[internal] load remote build context DONE 0.2s",
		"copy /context /", "copy /context / DONE 0.2s",
		"[1/1] COPY rootfs/ /", "[1/1] COPY rootfs/ / DONE 0.0s",
		"[2/3] COPY rootfs-2/ /", "[2/3] COPY rootfs-2/ / CACHED",
		"[3/3] COPY app.conf /etc/", "exporting to image",
		"Step 2/3 : COPY rootfs/ /", "STEP 2/3: COPY rootfs-1/ /",
	} {
		p(daemon.Event{Phase: "build", Text: text})
	}
	p(daemon.Event{Phase: "build", Raw: &jsonstream.Message{Stream: "[internal] load remote build context"}})
	want := []string{
		"[1/1] copying the folder's files", "[1/1] copying the folder's files DONE 0.0s",
		"[2/3] copying the folder's files, layer 2", "[2/3] copying the folder's files, layer 2 CACHED",
		"[3/3] COPY app.conf /etc/", "exporting to image",
		"Step 2/3 : copying the folder's files", "STEP 2/3: copying the folder's files, layer 1",
		"", // the raw message, passed on
	}
	if !slices.Equal(got, want) {
		t.Errorf("steps shown:\n%q\nwant\n%q", got, want)
	}
}
