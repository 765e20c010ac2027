package daemon

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"

	"github.com/scratchpush/scratchpush/auth"
	"github.com/scratchpush/scratchpush/target"
)

func buildReturning(stream string, got *client.ImageBuildOptions) *fakeAPI {
	f := &fakeAPI{build: func(_ context.Context, r io.Reader, o client.ImageBuildOptions) (client.ImageBuildResult, error) {
		*got = o
		if _, err := io.Copy(io.Discard, r); err != nil {
			return client.ImageBuildResult{}, err
		}
		return client.ImageBuildResult{Body: io.NopCloser(strings.NewReader(stream))}, nil
	}}
	f.inspect = func(context.Context, string) (client.ImageInspectResult, error) {
		return client.ImageInspectResult{}, nil
	}
	return f
}

func TestBuild(t *testing.T) {
	const ok = `{"stream":"Step 1/3 : FROM scratch\n"}
{"stream":" ---\u003e \n"}
{"stream":"Step 2/3 : COPY rootfs/ /\n"}
{"stream":" ---\u003e Using cache\n"}
{"stream":" ---\u003e da855cdff809\n"}
{"stream":"Step 3/3 : CMD [\"./app\"]\n"}
{"stream":" ---\u003e Running in 3dfe1f8feb12\n"}
{"stream":"Removing intermediate container 3dfe1f8feb12\n"}
{"stream":" ---\u003e 253c12f83a63\n"}
{"aux":{"ID":"sha256:253c12f83a63aa"}}
{"stream":"Successfully built 253c12f83a63\n"}
`
	const failedAfterCopy = `{"stream":"Step 2/3 : COPY rootfs/ /\n"}
{"stream":" ---\u003e 0123456789ab\n"}
{"stream":"Step 3/3 : CMD [\"./app\"]\n"}
{"errorDetail":{"message":"failed to create container: no space left"},"error":"failed to create container: no space left"}
`
	const podmanFailedAfterEnv = `{"stream":"STEP 1/4: FROM scratch\n"}
{"stream":"STEP 2/4: COPY rootfs/ /\n"}
{"stream":"--\u003e Using cache 9e51fdd1a82b04a98a2bcfc9c31b56c203d6075d4c072d174e6c137c22ad81fe\n"}
{"stream":"--\u003e 9e51fdd1a82\n"}
{"stream":"STEP 3/4: ENV \"A\"=\"1\"\n"}
{"stream":"--\u003e 7a532d6dcd9\n"}
{"stream":"STEP 4/4: CMD [\"./app\"]\n"}
{"errorDetail":{"message":"committing container for step: no space left"},"error":"committing container for step: no space left"}
`
	cases := []struct {
		name, stream, wantID, wantErr string
		wantCreated, wantRemoved      []string
	}{
		{"podman, error detail", podmanFailedAfterEnv, "", "no space left", nil, []string{"7a532d6dcd9"}},
		{"success", ok, "sha256:253c12f83a63aa", "", []string{"253c12f83a63"}, nil},
		{"error detail", failedAfterCopy, "", "the daemon's build failed: failed to create container: no space left", nil, []string{"0123456789ab"}},
		{"no image id", `{"stream":"Step 1/2\n"}`, "", "without reporting an image ID", nil, nil},
		{"truncated", `{"stream":"Step 1/2`, "", "reading the daemon's response", nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var opts client.ImageBuildOptions
			var lines, removed []string
			api := buildReturning(c.stream, &opts)
			api.remove = func(_ context.Context, id string, _ client.ImageRemoveOptions) (client.ImageRemoveResult, error) {
				removed = append(removed, id)
				return client.ImageRemoveResult{}, nil
			}
			b, err := Build(context.Background(), api, tarOf("tar"), BuildOptions{
				Dockerfile: "Dockerfile",
				Builder:    BuilderClassic,
				Progress: func(e Event) {
					if e.Raw == nil {
						lines = append(lines, e.Text)
					}
				},
			})
			if !reflect.DeepEqual(removed, c.wantRemoved) {
				t.Errorf("removed %q, want %q", removed, c.wantRemoved)
			}
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || b.ID != c.wantID || !reflect.DeepEqual(b.created, c.wantCreated) {
				t.Fatalf("Build = %+v, %v; want %q created %q", b, err, c.wantID, c.wantCreated)
			}
			if opts.Version != build.BuilderV1 || !opts.Remove || !opts.ForceRemove || len(opts.Tags) != 0 {
				t.Errorf("build options %+v: want the classic builder, intermediate containers removed, no tags", opts)
			}
			if len(lines) != 10 || lines[0] != "Step 1/3 : FROM scratch" {
				t.Errorf("progress lines %q", lines)
			}
		})
	}
}

