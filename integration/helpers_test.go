package integration

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

type result struct {
	stdout, stderr string
	code           int
}

// scratchPush runs the binary under test with extra environment variables,
// bounded in time so that a hang fails the test instead of the whole run.
func scratchPush(t *testing.T, stdin string, extraEnv []string, args ...string) result {
	t.Helper()
	return runTool(t, nil, stdin, extraEnv, args)
}

// scratchPushAsNobody runs it as the unprivileged user nobody, for the cases
// root cannot have: files it may not read.
func scratchPushAsNobody(t *testing.T, stdin string, extraEnv []string, args ...string) result {
	t.Helper()
	return runTool(t, &syscall.Credential{Uid: 65534, Gid: 65534}, stdin, append(extraEnv, "HOME=/nonexistent"), args)
}

func runTool(t *testing.T, cred *syscall.Credential, stdin string, extraEnv, args []string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, toolPath, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(cleanEnv(), extraEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running scratch-push: %v", err)
	}
	t.Logf("scratch-push %s\nexit %d\nstderr:\n%s", strings.Join(args, " "), code, errOut.String())
	return result{out.String(), errOut.String(), code}
}

// cleanEnv is the environment without the credentials a user may have set,
// so every test says where its credentials come from, without
// SOURCE_DATE_EPOCH, which switches on --reproducible, and without the CI
// variables that name a source (a run under GitHub Actions would label
// every image); DOCKER_CONFIG points to an empty folder unless a test sets
// its own.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		skip := false
		for _, p := range []string{"SCRATCH_PUSH_", "DOCKER_CONFIG=", "DOCKER_AUTH_CONFIG=", "SOURCE_DATE_EPOCH=", "GITHUB_", "CI_PROJECT_URL=", "CI_COMMIT_SHA=", "WERCKER_GIT_"} {
			skip = skip || strings.HasPrefix(kv, p)
		}
		if !skip {
			env = append(env, kv)
		}
	}
	return append(env, "DOCKER_CONFIG="+emptyDockerConfig, "SCRATCH_PUSH_CACHE_DIR="+reuseRecords)
}

// reuseRecords keeps the tests' records of built folders (see
// TestUnchangedFolderReused) out of the user's cache folder.
var reuseRecords = func() string {
	d, err := os.MkdirTemp("", "scratchpush-reuse")
	if err != nil {
		panic(err)
	}
	return d
}()

var emptyDockerConfig = func() string {
	d, err := os.MkdirTemp("", "scratchpush-empty-docker-config")
	if err != nil {
		panic(err)
	}
	return d
}()

// pushArgs are the flags that push to the test registry with the right
// credentials on stdin.
func pushArgs(repo string, tags ...string) []string {
	args := []string{"--registry", "http://" + env.registry, "--repository", repo, "--username", env.username, "--password-stdin"}
	for _, t := range tags {
		args = append(args, "--tag", t)
	}
	return args
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// uniqueRepo names a repository no earlier run used.
func uniqueRepo(t *testing.T, what string) string {
	return "it/" + what + "-" + randomHex(t, 4)
}

// seedFolder lays out what wercker's example step pushes: the static app and
// two JSON files. It returns the folder and the payload's size in bytes.
func seedFolder(t *testing.T, greeting string) (string, int64) {
	t.Helper()
	dir := t.TempDir()
	app, err := os.ReadFile(appPath)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"app":                    app,
		"cities-service.json":    []byte(fmt.Sprintf(`{"Greeting": %q}`, greeting)),
		"cities-controller.json": []byte(`{"kind": "ReplicationController", "id": "cities-controller"}`),
	}
	var size int64
	for name, body := range files {
		mode := os.FileMode(0o644)
		if name == "app" {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(dir, name), body, mode); err != nil {
			t.Fatal(err)
		}
		size += int64(len(body))
	}
	return dir, size
}

