package integration

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scratchpush/scratchpush/sbom/sbomtest"
)

// orasRun runs oras, the OCI artifact client, against the test registry
// with its credentials, and returns its stdout.
func orasRun(t *testing.T, args ...string) string {
	t.Helper()
	if env.oras == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("SCRATCHPUSH_TEST_ORAS is not set: scripts/dev-env installs oras")
		}
		t.Skip("no oras: run scripts/dev-env")
	}
	cmd := exec.Command(env.oras, append(args, "--plain-http", "-u", env.username, "-p", env.password)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no credentials of the user's
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("oras %s: %v: %s", args[0], err, stderr.String())
	}
	return string(out)
}

// skopeoDigest is the digest of the manifest ref (REPOSITORY:TAG, on a
// registry on loopback) as skopeo, a client of its own, reads it.
func skopeoDigest(t *testing.T, ref string) string {
	t.Helper()
	if _, err := exec.LookPath("skopeo"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no skopeo: scripts/dev-env installs it")
		}
		t.Skip("no skopeo: run scripts/dev-env")
	}
	cmd := exec.Command("skopeo", "inspect", "--raw", "--tls-verify=false", "--creds", env.username+":"+env.password, "docker://"+ref)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("skopeo inspect %s: %v: %s", ref, err, stderr.String())
	}
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// referrers lists, with oras discover, the SPDX documents attached to
// ref (REPOSITORY@DIGEST).
func referrers(t *testing.T, ref string) []string {
	t.Helper()
	var d struct {
		Referrers []struct {
			Digest       string `json:"digest"`
			ArtifactType string `json:"artifactType"`
		} `json:"referrers"`
	}
	must(t, json.Unmarshal([]byte(orasRun(t, "discover", "--format", "json", "--artifact-type", "application/spdx+json", ref)), &d))
	var out []string
	for _, r := range d.Referrers {
		out = append(out, r.Digest)
	}
	return out
}

type spdxDoc struct {
	SPDXVersion string `json:"spdxVersion"`
	Packages    []struct {
		Name         string `json:"name"`
		VersionInfo  string `json:"versionInfo"`
		ExternalRefs []struct {
			ReferenceLocator string `json:"referenceLocator"`
		} `json:"externalRefs"`
	} `json:"packages"`
	Files []struct {
		FileName  string `json:"fileName"`
		Checksums []struct {
			Algorithm     string `json:"algorithm"`
			ChecksumValue string `json:"checksumValue"`
		} `json:"checksums"`
	} `json:"files"`
}

// pullSBOM fetches the SPDX document of the artifact ref with oras pull.
func pullSBOM(t *testing.T, ref string) spdxDoc {
	t.Helper()
	var doc spdxDoc
	must(t, json.Unmarshal(pullSBOMBytes(t, ref), &doc))
	return doc
}

// pullSBOMBytes is the SPDX document of the artifact ref, as oras pull
// writes it.
func pullSBOMBytes(t *testing.T, ref string) []byte {
	t.Helper()
	dir := t.TempDir()
	orasRun(t, "pull", "-o", dir, ref)
	b, err := os.ReadFile(filepath.Join(dir, "sbom.spdx.json"))
	must(t, err)
	return b
}

// checkSPDX fails the test for every rule of SPDX 2.3 and of the NTIA
// minimum elements the document breaks.
func checkSPDX(t *testing.T, what string, doc []byte) sbomtest.Document {
	t.Helper()
	d, errs := sbomtest.Check(doc)
	for _, err := range errs {
		t.Errorf("%s: %v", what, err)
	}
	return d
}

// syftGoModules are the Go modules syft finds in source (registry:REF,
// oci-dir:DIR, …), each name@version, the standard library among them.
func syftGoModules(t *testing.T, source string) map[string]bool {
	t.Helper()
	if env.syft == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("SCRATCHPUSH_TEST_SYFT is not set: scripts/dev-env installs syft")
		}
		t.Skip("no syft: run scripts/dev-env")
	}
	cmd := exec.Command(env.syft, "scan", source, "-o", "syft-json", "-q")
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CACHE_HOME="+home, "SYFT_CHECK_FOR_APP_UPDATE=false",
		"SYFT_REGISTRY_INSECURE_USE_HTTP=true", "SYFT_REGISTRY_AUTH_AUTHORITY="+env.registry,
		"SYFT_REGISTRY_AUTH_USERNAME="+env.username, "SYFT_REGISTRY_AUTH_PASSWORD="+env.password)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("syft scan %s: %v: %s", source, err, stderr.String())
	}
	var doc struct {
		Artifacts []struct{ Name, Version, Type, PURL string }
	}
	must(t, json.Unmarshal(out, &doc))
	found := map[string]bool{}
	for _, a := range doc.Artifacts {
		if a.Type == "go-module" {
			found[a.Name+"@"+a.Version+" "+a.PURL] = true
		}
	}
	return found
}

