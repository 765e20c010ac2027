package integration

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cosignRun runs cosign against the test registry (plain HTTP, its
// credentials in a docker config of the test's own), in dir, and returns
// its stdout and whether it succeeded.
func cosignRun(t *testing.T, dir string, extraEnv []string, args ...string) (string, bool) {
	t.Helper()
	if env.cosign == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("SCRATCHPUSH_TEST_COSIGN is not set: scripts/dev-env installs cosign")
		}
		t.Skip("no cosign: run scripts/dev-env")
	}
	config := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(env.username + ":" + env.password))
	must(t, os.WriteFile(filepath.Join(config, "config.json"), []byte(`{"auths":{"`+env.registry+`":{"auth":"`+auth+`"}}}`), 0o600))
	cmd := exec.Command(env.cosign, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "DOCKER_CONFIG="+config, "HOME="+t.TempDir(), "COSIGN_YES=true"), extraEnv...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Logf("cosign %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), err == nil
}

// cosignKeyPair has cosign make a key pair in a folder of the test's own,
// under password: cosign.key and cosign.pub.
func cosignKeyPair(t *testing.T, password string) string {
	t.Helper()
	dir := t.TempDir()
	if _, ok := cosignRun(t, dir, []string{"COSIGN_PASSWORD=" + password}, "generate-key-pair"); !ok {
		t.Fatal("cosign generate-key-pair failed")
	}
	return dir
}

// verifyFlags are what cosign needs for the test registry and an offline
// key: no transparency log, plain HTTP.
var verifyFlags = []string{"--key", "cosign.pub", "--insecure-ignore-tlog", "--allow-insecure-registry", "--allow-http-registry"}