func tarOf(s string) func() io.ReadCloser {
	return func() io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }
}

func TestBuildAgainWhenTheCacheLosesAnImage(t *testing.T) {
	lost := `{"stream":"Step 2/3 : COPY rootfs/ /\n"}
{"errorDetail":{"message":"unable to find image \"sha256:600d\""}}`
	podmanLost := `{"stream":"STEP 2/3: COPY rootfs/ /\n"}
{"errorDetail":{"message":"checking if cached image exists from a previous build: getting top layer info: layer not known"}}`
	ok := `{"stream":" ---\u003e 253c12f83a63\n"}
{"aux":{"ID":"sha256:253c12f83a63aa"}}`
	for _, c := range []struct {
		answers []string
		wantErr bool
	}{
		{[]string{lost, ok}, false}, {[]string{lost, podmanLost, ok}, false}, {[]string{lost, lost, podmanLost, ok}, true},
		{[]string{`{"errorDetail":{"message":"layer not known"}}`, ok}, true}, // not from the cache lookup
	} {
		n, contexts := 0, 0
		api := &fakeAPI{
			build: func(_ context.Context, r io.Reader, _ client.ImageBuildOptions) (client.ImageBuildResult, error) {
				n++
				return client.ImageBuildResult{Body: io.NopCloser(strings.NewReader(c.answers[n-1]))}, nil
			},
			inspect: func(context.Context, string) (client.ImageInspectResult, error) {
				return client.ImageInspectResult{}, nil
			},
			remove: func(context.Context, string, client.ImageRemoveOptions) (client.ImageRemoveResult, error) {
				return client.ImageRemoveResult{}, nil
			},
		}
		newContext := func() io.ReadCloser { contexts++; return io.NopCloser(strings.NewReader("tar")) }
		_, err := Build(context.Background(), api, newContext, BuildOptions{Builder: BuilderClassic})
		if (err != nil) != c.wantErr || contexts != n {
			t.Errorf("%d answers: error %v after %d builds with %d contexts", len(c.answers), err, n, contexts)
		}
	}
}

