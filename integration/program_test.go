package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A program built for another architecture makes an image for it, through
// every way of making one; a --platform that disagrees is refused.
func TestForeignArchitecture(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir := t.TempDir()
	goBuild(t, filepath.Join(dir, "app"), "./testdata/app", "GOOS=linux", "GOARCH=arm64")
	repo := uniqueRepo(t, "arm64")
	for _, way := range [][]string{{"--builder", "buildkit"}, {"--builder", "classic"}, {"--reproducible"}} {
		tag := strings.TrimLeft(way[len(way)-1], "-")
		removeImages(t, repo+":"+tag)
		res := scratchPush(t, "", nil, append(way, "--no-push", "--repository", repo, "--tag", tag, "--cmd", "./app", dir)...)
		if res.code != 0 {
			t.Errorf("%s: exit %d: %s", tag, res.code, res.stderr)
			continue
		}
		if got := strings.TrimSpace(docker(t, nil, "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", repo+":"+tag)); got != "linux/arm64" {
			t.Errorf("%s: the image is for %s, want linux/arm64", tag, got)
		}
	}
	res := scratchPush(t, "", nil, "--no-push", "--platform", "linux/amd64", "--repository", repo, "--tag", "conflict", "--cmd", "./app", dir)
	if res.code != 2 || !strings.Contains(res.stderr, "--platform: linux/amd64, but /app is built for linux/arm64") {
		t.Errorf("conflicting --platform: exit %d, stderr %q", res.code, res.stderr)
	}
}

// A dynamically linked program is refused before anything is built, with
// the advice to link it statically; --allow-dynamic lets it through.
func TestDynamicProgram(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dynamic, err := exec.LookPath("true") // coreutils: dynamically linked on Debian
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	body, err := os.ReadFile(dynamic)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "app"), body, 0o755))
	repo := uniqueRepo(t, "dynamic")
	removeImages(t, repo+":allowed")
	res := scratchPush(t, "", nil, "--no-push", "--repository", repo, "--tag", "refused", "--cmd", "./app", dir)
	if res.code != 2 || !strings.Contains(res.stderr, "is dynamically linked") || !strings.Contains(res.stderr, "CGO_ENABLED=0") {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
	if _, err := dockerErr(nil, "image", "inspect", repo+":refused"); err == nil {
		t.Error("a refused program was built")
	}
	res = scratchPush(t, "", nil, "--no-push", "--allow-dynamic", "--repository", repo, "--tag", "allowed", "--cmd", "./app", dir)
	if res.code != 0 {
		t.Errorf("--allow-dynamic: exit %d: %s", res.code, res.stderr)
	}
}
