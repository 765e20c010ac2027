package source

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestCleanURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://github.com/team/app.git":              "https://github.com/team/app",
		"https://user:s3cret@gitlab.example/team/app":  "https://gitlab.example/team/app",
		"https://oauth2:glpat-xyz@gitlab.com/a/b.git/": "https://gitlab.com/a/b",
		"git@github.com:team/app.git":                  "https://github.com/team/app",
		"ssh://git@git.example:2222/team/app.git":      "https://git.example/team/app",
		"http://127.0.0.1:8080/app?token=abc#x":        "http://127.0.0.1:8080/app",
		"/srv/git/app.git":                             "",
		"file:///srv/git/app.git":                      "",
		"":                                             "",
	} {
		if got := CleanURL(in); got != want {
			t.Errorf("CleanURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDetect(t *testing.T) {
	vars := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	sha := "0123456789abcdef0123456789abcdef01234567"
	for _, c := range []struct {
		name string
		env  map[string]string
		want Info
	}{
		{"GitHub", map[string]string{"GITHUB_REPOSITORY": "team/app", "GITHUB_SHA": sha, "GITHUB_SERVER_URL": "https://github.com"}, Info{URL: "https://github.com/team/app", Revision: sha, From: "GITHUB_* variables"}},
		{"GitLab", map[string]string{"CI_PROJECT_URL": "https://gitlab.com/team/app", "CI_COMMIT_SHA": sha}, Info{URL: "https://gitlab.com/team/app", Revision: sha, From: "GitLab's CI_* variables"}},
		{"wercker", map[string]string{"WERCKER_GIT_DOMAIN": "github.com", "WERCKER_GIT_OWNER": "team", "WERCKER_GIT_REPOSITORY": "app", "WERCKER_GIT_COMMIT": sha}, Info{URL: "https://github.com/team/app", Revision: sha, From: "WERCKER_GIT_* variables"}},
	} {
		if got := Detect(context.Background(), t.TempDir(), vars(c.env)); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
	if got := Detect(context.Background(), t.TempDir(), nil); got != (Info{}) {
		t.Errorf("no CI, no checkout: %+v", got)
	}

	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	repo := t.TempDir()
	git := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	git("init", "-q")
	if err := os.WriteFile(filepath.Join(repo, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", "f")
	git("commit", "-q", "-m", "x")
	git("remote", "add", "origin", "https://bot:tok3n@git.example/team/app.git")
	out := filepath.Join(repo, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	got := Detect(context.Background(), out, nil)
	if got.URL != "https://git.example/team/app" || len(got.Revision) != 40 || got.LocalOrigin != "" {
		t.Errorf("checkout: %+v", got)
	}
	// A clone of a clone: its origin is a path, no URL, and is said so.
	git("remote", "set-url", "origin", "/work/main")
	if got := Detect(context.Background(), out, nil); got.URL != "" || got.LocalOrigin != "/work/main" {
		t.Errorf("checkout whose origin is a path: %+v", got)
	}
}
