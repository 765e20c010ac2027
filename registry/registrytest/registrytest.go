// Package registrytest is a registry for unit tests, named so:
// go-containerregistry's in-memory registry (pkg/registry) on 127.0.0.1,
// optionally behind basic authentication, with a hook that may answer a
// request itself (a refusal, a fault) and a count of the requests it got.
// The integration suite runs the Distribution registry instead.
package registrytest

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// User and Password are what a registry made WithBasicAuth accepts.
const User, Password = "alice", "s3cret-pw"

// Server is a registry for one test.
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string // METHOD PATH
	// tokenRequests counts the token service's requests (WithBearer).
	tokenRequests int
	before        func(w http.ResponseWriter, r *http.Request) bool
}

// Option sets how a Server behaves.
type Option func(*config)

type config struct{ referrers, basic, bearer bool }

// WithoutReferrers makes a registry without the referrers API, as
// Distribution 2.8 is: referrers go in the tag schema's index.
func WithoutReferrers() Option { return func(c *config) { c.referrers = false } }

// WithBasicAuth has the registry refuse any request without User and
// Password, as a basic challenge.
func WithBasicAuth() Option { return func(c *config) { c.basic = true } }

// WithBearer puts the registry behind the bearer-token flow, as Docker
// Hub, GHCR and docker_auth are: its token service listens on another
// port of 127.0.0.1 (docker_auth's layout) and gives a token for User and
// Password.
func WithBearer() Option { return func(c *config) { c.bearer = true } }

// token is what the token service gives and the registry takes.
const token = "registrytest-token"

// New starts a registry, closed when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	c := config{referrers: true}
	for _, o := range opts {
		o(&c)
	}
	s := &Server{}
	var realm string
	if c.bearer {
		tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			s.tokenRequests++
			s.mu.Unlock()
			if u, p, ok := r.BasicAuth(); !ok || u != User || p != Password {
				http.Error(w, `{"details":"incorrect username or password"}`, http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"token":"`+token+`"}`)
		}))
		t.Cleanup(tokens.Close)
		realm = tokens.URL + "/token"
	}
	reg := ggcrregistry.New(ggcrregistry.WithReferrersSupport(c.referrers), ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.Method+" "+r.URL.Path)
		before := s.before
		s.mu.Unlock()
		if c.bearer && r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`",service="registrytest"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		if c.basic {
			if u, p, ok := r.BasicAuth(); !ok || u != User || p != Password {
				w.Header().Set("WWW-Authenticate", `Basic realm="registrytest"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
		}
		if before != nil && before(w, r) {
			return
		}
		if c.referrers && r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			subjectHeader(w, r)
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// subjectHeader answers a manifest put whose manifest has a subject with
// OCI-Subject, as the OCI's distribution spec 1.1 has a registry with the
// referrers API answer (go-containerregistry's registry does not).
func subjectHeader(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return
	}
	var m struct {
		Subject *struct {
			Digest string `json:"digest"`
		} `json:"subject"`
	}
	if json.Unmarshal(body, &m) == nil && m.Subject != nil {
		w.Header().Set("OCI-Subject", m.Subject.Digest)
	}
}

// Before has f see each request (after authentication) before the
// registry; when it returns true it has answered the request itself.
func (s *Server) Before(f func(w http.ResponseWriter, r *http.Request) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.before = f
}

// Host is the registry's host:port.
func (s *Server) Host() string { return strings.TrimPrefix(s.URL, "http://") }

// Count is how many requests it got whose "METHOD PATH" starts with
// prefix ("" counts them all).
func (s *Server) Count(prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

// Requests are the requests it got so far, in order, as "METHOD PATH".
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// TokenRequests is how many requests the token service got (WithBearer).
func (s *Server) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenRequests
}
