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

// A folder in a git checkout gets the OCI's source, revision, version and
// created labels, and the same as annotations of a manifest made here, with
// --annotation's beside them; the remote's user name and password appear
// nowhere. CI variables win over the checkout; --source-info none leaves
// them out. An --annotation where the daemon makes the manifest is refused.
func TestSourceLabels(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	repoDir := t.TempDir()
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-C", repoDir, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	must(t, os.WriteFile(filepath.Join(repoDir, "main.go"), []byte("package main\n"), 0o644))
	git("add", "main.go")
	git("commit", "-q", "-m", "first")
	git("remote", "add", "origin", "https://bot:s3cret-token@git.example/team/app.git")
	rev := git("rev-parse", "HEAD")
	seed, _ := seedFolder(t, "labelled")
	dir := filepath.Join(repoDir, "out")
	must(t, os.Rename(seed, dir))

	repo := uniqueRepo(t, "source")
	ref := env.registry + "/" + repo
	removeImages(t, ref+":v1.2.3", ref+":gh", ref+":none", ref+":daemon")
	reg := registryClient{t}
	epoch := []string{"SOURCE_DATE_EPOCH=1700000000"}
	res := scratchPush(t, env.password, epoch, append(pushArgs(repo, "v1.2.3"), "--push", "direct", "--annotation", "org.example.note=hi", "--cmd", "./app", dir)...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	want := map[string]string{
		ocispec.AnnotationSource:   "https://git.example/team/app",
		ocispec.AnnotationRevision: rev,
		ocispec.AnnotationVersion:  "v1.2.3",
		ocispec.AnnotationCreated:  "2023-11-14T22:13:20Z",
	}
	m, _ := reg.manifest(repo, "v1.2.3")
	labels := reg.config(repo, m).Config.Labels
	for k, v := range want {
		if labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, labels[k], v)
		}
		if m.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, m.Annotations[k], v)
		}
	}
	if m.Annotations["org.example.note"] != "hi" {
		t.Errorf("annotations %v, want org.example.note=hi", m.Annotations)
	}
	body, _ := reg.manifestBytes(repo, "v1.2.3")
	cfg, _ := json.Marshal(labels)
	if strings.Contains(res.stderr+string(body)+string(cfg), "s3cret") || strings.Contains(string(cfg), "bot@") {
		t.Error("the remote's credentials leaked into the output or the image")
	}

	gh := scratchPush(t, env.password, []string{"GITHUB_SERVER_URL=https://github.com", "GITHUB_REPOSITORY=team/from-ci", "GITHUB_SHA=" + strings.Repeat("a", 40)},
		append(pushArgs(repo, "gh"), "--cmd", "./app", dir)...)
	if gh.code != 0 {
		t.Fatalf("GitHub variables: exit %d: %s", gh.code, gh.stderr)
	}
	m, _ = reg.manifest(repo, "gh")
	labels = reg.config(repo, m).Config.Labels
	if labels[ocispec.AnnotationSource] != "https://github.com/team/from-ci" || labels[ocispec.AnnotationRevision] != strings.Repeat("a", 40) || labels[ocispec.AnnotationVersion] != "" {
		t.Errorf("labels from GitHub's variables: %v", labels)
	}

	none := scratchPush(t, env.password, nil, append(pushArgs(repo, "none"), "--source-info", "none", "--cmd", "./app", dir)...)
	if none.code != 0 {
		t.Fatalf("--source-info none: exit %d: %s", none.code, none.stderr)
	}
	m, _ = reg.manifest(repo, "none")
	for k, v := range reg.config(repo, m).Config.Labels {
		if strings.HasPrefix(k, "org.opencontainers.image.") {
			t.Errorf("--source-info none: label %s=%s", k, v)
		}
	}

	daemonMade := scratchPush(t, env.password, nil, append(pushArgs(repo, "daemon"), "--annotation", "a=b", "--cmd", "./app", dir)...)
	switch {
	case onContainerdStore() && daemonMade.code != 0:
		t.Errorf("--annotation on the containerd store: exit %d: %s", daemonMade.code, daemonMade.stderr)
	case !onContainerdStore() && (daemonMade.code != 2 || !strings.Contains(daemonMade.stderr, "--annotation: the daemon makes the manifest it pushes here and keeps no annotations: push from here with --push direct")):
		t.Errorf("--annotation where the daemon makes the manifest: exit %d: %s", daemonMade.code, daemonMade.stderr)
	}
}
