package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// platformFolder is seedFolder's folder with the program built for arch.
func platformFolder(t *testing.T, arch, greeting string) string {
	t.Helper()
	dir, _ := seedFolder(t, greeting)
	if arch != runtime.GOARCH {
		goBuild(t, filepath.Join(dir, "app"), "./testdata/app", "GOOS=linux", "GOARCH="+arch)
	}
	return dir
}

// --platform PLATFORM=DIR, twice: one OCI index in the registry naming an
// image per platform, each config with its platform and the same settings;
// stdout and the metadata file name the index and each platform's
// manifest. The same folders and SOURCE_DATE_EPOCH, given in the other
// order, give the same index. docker run of the index on this amd64 host
// prints the amd64 program's greeting, from the daemon as the run left it
// and pulled back from the registry.
func TestMultiPlatform(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	if runtime.GOARCH != "amd64" {
		t.Skip("the test runs the amd64 image: it needs an amd64 host")
	}
	amd := platformFolder(t, "amd64", "hello from amd64")
	arm := platformFolder(t, "arm64", "hello from arm64")
	repo := uniqueRepo(t, "multi")
	ref := env.registry + "/" + repo
	removeImages(t, ref+":v1", ref+":v2", ref+":again")
	meta := filepath.Join(t.TempDir(), "metadata.json")
	epoch := []string{"SOURCE_DATE_EPOCH=1700000000"}
	settings := []string{"--cmd", "./app", "--ports", "5000", "--env", "MODE=prod", "--label", "org.example=1"}
	reg := registryClient{t}

	// Folders paired with the wrong platforms: a usage error before anything
	// is made, naming the folder and both architectures.
	swapped := scratchPush(t, env.password, epoch, append(append(pushArgs(repo, "swapped"), settings...),
		"--platform", "linux/amd64="+arm, "--platform", "linux/arm64="+amd)...)
	if want := "--platform: linux/amd64=" + arm + ": /app there is built for linux/arm64, not amd64"; swapped.code != 2 || !strings.Contains(swapped.stderr, want) {
		t.Errorf("swapped folders: exit %d, stderr %q; want 2 and %q", swapped.code, swapped.stderr, want)
	}
	// A wrong password fails before anything is made.
	refused := scratchPush(t, "not-"+env.password, epoch, append(append(pushArgs(repo, "refused"), settings...),
		"--platform", "linux/amd64="+amd, "--platform", "linux/arm64="+arm)...)
	if refused.code == 0 || !strings.Contains(refused.stderr, "check the user name and password") || strings.Contains(refused.stderr, "made the image") {
		t.Errorf("wrong password: exit %d, stderr %q; want a refusal before any image is made", refused.code, refused.stderr)
	}
	if code := reg.tagsStatus(repo); code != 404 {
		t.Errorf("after the usage error and the refusal the registry answers %d for the repository's tags, want 404", code)
	}

	res := scratchPush(t, env.password, epoch, append(append(pushArgs(repo, "v1", "v2"), settings...),
		"--metadata-file", meta, "--platform", "linux/amd64="+amd, "--platform", "linux/arm64="+arm)...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	body, digest := reg.manifestBytes(repo, "v1")
	if d := skopeoDigest(t, ref+":v1"); d != digest {
		t.Errorf("skopeo reads the index as %s, the registry API as %s", d, digest)
	}
	if _, d2 := reg.manifestBytes(repo, "v2"); d2 != digest {
		t.Errorf("v1 is %s, v2 is %s", digest, d2)
	}
	if want := ref + ":v1@" + digest + "\n" + ref + ":v2@" + digest + "\n"; res.stdout != want {
		t.Errorf("stdout %q, want %q", res.stdout, want)
	}
	var index ocispec.Index
	must(t, json.Unmarshal(body, &index))
	if index.MediaType != ocispec.MediaTypeImageIndex || len(index.Manifests) != 2 {
		t.Fatalf("the tag names %s, want an OCI index of two images", body)
	}
	var platforms []string
	for _, d := range index.Manifests {
		if d.Platform == nil || d.MediaType != ocispec.MediaTypeImageManifest {
			t.Fatalf("index entry %+v, want an OCI manifest with its platform", d)
		}
		p := d.Platform.OS + "/" + d.Platform.Architecture
		platforms = append(platforms, p)
		m, _ := reg.manifest(repo, d.Digest.String())
		cfg := reg.config(repo, m)
		if cfg.OS+"/"+cfg.Architecture != p {
			t.Errorf("the manifest for %s has a config for %s/%s", p, cfg.OS, cfg.Architecture)
		}
		c := cfg.Config
		if len(c.Cmd) != 1 || c.Cmd[0] != "./app" || !slices.Contains(c.Env, "MODE=prod") || c.Labels["org.example"] != "1" {
			t.Errorf("%s: config %+v, want the settings given", p, c)
		}
		if _, ok := c.ExposedPorts["5000/tcp"]; !ok {
			t.Errorf("%s: exposed ports %v, want 5000/tcp", p, c.ExposedPorts)
		}
	}
	if strings.Join(platforms, " ") != "linux/amd64 linux/arm64" {
		t.Errorf("the index names %v", platforms)
	}
	var md struct {
		ImageID   string `json:"imageID"`
		Platforms []struct{ Platform, Digest string }
		SBOMs     []struct{ Subject, Digest string } `json:"sboms"`
	}
	b, err := os.ReadFile(meta)
	must(t, err)
	must(t, json.Unmarshal(b, &md))
	if len(md.Platforms) != 2 || md.Platforms[0].Platform != "linux/amd64" || md.Platforms[0].Digest != index.Manifests[0].Digest.String() ||
		md.Platforms[1].Platform != "linux/arm64" || md.Platforms[1].Digest != index.Manifests[1].Digest.String() {
		t.Errorf("--metadata-file names platforms %+v, the index %+v", md.Platforms, index.Manifests)
	}

	// An SBOM for the whole index, and one for each platform's image,
	// each keeping SPDX 2.3's rules and the NTIA minimum elements.
	if len(md.SBOMs) != 3 {
		t.Errorf("--metadata-file names SBOMs %+v, want three", md.SBOMs)
	}
	for _, subject := range []string{digest, index.Manifests[0].Digest.String(), index.Manifests[1].Digest.String()} {
		found := referrers(t, ref+"@"+subject)
		if len(found) != 1 {
			t.Errorf("SBOMs of %s: %v, want one", subject, found)
			continue
		}
		checkSPDX(t, "the SBOM of "+subject, pullSBOMBytes(t, ref+"@"+found[0]))
	}

	// The daemon: the whole index on the containerd store, else the amd64
	// image, named by its config.
	id := strings.TrimSpace(docker(t, nil, "image", "inspect", "--format", "{{.Id}}", ref+":v1"))
	want := digest
	if !onContainerdStore() {
		amdManifest, _ := reg.manifest(repo, index.Manifests[0].Digest.String())
		want = amdManifest.Config.Digest.String()
	}
	if id != want || md.ImageID != id {
		t.Errorf("the daemon has %s as %s, the metadata file says %s; want %s", ref+":v1", id, md.ImageID, want)
	}
	if out := docker(t, nil, "run", "--rm", ref+":v1"); !strings.HasPrefix(out, "hello from amd64\n") {
		t.Errorf("docker run of the loaded image printed %q", out)
	}

	again := scratchPush(t, env.password, epoch, append(append(pushArgs(repo, "again"), settings...),
		"--platform", "linux/arm64="+arm+",linux/amd64="+amd)...)
	if again.code != 0 {
		t.Fatalf("second run: exit %d: %s", again.code, again.stderr)
	}
	if _, d := reg.manifestBytes(repo, "again"); d != digest {
		t.Errorf("the same folders and SOURCE_DATE_EPOCH in the other order gave %s, first %s", d, digest)
	}

	removeImages(t, ref+":v1", ref+":v2", ref+":again")
	if out := runPulled(t, ref+"@"+digest); !strings.HasPrefix(out, "hello from amd64\n") {
		t.Errorf("docker run of the index pulled back printed %q", out)
	}
}

// An image for arm64 only is refused by docker run on this amd64 host,
// which has no emulation: the engine names the platforms that do not
// match, or the kernel refuses the program; it never runs.
func TestForeignPlatformRefused(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	if runtime.GOARCH != "amd64" {
		t.Skip("the test needs an amd64 host")
	}
	if _, err := os.Stat("/proc/sys/fs/binfmt_misc/qemu-aarch64"); err == nil {
		t.Skip("this host emulates arm64 (binfmt_misc qemu-aarch64): docker run would run it")
	}
	arm := platformFolder(t, "arm64", "hello from arm64")
	repo := uniqueRepo(t, "arm-only")
	ref := env.registry + "/" + repo
	removeImages(t, ref+":v1")
	res := scratchPush(t, env.password, nil, append(pushArgs(repo, "v1"), "--cmd", "./app", "--platform", "linux/arm64="+arm)...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	m, _ := registryClient{t}.manifest(repo, "v1")
	if cfg := (registryClient{t}).config(repo, m); cfg.Architecture != "arm64" {
		t.Errorf("the image pushed is for %s", cfg.Architecture)
	}
	out, err := dockerErr(nil, "run", "--rm", ref+":v1")
	switch {
	case onPodman():
		// Podman 4.3's service reports the container's failed exec as
		// its output, and exit status 0 (docs/engines.md).
		if !strings.Contains(out, "exec format error") {
			t.Errorf("docker run on Podman: %v, %q; want the exec format error", err, out)
		}
	case err == nil:
		t.Errorf("docker run of an arm64 image on amd64 succeeded: %q", out)
	case !strings.Contains(out, "platform") && !strings.Contains(out, "exec format error"):
		t.Errorf("docker run failed without naming the platform: %q", out)
	}
	if strings.Contains(out, "hello from arm64") {
		t.Errorf("the arm64 program ran: %q", out)
	}
}
