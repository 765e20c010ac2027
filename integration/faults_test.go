package integration

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// hangBound tells a run that ended from one that hung until the helpers'
// three-minute limit: far above any run's time on a loaded machine, far
// below that limit.
const hangBound = 90 * time.Second

func TestNoDaemon(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir, _ := seedFolder(t, "no daemon")
	for _, host := range []string{"unix://" + filepath.Join(t.TempDir(), "none.sock"), "tcp://" + closedPort(t)} {
		res := scratchPush(t, "", []string{"DOCKER_HOST=" + host}, "--no-push", "--cmd", "./app", dir)
		if res.code != 1 || !strings.Contains(res.stderr, "no Docker daemon answers at "+host) {
			t.Errorf("%s: exit %d, stderr %q", host, res.code, res.stderr)
		}
		// Said at once, from the refused connection, not after the ping's
		// time-out, which would say so.
		if strings.Contains(res.stderr, "no answer within") {
			t.Errorf("%s: waited for the ping's time-out: %q", host, res.stderr)
		}
	}
}

func TestRegistryDown(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir, _ := seedFolder(t, "registry down")
	addr := closedPort(t)
	res := scratchPush(t, env.password, nil, "--registry", addr, "--repository", "it/down", "--username", env.username, "--password-stdin", "--retries", "2", "--cmd", "./app", dir)
	if res.code != 1 || res.stdout != "" {
		t.Errorf("exit %d, stdout %q", res.code, res.stdout)
	}
	if !strings.Contains(res.stderr, "connection refused") || strings.Count(res.stderr, "retrying in") != 2 {
		t.Errorf("want two retries then a refused connection named:\n%s", res.stderr)
	}
}

// A registry that answers 500 (with the Distribution registry's UNKNOWN
// error), 503 or 429 a few times and then recovers: the push gets
// through, retried with backoff.
func TestRegistryRecovers(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	cases := []struct {
		name   string
		status int
		times  int
		match  func(*http.Request) bool
	}{
		{"500 on everything", http.StatusInternalServerError, 3, nil},
		{"503 on everything", http.StatusServiceUnavailable, 3, nil},
		{"429 with Retry-After", http.StatusTooManyRequests, 2, nil},
		{"503 on the manifest", http.StatusServiceUnavailable, 2, manifestPut},
		// Docker 29 relays this one as "unknown: unknown error", no status.
		{"500 on the manifest", http.StatusInternalServerError, 2, manifestPut},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// A folder of its own: the same folder would give every case
			// the same image, which one case's cleanup could remove while
			// another tags it.
			dir, _ := seedFolder(t, "recovered: "+c.name)
			p := newFaultProxy(t)
			p.failNext(c.times, c.status, retryAfter(1), c.match)
			repo := uniqueRepo(t, "recover")
			removeImages(t, p.addr+"/"+repo+":v1")
			res := scratchPush(t, env.password, nil, "--registry", p.addr, "--repository", repo, "--username", env.username, "--password-stdin", "--tag", "v1", "--cmd", "./app", dir)
			if res.code != 0 {
				t.Fatalf("exit %d: %s", res.code, res.stderr)
			}
			// Podman's push waits out a 429 itself, as Retry-After asks,
			// so no retry of scratch-push's is needed there.
			retried := strings.Contains(res.stderr, "retrying in") || onPodman() && c.status == http.StatusTooManyRequests
			if p.failed.Load() != int64(c.times) || !retried {
				t.Errorf("%d faults injected; stderr:\n%s", p.failed.Load(), res.stderr)
			}
			pushedDigest(t, res, repo, "v1")
		})
	}
}

// The test registry named as localhost:PORT: Docker takes any loopback
// registry as plain HTTP; Podman only one its registries.conf lists, and
// scripts/dev-env lists 127.0.0.1, not localhost. There the run fails with
// advice on registries.conf and leaves nothing behind.
func TestRegistryNotListedAsPlainHTTP(t *testing.T) {
	requireEnv(t)
	dir, _ := seedFolder(t, "plain http")
	_, port, _ := strings.Cut(env.registry, ":")
	host := "localhost:" + port
	repo := uniqueRepo(t, "plainhttp")
	removeImages(t, host+"/"+repo+":v1")
	before := daemonState(t)
	res := scratchPush(t, env.password, nil, "--registry", host, "--repository", repo, "--username", env.username, "--password-stdin", "--tag", "v1", "--cmd", "./app", dir)
	if !onPodman() {
		if res.code != 0 {
			t.Fatalf("exit %d: %s", res.code, res.stderr)
		}
		pushedDigest(t, res, repo, "v1")
		return
	}
	advice := fmt.Sprintf("mark it insecure in registries.conf ([[registry]] location = %q, insecure = true)", host)
	if res.code != 1 || res.stdout != "" || !strings.Contains(res.stderr, advice) {
		t.Errorf("exit %d, stdout %q; want 1 and the advice %q:\n%s", res.code, res.stdout, advice, res.stderr)
	}
	checkLeftAsFound(t, before, repo, host+"/"+repo+":v1")
}

