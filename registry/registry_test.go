package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/scratchpush/scratchpush/auth"
	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/registry/registrytest"
)

// These tests run against go-containerregistry's in-memory registry
// (pkg/registry) on 127.0.0.1, behind handlers that play a registry's
// refusals and faults; what was pushed is read back with
// go-containerregistry's remote directly, not through this package.

const user, password = registrytest.User, registrytest.Password

// server is a registrytest.Server with the before hook these tests use.
type server struct {
	*registrytest.Server
	before func(w http.ResponseWriter, r *http.Request, n int) bool
	mu     sync.Mutex
}

func newServer(t *testing.T, referrers bool, basic bool) *server {
	t.Helper()
	var opts []registrytest.Option
	if !referrers {
		opts = append(opts, registrytest.WithoutReferrers())
	}
	if basic {
		opts = append(opts, registrytest.WithBasicAuth())
	}
	s := &server{Server: registrytest.New(t, opts...)}
	s.Server.Before(func(w http.ResponseWriter, r *http.Request) bool {
		s.mu.Lock()
		before := s.before
		s.mu.Unlock()
		return before != nil && before(w, r, 0)
	})
	return s
}

func (s *server) host() string { return s.Host() }

func (s *server) count(prefix string) int { return s.Count(prefix) }

func (s *server) tag(t *testing.T, repo, tag string) reference.NamedTagged {
	t.Helper()
	named, err := reference.ParseNormalizedNamed(s.host() + "/" + repo)
	must(t, err)
	tagged, err := reference.WithTag(named, tag)
	must(t, err)
	return tagged
}

// makeImage makes a small image here, for platform (amd64 when empty).
func makeImage(t *testing.T, arch, text string) builder.Image {
	t.Helper()
	if arch == "" {
		arch = "amd64"
	}
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "app"), []byte("#!/bin/true\n"+text), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"greeting":"`+text+`"}`), 0o644))
	img, err := builder.MakeImage(context.Background(), t.TempDir(), dir, builder.Spec{Cmd: []string{"./app"}}, builder.Layout{ModTime: time.Unix(1700000000, 0)}, ocispec.Platform{OS: "linux", Architecture: arch}, nil)
	must(t, err)
	return img
}

func creds() auth.Credentials { return auth.Credentials{Username: user, Password: password} }

// readBack reads ref with go-containerregistry's remote.
func readBack(t *testing.T, ref string) *remote.Descriptor {
	t.Helper()
	r, err := name.ParseReference(ref)
	must(t, err)
	desc, err := remote.Get(r, remote.WithAuth(basicAuth))
	must(t, err)
	return desc
}

func TestPushIsReadBack(t *testing.T) {
	s := newServer(t, true, true)
	img := makeImage(t, "", "one")
	tags := []reference.NamedTagged{s.tag(t, "team/app", "v1"), s.tag(t, "team/app", "latest")}
	var progress []int64
	c := New(creds(), WithProgress(func(complete, total int64) { progress = append(progress, complete) }))
	pushed, err := c.Push(context.Background(), img, tags)
	must(t, err)
	if len(pushed) != 2 || pushed[0] != img.Made.Manifest.String() || pushed[1] != pushed[0] {
		t.Fatalf("pushed %v, want the manifest %s under each tag", pushed, img.Made.Manifest)
	}
	for _, tag := range []string{"v1", "latest"} {
		desc := readBack(t, s.host()+"/team/app:"+tag)
		if desc.Digest.String() != img.Made.Manifest.String() {
			t.Errorf("the registry names :%s %s, want %s", tag, desc.Digest, img.Made.Manifest)
		}
		got, err := desc.Image()
		must(t, err)
		cfg, err := got.RawConfigFile()
		must(t, err)
		if string(cfg) != string(img.Config) {
			t.Errorf(":%s has another config than the one made", tag)
		}
		layers, err := got.Layers()
		must(t, err)
		if len(layers) != len(img.Layers) {
			t.Errorf(":%s has %d layers, want %d", tag, len(layers), len(img.Layers))
		}
	}
	if len(progress) == 0 {
		t.Error("no progress was reported")
	}
	if n := s.count("PATCH ") + s.count("PUT /v2/team/app/blobs/"); n == 0 {
		t.Error("no blob was uploaded")
	}
}

// A wrong password is auth.ErrAuth; a refusal of access auth.ErrDenied;
// neither is retried.
func TestRefusalsAreClassified(t *testing.T) {
	s := newServer(t, true, true)
	img := makeImage(t, "", "refused")
	tags := []reference.NamedTagged{s.tag(t, "team/app", "v1")}
	_, err := New(auth.Credentials{Username: user, Password: "wrong"}, WithRetries(2), WithBackoff(time.Millisecond)).Push(context.Background(), img, tags)
	if !errors.Is(err, auth.ErrAuth) || errors.Is(err, auth.ErrDenied) {
		t.Errorf("a wrong password gave %v, want auth.ErrAuth", err)
	}
	if strings.Contains(fmt.Sprint(err), "wrong") {
		t.Errorf("the error shows the password: %v", err)
	}
	_, err = New(auth.Credentials{}).Push(context.Background(), img, tags)
	if !errors.Is(err, auth.ErrAuth) {
		t.Errorf("no credentials gave %v, want auth.ErrAuth", err)
	}

	s.before = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
			http.Error(w, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`, http.StatusForbidden)
			return true
		}
		return false
	}
	before := s.count("")
	_, err = New(creds(), WithRetries(2), WithBackoff(time.Millisecond)).Push(context.Background(), img, tags)
	if !errors.Is(err, auth.ErrDenied) {
		t.Errorf("a 403 gave %v, want auth.ErrDenied", err)
	}
	if n := s.count("") - before; n > 20 {
		t.Errorf("a refusal took %d requests: it was retried", n)
	}
}

