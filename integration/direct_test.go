package integration

import (
	"os"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// --push direct: scratch-push uploads the image it made, and the daemon
// gets the same image. The registry holds, under both tags, the manifest
// stdout names, with gzip layers; the daemon has the image under the tags,
// named as the engine names that manifest's image; docker run of the pushed
// image, pulled back, prints the program's greeting. Run again on the same
// folder, the image is reused and only the new tag's manifest goes up.
func TestPushDirect(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	reg := registryClient{t}
	dir, _ := seedFolder(t, "hello from a direct push")
	repo := uniqueRepo(t, "direct")
	ref := env.registry + "/" + repo
	removeImages(t, ref+":v1", ref+":v2", ref+":v3")
	time.Sleep(1100 * time.Millisecond) // past the second a folder must settle for its image to be recorded

	res := scratchPush(t, env.password, nil, append(pushArgs(repo, "v1", "v2"), "--push", "direct", "--cmd", "./app", dir)...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("stdout %q, want a line per tag", res.stdout)
	}
	manifest, digest := reg.manifest(repo, "v1")
	for i, tag := range []string{"v1", "v2"} {
		m := digestLine.FindStringSubmatch(lines[i])
		if m == nil || m[2] != tag || m[3] != digest {
			t.Errorf("stdout line %q, want %s:%s@%s", lines[i], ref, tag, digest)
		}
		if _, d := reg.manifest(repo, tag); d != digest {
			t.Errorf("the registry names %s for %s, and %s for v1", d, tag, digest)
		}
	}
	if manifest.MediaType != ocispec.MediaTypeImageManifest || len(manifest.Layers) == 0 {
		t.Fatalf("manifest %+v, want an OCI manifest with layers", manifest)
	}
	for _, l := range manifest.Layers {
		if l.MediaType != ocispec.MediaTypeImageLayerGzip {
			t.Errorf("layer %s is %s, want gzip", l.Digest, l.MediaType)
		}
	}
	id := strings.TrimSpace(docker(t, nil, "image", "inspect", "--format", "{{.Id}}", ref+":v1"))
	want := manifest.Config.Digest.String() // the classic store and Podman name an image by its config
	if onContainerdStore() {
		want = digest // and the containerd store by the manifest it loaded: the one pushed
	}
	if id != want {
		t.Errorf("the daemon has %s as %s, want %s", ref+":v1", id, want)
	}
	// The progress names the image as the daemon does (docker images),
	// and says each tag pushed, as docker push does, before the SBOM.
	if made := "made image " + id + " here (manifest " + digest + ")"; !strings.Contains(res.stderr, made) {
		t.Errorf("stderr lacks %q:\n%s", made, res.stderr)
	}
	pushed, attached := strings.Index(res.stderr, "v2: digest: "+digest+" size: "), strings.Index(res.stderr, "attached the SBOM")
	if pushed < 0 || attached < pushed {
		t.Errorf("the tags' digests (at %d) should come before the SBOM's attach (at %d):\n%s", pushed, attached, res.stderr)
	}
	if img := reg.config(repo, manifest); len(img.Config.Cmd) != 1 || img.Config.Cmd[0] != "./app" {
		t.Errorf("pushed config's Cmd is %q", img.Config.Cmd)
	}

	again := scratchPush(t, env.password, nil, append(pushArgs(repo, "v3"), "--push", "direct", "--cmd", "./app", dir)...)
	if again.code != 0 || !strings.Contains(again.stderr, "reusing image") {
		t.Fatalf("second run: exit %d, want the image reused: %s", again.code, again.stderr)
	}
	if _, d := reg.manifest(repo, "v3"); d != digest {
		t.Errorf("the reused image went up as %s, want %s", d, digest)
	}

	removeImages(t, ref+":v1", ref+":v2", ref+":v3")
	if out := runPulled(t, ref+"@"+digest); !strings.HasPrefix(out, "hello from a direct push\n") {
		t.Errorf("docker run of the pulled image printed %q", out)
	}
}

// A wrong password fails a direct push before anything is made: the
// registry is asked from here, as the push would go. Nothing lands in the
// daemon or the registry.
func TestPushDirectWrongPassword(t *testing.T) {
	requireEnv(t)
	dir, _ := seedFolder(t, "never built")
	repo := uniqueRepo(t, "direct-badpw")
	before := daemonState(t)
	res := scratchPush(t, "not-"+env.password, nil, append(pushArgs(repo, "v1"), "--push", "direct", "--cmd", "./app", dir)...)
	if res.code == 0 || !strings.Contains(res.stderr, "check the user name and password") {
		t.Fatalf("exit %d, want a refusal naming the password: %s", res.code, res.stderr)
	}
	if strings.Contains(res.stderr, "made image") {
		t.Errorf("the image was made before the credentials were checked: %s", res.stderr)
	}
	if after := daemonState(t); after != before {
		t.Errorf("the daemon changed:\nbefore %s\nafter  %s", before, after)
	}
	if code := (registryClient{t}).tagsStatus(repo); code != 404 {
		t.Errorf("the registry answers %d for the repository's tags, want 404", code)
	}
}

// Two engines of different kinds, the same folder and SOURCE_DATE_EPOCH,
// --push direct: the same manifest digest in the registry. Docker 20.10
// (classic store) is compared with Podman; Podman and the containerd store
// with Docker 20.10, which make test keeps at its usual socket.
func TestPushDirectSameDigestOnTwoEngines(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	other := "DOCKER_HOST=unix:///var/run/docker.sock"
	if engine == "docker" {
		host := os.Getenv("SCRATCHPUSH_TEST_PODMAN_HOST")
		if host == "" {
			if os.Getenv("CI") == "true" {
				t.Fatal("SCRATCHPUSH_TEST_PODMAN_HOST is not set: make test starts Podman for this comparison")
			}
			t.Skip("no Podman to compare with: run scripts/dev-env --podman")
		}
		other = "DOCKER_HOST=" + host
	}
	dir, _ := seedFolder(t, "the same on every engine")
	repo := uniqueRepo(t, "direct-same")
	epoch := "SOURCE_DATE_EPOCH=1700000000"
	opts := []string{"--push", "direct", "--cmd", "./app", "--ports", "5000", "--env", "MODE=prod", "--label", "org.example=1", dir}
	t.Cleanup(func() {
		removeImages(t, env.registry+"/"+repo+":here")
		dockerErr([]string{other}, "rmi", env.registry+"/"+repo+":there")
	})
	here := scratchPush(t, env.password, []string{epoch}, append(pushArgs(repo, "here"), opts...)...)
	there := scratchPush(t, env.password, []string{epoch, other}, append(pushArgs(repo, "there"), opts...)...)
	if here.code != 0 || there.code != 0 {
		t.Fatalf("exit %d (%s) and %d (%s): %s\n%s", here.code, engine, there.code, other, here.stderr, there.stderr)
	}
	reg := registryClient{t}
	_, d1 := reg.manifest(repo, "here")
	_, d2 := reg.manifest(repo, "there")
	if d1 != d2 {
		t.Errorf("%s pushed %s, %s pushed %s", engine, d1, other, d2)
	}
}
