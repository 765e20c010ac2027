package registry

import (
	"context"
	"net/http"
	"sync"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
)

// Session keeps what a run's clients learned of a registry: for each
// repository and credentials, the transport that pinged the registry and
// holds its token for pushing there (push and pull scope). Every request
// of the run to that repository goes through it, so a run pings and asks
// for a token once per repository, not once per request (a push, its read
// back, the SBOM's subject, blob and manifest, the referrers fallback):
// across a link each of those costs round trips. A token that expires is
// fetched again on the registry's 401, as go-containerregistry's bearer
// transport does. Safe for concurrent use.
type Session struct {
	mu         sync.Mutex
	transports map[string]http.RoundTripper
	// blobs are those uploaded in this run, by repository and digest.
	blobs map[string]bool
	// referrers says, by registry, whether it has the referrers API.
	referrers map[string]bool
	// tags are what the run has read tags to name, by repository:tag;
	// "" for none.
	tags map[string]digest.Digest
}

// NewSession is a Session that has learned nothing yet.
func NewSession() *Session {
	return &Session{transports: map[string]http.RoundTripper{}, blobs: map[string]bool{}, referrers: map[string]bool{}, tags: map[string]digest.Digest{}}
}

// uploaded says whether blob d went up to repo in this run; a nil session
// knows of none.
func (s *Session) uploaded(repo string, d digest.Digest) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blobs[repo+"@"+d.String()]
}

func (s *Session) upload(repo string, d digest.Digest) {
	if s != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.blobs[repo+"@"+d.String()] = true
	}
}

// tagged is the manifest the run read ref to name ("" none), and whether
// it read it.
func (s *Session) tagged(ref reference.NamedTagged) (digest.Digest, bool) {
	if s == nil {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.tags[ref.String()]
	return d, ok
}

func (s *Session) tag(ref reference.NamedTagged, d digest.Digest) {
	if s != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.tags[ref.String()] = d
	}
}

// Tagged is the manifest digest the run's session read ref to name (""
// when it named none), and false when it did not read it: a run whose
// tag names the image it reuses asks the registry nothing more of it.
func (c *Client) Tagged(ref reference.NamedTagged) (digest.Digest, bool) {
	return c.session.tagged(ref)
}

// referrersAPI says whether the run has learned that host has the
// referrers API.
func (s *Session) referrersAPI(host string) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.referrers[host]
}

func (s *Session) learnReferrers(host string, has bool) {
	if s != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.referrers[host] = has
	}
}

// WithSession has the client share s with the run's other clients.
func WithSession(s *Session) Option { return func(c *Client) { c.session = s } }

// authorized is the transport for pushing to repo with c's credentials,
// with the client's retries: the session's, made the first time (a failure
// is not kept, so the next request tries again); without a session, a new
// one each time. Requests whose context is marked oneTry (Check's) are
// tried once, the handshake too.
func (c *Client) authorized(ctx context.Context, repo name.Repository) (http.RoundTripper, error) {
	key := repo.Name() + "\x00" + c.creds.Username + "\x00" + c.creds.Password + "\x00" + c.creds.IdentityToken
	if c.session != nil {
		c.session.mu.Lock()
		defer c.session.mu.Unlock()
		if t, ok := c.session.transports[key]; ok {
			return t, nil
		}
	}
	t, err := transport.NewWithContext(ctx, repo.Registry, c.authenticator(), tries{once: c.base(), retried: c.roundTripper()}, []string{repo.Scope(transport.PushScope)})
	if err != nil {
		return nil, err
	}
	if c.session != nil {
		c.session.transports[key] = t
	}
	return t, nil
}

// repoOptions are the options of go-containerregistry's calls to repo:
// options, through the session's authorized transport when c has one.
func (c *Client) repoOptions(ctx context.Context, repo reference.Named) ([]remote.Option, error) {
	opts := c.options(ctx)
	if c.session == nil {
		return opts, nil
	}
	_, t, err := c.authorizedFor(ctx, repo)
	if err != nil {
		return nil, err
	}
	return append(opts, remote.WithTransport(t)), nil
}

// authorizedFor is repo, named as go-containerregistry names it, and the
// transport authorized for it (authorized).
func (c *Client) authorizedFor(ctx context.Context, repo reference.Named) (name.Repository, http.RoundTripper, error) {
	r, err := c.repository(repo)
	if err != nil {
		return r, nil, err
	}
	t, err := c.authorized(ctx, r)
	return r, t, err
}

// oneTryKey marks a context whose requests are tried once.
type oneTryKey struct{}

// oneTry marks ctx so that its requests are tried once, without the
// client's retries.
func oneTry(ctx context.Context) context.Context { return context.WithValue(ctx, oneTryKey{}, true) }

// tries sends a request through once, or with the retries, as its context
// says.
type tries struct{ once, retried http.RoundTripper }

func (t tries) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Context().Value(oneTryKey{}) != nil {
		return t.once.RoundTrip(req)
	}
	return t.retried.RoundTrip(req)
}
