package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// streamFrom answers builds with recorded daemon streams, one per call; an
// empty one stands for the daemon refusing the request.
func streamFrom(t *testing.T, files ...string) (*fakeAPI, *[]client.ImageBuildOptions) {
	var got []client.ImageBuildOptions
	api := &fakeAPI{
		inspect: func(context.Context, string) (client.ImageInspectResult, error) {
			return client.ImageInspectResult{}, nil
		},
		remove: func(context.Context, string, client.ImageRemoveOptions) (client.ImageRemoveResult, error) {
			return client.ImageRemoveResult{}, nil
		},
	}
	api.build = func(_ context.Context, r io.Reader, o client.ImageBuildOptions) (client.ImageBuildResult, error) {
		got = append(got, o)
		f := files[len(got)-1]
		if f == "" {
			return client.ImageBuildResult{}, errors.New("Error response from daemon: buildkit not supported by daemon")
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		return client.ImageBuildResult{Body: io.NopCloser(strings.NewReader(string(b)))}, nil
	}
	return api, &got
}

func TestBuildKitStream(t *testing.T) {
	api, got := streamFrom(t, "testdata/buildkit-stream.json")
	var lines []string
	b, err := Build(context.Background(), api, tarOf("tar"), BuildOptions{Dockerfile: "Dockerfile", Progress: func(e Event) {
		if e.Raw == nil {
			lines = append(lines, e.Text)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if b.Builder != BuilderBuildKit || !strings.HasPrefix(b.ID, "sha256:") || len(b.created) != 1 || b.created[0] != b.ID {
		t.Errorf("built %+v", b)
	}
	o := (*got)[0]
	if o.Version != build.BuilderBuildKit || o.BuildID == "" {
		t.Errorf("options %+v: want version 2 with a build ID", o)
	}
	all := strings.Join(lines, "\n")
	for _, want := range []string{"[internal] load remote build context", "[1/1] COPY rootfs/ /", "exporting to image", "DONE"} {
		if !strings.Contains(all, want) {
			t.Errorf("progress lacks %q:\n%s", want, all)
		}
	}
}

func TestBuildKitError(t *testing.T) {
	api, got := streamFrom(t, "testdata/buildkit-error.json")
	_, err := Build(context.Background(), api, tarOf("tar"), BuildOptions{})
	if err == nil || !strings.Contains(err.Error(), `the daemon's build failed: failed to compute cache key: "/nothere" not found`) {
		t.Errorf("error = %v", err)
	}
	if len(*got) != 1 {
		t.Errorf("%d builds: a BuildKit failure after it started must not fall back", len(*got))
	}
}

func TestBuildKitFallback(t *testing.T) {
	api, got := streamFrom(t, "", "testdata/classic-stream.json")
	var lines []string
	b, err := Build(context.Background(), api, tarOf("tar"), BuildOptions{Progress: func(e Event) {
		if e.Raw == nil {
			lines = append(lines, e.Text)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if b.Builder != BuilderClassic || len(*got) != 2 || (*got)[1].Version != build.BuilderV1 {
		t.Errorf("built %+v after %d builds", b, len(*got))
	}
	if !strings.Contains(strings.Join(lines, "\n"), "buildkit not supported by daemon); building with the classic builder") {
		t.Errorf("no notice of the fallback: %q", lines)
	}

	api, got = streamFrom(t, "")
	if _, err := Build(context.Background(), api, tarOf("tar"), BuildOptions{Builder: BuilderBuildKit}); err == nil || len(*got) != 1 {
		t.Errorf("--builder=buildkit fell back (%d builds, error %v)", len(*got), err)
	}
}

func TestParseBuilder(t *testing.T) {
	for in, want := range map[string]Builder{"": BuilderAuto, "auto": BuilderAuto, "buildkit": BuilderBuildKit, "classic": BuilderClassic} {
		if got, err := ParseBuilder(in); err != nil || got != want {
			t.Errorf("ParseBuilder(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseBuilder("kaniko"); err == nil || !strings.Contains(err.Error(), "auto, buildkit or classic") {
		t.Errorf("ParseBuilder(kaniko) error = %v", err)
	}
}

// TestBuildKitTidiesTheContext: after a BuildKit build, the records of the
// uploaded context and its unpacking that this build's steps made go, by
// ID, one the daemon still held a moment after the build too; the image's
// layers, records kept in use, and records made outside those steps'
// times stay.
func TestBuildKitTidiesTheContext(t *testing.T) {
	stream, err := os.ReadFile("testdata/buildkit-stream.json")
	if err != nil {
		t.Fatal(err)
	}
	trace := newTraceDecoder()
	dec := json.NewDecoder(strings.NewReader(string(stream)))
	for dec.More() {
		var m jsonstream.Message
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		if m.ID == "moby.buildkit.trace" && m.Aux != nil {
			if _, err := trace.decode(*m.Aux); err != nil {
				t.Fatal(err)
			}
		}
	}
	load, _, ok1 := trace.ran("[internal] load remote build context")
	unpack, _, ok2 := trace.ran("copy /context /")
	if !ok1 || !ok2 {
		t.Fatal("the recorded stream lacks the context's steps")
	}
	record := func(id, desc string, at time.Time, inUse, shared bool) build.CacheRecord {
		return build.CacheRecord{ID: id, Description: desc, CreatedAt: at, InUse: inUse, Shared: shared}
	}
	api, _ := streamFrom(t, "testdata/buildkit-stream.json")
	api.released = map[string]bool{"let-go": true}
	api.cache = []build.CacheRecord{
		record("uploaded", "http url http://build-context-abc", load, false, false),
		record("unpacked", "copy /context /", unpack, false, false),
		record("unpacked-2010", "fileop target", unpack, false, false),
		record("layer", "fileop target", unpack, false, true),
		record("in-use", "copy /context /", unpack, true, false),
		record("let-go", "copy /context /", unpack, true, false),
		record("yesterday", "http url http://build-context-old", load.Add(-24*time.Hour), false, false),
		record("other-url", "http url https://example.com/ctx.tar", load, false, false),
		record("other-step", "[2/3] RUN make", unpack, false, false),
	}
	b, err := Build(context.Background(), api, tarOf("tar"), BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b.Tidied()
	if got, want := strings.Join(api.pruned, " "), "uploaded unpacked unpacked-2010 let-go"; got != want {
		t.Errorf("pruned %q, want %q", got, want)
	}

	api, _ = streamFrom(t, "testdata/classic-stream.json")
	api.cache = []build.CacheRecord{record("uploaded", "http url http://build-context-abc", load, false, false)}
	b, err = Build(context.Background(), api, tarOf("tar"), BuildOptions{Builder: BuilderClassic})
	b.Tidied()
	if err != nil || len(api.pruned) != 0 {
		t.Errorf("the classic builder's build pruned %q (error %v): it leaves no build cache", api.pruned, err)
	}
}