func TestDiscardKeepsTaggedImages(t *testing.T) {
	var removed []string
	api := &fakeAPI{
		inspect: func(_ context.Context, id string) (client.ImageInspectResult, error) {
			if id == "bbbbbbbbbbbb" {
				return client.ImageInspectResult{InspectResponse: image.InspectResponse{RepoTags: []string{"other/run:1"}}}, nil
			}
			return client.ImageInspectResult{}, nil
		},
		remove: func(_ context.Context, id string, _ client.ImageRemoveOptions) (client.ImageRemoveResult, error) {
			removed = append(removed, id)
			return client.ImageRemoveResult{}, nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // cleanup must work after the run was cancelled
	Built{created: []string{"aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc"}}.Discard(ctx, api)
	if want := []string{"cccccccccccc", "aaaaaaaaaaaa"}; !reflect.DeepEqual(removed, want) {
		t.Errorf("removed %q, want %q", removed, want)
	}
}

func TestTagAndUndo(t *testing.T) {
	dest, err := target.Parse("", "user/app", []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	// a names an older image, b nothing, c the new image already.
	names := map[string]string{"docker.io/user/app:a": "sha256:old", "docker.io/user/app:c": "sha256:new"}
	var calls []string
	api := &fakeAPI{
		inspect: func(_ context.Context, ref string) (client.ImageInspectResult, error) {
			if id, ok := names[ref]; ok {
				return client.ImageInspectResult{InspectResponse: image.InspectResponse{ID: id}}, nil
			}
			return client.ImageInspectResult{}, cerrdefs.ErrNotFound
		},
		tag: func(_ context.Context, o client.ImageTagOptions) (client.ImageTagResult, error) {
			calls = append(calls, "tag "+o.Target+" "+o.Source)
			names[o.Target] = o.Source
			return client.ImageTagResult{}, nil
		},
		remove: func(_ context.Context, ref string, _ client.ImageRemoveOptions) (client.ImageRemoveResult, error) {
			calls = append(calls, "untag "+ref)
			delete(names, ref)
			return client.ImageRemoveResult{}, nil
		},
	}
	undo, err := Tag(context.Background(), api, "sha256:new", dest.Tags)
	if err != nil {
		t.Fatal(err)
	}
	undo(context.Background())
	want := []string{
		"tag docker.io/user/app:a sha256:new",
		"tag docker.io/user/app:b sha256:new",
		"untag docker.io/user/app:b",
		"tag docker.io/user/app:a sha256:old",
	}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	if len(names) != 2 || names["docker.io/user/app:a"] != "sha256:old" || names["docker.io/user/app:c"] != "sha256:new" {
		t.Errorf("after undo the tags are %v", names)
	}
}

func TestTagFailureUndoesEarlierTags(t *testing.T) {
	dest, err := target.Parse("", "user/app", []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	var calls []string
	api := &fakeAPI{
		inspect: func(context.Context, string) (client.ImageInspectResult, error) {
			return client.ImageInspectResult{}, cerrdefs.ErrNotFound
		},
		tag: func(_ context.Context, o client.ImageTagOptions) (client.ImageTagResult, error) {
			if strings.HasSuffix(o.Target, ":b") {
				return client.ImageTagResult{}, errors.New("no such image")
			}
			calls = append(calls, "tag "+o.Target)
			return client.ImageTagResult{}, nil
		},
		remove: func(_ context.Context, ref string, _ client.ImageRemoveOptions) (client.ImageRemoveResult, error) {
			calls = append(calls, "untag "+ref)
			return client.ImageRemoveResult{}, nil
		},
	}
	_, err = Tag(context.Background(), api, "sha256:0123456789abcdef", dest.Tags)
	if err == nil || !strings.Contains(err.Error(), "tagging 0123456789ab as user/app:b: no such image") {
		t.Errorf("error = %v", err)
	}
	// The failed tag is removed too: a tag cut short may be made all the
	// same (it names nothing before, so its removal is harmless).
	if want := []string{"tag docker.io/user/app:a", "untag docker.io/user/app:b", "untag docker.io/user/app:a"}; !reflect.DeepEqual(calls, want) {
		t.Errorf("calls %q, want %q", calls, want)
	}
}

const testDigest = "sha256:52af061745eac658b694c92263b75a2e1d5ed7011ab9a033316679195ac3e5c9"

const pushOK = `{"status":"The push refers to repository [127.0.0.1:5000/demo/app]"}
{"status":"Preparing","progressDetail":{},"id":"700f0b6ef8c4"}
{"status":"Pushed","progressDetail":{},"id":"700f0b6ef8c4"}
{"status":"v1: digest: ` + testDigest + ` size: 528"}
{"progressDetail":{},"aux":{"Tag":"v1","Digest":"` + testDigest + `","Size":528}}
`

func errStream(msg string) string {
	return `{"status":"Preparing","progressDetail":{},"id":"700f0b6ef8c4"}
{"errorDetail":{"message":"` + msg + `"},"error":"` + msg + `"}`
}

func testRef(t *testing.T) reference.NamedTagged {
	ref, err := reference.ParseNormalizedNamed("127.0.0.1:5000/demo/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	return ref.(reference.NamedTagged)
}

func TestPush(t *testing.T) {
	cases := []struct {
		name    string
		streams []string // one per attempt
		wantErr string
		authErr bool
		tries   int
	}{
		{"success", []string{pushOK}, "", false, 1},
		{"unauthorized is not retried", []string{errStream("unauthorized: authentication required"), pushOK},
			"registry authentication failed at 127.0.0.1:5000: unauthorized", true, 1},
		{"denied is not retried", []string{errStream("denied: requested access to the resource is denied"), pushOK}, "the registry denied access: denied: requested", false, 1},
		{"not found is not retried", []string{errStream("received unexpected HTTP status: 404 Not Found"), pushOK}, "404", false, 1},
		{"503 then success", []string{errStream("received unexpected HTTP status: 503 Service Unavailable"), errStream("received unexpected HTTP status: 503 Service Unavailable"), pushOK}, "", false, 3},
		{"429 then success", []string{errStream("toomanyrequests: slow down"), pushOK}, "", false, 2},
		{"refused then success", []string{errStream("Get \\\"http://127.0.0.1:5000/v2/\\\": dial tcp 127.0.0.1:5000: connect: connection refused"), pushOK}, "", false, 2},
		{"500 for good", []string{errStream("500 Internal Server Error"), errStream("500 Internal Server Error"), errStream("500 Internal Server Error"), errStream("500 Internal Server Error"), pushOK},
			"500 Internal Server Error", false, 4},
		{"a registry's UNKNOWN 500, as Docker 29 relays it, then success", []string{errStream("unknown: unknown error"), pushOK}, "", false, 2},
		{"manifest unknown is not retried", []string{errStream("manifest unknown: manifest unknown"), pushOK}, "manifest unknown", false, 1},
		{"unknown failure is not retried", []string{errStream("something odd"), pushOK}, "something odd", false, 1},
		{"stream without digest", []string{`{"status":"Pushed","id":"700f0b6ef8c4"}`}, "without reporting the pushed digest", false, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tries := 0
			api := &fakeAPI{push: func(_ context.Context, image string, o client.ImagePushOptions) (client.ImagePushResponse, error) {
				if want, _ := auth.Header(testCreds, "127.0.0.1:5000"); image != "127.0.0.1:5000/demo/app:v1" || o.RegistryAuth != want {
					t.Errorf("pushed %q with auth %q", image, o.RegistryAuth)
				}
				tries++
				return newFakePushResponse(c.streams[tries-1]), nil
			}}
			var notes []string
			d, err := Push(context.Background(), api, testRef(t), testCreds, RegistryOptions{
				Retries: 3,
				Backoff: func(int) time.Duration { return time.Millisecond },
				Progress: func(e Event) {
					if e.Raw == nil {
						notes = append(notes, e.Text)
					}
				},
			})
			if tries != c.tries {
				t.Errorf("%d attempts, want %d", tries, c.tries)
			}
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error = %v, want %q", err, c.wantErr)
				}
				if errors.Is(err, auth.ErrAuth) != c.authErr {
					t.Errorf("errors.Is(err, auth.ErrAuth) = %v, want %v", !c.authErr, c.authErr)
				}
				return
			}
			if err != nil || d != testDigest {
				t.Fatalf("Push = %q, %v; want %q", d, err, testDigest)
			}
			if c.tries > 1 && !strings.Contains(strings.Join(notes, "\n"), "retrying in 1ms (retry 1 of 3)") {
				t.Errorf("no retry notice in %q", notes)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	cases := map[string]time.Duration{
		"toomanyrequests: retry after 7":         7 * time.Second,
		"429 Too Many Requests (Retry-After: 2)": 2 * time.Second,
		"503 Service Unavailable":                0,
		"retry after 100000":                     0,
	}
	for msg, want := range cases {
		if got := (&registryError{msg: msg}).retryAfter(); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", msg, got, want)
		}
	}
}

func TestPushCancelledWhileWaiting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	api := &fakeAPI{push: func(context.Context, string, client.ImagePushOptions) (client.ImagePushResponse, error) {
		cancel()
		return newFakePushResponse(errStream("503 Service Unavailable")), nil
	}}
	start := time.Now()
	_, err := Push(ctx, api, testRef(t), auth.Credentials{}, RegistryOptions{Retries: 5, Backoff: func(int) time.Duration { return time.Hour }})
	if err == nil || !strings.Contains(err.Error(), "cancelled") || time.Since(start) > 5*time.Second {
		t.Errorf("error = %v after %s", err, time.Since(start))
	}
}

func TestDefaultBackoff(t *testing.T) {
	got := []time.Duration{DefaultBackoff(1), DefaultBackoff(2), DefaultBackoff(3), DefaultBackoff(6), DefaultBackoff(60)}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 30 * time.Second, 30 * time.Second}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("backoff %v, want %v", got, want)
	}
}

func TestLogin(t *testing.T) {
	cases := []struct {
		name    string
		answers []error
		wantErr string
		authErr bool
	}{
		{"accepted", []error{nil}, "", false},
		{"wrong password fails at once", []error{errors.New("Error response from daemon: login attempt to http://r/v2/ failed with status: 401 Unauthorized"), nil},
			"registry authentication failed", true},
		{"unauthorized error type", []error{cerrdefs.ErrUnauthenticated.WithMessage("bad creds"), nil}, "registry authentication failed", true},
		// The daemon's ping failed with 503, so its next request went without
		// credentials: the 401 after a transient failure is retried.
		{"503 then the 401 it causes then success", []error{
			errors.New("login attempt to http://r/v2/ failed with status: 503 Service Unavailable"),
			errors.New("login attempt to http://r/v2/ failed with status: 401 Unauthorized"),
			nil}, "", false},
		{"refused for good", []error{errors.New("dial tcp: connection refused"), errors.New("dial tcp: connection refused"), errors.New("dial tcp: connection refused"), errors.New("dial tcp: connection refused")},
			"connection refused", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := 0
			api := &fakeAPI{login: func(_ context.Context, o client.RegistryLoginOptions) (client.RegistryLoginResult, error) {
				if o.Username != "u" || o.Password != "p" || o.ServerAddress != "r" {
					t.Errorf("login options %+v", o)
				}
				n++
				return client.RegistryLoginResult{}, c.answers[n-1]
			}}
			err := Login(context.Background(), api, "r", auth.Credentials{Username: "u", Password: "p"},
				RegistryOptions{Retries: 3, Backoff: func(int) time.Duration { return time.Millisecond }})
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if n != len(c.answers) {
					t.Errorf("%d attempts, want %d", n, len(c.answers))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || errors.Is(err, auth.ErrAuth) != c.authErr {
				t.Fatalf("error = %v, want %q (auth %v)", err, c.wantErr, c.authErr)
			}
			if c.authErr && n != 1 {
				t.Errorf("an authentication failure was tried %d times", n)
			}
		})
	}
}

func TestPushRetriesUnauthorizedOnlyAfterLogin(t *testing.T) {
	for _, checked := range []bool{false, true} {
		tries := 0
		api := &fakeAPI{push: func(context.Context, string, client.ImagePushOptions) (client.ImagePushResponse, error) {
			tries++
			if tries == 1 {
				return newFakePushResponse(errStream("unauthorized: authentication required")), nil
			}
			return newFakePushResponse(pushOK), nil
		}}
		_, err := Push(context.Background(), api, testRef(t), auth.Credentials{}, RegistryOptions{Retries: 2, CredentialsChecked: checked, Backoff: func(int) time.Duration { return 0 }})
		if (err == nil) != checked {
			t.Errorf("credentials checked %v: error %v after %d tries", checked, err, tries)
		}
	}
}

// Podman's login endpoint tries HTTPS for a registry its registries.conf
// marks insecure; only there is that answer taken as "cannot check here".
func TestLoginPodmanHTTPRegistry(t *testing.T) {
	httpsErr := errors.New(`login attempt to 127.0.0.1:5000 failed with status: pinging container registry 127.0.0.1:5000: Get "https://127.0.0.1:5000/v2/": http: server gave HTTP response to HTTPS client`)
	for _, podman := range []bool{true, false} {
		api := &fakeAPI{podman: podman, info: &system.Info{}, login: func(context.Context, client.RegistryLoginOptions) (client.RegistryLoginResult, error) {
			return client.RegistryLoginResult{}, httpsErr
		}}
		d, err := Describe(context.Background(), api)
		if err != nil || d.Podman != podman {
			t.Fatalf("podman %t: described as %+v, %v", podman, d, err)
		}
		err = Login(context.Background(), api, "127.0.0.1:5000", auth.Credentials{}, RegistryOptions{Podman: d.Podman, Backoff: func(int) time.Duration { return 0 }})
		if got := errors.Is(err, ErrLoginUnchecked); got != podman {
			t.Errorf("podman %t: error %v; unchecked %t", podman, err, got)
		}
	}
}

// Podman reports the pushed digest only in its status line.
func TestPushDigestFromStatusLine(t *testing.T) {
	const digest = "sha256:fe542f7431c980abb7fe92809eef4467c883091cd3699447ff756e5a2b567246"
	for _, c := range []struct{ stream, want string }{
		{`{"status":"The push refers to repository [127.0.0.1:5000/demo/app:v1]"}` + "\n" + `{"status":"v1: digest: ` + digest + ` size: 423"}`, digest},
		{`{"status":"v2: digest: ` + digest + ` size: 423"}`, ""}, // another tag's line proves nothing
	} {
		api := &fakeAPI{push: func(context.Context, string, client.ImagePushOptions) (client.ImagePushResponse, error) {
			return newFakePushResponse(c.stream), nil
		}}
		d, err := Push(context.Background(), api, testRef(t), testCreds, RegistryOptions{})
		if d != c.want || (c.want == "" && err == nil) {
			t.Errorf("stream %s: digest %q, error %v; want %q", c.stream, d, err, c.want)
		}
	}
}

// The load stream names the image as Docker ("Loaded image ID: …") or
// Podman ("Loaded image: …") words it; a stream naming none is a failure.
func TestLoadReportsTheImageID(t *testing.T) {
	const id = "sha256:ab5de8207f4223ec729a7acef1ea66bd405b6eba5d1eeba30b5b6c682ee68472"
	for _, c := range []struct {
		name, stream, want, err string
	}{
		{"docker", `{"stream":"Loaded image ID: ` + id + `\n"}`, id, ""},
		{"podman", `{"stream":"Loaded image: ` + id + `"}`, id, ""},
		{"tagged only", `{"stream":"Loaded image: example/app:v1\n"}`, "", "without reporting an image ID"},
		{"error", `{"errorDetail":{"message":"no space left"},"error":"no space left"}`, "", "could not load the image: no space left"},
	} {
		t.Run(c.name, func(t *testing.T) {
			api := &fakeAPI{load: func(_ context.Context, r io.Reader) (client.ImageLoadResult, error) {
				_, _ = io.Copy(io.Discard, r)
				return io.NopCloser(strings.NewReader(c.stream)), nil
			}}
			b, err := Load(context.Background(), api, strings.NewReader("archive"), nil)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || b.ID != c.want {
				t.Fatalf("Load = %q, %v; want %q", b.ID, err, c.want)
			}
		})
	}
}

// The containerd image store is told by docker info's driver-type, as the
// docker CLI tells it; the classic store's drivers say nothing of the kind.
func TestContainerdStore(t *testing.T) {
	for _, c := range []struct {
		name   string
		info   *system.Info
		want   bool
		failed bool
	}{
		{"Docker 29, containerd store", &system.Info{Driver: "overlayfs", DriverStatus: [][2]string{{"driver-type", "io.containerd.snapshotter.v1"}}}, true, false},
		{"Docker 20.10, overlay2", &system.Info{Driver: "overlay2", DriverStatus: [][2]string{{"Backing Filesystem", "extfs"}, {"Supports d_type", "true"}}}, false, false},
		{"Podman", &system.Info{Driver: "overlay", DriverStatus: [][2]string{{"Native Overlay Diff", "true"}}}, false, false},
		{"no answer", nil, false, true},
	} {
		d, err := Describe(context.Background(), &fakeAPI{info: c.info})
		if got := d.Containerd; got != c.want || (err != nil) != c.failed {
			t.Errorf("%s: %t, %v; want %t, failed %t", c.name, got, err, c.want, c.failed)
		}
	}
}

// testCreds are what the push tests send.
var testCreds = auth.Credentials{Username: "u", Password: "pw"}

// BuilderAuto with a working directory asks for the classic builder:
// BuildKit's WORKDIR would add a layer; without one it asks for BuildKit.
func TestAutoBuilderWithWorkdir(t *testing.T) {
	const classic = `{"aux":{"ID":"sha256:253c12f83a63aa"}}
{"stream":"Successfully built 253c12f83a63\n"}
`
	for _, workdir := range []bool{true, false} {
		var got client.ImageBuildOptions
		api := buildReturning(classic, &got)
		newContext := func() io.ReadCloser { return io.NopCloser(strings.NewReader("")) }
		_, _ = Build(context.Background(), api, newContext, BuildOptions{Builder: BuilderAuto, Workdir: workdir})
		if wantClassic := got.Version == build.BuilderV1; wantClassic != workdir {
			t.Errorf("workdir %t: the build asked for builder version %q", workdir, got.Version)
		}
	}
}

// A refusal repeated is a refusal: after the login was accepted, a 401 is
// retried once (the daemon's ping quirk), never again.
func TestPushRetriesUnauthorizedOnce(t *testing.T) {
	tries := 0
	api := &fakeAPI{push: func(context.Context, string, client.ImagePushOptions) (client.ImagePushResponse, error) {
		tries++
		return newFakePushResponse(errStream("unauthorized: authentication required")), nil
	}}
	_, err := Push(context.Background(), api, testRef(t), auth.Credentials{}, RegistryOptions{Retries: 3, CredentialsChecked: true, Backoff: func(int) time.Duration { return 0 }})
	if !errors.Is(err, auth.ErrAuth) || tries != 2 {
		t.Errorf("error %v after %d tries; want the refusal after 2", err, tries)
	}
}