// A push signed with a cosign key: cosign verify, with its default
// settings but for the offline flags, accepts the signature; cosign
// verify-attestation the SLSA v1 provenance, which names the revision the
// CI variables give, and the SPDX document; another key is refused. An
// index and each platform's manifest are signed too.
func TestSignedPush(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	keys := cosignKeyPair(t, "pw-for-the-key")
	other := cosignKeyPair(t, "other")
	revision := strings.Repeat("c", 40)
	ci := []string{"COSIGN_PASSWORD=pw-for-the-key", "GITHUB_SERVER_URL=https://github.com", "GITHUB_REPOSITORY=team/signed", "GITHUB_SHA=" + revision}

	dir, _ := seedFolder(t, "signed")
	repo := uniqueRepo(t, "signed")
	ref := env.registry + "/" + repo
	removeImages(t, ref+":v1")
	metadata := filepath.Join(t.TempDir(), "metadata.json")
	res := scratchPush(t, env.password, ci, append(pushArgs(repo, "v1"), "--cmd", "./app", "--env", "TOKEN=not-in-the-provenance", "--sign-key", filepath.Join(keys, "cosign.key"), "--metadata-file", metadata, dir)...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	_, digest := registryClient{t}.manifest(repo, "v1")
	pinned := ref + "@" + digest

	// The metadata file lists the signature and both attestations.
	var md struct {
		Signatures, Attestations []struct{ Subject, Digest, ArtifactType string }
	}
	b, err := os.ReadFile(metadata)
	must(t, err)
	must(t, json.Unmarshal(b, &md))
	types := map[string]bool{}
	for _, a := range md.Attestations {
		types[a.ArtifactType] = a.Subject == digest
	}
	if len(md.Signatures) != 1 || md.Signatures[0].Subject != digest || !types["https://slsa.dev/provenance/v1"] || !types["https://spdx.dev/Document"] {
		t.Errorf("metadata lists signatures %+v, attestations %+v", md.Signatures, md.Attestations)
	}

	if out, ok := cosignRun(t, keys, nil, append(append([]string{"verify"}, verifyFlags...), pinned)...); !ok || !strings.Contains(out, digest) {
		t.Errorf("cosign verify: %v, %s", ok, out)
	}
	if _, ok := cosignRun(t, other, nil, append(append([]string{"verify"}, verifyFlags...), pinned)...); ok {
		t.Error("cosign verify accepted another key")
	}
	out, ok := cosignRun(t, keys, nil, append(append([]string{"verify-attestation", "--type", "slsaprovenance1"}, verifyFlags...), pinned)...)
	if !ok {
		t.Fatal("cosign verify-attestation --type slsaprovenance1 refused the provenance")
	}
	statement := attestedStatement(t, out)
	if !strings.Contains(statement, `"gitCommit":"`+revision+`"`) || !strings.Contains(statement, `"TOKEN"`) || strings.Contains(statement, "not-in-the-provenance") {
		t.Errorf("the provenance does not name the revision, or shows the environment's value: %s", statement)
	}
	if _, ok := cosignRun(t, keys, nil, append(append([]string{"verify-attestation", "--type", "spdxjson"}, verifyFlags...), pinned)...); !ok {
		t.Error("cosign verify-attestation --type spdxjson refused the SBOM")
	}

	// An index: it and each platform's manifest are signed.
	amd := platformFolder(t, "amd64", "signed amd64")
	arm := platformFolder(t, "arm64", "signed arm64")
	ires := scratchPush(t, env.password, ci, append(pushArgs(repo, "multi"), "--cmd", "./app", "--sign-key", filepath.Join(keys, "cosign.key"),
		"--platform", "linux/amd64="+amd, "--platform", "linux/arm64="+arm)...)
	if ires.code != 0 {
		t.Fatalf("index: exit %d: %s", ires.code, ires.stderr)
	}
	body, index := registryClient{t}.manifestBytes(repo, "multi")
	var ix struct{ Manifests []struct{ Digest string } }
	must(t, json.Unmarshal(body, &ix))
	for _, d := range append([]string{index}, ix.Manifests[0].Digest, ix.Manifests[1].Digest) {
		if _, ok := cosignRun(t, keys, nil, append(append([]string{"verify"}, verifyFlags...), ref+"@"+d)...); !ok {
			t.Errorf("cosign verify of %s (index %s) failed", d, index)
		}
		for _, kind := range []string{"slsaprovenance1", "spdxjson"} {
			if _, ok := cosignRun(t, keys, nil, append(append([]string{"verify-attestation", "--type", kind}, verifyFlags...), ref+"@"+d)...); !ok {
				t.Errorf("cosign verify-attestation --type %s of %s (index %s) failed", kind, d, index)
			}
		}
	}
}

// attestedStatement is the in-toto statement in cosign
// verify-attestation's output (a DSSE envelope per line).
func attestedStatement(t *testing.T, out string) string {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var env struct{ Payload string }
		if json.Unmarshal([]byte(line), &env) != nil {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(env.Payload)
		if err == nil {
			return string(b)
		}
	}
	t.Fatalf("no envelope in %q", out)
	return ""
}

// A registry that refuses the signature after taking the image: the run
// fails (exit 1), having printed the pushed reference, and says so and
// what to do; the password never shows.
func TestSignatureRefused(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	keys := cosignKeyPair(t, "pw-refused")
	dir, _ := seedFolder(t, "signature refused")
	p := newFaultProxy(t)
	p.failNext(100, http.StatusForbidden, nil, func(r *http.Request) bool {
		return manifestPut(r) && strings.HasSuffix(r.URL.Path, ".sig")
	})
	repo := uniqueRepo(t, "sigrefused")
	removeImages(t, p.addr+"/"+repo+":v1")
	res := scratchPush(t, env.password, []string{"COSIGN_PASSWORD=pw-refused"}, "--registry", p.addr, "--repository", repo, "--username", env.username, "--password-stdin",
		"--tag", "v1", "--cmd", "./app", "--retries", "0", "--sign-key", filepath.Join(keys, "cosign.key"), dir)
	if res.code != 1 {
		t.Errorf("exit %d, want 1", res.code)
	}
	_, digest := registryClient{t}.manifest(repo, "v1")
	if !strings.Contains(res.stdout, repo+":v1@"+digest) {
		t.Errorf("stdout %q, want the pushed reference", res.stdout)
	}
	if !strings.Contains(res.stderr, "--sign-key: the image is pushed, but its signatures and attestations could not be put beside it") || !strings.Contains(res.stderr, "cosign sign --key") {
		t.Errorf("stderr does not say what happened and what to do: %s", res.stderr)
	}
	if strings.Contains(res.stderr, "pw-refused") || strings.Contains(res.stderr, env.password) {
		t.Error("a password shows in the output")
	}
}

// --output oci-layout with a key: the layout holds the signature and the
// attestations as cosign save keeps them, and cosign verify
// --local-image accepts them with the public key, another key not.
func TestSignedLayout(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	keys := cosignKeyPair(t, "pw-layout")
	other := cosignKeyPair(t, "other-layout")
	dir, _ := seedFolder(t, "signed layout")
	repo := uniqueRepo(t, "signedlayout")
	ref := env.registry + "/" + repo
	removeImages(t, ref+":v1")
	layout := filepath.Join(t.TempDir(), "layout")
	res := scratchPush(t, env.password, []string{"COSIGN_PASSWORD=pw-layout"}, append(pushArgs(repo, "v1"), "--cmd", "./app", "--sign-key", filepath.Join(keys, "cosign.key"), "--output", "oci-layout:"+layout, dir)...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	local := []string{"--key", "cosign.pub", "--insecure-ignore-tlog", "--local-image", layout}
	if _, ok := cosignRun(t, keys, nil, append([]string{"verify"}, local...)...); !ok {
		t.Error("cosign verify --local-image refused the layout's signature")
	}
	for _, kind := range []string{"slsaprovenance1", "spdxjson"} {
		if _, ok := cosignRun(t, keys, nil, append([]string{"verify-attestation", "--type", kind}, local...)...); !ok {
			t.Errorf("cosign verify-attestation --type %s --local-image refused the layout's attestation", kind)
		}
	}
	if _, ok := cosignRun(t, other, nil, append([]string{"verify"}, local...)...); ok {
		t.Error("cosign verify --local-image accepted another key")
	}
	// skopeo still finds the image by its tag: the one pushed.
	_, pushed := registryClient{t}.manifest(repo, "v1")
	if raw, err := exec.Command("skopeo", "inspect", "--raw", "oci:"+layout+":v1").Output(); err != nil || digestOf(raw) != pushed {
		t.Errorf("skopeo inspect oci:DIR:v1: %v; want the pushed %s", exitText(err), pushed)
	}
}
