package integration

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
)

// A direct push through a registry that answers 503 to blob uploads a few
// times: the registry client retries them (the proxy counts the faults it
// injected) and the push completes.
func TestPushDirectRecovers(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir, _ := seedFolder(t, "recovered from here")
	p := newFaultProxy(t)
	p.failNext(2, http.StatusServiceUnavailable, nil, blobUpload)
	repo := uniqueRepo(t, "direct-recover")
	removeImages(t, p.addr+"/"+repo+":v1")
	res := scratchPush(t, env.password, nil, "--push", "direct", "--registry", p.addr, "--repository", repo, "--username", env.username, "--password-stdin", "--tag", "v1", "--cmd", "./app", dir)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	if n := p.failed.Load(); n != 2 {
		t.Errorf("%d faults injected, want 2: the uploads did not go through the proxy", n)
	}
	pushedDigest(t, res, repo, "v1")
}

// A direct push whose blob upload stalls: --timeout ends it, and SIGTERM
// does; either way the daemon is left as it was found and nothing is
// tagged in the registry.
func TestPushDirectStalls(t *testing.T) {
	requireEnv(t)
	dir, _ := seedFolder(t, "stalled from here")
	for _, how := range []string{"timeout", "signal"} {
		t.Run(how, func(t *testing.T) {
			p := newFaultProxy(t)
			p.stallOn(blobUpload)
			repo := uniqueRepo(t, "direct-stall")
			ref := p.addr + "/" + repo + ":v1"
			before := daemonState(t)
			args := []string{"--push", "direct", "--registry", p.addr, "--repository", repo, "--username", env.username, "--password-stdin", "--tag", "v1", "--cmd", "./app", dir}
			if how == "timeout" {
				res := scratchPush(t, env.password, nil, append([]string{"--timeout", "6s"}, args...)...)
				if res.code != 1 || !strings.Contains(res.stderr, "--timeout of 6s reached") {
					t.Errorf("exit %d, stderr:\n%s", res.code, res.stderr)
				}
			} else {
				r := startScratchPush(t, env.password, nil, args...)
				p.waitStalled(t, hangBound)
				r.cmd.Process.Signal(syscall.SIGTERM)
				if code := r.wait(t, hangBound); code != 143 {
					t.Errorf("exit %d, want 143", code)
				}
			}
			checkLeftAsFound(t, before, repo, ref)
		})
	}
}
