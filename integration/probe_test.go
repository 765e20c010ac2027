package integration

import (
	"net"
	"testing"
	"time"
)

func TestProbeFaults(t *testing.T) {
	requireEnv(t)
	dir, _ := seedFolder(t, "probe")
	for _, st := range []int{503, 429} {
		p := newFaultProxy(t)
		p.failNext(3, st, retryAfter(1))
		repo := uniqueRepo(t, "probe")
		start := time.Now()
		res := scratchPush(t, env.password, nil, "--registry", p.addr, "--repository", repo, "--username", env.username, "--password-stdin", "--cmd", "./app", dir)
		t.Logf("status %d: exit %d requests %d failed %d in %s", st, res.code, p.requests.Load(), p.failed.Load(), time.Since(start))
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	res := scratchPush(t, env.password, nil, "--registry", addr, "--repository", "x/y", "--username", env.username, "--password-stdin", "--cmd", "./app", dir)
	t.Logf("refused: exit %d in %s", res.code, time.Since(start))
	p := newFaultProxy(t)
	p.setStall(true)
	start = time.Now()
	res = scratchPush(t, env.password, nil, "--timeout", "20s", "--registry", p.addr, "--repository", "x/y", "--username", env.username, "--password-stdin", "--cmd", "./app", dir)
	t.Logf("stall: exit %d in %s", res.code, time.Since(start))
	start = time.Now()
	res = scratchPush(t, "wrongpass", nil, "--registry", env.registry, "--repository", "x/y", "--username", env.username, "--password-stdin", "--cmd", "./app", dir)
	t.Logf("wrong: exit %d in %s", res.code, time.Since(start))
}