// 401, 403 and 404 are answers, not accidents: no retry, and a clear error.
func TestPermanentFailuresNotRetried(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir, _ := seedFolder(t, "permanent")
	for _, c := range []struct {
		status int
		want   string
	}{{http.StatusForbidden, "denied access"}, {http.StatusNotFound, "404"}} {
		p := newFaultProxy(t)
		p.failNext(1000, c.status, nil, manifestPut)
		repo := uniqueRepo(t, "permanent")
		removeImages(t, p.addr+"/"+repo+":v1")
		res := scratchPush(t, env.password, nil, "--registry", p.addr, "--repository", repo, "--username", env.username, "--password-stdin", "--tag", "v1", "--cmd", "./app", dir)
		if res.code != 1 || strings.Contains(res.stderr, "retrying") || !strings.Contains(strings.ToLower(res.stderr), c.want) {
			t.Errorf("%d: exit %d, stderr:\n%s", c.status, res.code, res.stderr)
		}
		if p.failed.Load() != 1 {
			t.Errorf("%d: the manifest was tried %d times, want once", c.status, p.failed.Load())
		}
		if s := (registryClient{t}).tagsStatus(repo); s != http.StatusNotFound {
			t.Errorf("%d: the repository's tags answer %d, want 404", c.status, s)
		}
	}
	// A wrong password fails before anything is built, on every engine:
	// counted at the daemon's socket, not timed.
	dp := newDaemonProxy(t, func(p *daemonProxy) { p.record = true })
	repo := uniqueRepo(t, "permanent")
	res := scratchPush(t, "not-the-password", []string{dp.host()}, append(pushArgs(repo, "v1"), "--cmd", "./app", dir)...)
	if res.code != 1 || strings.Contains(res.stderr, "retrying") || !strings.Contains(res.stderr, "registry authentication failed") {
		t.Errorf("wrong password: exit %d, stderr:\n%s", res.code, res.stderr)
	}
	if n := len(dp.buildRequests()); n != 0 {
		t.Errorf("wrong password: %d build requests reached the daemon, want none", n)
	}
	if n := dp.requests("/push?"); n != 0 {
		t.Errorf("wrong password: %d push requests reached the daemon, want none", n)
	}
	if s := (registryClient{t}).tagsStatus(repo); s != http.StatusNotFound {
		t.Errorf("wrong password: the repository's tags answer %d, want 404", s)
	}
}

// The tests below compare the daemon's images and containers before and
// after, so they do not run in parallel with the others.

func TestRegistryStallsTimeout(t *testing.T) {
	requireEnv(t)
	dir, _ := seedFolder(t, "stalled")
	p := newFaultProxy(t)
	p.stallOn(blobUpload)
	repo := uniqueRepo(t, "stall")
	ref := p.addr + "/" + repo + ":v1"
	before := daemonState(t)
	start := time.Now()
	res := scratchPush(t, env.password, nil, "--timeout", "6s", "--registry", p.addr, "--repository", repo, "--username", env.username, "--password-stdin", "--tag", "v1", "--cmd", "./app", dir)
	if res.code != 1 || !strings.Contains(res.stderr, "--timeout of 6s reached") {
		t.Errorf("exit %d, stderr:\n%s", res.code, res.stderr)
	}
	if took := time.Since(start); took > hangBound {
		t.Errorf("took %s with --timeout 6s", took)
	}
	checkLeftAsFound(t, before, repo, ref)
}