// refusing is a transport whose first refuse manifest PUTs go to a port
// nothing listens on, and so are refused by the kernel; it counts them.
type refusing struct {
	mu      sync.Mutex
	refuse  int
	refused int
	closed  string
}

func newRefusing(t *testing.T, n int) *refusing {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := l.Addr().String()
	l.Close()
	return &refusing{refuse: n, closed: addr}
}

func (r *refusing) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	// The manifest's PUT: the other requests have fallbacks of their own
	// (the ping tries two schemes, a failed HEAD of a blob uploads it).
	refuse := r.refused < r.refuse && req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/manifests/")

	if refuse {
		r.refused++
	}
	r.mu.Unlock()
	if refuse {
		req = req.Clone(req.Context())
		req.URL.Host = r.closed
	}
	return remote.DefaultTransport.RoundTrip(req)
}

func TestRefusedConnectionIsRetried(t *testing.T) {
	s := newServer(t, true, true)
	img := makeImage(t, "", "refused-connection")
	tags := []reference.NamedTagged{s.tag(t, "team/app", "v1")}

	rt := newRefusing(t, 2)
	pushed, err := New(creds(), WithRetries(2), WithBackoff(time.Millisecond), WithTransport(rt)).Push(context.Background(), img, tags)
	if err != nil || len(pushed) != 1 {
		t.Fatalf("with 2 retries, 2 refused connections gave %v, %v", pushed, err)
	}
	if rt.refused != 2 {
		t.Errorf("%d connections were refused, want 2", rt.refused)
	}

	rt = newRefusing(t, 1)
	_, err = New(creds(), WithRetries(0), WithTransport(rt)).Push(context.Background(), img, []reference.NamedTagged{s.tag(t, "team/app", "v2")})
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("with no retries a refused connection gave %v, want it reported", err)
	}
}

// A 5xx is retried as often as asked, and no more.
func TestServerErrorIsRetried(t *testing.T) {
	s := newServer(t, true, false)
	img := makeImage(t, "", "5xx")
	tags := []reference.NamedTagged{s.tag(t, "team/app", "v1")}
	var failed int
	var mu sync.Mutex
	failPuts := func(n int) func(http.ResponseWriter, *http.Request, int) bool {
		return func(w http.ResponseWriter, r *http.Request, _ int) bool {
			mu.Lock()
			defer mu.Unlock()
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") && failed < n {
				failed++
				http.Error(w, "upstream hiccup", http.StatusBadGateway)
				return true
			}
			return false
		}
	}
	s.before = failPuts(2)
	if _, err := New(auth.Credentials{}, WithRetries(2), WithBackoff(time.Millisecond)).Push(context.Background(), img, tags); err != nil {
		t.Fatalf("two 502s with 2 retries: %v", err)
	}
	failed = 0
	s.before = failPuts(3)
	_, err := New(auth.Credentials{}, WithRetries(1), WithBackoff(time.Millisecond)).Push(context.Background(), img, []reference.NamedTagged{s.tag(t, "team/app", "v2")})
	if err == nil || !strings.Contains(err.Error(), "502") {
		t.Errorf("three 502s with 1 retry gave %v, want the 502", err)
	}
	if failed != 2 {
		t.Errorf("the manifest was put %d times with 1 retry, want 2", failed)
	}
}