// docker runs the docker CLI and returns its combined output, failing the
// test on error.
func docker(t *testing.T, extraEnv []string, args ...string) string {
	t.Helper()
	out, err := dockerErr(extraEnv, args...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// listImages runs docker images with args. Podman's service fails a whole
// listing when an image goes while it looks at it ("checking if image … is
// dangling: … image not known"), as parallel tests remove theirs; the
// listing is asked again then, up to five times.
func listImages(t *testing.T, args ...string) string {
	t.Helper()
	args = append([]string{"images"}, args...)
	for try := 1; ; try++ {
		out, err := dockerErr(nil, args...)
		if err == nil {
			return out
		}
		if try == 5 || !strings.Contains(out, "image not known") {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("docker %s, try %d: %s", strings.Join(args, " "), try, strings.TrimSpace(out))
	}
}

func dockerErr(extraEnv []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(), extraEnv...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// loggedInConfig gives a DOCKER_CONFIG=... setting logged in to the test
// registry (or, named, to hosts in front of it), without touching the
// user's own docker config.
func loggedInConfig(t *testing.T, hosts ...string) []string {
	t.Helper()
	// The file docker login writes, written here: Podman's login endpoint
	// cannot check a plain-HTTP registry, and docker pull only reads the file.
	dir := t.TempDir()
	if len(hosts) == 0 {
		hosts = []string{env.registry}
	}
	auth := base64.StdEncoding.EncodeToString([]byte(env.username + ":" + env.password))
	var entries []string
	for _, h := range hosts {
		entries = append(entries, fmt.Sprintf(`%q:{"auth":%q}`, h, auth))
	}
	cfg := `{"auths":{` + strings.Join(entries, ",") + `}}`
	must(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600))
	return []string{"DOCKER_CONFIG=" + dir}
}

// removeImages drops local tags at the end of a test, so runs leave the
// daemon as they found it.
func removeImages(t *testing.T, refs ...string) {
	t.Cleanup(func() {
		for _, r := range refs {
			_, _ = dockerErr(nil, "rmi", "--force", r)
		}
	})
}

// registryClient reads what a push left, through the registry's HTTP API.
type registryClient struct{ t *testing.T }

// manifestTypes are what a push may leave under a tag: an image manifest,
// Docker's or OCI's, or an index of them (a Docker manifest list or an OCI
// image index), as the containerd image store may push.
const manifestTypes = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, " +
	"application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json"

func (r registryClient) get(path, accept string) (*http.Response, []byte) {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+env.registry+path, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	req.SetBasicAuth(env.username, env.password)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	c := &http.Client{Timeout: time.Minute}
	resp, err := c.Do(req)
	if err != nil {
		r.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("GET %s: %v", path, err)
	}
	return resp, body
}

// manifest fetches repo:ref and checks that the registry's digest header
// matches the bytes it served. It returns the image manifest and the digest
// ref names: when that is an index, the manifest of its one image (entries
// for attestations, platform unknown/unknown, aside) and the index's digest,
// which is what a push of ref reports.
func (r registryClient) manifest(repo, ref string) (ocispec.Manifest, string) {
	r.t.Helper()
	body, digest := r.manifestBytes(repo, ref)
	var m struct {
		ocispec.Manifest
		Manifests []ocispec.Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		r.t.Fatalf("manifest %s:%s: %v", repo, ref, err)
	}
	switch m.MediaType {
	case ocispec.MediaTypeImageManifest, "application/vnd.docker.distribution.manifest.v2+json":
		return m.Manifest, digest
	case ocispec.MediaTypeImageIndex, "application/vnd.docker.distribution.manifest.list.v2+json":
		var images []ocispec.Descriptor
		for _, d := range m.Manifests {
			if d.Platform == nil || d.Platform.OS != "unknown" {
				images = append(images, d)
			}
		}
		if len(images) != 1 {
			r.t.Fatalf("index %s:%s names %d images, want one: %s", repo, ref, len(images), body)
		}
		inner, _ := r.manifest(repo, images[0].Digest.String())
		return inner, digest
	}
	r.t.Fatalf("manifest %s:%s: media type %q: %s", repo, ref, m.MediaType, body)
	return ocispec.Manifest{}, ""
}

// manifestBytes fetches repo:ref as the registry serves it, checking its
// digest header against the bytes.
func (r registryClient) manifestBytes(repo, ref string) ([]byte, string) {
	r.t.Helper()
	resp, body := r.get("/v2/"+repo+"/manifests/"+ref, manifestTypes)
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("manifest %s:%s: HTTP %d: %s", repo, ref, resp.StatusCode, body)
	}
	sum := sha256.Sum256(body)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	if h := resp.Header.Get("Docker-Content-Digest"); h != digest {
		r.t.Fatalf("manifest digest header %q, body hashes to %q", h, digest)
	}
	return body, digest
}

func (r registryClient) blob(repo, digest string) []byte {
	r.t.Helper()
	resp, body := r.get("/v2/"+repo+"/blobs/"+digest, "")
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("blob %s: HTTP %d", digest, resp.StatusCode)
	}
	return body
}

func (r registryClient) config(repo string, m ocispec.Manifest) ocispec.Image {
	r.t.Helper()
	var img ocispec.Image
	if err := json.Unmarshal(r.blob(repo, m.Config.Digest.String()), &img); err != nil {
		r.t.Fatalf("image config: %v", err)
	}
	return img
}

// tags lists repo's tags, sorted, without the tags the OCI's referrers
// tag schema names after a digest (sha256-<hex>), which index the SBOMs
// attached to an image on a registry without the referrers API.
func (r registryClient) tags(repo string) []string {
	r.t.Helper()
	resp, body := r.get("/v2/"+repo+"/tags/list", "")
	var list struct{ Tags []string }
	if err := json.Unmarshal(body, &list); err != nil || resp.StatusCode != http.StatusOK {
		r.t.Fatalf("tags of %s: HTTP %d %s", repo, resp.StatusCode, body)
	}
	var tags []string
	for _, t := range list.Tags {
		if !referrersTag.MatchString(t) {
			tags = append(tags, t)
		}
	}
	sort.Strings(tags)
	return tags
}

var referrersTag = regexp.MustCompile(`^sha256-[0-9a-f]{64}$`)

// tagsStatus is the HTTP status of the repository's tag list: 404 when
// nothing was ever pushed to it.
func (r registryClient) tagsStatus(repo string) int {
	r.t.Helper()
	resp, _ := r.get("/v2/"+repo+"/tags/list", "")
	return resp.StatusCode
}

type layerEntry struct {
	Type byte
	// Mode holds the permission bits only: docker writes file type bits too.
	Mode     int64
	Uid, Gid int
	Linkname string
	Size     int64
}

// layerEntries lists a gzipped layer's tar entries by name.
func layerEntries(t *testing.T, blob []byte) (map[string]layerEntry, []string) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		t.Fatalf("layer is not gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	entries := map[string]layerEntry{}
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return entries, names
		}
		if err != nil {
			t.Fatalf("reading layer: %v", err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		entries[name] = layerEntry{h.Typeflag, h.Mode & 0o7777, h.Uid, h.Gid, h.Linkname, h.Size}
		names = append(names, name)
	}
}

// daemonState lists every image, intermediate ones included, and every
// container: what a failed run must leave as it found it.
func daemonState(t *testing.T) string {
	t.Helper()
	images := strings.Fields(listImages(t, "-a", "-q", "--no-trunc"))
	containers := strings.Fields(docker(t, nil, "ps", "-a", "-q", "--no-trunc"))
	sort.Strings(images)
	sort.Strings(containers)
	return "images: " + strings.Join(images, " ") + "\ncontainers: " + strings.Join(containers, " ")
}

// running is a scratch-push run in progress whose stderr a test can watch.
type running struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *lockedBuffer
	stdout bytes.Buffer
	done   chan struct{}
	code   int
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startScratchPush(t *testing.T, stdin string, extraEnv []string, args ...string) *running {
	t.Helper()
	r := &running{lines: make(chan string, 1000), stderr: &lockedBuffer{}, done: make(chan struct{})}
	r.cmd = exec.Command(toolPath, args...)
	r.cmd.Stdin = strings.NewReader(stdin)
	r.cmd.Env = append(cleanEnv(), extraEnv...)
	r.cmd.Stdout = &r.stdout
	pr, pw := io.Pipe()
	r.cmd.Stderr = io.MultiWriter(r.stderr, pw)
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case r.lines <- sc.Text():
			default:
			}
		}
	}()
	go func() {
		err := r.cmd.Wait()
		pw.Close()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			r.code = exit.ExitCode()
		}
		close(r.done)
	}()
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		<-r.done
	})
	return r
}

