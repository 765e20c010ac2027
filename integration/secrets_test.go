package integration

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/scratchpush/scratchpush/auth"
)

// Every failure path, and a success, with the password given every way the
// tool takes it: the password (and the auth header made of it) must appear
// nowhere in stdout, stderr, the build context that reached the daemon, or
// the image's config, history and labels.
func TestSecretsNeverShow(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	const wrong = "Wr0ng-but-D1stinctive-s3cret"
	secrets := []string{env.password, wrong}
	for _, c := range []auth.Credentials{{Username: env.username, Password: env.password}, {Username: env.username, Password: wrong}} {
		h, err := auth.Header(c, env.registry)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, h)
	}
	dp := newDaemonProxy(t, func(p *daemonProxy) { p.record = true })
	dir, _ := seedFolder(t, "secrets")
	repo := uniqueRepo(t, "secrets")
	ref := env.registry + "/" + repo + ":ok"
	removeImages(t, ref)
	viaProxy := []string{dp.host()}
	envCreds := func(pw string) []string {
		return append([]string{"SCRATCH_PUSH_USERNAME=" + env.username, "SCRATCH_PUSH_PASSWORD=" + pw}, viaProxy...)
	}
	base := append([]string{"--registry", env.registry, "--repository", repo, "--cmd", "./app", "--label", "built-by=secrets-test", "--env", "MODE=test"}, buildEndpoint()...)
	var outputs []string
	check := func(name string, res result) {
		outputs = append(outputs, name+"\n"+res.stdout+res.stderr)
	}

	check("wrong password on stdin", scratchPush(t, wrong, viaProxy, append(base, "--username", env.username, "--password-stdin", dir)...))
	check("wrong password in the environment", scratchPush(t, "", envCreds(wrong), append(base, dir)...))
	check("wrong password as a flag", scratchPush(t, "", viaProxy, append(base, "--username", env.username, "--password", wrong, dir)...))
	check("registry down", scratchPush(t, "", envCreds(env.password), "--retries", "1", "--registry", closedPort(t), "--repository", repo, "--cmd", "./app", dir))
	check("daemon down", scratchPush(t, "", []string{"SCRATCH_PUSH_USERNAME=" + env.username, "SCRATCH_PUSH_PASSWORD=" + env.password, "DOCKER_HOST=unix://" + filepath.Join(t.TempDir(), "none.sock")}, append(base, dir)...))
	check("bad input with a flag password", scratchPush(t, "", viaProxy, append(base, "--username", env.username, "--password", env.password, "--ports", "nope", dir)...))
	check("bad input with stdin", scratchPush(t, env.password, viaProxy, append(base, "--username", env.username, "--password-stdin", "--env", "BROKEN", dir)...))

	p := newFaultProxy(t)
	p.stallOn(blobUpload)
	r := startScratchPush(t, env.password, viaProxy, append([]string{"--registry", p.addr, "--repository", repo, "--username", env.username, "--password-stdin", "--cmd", "./app", dir}, buildEndpoint()...)...)
	p.waitStalled(t, hangBound)
	r.cmd.Process.Signal(syscall.SIGTERM)
	if code := r.wait(t, hangBound); code != 143 {
		t.Errorf("cancelled push: exit %d, want 143", code)
	}
	outputs = append(outputs, "cancelled push\n"+r.stdout.String()+r.stderr.String())

	ok := scratchPush(t, env.password, viaProxy, append(append(base, "--tag", "ok"), "--username", env.username, "--password-stdin", dir)...)
	if ok.code != 0 {
		t.Fatalf("the successful push failed: %s", ok.stderr)
	}
	check("success", ok)

	builds := dp.buildRequests()
	if len(builds) < 2 {
		t.Fatalf("recorded %d build requests, want the builds of every run that got that far", len(builds))
	}
	for i, b := range builds {
		if !strings.Contains(b, "rootfs/cities-service.json") {
			t.Errorf("build request #%d holds no build context: the recording is broken", i)
		}
		outputs = append(outputs, "build context sent to the daemon #"+string(rune('0'+i))+"\n"+b)
	}
	outputs = append(outputs,
		"image config\n"+docker(t, nil, "image", "inspect", ref),
		"image history\n"+docker(t, nil, "history", "--no-trunc", ref),
	)
	m, _ := registryClient{t}.manifest(repo, "ok")
	outputs = append(outputs, "config in the registry\n"+string(registryClient{t}.blob(repo, m.Config.Digest.String())))

	for _, out := range outputs {
		name, _, _ := strings.Cut(out, "\n")
		for i, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("secret #%d appears in: %s", i, name)
			}
		}
	}
	if !strings.Contains(strings.Join(outputs, "\n"), "prefer --password-stdin") {
		t.Error("no warning for the password given as a flag")
	}
}