func TestSignalDuringBuild(t *testing.T) {
	requireEnv(t)
	dir := bigFolder(t, 400<<20)
	repo := uniqueRepo(t, "sigbuild")
	before := daemonState(t)
	r := startScratchPush(t, "", nil, "--no-push", "--repository", repo, "--tag", "v1", "--cmd", "./app", dir)
	r.waitLine(t, "sending", hangBound)
	time.Sleep(300 * time.Millisecond)
	r.cmd.Process.Signal(syscall.SIGINT)
	if code := r.wait(t, hangBound); code != 130 {
		t.Errorf("exit %d, want 130", code)
	}
	if !strings.Contains(r.stderr.String(), "interrupted by SIGINT") {
		t.Errorf("stderr does not say it was interrupted:\n%s", r.stderr.String())
	}
	checkLeftAsFound(t, before, "", repo+":v1")
}

func TestSignalDuringPush(t *testing.T) {
	requireEnv(t)
	dir, _ := seedFolder(t, "signalled push")
	p := newFaultProxy(t)
	p.stallOn(blobUpload)
	repo := uniqueRepo(t, "sigpush")
	before := daemonState(t)
	r := startScratchPush(t, env.password, nil, "--registry", p.addr, "--repository", repo, "--username", env.username, "--password-stdin", "--tag", "v1", "--cmd", "./app", dir)
	p.waitStalled(t, hangBound)
	r.cmd.Process.Signal(syscall.SIGTERM)
	if code := r.wait(t, hangBound); code != 143 {
		t.Errorf("exit %d, want 143", code)
	}
	checkLeftAsFound(t, before, repo, p.addr+"/"+repo+":v1")
}

func TestDaemonGoesAwayMidBuild(t *testing.T) {
	requireEnv(t)
	dir := bigFolder(t, 64<<20)
	dp := newDaemonProxy(t, func(p *daemonProxy) { p.cutBuildAfter = 8 << 20 })
	repo := uniqueRepo(t, "cutbuild")
	before := daemonState(t)
	start := time.Now()
	res := scratchPush(t, "", []string{dp.host()}, "--no-push", "--repository", repo, "--tag", "v1", "--cmd", "./app", dir)
	if res.code != 1 || dp.cutCount() == 0 {
		t.Errorf("exit %d after %d cuts, stderr:\n%s", res.code, dp.cutCount(), res.stderr)
	}
	if took := time.Since(start); took > hangBound {
		t.Errorf("took %s", took)
	}
	checkLeftAsFound(t, before, "", repo+":v1")
}

func TestDaemonGoesAwayMidPush(t *testing.T) {
	requireEnv(t)
	dir, _ := seedFolder(t, "cut push")
	p := newFaultProxy(t)
	p.stallOn(blobUpload)
	dp := newDaemonProxy(t, func(d *daemonProxy) { d.cutPushAfter = 500 * time.Millisecond })
	repo := uniqueRepo(t, "cutpush")
	before := daemonState(t)
	start := time.Now()
	res := scratchPush(t, env.password, []string{dp.host()}, "--retries", "0", "--registry", p.addr, "--repository", repo, "--username", env.username, "--password-stdin", "--tag", "v1", "--cmd", "./app", dir)
	if res.code != 1 || dp.cutCount() == 0 || !strings.Contains(res.stderr, "reading the daemon's response") {
		t.Errorf("exit %d after %d cuts, stderr:\n%s", res.code, dp.cutCount(), res.stderr)
	}
	if took := time.Since(start); took > hangBound {
		t.Errorf("took %s", took)
	}
	checkLeftAsFound(t, before, repo, p.addr+"/"+repo+":v1")
}

// checkLeftAsFound asserts what a failed run must leave: the daemon's images
// and containers as before, the tag not set locally, and (when repo is
// given) nothing in the registry.
func checkLeftAsFound(t *testing.T, before, repo, localRef string) {
	t.Helper()
	var after string
	// The daemon finishes cancelling in its own time, slower on a loaded
	// machine: wait for it up to half a minute.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		if after = daemonState(t); after == before || time.Now().After(deadline) {
			break
		}
	}
	if after != before {
		t.Errorf("the daemon's images or containers changed:\nbefore %s\nafter  %s", before, after)
	}
	if _, err := dockerErr(nil, "image", "inspect", localRef); err == nil {
		t.Errorf("%s is tagged locally after a failed run", localRef)
		removeImages(t, localRef)
	}
	if repo != "" {
		if s := (registryClient{t}).tagsStatus(repo); s != http.StatusNotFound {
			t.Errorf("the registry answers %d for %s's tags, want 404: something was pushed", s, repo)
		}
	}
}