// goModules are the Go packages of an SBOM, each name@version and its purl,
// as syftGoModules lists them.
func goModules(d sbomtest.Document) map[string]bool {
	found := map[string]bool{}
	for _, p := range d.Packages {
		if strings.HasPrefix(p.PURL(), "pkg:golang/") {
			found[p.Name+"@"+p.VersionInfo+" "+p.PURL()] = true
		}
	}
	return found
}

// buildInfoModules are the modules a Go program's build info names, as
// goModules lists them, without purls.
func buildInfoModules(t *testing.T, program string) map[string]bool {
	t.Helper()
	bi, err := buildinfo.ReadFile(program)
	must(t, err)
	goVersion, _, _ := strings.Cut(bi.GoVersion, " ")
	found := map[string]bool{bi.Main.Path + "@" + bi.Main.Version: true, "stdlib@" + goVersion: true}
	for _, m := range bi.Deps {
		if m.Replace != nil {
			m = m.Replace
		}
		found[m.Path+"@"+m.Version] = true
	}
	return found
}

// withoutPURLs drops the purls of goModules' lines.
func withoutPURLs(mods map[string]bool) map[string]bool {
	out := map[string]bool{}
	for m := range mods {
		name, _, _ := strings.Cut(m, " ")
		out[name] = true
	}
	return out
}

// sameSets fails the test with what is in one set and not the other.
func sameSets(t *testing.T, what string, got, want map[string]bool) {
	t.Helper()
	for k := range got {
		if !want[k] {
			t.Errorf("%s: %s is ours only", what, k)
		}
	}
	for k := range want {
		if !got[k] {
			t.Errorf("%s: %s is missing from ours", what, k)
		}
	}
}

