package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// --output writes the image made here to disk. With --no-push and no
// repository no daemon is needed: an OCI layout, where oras finds the SBOM
// beside the image, and a docker archive, which docker load takes and
// whose image docker run starts. Pushed, the registry gets the manifest the
// layout holds. A layout folder that is not empty, and a docker archive of
// several platforms, are usage errors.
func TestOutputs(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir, _ := seedFolder(t, "hello from a file")
	out := t.TempDir()
	layout, archive := filepath.Join(out, "layout"), filepath.Join(out, "image.tar")
	res := scratchPush(t, "", []string{"DOCKER_HOST=unix://" + filepath.Join(out, "no-daemon.sock")},
		"--no-push", "--cmd", "./app", "--output", "oci-layout:"+layout, "--output", "docker-archive:"+archive, dir)
	if res.code != 0 {
		t.Fatalf("without a daemon: exit %d: %s", res.code, res.stderr)
	}
	var index ocispec.Index
	b, err := os.ReadFile(filepath.Join(layout, "index.json"))
	must(t, err)
	must(t, json.Unmarshal(b, &index))
	if len(index.Manifests) != 2 {
		t.Fatalf("index.json %s, want the image and its SBOM", b)
	}
	digest := index.Manifests[0].Digest.String()
	if want := "oci-layout:" + layout + "@" + digest + "\ndocker-archive:" + archive + "@" + digest + "\n"; res.stdout != want {
		t.Errorf("stdout %q, want %q", res.stdout, want)
	}
	var d struct {
		Referrers []struct{ ArtifactType string } `json:"referrers"`
	}
	must(t, json.Unmarshal([]byte(orasRun(t, "discover", "--format", "json", "--oci-layout", layout+"@"+digest)), &d))
	if len(d.Referrers) != 1 || d.Referrers[0].ArtifactType != "application/spdx+json" {
		t.Errorf("oras finds referrers %+v in the layout, want the SBOM", d.Referrers)
	}
	loaded := docker(t, nil, "load", "-i", archive)
	id := ""
	for _, f := range strings.Fields(loaded) {
		if strings.HasPrefix(f, "sha256:") {
			id = f
		}
	}
	if id == "" {
		t.Fatalf("docker load said %q", loaded)
	}
	t.Cleanup(func() { dockerErr(nil, "rmi", id) })
	if out := docker(t, nil, "run", "--rm", id); !strings.HasPrefix(out, "hello from a file\n") {
		t.Errorf("docker run of the loaded archive printed %q", out)
	}

	repo := uniqueRepo(t, "outputs")
	removeImages(t, env.registry+"/"+repo+":v1")
	pushedLayout := filepath.Join(out, "pushed")
	pushed := scratchPush(t, env.password, nil, append(pushArgs(repo, "v1"), "--cmd", "./app", "--output", "oci-layout:"+pushedLayout, dir)...)
	if pushed.code != 0 {
		t.Fatalf("pushed: exit %d: %s", pushed.code, pushed.stderr)
	}
	b, err = os.ReadFile(filepath.Join(pushedLayout, "index.json"))
	must(t, err)
	must(t, json.Unmarshal(b, &index))
	if d := pushedDigest(t, pushed, repo, "v1"); index.Manifests[0].Digest.String() != d || index.Manifests[0].Annotations[ocispec.AnnotationRefName] != "v1" {
		t.Errorf("the layout names %+v, the registry %s", index.Manifests[0], d)
	}

	// Several platforms, pushed and written: the registry's index is the
	// layout's, and the layout holds an SBOM for it and each platform.
	arm := platformFolder(t, "arm64", "x")
	removeImages(t, env.registry+"/"+repo+":multi")
	indexLayout := filepath.Join(out, "index")
	multi := scratchPush(t, env.password, nil, append(pushArgs(repo, "multi"), "--cmd", "./app", "--output", "oci-layout:"+indexLayout,
		"--platform", "linux/amd64="+dir, "--platform", "linux/arm64="+arm)...)
	if multi.code != 0 {
		t.Fatalf("several platforms: exit %d: %s", multi.code, multi.stderr)
	}
	b, err = os.ReadFile(filepath.Join(indexLayout, "index.json"))
	must(t, err)
	must(t, json.Unmarshal(b, &index))
	_, indexDigest := (registryClient{t}).manifestBytes(repo, "multi")
	if len(index.Manifests) != 4 || index.Manifests[0].Digest.String() != indexDigest {
		t.Errorf("the layout's index.json %s, the registry's index %s; want the index and three SBOMs", b, indexDigest)
	}
	// skopeo finds the index by its tag, and syft reads the layout (the
	// platform of this machine's).
	if raw, err := exec.Command("skopeo", "inspect", "--raw", "oci:"+indexLayout+":multi").Output(); err != nil || digestOf(raw) != indexDigest {
		t.Errorf("skopeo inspect oci:DIR:multi: %v; want the index %s", exitText(err), indexDigest)
	}
	syftGoModules(t, "oci-dir:"+indexLayout)

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--output", "oci-layout:" + layout, dir}, "--output: oci-layout:" + layout + " is not empty"},
		{[]string{"--output", "docker-archive:" + filepath.Join(out, "two.tar"), "--platform", "linux/amd64=" + dir, "--platform", "linux/arm64=" + arm}, "a docker archive holds one platform's image"},
	} {
		bad := scratchPush(t, "", nil, append([]string{"--no-push", "--cmd", "./app"}, c.args...)...)
		if bad.code != 2 || !strings.Contains(bad.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, bad.code, bad.stderr, c.want)
		}
	}
}

// A layout that fails half-way (here the disk fills) leaves what the user
// had: an empty folder, and a link to one, in place and empty; the run
// fails with the cause and prints no reference.
func TestFailedLayoutLeavesTheFolder(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir, _ := seedFolder(t, "no room")
	small := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", small).CombinedOutput(); err != nil {
		t.Fatalf("mounting a small tmpfs (the suite runs as root): %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", small).Run() })
	empty, target := filepath.Join(small, "empty"), filepath.Join(small, "target")
	must(t, os.Mkdir(empty, 0o750))
	must(t, os.Mkdir(target, 0o755))
	link := filepath.Join(t.TempDir(), "link")
	must(t, os.Symlink(target, link))
	for _, out := range []string{empty, link} {
		res := scratchPush(t, "", []string{"DOCKER_HOST=unix://" + filepath.Join(t.TempDir(), "no-daemon.sock")},
			"--no-push", "--cmd", "./app", "--output", "oci-layout:"+out, dir)
		if res.code == 0 || res.stdout != "" || !strings.Contains(res.stderr, "no space left on device") {
			t.Errorf("%s: exit %d, stdout %q; want a failure naming the full disk:\n%s", out, res.code, res.stdout, res.stderr)
		}
	}
	if fi, err := os.Stat(empty); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o750 {
		t.Errorf("the user's empty folder: %v, %v", fi, err)
	}
	for _, d := range []string{empty, target} {
		if entries, err := os.ReadDir(d); err != nil || len(entries) != 0 {
			t.Errorf("%s holds %d entries after the failure (%v)", d, len(entries), err)
		}
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link: %v, %v; want it kept", fi, err)
	}
}