// A 429's Retry-After is waited for before the next try.
func TestRetryAfterIsHonoured(t *testing.T) {
	s := newServer(t, true, false)
	img := makeImage(t, "", "429")
	tags := []reference.NamedTagged{s.tag(t, "team/app", "v1")}
	var refusedAt, retriedAt time.Time
	var mu sync.Mutex
	s.before = func(w http.ResponseWriter, r *http.Request, _ int) bool {
		mu.Lock()
		defer mu.Unlock()
		if r.Method != http.MethodPut || !strings.Contains(r.URL.Path, "/manifests/") {
			return false
		}
		if refusedAt.IsZero() {
			refusedAt = time.Now()
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`, http.StatusTooManyRequests)
			return true
		}
		if retriedAt.IsZero() {
			retriedAt = time.Now()
		}
		return false
	}
	if _, err := New(auth.Credentials{}, WithRetries(1), WithBackoff(time.Millisecond)).Push(context.Background(), img, tags); err != nil {
		t.Fatalf("a 429 with 1 retry: %v", err)
	}
	// A lower bound only: a slow machine waits longer, never shorter.
	if wait := retriedAt.Sub(refusedAt); wait < 900*time.Millisecond {
		t.Errorf("retried %v after a 429 with Retry-After: 1", wait)
	}
}

// The tag must name what was pushed: a registry whose answer to the
// manifest's put names another digest, or that names none and reads the
// tag back as another, is reported, not believed.
func TestTagReadBackMismatch(t *testing.T) {
	for _, header := range []bool{true, false} {
		s := newServer(t, true, false)
		img := makeImage(t, "", "mismatch")
		other := digest.FromString("something else")
		s.before = func(w http.ResponseWriter, r *http.Request, _ int) bool {
			switch {
			case r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/v1"):
				if header {
					w.Header().Set("Docker-Content-Digest", other.String())
				}
				w.WriteHeader(http.StatusCreated)
			case r.Method == http.MethodHead && strings.HasSuffix(r.URL.Path, "/manifests/v1"):
				w.Header().Set("Docker-Content-Digest", other.String())
				w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
				w.Header().Set("Content-Length", "100")
				w.WriteHeader(http.StatusOK)
			default:
				return false
			}
			return true
		}
		pushed, err := New(auth.Credentials{}).Push(context.Background(), img, []reference.NamedTagged{s.tag(t, "team/app", "v1")})
		if err == nil || !strings.Contains(err.Error(), other.String()) || !strings.Contains(err.Error(), img.Made.Manifest.String()) || len(pushed) > 0 {
			t.Errorf("the digest in the put's answer %v: a tag read back as another digest gave %v, %v", header, pushed, err)
		}
		if heads := s.count("HEAD /v2/team/app/manifests/v1"); (heads == 0) == !header {
			t.Errorf("the digest in the put's answer %v: %d HEADs of the tag", header, heads)
		}
	}
}

// An SBOM attached where the registry has the referrers API is listed
// there; where it has not, in the tag schema's index, as oras reads it.
func TestAttach(t *testing.T) {
	for _, referrers := range []bool{true, false} {
		t.Run(fmt.Sprintf("referrers=%t", referrers), func(t *testing.T) {
			s := newServer(t, referrers, true)
			img := makeImage(t, "", "attach")
			c := New(creds())
			_, err := c.Push(context.Background(), img, []reference.NamedTagged{s.tag(t, "team/app", "v1")})
			must(t, err)
			repo := s.tag(t, "team/app", "v1")
			a := Artifact{Type: "application/spdx+json", Title: "sbom.spdx.json", Blob: []byte(`{"spdxVersion":"SPDX-2.3"}`), Annotations: map[string]string{"org.opencontainers.image.created": "2023-11-14T22:13:20Z"}}
			d, err := c.Attach(context.Background(), repo, ocispec.Descriptor{Digest: img.Made.Manifest}, a)
			must(t, err)
			subject, err := name.NewDigest(s.host() + "/team/app@" + img.Made.Manifest.String())
			must(t, err)
			idx, err := remote.Referrers(subject, remote.WithAuth(basicAuth))
			must(t, err)
			m, err := idx.IndexManifest()
			must(t, err)
			// go-containerregistry's in-memory registry lists the config's
			// media type as the artifact type; the manifest's own field is
			// checked below.
			if len(m.Manifests) != 1 || m.Manifests[0].Digest.String() != d.String() {
				t.Fatalf("the referrers of the image are %+v, want the artifact %s", m.Manifests, d)
			}
			fallback := s.count("PUT /v2/team/app/manifests/sha256-")
			if referrers && fallback > 0 {
				t.Errorf("the tag fallback was used %d times though the registry has the referrers API", fallback)
			}
			if !referrers && fallback == 0 {
				t.Error("the registry has no referrers API, and the tag fallback was not written")
			}
			art := readBack(t, s.host()+"/team/app@"+d.String())
			var am ocispec.Manifest
			must(t, json.Unmarshal(art.Manifest, &am))
			if am.ArtifactType != a.Type || am.Subject == nil || am.Subject.Digest != img.Made.Manifest {
				t.Errorf("the artifact's manifest has type %q and subject %+v", am.ArtifactType, am.Subject)
			}
			got, err := art.Image()
			must(t, err)
			layers, err := got.Layers()
			must(t, err)
			if len(layers) != 1 {
				t.Fatalf("the artifact has %d blobs", len(layers))
			}
			h, _ := layers[0].Digest()
			if h.String() != digest.FromBytes(a.Blob).String() {
				t.Errorf("the artifact's blob is %s, want the document's digest", h)
			}
			// The same document again is the same artifact, not another
			// referrer.
			again, err := c.Attach(context.Background(), repo, ocispec.Descriptor{Digest: img.Made.Manifest}, a)
			if err != nil || again != d {
				t.Errorf("attaching again gave %s, %v; want %s", again, err, d)
			}
			if _, err := c.Attach(context.Background(), repo, ocispec.Descriptor{Digest: digest.FromString("absent")}, a); err == nil {
				t.Error("attaching to a manifest the registry has not succeeded")
			}
		})
	}
}

// An index and every platform's image go up; copied to another repository
// with its SBOM, the copy reads back the same.
func TestPushIndexAndCopy(t *testing.T) {
	s := newServer(t, true, true)
	ix, err := builder.MakeIndex([]builder.Image{makeImage(t, "amd64", "ix"), makeImage(t, "arm64", "ix")}, nil)
	must(t, err)
	c := New(creds())
	pushed, err := c.PushIndex(context.Background(), ix, []reference.NamedTagged{s.tag(t, "team/app", "v1")})
	must(t, err)
	if pushed[0] != ix.Digest.String() {
		t.Fatalf("pushed %v, want the index %s", pushed, ix.Digest)
	}
	repo := s.tag(t, "team/app", "v1")
	sbom, err := c.Attach(context.Background(), repo, ix.Descriptor(), Artifact{Type: "application/spdx+json", Title: "sbom.spdx.json", Blob: []byte(`{}`)})
	must(t, err)

	// The mirror is another registry, with no credentials.
	mirror := newServer(t, true, false)
	to := New(auth.Credentials{})
	src, err := reference.WithDigest(repo, ix.Digest)
	must(t, err)
	dst := mirror.tag(t, "copy/app", "v1")
	copied, err := c.Copy(context.Background(), src, to, dst, []reference.NamedTagged{dst})
	must(t, err)
	if len(copied) != 1 || copied[0] != ix.Digest.String() {
		t.Fatalf("copied %v, want the index %s", copied, ix.Digest)
	}
	desc := readBack(t, mirror.host()+"/copy/app:v1")
	got, err := desc.ImageIndex()
	must(t, err)
	m, err := got.IndexManifest()
	must(t, err)
	if len(m.Manifests) != 2 {
		t.Fatalf("the copy lists %d manifests, want 2", len(m.Manifests))
	}
	for _, child := range m.Manifests {
		img := readBack(t, mirror.host()+"/copy/app@"+child.Digest.String())
		if img.Digest != child.Digest {
			t.Errorf("the copy's %s reads back as %s", child.Digest, img.Digest)
		}
	}
	sbomRef, err := reference.WithDigest(repo, sbom)
	must(t, err)
	if _, err := c.Copy(context.Background(), sbomRef, to, dst, nil); err != nil {
		t.Fatalf("copying the SBOM: %v", err)
	}
	subject, err := name.NewDigest(mirror.host() + "/copy/app@" + ix.Digest.String())
	must(t, err)
	refs, err := remote.Referrers(subject)
	must(t, err)
	rm, err := refs.IndexManifest()
	must(t, err)
	if len(rm.Manifests) != 1 || rm.Manifests[0].Digest.String() != sbom.String() {
		t.Errorf("the copy's referrers are %+v, want the SBOM %s", rm.Manifests, sbom)
	}

	// Reading what is not there says so.
	absent, err := reference.WithDigest(repo, digest.FromString("absent"))
	must(t, err)
	if _, err := c.Copy(context.Background(), absent, to, dst, nil); err == nil {
		t.Error("copying a digest the registry has not succeeded")
	}
}

// A cancelled push says so.
func TestPushCancelled(t *testing.T) {
	s := newServer(t, true, false)
	img := makeImage(t, "", "cancel")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := New(auth.Credentials{}, WithRetries(3)).Push(ctx, img, []reference.NamedTagged{s.tag(t, "team/app", "v1")})
	if err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("a cancelled push gave %v", err)
	}
	if n := s.count(""); n > 0 {
		t.Errorf("a cancelled push made %d requests", n)
	}
}

func TestTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("dial: %w", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", errConnRefused())}), true},
		{context.Canceled, false},
		{context.DeadlineExceeded, false},
		{errors.New("manifest invalid"), false},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %t, want %t", c.err, got, c.want)
		}
	}
}

// basicAuth presents the test user to the test registries.
var basicAuth = authn.FromConfig(authn.AuthConfig{Username: user, Password: password})

func nopLogger() *log.Logger { return log.New(io.Discard, "", 0) }

func errConnRefused() error { return syscall.ECONNREFUSED }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Has asks for each blob: all there after a push, not a blob never pushed.
func TestHas(t *testing.T) {
	s := newServer(t, true, true)
	img := makeImage(t, "", "has")
	c := New(creds())
	repo := s.tag(t, "team/app", "v1")
	_, err := c.Push(context.Background(), img, []reference.NamedTagged{repo})
	must(t, err)
	var blobs []digest.Digest
	for _, l := range img.Layers {
		blobs = append(blobs, l.Digest)
	}
	if has, err := c.Has(context.Background(), repo, blobs); !has || err != nil {
		t.Errorf("after the push: %t, %v", has, err)
	}
	if has, err := c.Has(context.Background(), repo, append(blobs, digest.FromString("never pushed"))); has || err != nil {
		t.Errorf("with a blob never pushed: %t, %v", has, err)
	}
	if _, err := New(auth.Credentials{}).Has(context.Background(), repo, blobs); !errors.Is(err, auth.ErrAuth) {
		t.Errorf("without credentials: %v, want auth.ErrAuth", err)
	}
}

// A token service on another loopback port, as docker_auth is laid out,
// is followed as the daemons follow it: a push and a check go through, a
// wrong password is reported as one.
func TestBearerRealmOnPrivateAddress(t *testing.T) {
	reg := registrytest.New(t, registrytest.WithBearer())
	img := makeImage(t, "", "bearer")
	named, err := reference.ParseNormalizedNamed(reg.Host() + "/team/app")
	must(t, err)
	tag, err := reference.WithTag(named, "v1")
	must(t, err)
	c := New(creds())
	must(t, c.Check(context.Background(), named))
	if _, err := c.Push(context.Background(), img, []reference.NamedTagged{tag}); err != nil {
		t.Fatalf("push through a token service on loopback: %v", err)
	}
	if reg.TokenRequests() == 0 {
		t.Error("the token service was never asked")
	}
	wrong := New(auth.Credentials{Username: user, Password: "wrong"})
	if err := wrong.Check(context.Background(), named); !errors.Is(err, auth.ErrAuth) {
		t.Errorf("a wrong password, checked: %v", err)
	}
	if _, err := wrong.Push(context.Background(), img, []reference.NamedTagged{tag}); !errors.Is(err, auth.ErrAuth) {
		t.Errorf("a wrong password, pushed: %v", err)
	}
}

// A realm on a link-local address (a cloud's instance metadata) is never
// followed, nor a crafted forward to one, nor a plain-HTTP realm for a
// registry spoken to over HTTPS.
func TestRealmsNotFollowed(t *testing.T) {
	registry, _ := url.Parse("http://127.0.0.1:5000/v2/")
	secure, _ := url.Parse("https://10.0.0.5:5000/v2/")
	for _, c := range []struct {
		realm string
		reg   *url.URL
		want  bool
	}{
		{"http://127.0.0.1:5001/token", registry, true},
		{"https://10.0.0.5:5001/token", secure, true},
		{"http://10.0.0.5:5001/token", secure, false},
		{"http://169.254.169.254/latest/meta-data", registry, false},
		{"http://[fe80::1]/token", registry, false},
		{"http://0.0.0.0/token", registry, false},
		{"http://127.0.0.1:5000/token", registry, false}, // the registry's own: go-containerregistry allows it
		{"https://auth.example/token", registry, false},  // a name: go-containerregistry's rules
	} {
		if got := followed(c.realm, c.reg); got != c.want {
			t.Errorf("followed(%s) for %s = %t, want %t", c.realm, c.reg, got, c.want)
		}
	}
	crafted := "http://127.0.0.1:5000" + realmPrefix + base64.RawURLEncoding.EncodeToString([]byte("http://169.254.169.254/latest/meta-data"))
	req, _ := http.NewRequest(http.MethodGet, crafted, nil)
	called := false
	rt := realms{inner: roundTripFunc(func(*http.Request) (*http.Response, error) { called = true; return nil, errors.New("sent") })}
	if _, err := rt.RoundTrip(req); err == nil || called {
		t.Errorf("a crafted forward to a link-local address: %v, sent %t", err, called)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// https:// written means HTTPS: a registry on loopback that speaks plain
// HTTP gets no request at all; http:// allows it.
func TestSchemePromises(t *testing.T) {
	s := newServer(t, true, true)
	img := makeImage(t, "", "scheme")
	tags := []reference.NamedTagged{s.tag(t, "team/app", "v1")}
	_, err := New(creds(), WithScheme("https")).Push(context.Background(), img, tags)
	if !errors.Is(err, ErrPlainHTTP) || !strings.Contains(err.Error(), "https://") {
		t.Errorf("https:// to a plain-HTTP registry: %v", err)
	}
	if n := s.count(""); n != 0 {
		t.Errorf("%d requests reached the plain-HTTP registry after https:// was written", n)
	}
	if err := New(creds(), WithScheme("https")).Check(context.Background(), s.tag(t, "team/app", "v1")); !errors.Is(err, ErrPlainHTTP) {
		t.Errorf("https:// checked against a plain-HTTP registry: %v", err)
	}
	if _, err := New(creds(), WithScheme("http")).Push(context.Background(), img, tags); err != nil {
		t.Errorf("http:// to a plain-HTTP registry: %v", err)
	}
	for _, c := range []struct {
		scheme, host string
		want         bool
	}{
		{"", "127.0.0.1", true}, {"", "127.0.0.2", true}, {"", "::1", true}, {"", "localhost", true},
		{"", "10.0.0.5", false}, {"", "172.17.0.1", false}, {"", "registry.example", false},
		{"http", "10.0.0.5", true}, {"https", "127.0.0.1", false},
	} {
		if got := plainAllowed(c.scheme, c.host); got != c.want {
			t.Errorf("plainAllowed(%q, %s) = %t, want %t", c.scheme, c.host, got, c.want)
		}
	}
}

// With no scheme written, every loopback address is plain HTTP, 127.0.0.2
// too (go-containerregistry alone would speak HTTPS to it).
func TestLoopbackIsPlainHTTP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 here: %v", err)
	}
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewUnstartedServer(reg)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	named, err := reference.ParseNormalizedNamed(l.Addr().String() + "/team/app")
	must(t, err)
	tag, err := reference.WithTag(named, "v1")
	must(t, err)
	if _, err := New(auth.Credentials{}).Push(context.Background(), makeImage(t, "", "loopback"), []reference.NamedTagged{tag}); err != nil {
		t.Errorf("a registry on 127.0.0.2: %v", err)
	}
}

// A run's requests as a budget, counted: across a link each costs a
// round trip. A run shares one Session: the credentials' check does the
// handshake the push goes on with (one ping, one token) and asks for the
// first tag with it; the image's
// small blob (its config) goes up without a HEAD, its second tag is one
// manifest put, and the SBOM uploaded while the image goes up (Prepare)
// costs, once the image is pushed, its manifest put and, where the
// registry lacks the referrers API, the fallback index read (meanwhile)
// and put: at most 3 requests. Clients without a session ask again.
func TestSessionAsksOnce(t *testing.T) {
	for _, referrers := range []bool{false, true} {
		for _, shared := range []bool{false, true} {
			var opts []registrytest.Option
			if !referrers {
				opts = append(opts, registrytest.WithoutReferrers())
			}
			reg := registrytest.New(t, append(opts, registrytest.WithBearer())...)
			img := makeImage(t, "", "session")
			named, err := reference.ParseNormalizedNamed(reg.Host() + "/team/app")
			must(t, err)
			var tags []reference.NamedTagged
			for _, tag := range []string{"v1", "latest"} {
				tagged, err := reference.WithTag(named, tag)
				must(t, err)
				tags = append(tags, tagged)
			}
			session := NewSession()
			client := func(opts ...Option) *Client {
				if shared {
					opts = append(opts, WithSession(session))
				}
				return New(creds(), opts...)
			}
			ctx := context.Background()
			sbom := Artifact{Type: "application/spdx+json", Title: "sbom.spdx.json", Blob: []byte(`{"spdxVersion":"SPDX-2.3"}`)}
			must(t, client().Check(ctx, tags[0]))
			must(t, client().Prepare(ctx, named, sbom))
			pushed, err := client(WithProgress(func(int64, int64) {})).Push(ctx, img, tags)
			must(t, err)
			beforeAttach := len(reg.Requests())
			if _, err := client().Attach(ctx, named, img.Descriptor, sbom); err != nil {
				t.Fatalf("shared %v: attaching: %v", shared, err)
			}
			attach := reg.Requests()[beforeAttach:]
			name := fmt.Sprintf("referrers API %v, shared %v", referrers, shared)
			pings, tokens := reg.Count("GET /v2/")-reg.Count("GET /v2/team/"), reg.TokenRequests() // the ping is GET /v2/
			t.Logf("%s: %d requests, %d pings, %d tokens; the attach's: %q", name, reg.Count(""), pings, tokens, attach)
			if !shared {
				if pings < 4 || tokens < 3 {
					t.Errorf("%s: %d pings and %d tokens: the comparison counts nothing", name, pings, tokens)
				}
				continue
			}
			if pings != 1 || tokens != 1 {
				t.Errorf("%s: %d GET /v2/ and %d tokens, want 1 (the check's ping; it asks for the tag with the token) and 1", name, pings, tokens)
			}
			// The check's of the tag, the layer's; Prepare's of the SBOM's
			// blobs, while the image goes up.
			if heads := reg.Count("HEAD /v2/team/app/"); heads != 4 {
				t.Errorf("%s: %d HEADs, want 4: the tag's, the layer's, the SBOM's blob and config", name, heads)
			}
			if puts := reg.Count("PUT /v2/team/app/manifests/latest"); puts != 1 || pushed[1] != pushed[0] {
				t.Errorf("%s: the second tag: %d manifest puts, digest %s", name, puts, pushed[1])
			}
			want := 3 // the manifest, the fallback index read and put
			if referrers {
				want = 2 // the manifest; the fallback index read meanwhile, not yet knowing
			}
			if fallbacks := reg.Count("PUT /v2/team/app/manifests/sha256-"); len(attach) != want || (fallbacks > 0) == referrers {
				t.Errorf("%s: the attach made %d requests, want %d, %d of them the fallback's put: %q", name, len(attach), want, fallbacks, attach)
			}
			// A second subject: the session knows whether the registry
			// has the API.
			beforeAttach = len(reg.Requests())
			if _, err := client().Attach(ctx, named, img.Descriptor, Artifact{Type: "application/spdx+json", Title: "sbom.spdx.json", Blob: []byte(`{"another":1}`)}); err != nil {
				t.Fatal(err)
			}
			// Not prepared: its blob asked after, and the artifact too (it
			// might be there), with the referrers (API and fallback index
			// where the registry lacks the API), at once; then the blob's
			// POST and PUT, the manifest, and the fallback index.
			again := reg.Requests()[beforeAttach:]
			if n := len(again); (referrers && n != 6) || (!referrers && n != 8) {
				t.Errorf("%s: the second attach made %q", name, again)
			}
			// The same again: the artifact is there and listed, and is
			// only asked after.
			beforeAttach = len(reg.Requests())
			if _, err := New(creds(), WithSession(NewSession())).Attach(ctx, named, img.Descriptor, sbom); err != nil {
				t.Fatal(err)
			}
			for _, r := range reg.Requests()[beforeAttach:] {
				if !strings.HasPrefix(r, "HEAD ") && !strings.HasPrefix(r, "GET ") {
					t.Errorf("%s: attaching an artifact that is there: %q", name, reg.Requests()[beforeAttach:])
				}
			}
			// An unchanged image pushed again (a warm run): the check reads
			// the tag, and nothing more is sent.
			warm := New(creds(), WithSession(NewSession()))
			before := len(reg.Requests())
			must(t, warm.Check(ctx, tags[0]))
			warmPushed, err := warm.Push(ctx, img, tags[:1])
			must(t, err)
			if got := reg.Requests()[before:]; len(got) != 2 || warmPushed[0] != pushed[0] {
				t.Errorf("%s: pushing again an image the tag names: %q, digest %v", name, got, warmPushed)
			}
		}
	}
}

// A layer streamed up while it is made (StreamBlob) is not sent again by
// Push; one whose stream the registry refused is, from its file, and the
// image reads back whole either way.
func TestStreamedLayer(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		s := newServer(t, true, true)
		if refuse {
			refused := false
			s.before = func(w http.ResponseWriter, r *http.Request, _ int) bool {
				if r.Method == http.MethodPatch && !refused { // the stream's
					refused = true
					http.Error(w, `{"errors":[{"code":"BLOB_UPLOAD_INVALID"}]}`, http.StatusBadRequest)
					return true
				}
				return false
			}
		}
		session := NewSession()
		c := New(creds(), WithSession(session))
		tag := s.tag(t, "team/app", "v1")
		var streams []*BlobStream
		dir := t.TempDir()
		must(t, os.WriteFile(filepath.Join(dir, "app"), []byte("#!/bin/true\nstreamed"), 0o755))
		img, err := builder.MakeImage(context.Background(), t.TempDir(), dir, builder.Spec{Cmd: []string{"./app"}}, builder.Layout{ModTime: time.Unix(1700000000, 0)}, ocispec.Platform{OS: "linux", Architecture: "amd64"},
			func() builder.LayerTee {
				st := c.StreamBlob(context.Background(), tag)
				streams = append(streams, st)
				return st
			})
		must(t, err)
		if len(streams) != len(img.Layers) {
			t.Fatalf("%d streams for %d layers", len(streams), len(img.Layers))
		}
		patches := s.count("PATCH ")
		pushed, err := c.Push(context.Background(), img, []reference.NamedTagged{tag})
		must(t, err)
		if pushed[0] != img.Made.Manifest.String() {
			t.Fatalf("pushed %v, want %s", pushed, img.Made.Manifest)
		}
		// go-containerregistry sends a layer with a PATCH too: one more
		// PATCH is the layer sent again.
		if again := s.count("PATCH ") - patches; (again > 0) != refuse {
			t.Errorf("refused %v: %d PATCHes after the stream", refuse, again)
		}
		got := readBack(t, s.host()+"/team/app:v1")
		gimg, err := got.Image()
		must(t, err)
		layers, err := gimg.Layers()
		must(t, err)
		rc, err := layers[0].Compressed()
		must(t, err)
		b, err := io.ReadAll(rc)
		must(t, err)
		if digest.FromBytes(b) != img.Layers[0].Digest {
			t.Errorf("refused %v: the registry's layer is %s, want %s", refuse, digest.FromBytes(b), img.Layers[0].Digest)
		}
	}
}

// The manifest of an artifact whose blobs went up with the image is put
// while the fallback index is read, not after it: the read is held until
// the put arrives, which it would never do were it waiting for the read
// (the hold's bound only ends such a wait).
func TestAttachPutsWhileReading(t *testing.T) {
	reg := registrytest.New(t, registrytest.WithoutReferrers())
	sbom := Artifact{Type: "application/spdx+json", Title: "sbom.spdx.json", Blob: []byte(`{"spdxVersion":"SPDX-2.3"}`)}
	c, named, img := pushPrepared(t, reg, "put while reading", sbom)
	ctx := context.Background()
	put := make(chan struct{})
	var once sync.Once
	held := atomic.Bool{}
	reg.Before(func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/sha256:"):
			once.Do(func() { close(put) })
		case r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/sha256-"):
			select {
			case <-put:
			case <-time.After(time.Minute):
				held.Store(true)
			}
		}
		return false
	})
	if _, err := c.Attach(ctx, named, img.Descriptor, sbom); err != nil {
		t.Fatal(err)
	}
	if held.Load() {
		t.Errorf("the artifact's manifest was put after the fallback index was read: %q", reg.Requests())
	}
	if n := reg.Count("PUT /v2/team/app/manifests/sha256-"); n != 1 {
		t.Errorf("%d puts of the fallback index, want 1: %q", n, reg.Requests())
	}
}

// Two artifacts attached together (the SBOM and the provenance): their
// manifests go up at once with the fallback index's read, and the index
// is put once, listing both, as oras reads it.
func TestAttachAll(t *testing.T) {
	reg := registrytest.New(t, registrytest.WithoutReferrers())
	as := []Artifact{
		{Type: "application/spdx+json", Title: "sbom.spdx.json", Blob: []byte(`{"spdxVersion":"SPDX-2.3"}`)},
		{Type: "application/vnd.in-toto+json", Title: "provenance.intoto.json", Blob: []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)},
	}
	c, named, img := pushPrepared(t, reg, "attach all", as...)
	ctx := context.Background()
	before := len(reg.Requests())
	ds, err := c.AttachAll(ctx, named, img.Descriptor, as)
	must(t, err)
	got := reg.Requests()[before:]
	if len(got) != 4 || reg.Count("PUT /v2/team/app/manifests/sha256-") != 1 {
		t.Errorf("attaching two: %q, want their 2 manifests, the index's read and one put", got)
	}
	idx := readBack(t, reg.Host()+"/team/app:sha256-"+img.Made.Manifest.Encoded())
	ix, err := idx.ImageIndex()
	must(t, err)
	m, err := ix.IndexManifest()
	must(t, err)
	if len(m.Manifests) != 2 || len(ds) != 2 {
		t.Fatalf("the referrers tag lists %d, attached %v", len(m.Manifests), ds)
	}
	for _, d := range ds {
		found := false
		for _, l := range m.Manifests {
			found = found || l.Digest.String() == d.String()
		}
		if !found {
			t.Errorf("%s is not listed", d)
		}
	}
}

// pushPrepared pushes a small image of text to reg's team/app:v1 with a
// client of a session of its own, the artifacts' blobs prepared first, as
// a run does; it returns the client, the repository and the image.
func pushPrepared(t *testing.T, reg *registrytest.Server, text string, prepared ...Artifact) (*Client, reference.Named, builder.Image) {
	t.Helper()
	img := makeImage(t, "", text)
	named, err := reference.ParseNormalizedNamed(reg.Host() + "/team/app")
	must(t, err)
	tag, err := reference.WithTag(named, "v1")
	must(t, err)
	c := New(creds(), WithSession(NewSession()))
	for _, a := range prepared {
		must(t, c.Prepare(context.Background(), named, a))
	}
	_, err = c.Push(context.Background(), img, []reference.NamedTagged{tag})
	must(t, err)
	return c, named, img
}
