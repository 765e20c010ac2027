package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --repository twice: the image is pushed to the first repository and
// copied from there to the second, on another registry host (a fake: the
// fault proxy in front of the test registry, injecting nothing), with the
// docker config's credentials for that host; both names hold the same
// manifest, the SBOM goes along, and --image-refs lists both. When the
// second cannot be reached, the first stays pushed and printed, and the
// run fails naming the second.
func TestMirrors(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir, _ := seedFolder(t, "mirrored")
	p := newFaultProxy(t)
	cfg := loggedInConfig(t, p.addr)
	first, second := uniqueRepo(t, "mirror-a"), uniqueRepo(t, "mirror-b")
	removeImages(t, env.registry+"/"+first+":v1")
	refs := filepath.Join(t.TempDir(), "refs")

	res := scratchPush(t, env.password, cfg,
		append(pushArgs(first, "v1"), "--repository", p.addr+"/"+second, "--image-refs", refs, "--cmd", "./app", dir)...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	reg := registryClient{t}
	_, d1 := reg.manifest(first, "v1")
	_, d2 := reg.manifest(second, "v1")
	want := env.registry + "/" + first + ":v1@" + d1 + "\n" + p.addr + "/" + second + ":v1@" + d1 + "\n"
	if d := skopeoDigest(t, env.registry+"/"+second+":v1"); d != d1 {
		t.Errorf("skopeo reads the copy as %s, the first is %s", d, d1)
	}
	if d1 != d2 || res.stdout != want {
		t.Errorf("digests %s and %s, stdout %q; want the same, and %q", d1, d2, res.stdout, want)
	}
	if b, err := os.ReadFile(refs); err != nil || string(b) != want {
		t.Errorf("--image-refs holds %q (%v), want %q", b, err, want)
	}
	if found := referrers(t, env.registry+"/"+second+"@"+d1); len(found) != 1 {
		t.Errorf("SBOMs of the copy: %v, want one", found)
	}

	closed := closedPort(t)
	removeImages(t, env.registry+"/"+first+":v2")
	bad := scratchPush(t, env.password, cfg,
		append(pushArgs(first, "v2"), "--repository", closed+"/"+second, "--image-refs", refs, "--cmd", "./app", dir)...)
	if bad.code != 1 || !strings.Contains(bad.stderr, "pushed to "+env.registry+"/"+first+", but not to "+closed+"/"+second) {
		t.Errorf("unreachable second repository: exit %d, stderr %q", bad.code, bad.stderr)
	}
	_, d3 := reg.manifest(first, "v2")
	if bad.stdout != env.registry+"/"+first+":v2@"+d3+"\n" {
		t.Errorf("stdout %q, want the first repository's tag", bad.stdout)
	}
	if _, err := os.Stat(refs); !os.IsNotExist(err) {
		t.Errorf("--image-refs after a failed run: %v, want no file", err)
	}

	// A second repository this user has no credentials for: the refusal in
	// the user's words, the first repository's push and local tag kept.
	removeImages(t, env.registry+"/"+first+":v3")
	nocreds := scratchPush(t, env.password, nil, append(pushArgs(first, "v3"), "--repository", p.addr+"/"+second, "--cmd", "./app", dir)...)
	if nocreds.code != 1 || !strings.Contains(nocreds.stderr, "docker login "+p.addr) || strings.Contains(nocreds.stderr, "HEAD responses") {
		t.Errorf("a second repository without credentials: exit %d, want 1 with the advice to log in and no library asides:\n%s", nocreds.code, nocreds.stderr)
	}
	if _, d4 := reg.manifest(first, "v3"); nocreds.stdout != env.registry+"/"+first+":v3@"+d4+"\n" {
		t.Errorf("stdout %q, want the first repository's tag", nocreds.stdout)
	}
	if _, err := dockerErr(nil, "image", "inspect", env.registry+"/"+first+":v3"); err != nil {
		t.Errorf("the first repository's local tag is gone: %v", err)
	}
}
