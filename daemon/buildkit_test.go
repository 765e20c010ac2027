package daemon

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/build"
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
