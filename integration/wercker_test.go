package integration

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The seed's wercker.yml runs unchanged, given the variables it names; the
// command line points it at the test registry, overriding the file's
// registry and repository.
func TestWerckerYML(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir, _ := seedFolder(t, "from wercker.yml")
	repo := uniqueRepo(t, "wercker")
	commit := randomHex(t, 8)
	removeImages(t, env.registry+"/"+repo+":"+commit)
	vars := []string{"QUAY_USERNAME=" + env.username, "QUAY_PASSWORD=" + env.password, "WERCKER_GIT_COMMIT=" + commit, "WERCKER_OUTPUT_DIR=" + dir}
	res := scratchPush(t, "", vars, "--wercker-yml", "../wercker/testdata/seed-wercker.yml", "--registry", "http://"+env.registry, "--repository", repo)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	reg := registryClient{t}
	m, digest := reg.manifest(repo, commit)
	if got, want := strings.TrimSpace(res.stdout), env.registry+"/"+repo+":"+commit+"@"+digest; got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	cfg := reg.config(repo, m)
	if !reflect.DeepEqual(cfg.Config.Cmd, []string{"./app"}) {
		t.Errorf("Cmd %q, want [./app]", cfg.Config.Cmd)
	}
	if _, ok := cfg.Config.ExposedPorts["5000/tcp"]; !ok || len(cfg.Config.ExposedPorts) != 1 {
		t.Errorf("ExposedPorts %v, want 5000/tcp", cfg.Config.ExposedPorts)
	}
	if !strings.Contains(res.stderr, "running the internal/docker-scratch-push step of pipeline deploy") {
		t.Errorf("stderr does not say which step ran:\n%s", res.stderr)
	}
	if strings.Contains(res.stderr+res.stdout, env.password) {
		t.Error("the password from the file shows in the output")
	}
}

// Keys that change nothing warn, keys that cannot apply fail before any
// work, and the command line overrides a list key whole.
func TestWerckerYMLKeys(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir, _ := seedFolder(t, "wercker keys")
	write := func(body string) string {
		p := filepath.Join(t.TempDir(), "wercker.yml")
		must(t, os.WriteFile(p, []byte("deploy:\n  steps:\n    - internal/docker-scratch-push:\n"+body), 0o644))
		return p
	}
	repo := uniqueRepo(t, "wercker-keys")
	removeImages(t, repo+":v1")

	yml := write("        cmd: ./app\n        email: me@example.com\n        colour: blue\n        ports: 80, 81\n        author: Ann\n        tag: v1\n")
	res := scratchPush(t, "", nil, "--wercker-yml", yml, "--no-push", "--repository", repo, "--ports", "5000", dir)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	for _, want := range []string{"line 5: email is ignored: registries have not used", `line 6: unknown key "colour"`} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
	cfg := inspectConfig(t, repo+":v1")
	if _, ok := cfg.ExposedPorts["5000/tcp"]; !ok || len(cfg.ExposedPorts) != 1 {
		t.Errorf("ExposedPorts %v: --ports should replace the file's 80, 81", cfg.ExposedPorts)
	}
	if cfg.Labels["org.opencontainers.image.authors"] != "Ann" {
		t.Errorf("labels %v, want the author as org.opencontainers.image.authors", cfg.Labels)
	}

	for _, c := range []struct{ body, want string }{
		{"        cmd: ./app\n        message: release\n", "line 5: message: a layer comment belongs to a container commit"},
		{"        cmd: ./app\n        aws-region: eu-west-1\n", "line 5: aws-region: registry-specific logins are not supported"},
		{"        cmd: ./app --port\n        ports: 99999\n", `line 5: ports: port "99999": want a port number`},
		{"        cmd: ./app\n        working-dir: /app\n", `line 5: working-dir: "/app": "/app" in the folder is a file or link`},
	} {
		res := scratchPush(t, "", nil, "--wercker-yml", write(c.body), "--no-push", "--repository", repo, "--tag", "bad", dir)
		if res.code != 2 || !strings.Contains(res.stderr, c.want) || strings.Count(strings.TrimSpace(res.stderr), "\n") > 0 {
			t.Errorf("exit %d, stderr %q; want exit 2 and one line with %q", res.code, res.stderr, c.want)
		}
	}
	if _, err := dockerErr(nil, "image", "inspect", repo+":bad"); err == nil {
		t.Error("a refused wercker.yml still built an image")
	}
}
