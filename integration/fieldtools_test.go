package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// What scratch-push writes, the field's own tools read, on every engine.
// A real many-module Go program (oras, installed by dev-env with go
// install of a release, so its main module has a version), with the CA
// bundle, the time zone data and a file whose name is not UTF-8:
//   - pushed by the default path: its SBOM keeps SPDX 2.3's rules and
//     the NTIA minimum elements, lists the Go modules and versions the
//     program's build info names and exactly those syft finds reading the
//     pushed image (purls too), and writes the odd name escaped, which
//     the layer holds byte for byte;
//   - pushed with --output: stdout is the pushed references alone; syft
//     reads the OCI layout (and finds the same modules as the SBOM in it),
//     skopeo and umoci find it by each tag, oras finds the SBOM beside it,
//     and docker load of the archive tags REPOSITORY:TAG for each tag.
func TestWhatTheFieldReads(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	if env.oras == "" {
		t.Fatal("SCRATCHPUSH_TEST_ORAS is not set: scripts/dev-env installs oras")
	}
	dir := t.TempDir()
	program, err := os.ReadFile(env.oras)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "oras"), program, 0o755))
	const odd = "caf\xe9.txt" // Latin-1
	must(t, os.WriteFile(filepath.Join(dir, odd), []byte("latin-1"), 0o644))
	repo := uniqueRepo(t, "fieldtools")
	ref := env.registry + "/" + repo
	removeImages(t, ref+":v1", ref+":v2", ref+":latest")
	flags := []string{"-q", "--cmd", "./oras", "--allow-dynamic", "--ca-certs", "--tzdata"}

	res := scratchPush(t, env.password, nil, append(append(pushArgs(repo, "v1"), flags...), dir)...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	digest := pushedDigest(t, res, repo, "v1")
	found := referrers(t, ref+"@"+digest)
	if len(found) != 1 {
		t.Fatalf("SBOMs %v of %s, want one", found, digest)
	}
	doc := checkSPDX(t, "the SBOM of a push", pullSBOMBytes(t, ref+"@"+found[0]))
	mods := goModules(doc)
	sameSets(t, "Go modules, ours and the build info's", withoutPURLs(mods), buildInfoModules(t, env.oras))
	sameSets(t, "Go modules and purls, ours and syft's (the pushed image)", mods, syftGoModules(t, "registry:"+ref+"@"+digest))
	versions := map[string]string{}
	for _, p := range doc.Packages {
		versions[p.Name] = p.VersionInfo
	}
	if versions["oras.land/oras"] != "v1.3.6" || !strings.HasPrefix(versions["ca-certificates"], "sha256:") || versions["tzdata"] == "" || !strings.HasPrefix(versions[ref], "sha256:") {
		t.Errorf("package versions %v: want oras v1.3.6, the CA bundle by its digest, tzdata by its own, the image by its files' digest", versions)
	}
	escaped := false
	for _, f := range doc.Files {
		escaped = escaped || (f.FileName == "./caf%E9.txt" && strings.Contains(f.Comment, "not UTF-8"))
	}
	if !escaped {
		t.Errorf("the SBOM does not list %q as ./caf%%E9.txt with a comment saying its name is not UTF-8", odd)
	}
	reg := registryClient{t}
	m, _ := reg.manifest(repo, "v1")
	inLayers := false
	for _, l := range m.Layers {
		entries, _ := layerEntries(t, reg.blob(repo, l.Digest.String()))
		_, ok := entries[odd]
		inLayers = inLayers || ok
	}
	if !inLayers {
		t.Errorf("no layer holds %q byte for byte", odd)
	}

	// Files written beside a push, two tags.
	out := t.TempDir()
	layout, archive := filepath.Join(out, "layout"), filepath.Join(out, "image.tar")
	meta := filepath.Join(out, "metadata.json")
	pushed := scratchPush(t, env.password, nil, append(append(pushArgs(repo, "v2", "latest"), flags...),
		"--output", "oci-layout:"+layout, "--output", "docker-archive:"+archive, "--metadata-file", meta, dir)...)
	if pushed.code != 0 {
		t.Fatalf("with --output: exit %d: %s", pushed.code, pushed.stderr)
	}
	_, v2 := reg.manifest(repo, "v2")
	if want := ref + ":v2@" + v2 + "\n" + ref + ":latest@" + v2 + "\n"; pushed.stdout != want {
		t.Errorf("stdout %q, want the pushed references alone, %q", pushed.stdout, want)
	}
	var md struct{ Outputs []string }
	mdBytes, err := os.ReadFile(meta)
	must(t, err)
	must(t, json.Unmarshal(mdBytes, &md))
	if want := []string{"oci-layout:" + layout + "@" + v2, "docker-archive:" + archive + "@" + v2}; !slices.Equal(md.Outputs, want) {
		t.Errorf("--metadata-file outputs %q, want %q", md.Outputs, want)
	}
	var index ocispec.Index
	b, err := os.ReadFile(filepath.Join(layout, "index.json"))
	must(t, err)
	must(t, json.Unmarshal(b, &index))
	var sbomDigest string
	for _, e := range index.Manifests {
		if e.ArtifactType == "application/spdx+json" {
			sbomDigest = e.Digest.Encoded()
		} else if e.Digest.String() != v2 || e.Platform == nil || e.Platform.Architecture == "" {
			t.Errorf("index.json entry %+v: want the pushed image %s with its platform", e, v2)
		}
	}
	for _, tag := range []string{"v2", "latest"} {
		raw, err := exec.Command("skopeo", "inspect", "--raw", "oci:"+layout+":"+tag).Output()
		if err != nil {
			t.Errorf("skopeo inspect oci:DIR:%s: %v", tag, exitText(err))
			continue
		}
		if digestOf(raw) != v2 {
			t.Errorf("skopeo reads oci:DIR:%s as another manifest than the registry's %s", tag, v2)
		}
	}
	tags, err := exec.Command("umoci", "ls", "--layout", layout).Output()
	if listed := strings.Fields(string(tags)); err != nil || !slices.Equal(slices.Sorted(slices.Values(listed)), []string{"latest", "v2"}) {
		t.Errorf("umoci ls: %q, %v; want v2 and latest", tags, exitText(err))
	}
	var d struct {
		Referrers []struct{ ArtifactType string } `json:"referrers"`
	}
	must(t, json.Unmarshal([]byte(orasRun(t, "discover", "--format", "json", "--oci-layout", layout+":v2")), &d))
	if len(d.Referrers) != 1 || d.Referrers[0].ArtifactType != "application/spdx+json" {
		t.Errorf("oras discover --oci-layout DIR:v2: %+v, want the SBOM", d.Referrers)
	}
	if sbomDigest == "" {
		t.Fatalf("index.json %s names no SBOM", b)
	}
	var sbomManifest ocispec.Manifest
	mb, err := os.ReadFile(filepath.Join(layout, "blobs", "sha256", sbomDigest))
	must(t, err)
	must(t, json.Unmarshal(mb, &sbomManifest))
	inLayout, err := os.ReadFile(filepath.Join(layout, "blobs", "sha256", sbomManifest.Layers[0].Digest.Encoded()))
	must(t, err)
	sameSets(t, "Go modules and purls, the layout's SBOM and syft's (the layout)", goModules(checkSPDX(t, "the layout's SBOM", inLayout)), syftGoModules(t, "oci-dir:"+layout))

	docker(t, nil, "rmi", ref+":v2", ref+":latest")
	loaded := docker(t, nil, "load", "-i", archive)
	for _, tag := range []string{"v2", "latest"} {
		if out, err := dockerErr(nil, "image", "inspect", "--format", "{{.ID}}", ref+":"+tag); err != nil {
			t.Errorf("docker load said %q; %s:%s is not there: %s", loaded, ref, tag, out)
		}
	}
}

// digestOf is the digest of a manifest's bytes.
func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// exitText is an exec error with the stderr it carries.
func exitText(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.Error() + ": " + string(ee.Stderr)
	}
	if err == nil {
		return ""
	}
	return err.Error()
}
