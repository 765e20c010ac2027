package integration

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// faultProxy is a fake: a fault-injecting HTTP proxy in front of the real
// registry, for the failures a real registry will not produce on demand —
// answering 5xx or 429 a few times before recovering, or accepting requests
// and never answering. Everything it does not fail it forwards unchanged.
type faultProxy struct {
	addr     string
	mu       sync.Mutex
	failLeft int
	status   int
	header   http.Header
	stall    bool
	requests atomic.Int64
	failed   atomic.Int64
	release  chan struct{}
}

func newFaultProxy(t *testing.T) *faultProxy {
	t.Helper()
	target, err := url.Parse("http://" + env.registry)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{addr: ln.Addr().String(), release: make(chan struct{})}
	forward := httputil.NewSingleHostReverseProxy(target)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		p.mu.Lock()
		stall, fail := p.stall, p.failLeft > 0
		if fail {
			p.failLeft--
		}
		status, header := p.status, p.header
		p.mu.Unlock()
		switch {
		case stall:
			select {
			case <-r.Context().Done():
			case <-p.release:
			}
			return
		case fail:
			p.failed.Add(1)
			for k, v := range header {
				w.Header()[k] = v
			}
			http.Error(w, http.StatusText(status), status)
			return
		}
		forward.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() {
		close(p.release)
		srv.Shutdown(context.Background())
	})
	return p
}

// failNext answers the next n requests with status (and header).
func (p *faultProxy) failNext(n, status int, header http.Header) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failLeft, p.status, p.header = n, status, header
}

func (p *faultProxy) setStall(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stall = on
}

func retryAfter(secs int) http.Header {
	return http.Header{"Retry-After": {strconv.Itoa(secs)}}
}