// waitLine waits for a stderr line containing s.
func (r *running) waitLine(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l := <-r.lines:
			if strings.Contains(l, s) {
				return
			}
		case <-r.done:
			t.Fatalf("scratch-push ended before printing %q:\n%s", s, r.stderr.String())
		case <-deadline:
			t.Fatalf("no %q within %s:\n%s", s, timeout, r.stderr.String())
		}
	}
}

// wait waits for the run to end and returns its exit status.
func (r *running) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-r.done:
		t.Logf("exit %d\nstderr:\n%s", r.code, r.stderr.String())
		return r.code
	case <-time.After(timeout):
		t.Fatalf("scratch-push still running after %s:\n%s", timeout, r.stderr.String())
		return -1
	}
}

// bigFolder holds the app and size bytes of incompressible data, so that a
// build or push lasts long enough to be interrupted.
func bigFolder(t *testing.T, size int64) string {
	t.Helper()
	dir, _ := seedFolder(t, "big")
	f, err := os.Create(filepath.Join(dir, "blob"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	return dir
}

func gunzip(t *testing.T, blob []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// inspectConfig is a local image's config, as docker image inspect shows it.
func inspectConfig(t *testing.T, ref string) ocispec.ImageConfig {
	t.Helper()
	var cfg ocispec.ImageConfig
	if err := json.Unmarshal([]byte(docker(t, nil, "image", "inspect", "--format", "{{json .Config}}", ref)), &cfg); err != nil {
		t.Fatalf("inspecting %s: %v", ref, err)
	}
	return cfg
}

// runPulled pulls pinned (REPOSITORY@DIGEST) back from the registry, as a
// user with docker login would, and returns what docker run of it prints.
func runPulled(t *testing.T, pinned string) string {
	t.Helper()
	docker(t, loggedInConfig(t), "pull", "-q", pinned)
	return docker(t, nil, "run", "--rm", pinned)
}

// goBuild builds a static program of the test data for a scratch image.
func goBuild(t *testing.T, out, pkg string, env ...string) {
	t.Helper()
	build := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	build.Env = append(append(os.Environ(), "CGO_ENABLED=0"), env...)
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %s %s: %v: %s", strings.Join(env, " "), pkg, err, b)
	}
}

// pushedDigest reads the manifest digest of repo:tag from the registry and
// checks that the run printed it as the pushed reference's.
func pushedDigest(t *testing.T, res result, repo, tag string) string {
	t.Helper()
	_, digest := registryClient{t}.manifest(repo, tag)
	if !strings.HasSuffix(strings.TrimSpace(res.stdout), "@"+digest) {
		t.Errorf("%s:%s: stdout %q, registry digest %s", repo, tag, res.stdout, digest)
	}
	return digest
}

// ownLabels is an image's labels without the one Podman's builder, Buildah,
// stamps on every image it builds (io.buildah.version), which scratch-push
// cannot keep out; docs/engines.md says so.
func ownLabels(labels map[string]string) map[string]string {
	if !onPodman() || labels["io.buildah.version"] == "" {
		return labels
	}
	own := maps.Clone(labels)
	delete(own, "io.buildah.version")
	if len(own) == 0 {
		return nil
	}
	return own
}

// buildEndpoint pins the daemon's build endpoint, which --builder auto
// leaves on the containerd store (the image is made here and loaded
// there): for the tests about the build request itself.
func buildEndpoint() []string {
	if onContainerdStore() {
		return []string{"--builder", "buildkit"}
	}
	return nil
}
