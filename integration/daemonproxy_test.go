package integration

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// daemonProxy is a fake: a byte-level proxy on a unix socket in front of the
// real daemon, for faults a real daemon will not produce on demand — the
// connection dropping in the middle of a build or a push, as when a daemon
// dies or restarts. It can also record what clients send, so that a test can
// look inside the build context that reached the daemon.
type daemonProxy struct {
	sock string
	// cutBuildAfter drops the connection once this many bytes of a /build
	// or /images/load request (the image made here) have gone through; 0
	// never.
	cutBuildAfter int
	// cutPushAfter drops the connection this long after a /push request
	// starts; 0 never.
	cutPushAfter time.Duration
	record       bool

	mu         sync.Mutex
	recordings []*bytes.Buffer
	cuts       int
}

func newDaemonProxy(t *testing.T, configure func(*daemonProxy)) *daemonProxy {
	t.Helper()
	upstream := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		upstream = strings.TrimPrefix(h, "unix://")
	} else if h != "" {
		t.Skipf("the daemon proxy speaks to a unix socket; DOCKER_HOST is %s", h)
	}
	dir, err := os.MkdirTemp("", "dp") // unix socket paths must be short
	if err != nil {
		t.Fatal(err)
	}
	p := &daemonProxy{sock: filepath.Join(dir, "docker.sock")}
	configure(p)
	ln, err := net.Listen("unix", p.sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ln.Close()
		os.RemoveAll(dir)
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("unix", upstream)
			if err != nil {
				c.Close()
				continue
			}
			go p.serve(c, u)
		}
	}()
	return p
}

// host is the DOCKER_HOST setting that goes through the proxy.
func (p *daemonProxy) host() string { return "DOCKER_HOST=unix://" + p.sock }

func (p *daemonProxy) serve(c, u net.Conn) {
	var once sync.Once
	cut := func(counted bool) {
		once.Do(func() {
			if counted {
				p.mu.Lock()
				p.cuts++
				p.mu.Unlock()
			}
			c.Close()
			u.Close()
		})
	}
	defer cut(false)
	var rec *bytes.Buffer
	if p.record {
		rec = &bytes.Buffer{}
		p.mu.Lock()
		p.recordings = append(p.recordings, rec)
		p.mu.Unlock()
	}
	go func() {
		io.Copy(c, u)
		cut(false)
	}()
	buf := make([]byte, 64<<10)
	var seen []byte // the bytes since the last read's tail, to spot request lines
	buildBytes := -1
	for {
		n, err := c.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if rec != nil {
				p.mu.Lock()
				rec.Write(chunk)
				p.mu.Unlock()
			}
			seen = append(seen, chunk...)
			if buildBytes < 0 && p.cutBuildAfter > 0 && (bytes.Contains(seen, []byte("/build?")) || bytes.Contains(seen, []byte("/images/load"))) {
				buildBytes = 0
			}
			if buildBytes >= 0 {
				buildBytes += n
				if buildBytes > p.cutBuildAfter {
					cut(true)
					return
				}
			}
			if p.cutPushAfter > 0 && bytes.Contains(seen, []byte("/push?")) {
				seen = nil
				time.AfterFunc(p.cutPushAfter, func() { cut(true) })
			}
			if len(seen) > 64 { // keep enough to find a marker split across reads
				seen = append(seen[:0], seen[len(seen)-64:]...)
			}
			if _, err := u.Write(chunk); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

var requestLine = regexp.MustCompile(`(GET|HEAD|POST|PUT|DELETE) /v1\.\d+/`)

// buildRequests returns every build request the clients sent: its headers
// and the build context, up to the next request on the same connection.
func (p *daemonProxy) buildRequests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, r := range p.recordings {
		s := r.String()
		for {
			i := strings.Index(s, "/build?")
			if i < 0 {
				break
			}
			s = s[i:]
			end := len(s)
			if loc := requestLine.FindStringIndex(s); loc != nil {
				end = loc[0]
			}
			out = append(out, s[:end])
			s = s[end:]
		}
	}
	return out
}

// requests counts the requests the clients sent whose request line holds
// part ("/push?", "/images/load").
func (p *daemonProxy) requests(part string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.recordings {
		s := r.String()
		for _, m := range requestLine.FindAllStringIndex(s, -1) {
			if line, _, _ := strings.Cut(s[m[0]:], "\r\n"); strings.Contains(line, part) {
				n++
			}
		}
	}
	return n
}

func (p *daemonProxy) cutCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}
