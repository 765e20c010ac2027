package daemon

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"
)

func buildReturning(stream string, got *client.ImageBuildOptions) *fakeAPI {
	return &fakeAPI{build: func(_ context.Context, r io.Reader, o client.ImageBuildOptions) (client.ImageBuildResult, error) {
		*got = o
		if _, err := io.Copy(io.Discard, r); err != nil {
			return client.ImageBuildResult{}, err
		}
		return client.ImageBuildResult{Body: io.NopCloser(strings.NewReader(stream))}, nil
	}}
}

func TestBuild(t *testing.T) {
	const ok = `{"stream":"Step 1/2 : FROM scratch\n"}
{"stream":" ---\u003e \n"}
{"aux":{"ID":"sha256:abc"}}
{"stream":"Successfully built abc\n"}
`
	cases := []struct {
		name, stream, wantID, wantErr string
	}{
		{"success", ok, "sha256:abc", ""},
		{"error detail", `{"stream":"Step 1/2\n"}` + "\n" + `{"errorDetail":{"message":"COPY failed: no space left"},"error":"COPY failed: no space left"}`, "", "the daemon's build failed: COPY failed: no space left"},
		{"no image id", `{"stream":"Step 1/2\n"}`, "", "without reporting an image ID"},
		{"truncated", `{"stream":"Step 1/2`, "", "reading the daemon's response"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var opts client.ImageBuildOptions
			var lines []string
			id, err := Build(context.Background(), buildReturning(c.stream, &opts), strings.NewReader("tar"), BuildOptions{
				Dockerfile: "Dockerfile",
				Progress:   func(e Event) { lines = append(lines, e.Text) },
			})
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || id != c.wantID {
				t.Fatalf("Build = %q, %v; want %q", id, err, c.wantID)
			}
			if opts.Version != build.BuilderV1 || !opts.Remove || !opts.ForceRemove || len(opts.Tags) != 0 {
				t.Errorf("build options %+v: want the classic builder, intermediate containers removed, no tags", opts)
			}
			if len(lines) != 3 || lines[0] != "Step 1/2 : FROM scratch" {
				t.Errorf("progress lines %q", lines)
			}
		})
	}
}

func TestPush(t *testing.T) {
	ref, err := reference.ParseNormalizedNamed("127.0.0.1:5000/demo/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	tagged := ref.(reference.NamedTagged)
	const digest = "sha256:52af061745eac658b694c92263b75a2e1d5ed7011ab9a033316679195ac3e5c9"
	cases := []struct {
		name, stream, wantErr string
		authErr               bool
	}{
		{"success", `{"status":"The push refers to repository [127.0.0.1:5000/demo/app]"}
{"status":"Preparing","progressDetail":{},"id":"700f0b6ef8c4"}
{"status":"Pushed","progressDetail":{},"id":"700f0b6ef8c4"}
{"status":"v1: digest: ` + digest + ` size: 528"}
{"progressDetail":{},"aux":{"Tag":"v1","Digest":"` + digest + `","Size":528}}
`, "", false},
		{"unauthorized", `{"status":"Preparing","progressDetail":{},"id":"700f0b6ef8c4"}
{"errorDetail":{"message":"unauthorized: authentication required"},"error":"unauthorized: authentication required"}`, "registry authentication failed at 127.0.0.1:5000: unauthorized", true},
		{"server error", `{"errorDetail":{"message":"received unexpected HTTP status: 500 Internal Server Error"}}`, "500 Internal Server Error", false},
		{"stream without digest", `{"status":"Pushed","id":"700f0b6ef8c4"}`, "without reporting the pushed digest", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var gotImage, gotAuth string
			api := &fakeAPI{push: func(_ context.Context, image string, o client.ImagePushOptions) (client.ImagePushResponse, error) {
				gotImage, gotAuth = image, o.RegistryAuth
				return newFakePushResponse(c.stream), nil
			}}
			d, err := Push(context.Background(), api, tagged, "HEADER", nil)
			if gotImage != "127.0.0.1:5000/demo/app:v1" || gotAuth != "HEADER" {
				t.Errorf("pushed %q with auth %q", gotImage, gotAuth)
			}
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error = %v, want %q", err, c.wantErr)
				}
				if errors.Is(err, ErrAuth) != c.authErr {
					t.Errorf("errors.Is(err, ErrAuth) = %v, want %v", !c.authErr, c.authErr)
				}
				return
			}
			if err != nil || d != digest {
				t.Fatalf("Push = %q, %v; want %q", d, err, digest)
			}
		})
	}
}

func TestTagStopsAtFirstFailure(t *testing.T) {
	target, err := ParseTarget("", "user/app", []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	var tagged []string
	api := &fakeAPI{tag: func(_ context.Context, o client.ImageTagOptions) (client.ImageTagResult, error) {
		tagged = append(tagged, o.Source+" "+o.Target)
		if strings.HasSuffix(o.Target, ":b") {
			return client.ImageTagResult{}, errors.New("no such image")
		}
		return client.ImageTagResult{}, nil
	}}
	err = Tag(context.Background(), api, "sha256:0123456789abcdef", target)
	if err == nil || !strings.Contains(err.Error(), "tagging 0123456789ab as user/app:b: no such image") {
		t.Errorf("error = %v", err)
	}
	if want := "sha256:0123456789abcdef docker.io/user/app:a"; len(tagged) != 2 || tagged[0] != want {
		t.Errorf("tag calls %q", tagged)
	}
}