// Every push carries an SPDX SBOM as an OCI referrer, which oras finds
// through the registry (Distribution 2.8 here: the referrers tag schema):
// scratch-push's own binary, pushed as the program, is described by its
// modules with their versions, the CA bundle added is named, and every
// file has its checksum. An unchanged folder pushed again attaches the same
// document, not a second one; --sbom none attaches none.
func TestSBOM(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir, _ := seedFolder(t, "described")
	tool, err := os.ReadFile(toolPath)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "app"), tool, 0o755)) // a Go program with dependencies, never run
	repo := uniqueRepo(t, "sbom")
	ref := env.registry + "/" + repo
	removeImages(t, ref+":v1", ref+":v2")
	meta := filepath.Join(t.TempDir(), "metadata.json")
	time.Sleep(1100 * time.Millisecond) // past the second a folder must settle for its image to be reused

	res := scratchPush(t, env.password, nil, append(pushArgs(repo, "v1"), "--cmd", "./app", "--allow-dynamic", "--ca-certs", "--metadata-file", meta, dir)...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	digest := pushedDigest(t, res, repo, "v1")
	found := referrers(t, ref+"@"+digest)
	var md struct {
		SBOMs []struct{ Subject, Digest, ArtifactType string } `json:"sboms"`
	}
	b, err := os.ReadFile(meta)
	must(t, err)
	must(t, json.Unmarshal(b, &md))
	if len(found) != 1 || len(md.SBOMs) != 1 || md.SBOMs[0].Digest != found[0] || md.SBOMs[0].Subject != digest || md.SBOMs[0].ArtifactType != "application/spdx+json" {
		t.Fatalf("oras finds SBOMs %v of %s; the metadata file names %+v", found, digest, md.SBOMs)
	}
	raw := pullSBOMBytes(t, ref+"@"+found[0])
	// SPDX 2.3's rules and the NTIA minimum elements judge it, and the
	// program's own build info (here a build of this checkout, "(devel)";
	// TestWhatTheFieldReads compares a released program's with syft's).
	checked := checkSPDX(t, "the pushed SBOM", raw)
	sameSets(t, "Go modules, ours and the build info's", withoutPURLs(goModules(checked)), buildInfoModules(t, toolPath))
	var doc spdxDoc
	must(t, json.Unmarshal(raw, &doc))
	purls := map[string]string{}
	for _, p := range doc.Packages {
		for _, r := range p.ExternalRefs {
			purls[p.Name] = r.ReferenceLocator
		}
		if p.Name == "ca-certificates" {
			purls[p.Name] = "present"
		}
	}
	if doc.SPDXVersion != "SPDX-2.3" || purls["github.com/spdx/tools-golang"] != "pkg:golang/github.com/spdx/tools-golang@v0.5.7" ||
		!strings.HasPrefix(purls["stdlib"], "pkg:golang/stdlib@1.") || purls["ca-certificates"] != "present" {
		t.Errorf("SBOM %s: packages %v; want scratch-push's modules, the standard library and the CA bundle", doc.SPDXVersion, purls)
	}
	sum := sha256.Sum256(tool)
	files := map[string]string{}
	for _, f := range doc.Files {
		for _, c := range f.Checksums {
			if c.Algorithm == "SHA256" {
				files[f.FileName] = c.ChecksumValue
			}
		}
	}
	if files["./app"] != hex.EncodeToString(sum[:]) || files["./cities-service.json"] == "" || files["./etc/ssl/certs/ca-certificates.crt"] == "" {
		t.Errorf("SBOM files %v, want the app's SHA-256 %x, the JSON files and the CA bundle", files, sum)
	}

	again := scratchPush(t, env.password, nil, append(pushArgs(repo, "v2"), "--cmd", "./app", "--allow-dynamic", "--ca-certs", dir)...)
	if again.code != 0 || !strings.Contains(again.stderr, "reusing image") {
		t.Fatalf("second run: exit %d, want the image reused: %s", again.code, again.stderr)
	}
	if d := pushedDigest(t, again, repo, "v2"); d != digest {
		t.Fatalf("the reused image went up as %s, first %s", d, digest)
	}
	if found := referrers(t, ref+"@"+digest); len(found) != 1 {
		t.Errorf("after a second push of the same image: SBOMs %v, want the first one only", found)
	}

	bare, _ := seedFolder(t, "undescribed")
	removeImages(t, ref+":bare")
	none := scratchPush(t, env.password, nil, append(pushArgs(repo, "bare"), "--sbom", "none", "--cmd", "./app", bare)...)
	if none.code != 0 {
		t.Fatalf("--sbom none: exit %d: %s", none.code, none.stderr)
	}
	if found := referrers(t, ref+"@"+pushedDigest(t, none, repo, "bare")); len(found) != 0 {
		t.Errorf("--sbom none: SBOMs %v", found)
	}
}

// A registry that refuses the SBOM's manifest (a fake: the fault proxy
// answers 403 to every manifest put by digest, which is how the SBOM and
// the provenance go up): the run fails, says the image is pushed but its
// SBOM and provenance are not, and prints the tag pushed, which the
// registry holds.
func TestSBOMRefused(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir, _ := seedFolder(t, "sbom refused")
	p := newFaultProxy(t)
	p.failNext(1000, http.StatusForbidden, nil, func(r *http.Request) bool {
		return manifestPut(r) && strings.Contains(r.URL.Path, "/manifests/sha256:")
	})
	repo := uniqueRepo(t, "sbom-refused")
	removeImages(t, p.addr+"/"+repo+":v1")
	res := scratchPush(t, env.password, nil, "--registry", p.addr, "--repository", repo, "--username", env.username, "--password-stdin", "--tag", "v1", "--cmd", "./app", dir)
	if res.code != 1 || !strings.Contains(res.stderr, "the image is pushed, but its SBOM and provenance could not be attached") || !strings.Contains(res.stderr, "--sbom none --provenance none pushes without them") {
		t.Errorf("exit %d, stderr:\n%s", res.code, res.stderr)
	}
	if p.failed.Load() == 0 {
		t.Error("no manifest put by digest reached the proxy")
	}
	_, digest := registryClient{t}.manifest(repo, "v1")
	if want := p.addr + "/" + repo + ":v1@" + digest + "\n"; res.stdout != want {
		t.Errorf("stdout %q, want the pushed tag %q", res.stdout, want)
	}
}
