package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// faultProxy is a fake: a fault-injecting HTTP proxy in front of the real
// registry, for the failures a real registry will not produce on demand —
// answering 5xx or 429 a few times before recovering, or accepting requests
// and never answering. Everything it does not fail it forwards unchanged,
// noting the blobs uploaded through it.
type faultProxy struct {
	addr     string
	mu       sync.Mutex
	failLeft int
	status   int
	header   http.Header
	match    func(*http.Request) bool // which requests failNext and stall apply to; nil: all
	stall    bool
	requests atomic.Int64
	failed   atomic.Int64
	release  chan struct{}
	stalled  chan struct{} // closed when the first request stalls
	once     sync.Once
	uploaded []string // digests of the blobs whose upload completed
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
	p := &faultProxy{addr: ln.Addr().String(), release: make(chan struct{}), stalled: make(chan struct{})}
	forward := httputil.NewSingleHostReverseProxy(target)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		p.mu.Lock()
		matches := p.match == nil || p.match(r)
		stall, fail := p.stall && matches, p.failLeft > 0 && matches
		if fail {
			p.failLeft--
		}
		status, header := p.status, p.header
		p.mu.Unlock()
		switch {
		case stall:
			p.once.Do(func() { close(p.stalled) })
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
			code, msg := "UNAVAILABLE", fmt.Sprintf("fault injected by the test proxy: %d", status)
			switch status {
			case http.StatusInternalServerError: // the Distribution registry's own words for its failures
				code, msg = "UNKNOWN", "unknown error"
			case http.StatusTooManyRequests:
				code = "TOOMANYREQUESTS"
			case http.StatusForbidden:
				code = "DENIED"
			case http.StatusNotFound:
				code = "NAME_UNKNOWN"
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"errors":[{"code":%q,"message":%q}]}`, code, msg)
			return
		}
		rec := &statusRecorder{ResponseWriter: w}
		forward.ServeHTTP(rec, r)
		if d := r.URL.Query().Get("digest"); blobUpload(r) && r.Method == http.MethodPut && d != "" && rec.status == http.StatusCreated {
			p.mu.Lock()
			p.uploaded = append(p.uploaded, d)
			p.mu.Unlock()
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() {
		close(p.release)
		srv.Shutdown(context.Background())
	})
	return p
}

// failNext answers the next n requests that match (nil: any) with status
// and header.
func (p *faultProxy) failNext(n, status int, header http.Header, match func(*http.Request) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failLeft, p.status, p.header, p.match = n, status, header, match
}

// stallOn accepts the requests that match (nil: any) and never answers them.
func (p *faultProxy) stallOn(match func(*http.Request) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stall, p.match = true, match
}

// waitStalled returns once a request has stalled: the push is under way.
func (p *faultProxy) waitStalled(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-p.stalled:
	case <-time.After(timeout):
		t.Fatalf("no request reached the stall within %s", timeout)
	}
}

// uploads are the digests of the blobs uploaded through the proxy so far.
func (p *faultProxy) uploads() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.uploaded)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// manifestPut and blobUpload pick out requests of a push.
func manifestPut(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/")
}

func blobUpload(r *http.Request) bool {
	return strings.Contains(r.URL.Path, "/blobs/uploads/") && r.Method != http.MethodPost
}

func retryAfter(secs int) http.Header {
	return http.Header{"Retry-After": {strconv.Itoa(secs)}}
}
