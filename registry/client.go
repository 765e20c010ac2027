// Package registry talks to a registry from this process, without the
// daemon: it pushes an image or index made here (builder.Image,
// builder.Index), attaches artifacts such as SBOMs to what is there, and
// copies from one repository to another. go-containerregistry's remote,
// the registry client ko and crane use, does the protocol: the registry's
// own auth flow (a basic challenge or a bearer token from its token
// service), blobs uploaded several at once as they are, mounts of blobs
// the registry already has, the referrers API and its tag fallback. It is
// chosen over a client of our own because that flow, chunked uploads and
// the registries' quirks are what it is made for.
//
// A Client holds what every request needs (credentials, retries, the
// transport); New makes one, with its defaults here and nowhere else.
package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/scratchpush/scratchpush/auth"
)

// The defaults of a Client.
const (
	// defaultJobs is how many blobs upload at once: go-containerregistry's
	// own default, which keeps a link busy without opening a connection
	// per layer.
	defaultJobs = 4
	// defaultBackoff is the wait before the first retry; each next one
	// doubles it.
	defaultBackoff = time.Second
	// maxRetryAfter bounds how long a registry's Retry-After is honoured.
	maxRetryAfter = 60 * time.Second
	userAgent     = "scratch-push"
)

// Client is a registry client for one set of credentials.
type Client struct {
	creds     auth.Credentials
	retries   int
	backoff   time.Duration
	progress  func(complete, total int64)
	transport http.RoundTripper
	scheme    string
	session   *Session
	// mu guards the bytes a push has uploaded of its total, for progress.
	mu              sync.Mutex
	complete, total int64
}

// Option sets one thing about a Client.
type Option func(*Client)

// WithRetries sets how often a transient failure of a request is retried:
// a refused or reset connection, 408, 429 (after its Retry-After), 5xx.
// The default is none.
func WithRetries(n int) Option { return func(c *Client) { c.retries = max(n, 0) } }

// WithBackoff sets the wait before the first retry (a second by default);
// each next wait doubles.
func WithBackoff(d time.Duration) Option { return func(c *Client) { c.backoff = d } }

// WithProgress has f told the bytes uploaded so far of the total, as a
// push goes.
func WithProgress(f func(complete, total int64)) Option {
	return func(c *Client) { c.progress = f }
}

// WithTransport sends the requests through rt instead of
// go-containerregistry's default transport.
func WithTransport(rt http.RoundTripper) Option { return func(c *Client) { c.transport = rt } }

// New returns a client that presents creds (none: anonymous).
func New(creds auth.Credentials, opts ...Option) *Client {
	c := &Client{creds: creds, backoff: defaultBackoff, transport: remote.DefaultTransport}
	for _, o := range opts {
		o(c)
	}
	return c
}

// options are every request's: the context, the credentials, the
// transport, and the retries.
func (c *Client) options(ctx context.Context) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuth(c.authenticator()),
		remote.WithTransport(c.base()),
		remote.WithJobs(defaultJobs),
		remote.WithRetryPredicate(transient),
		remote.WithRetryBackoff(c.retryBackoff()),
	}
}

// base is the transport under go-containerregistry's retries: the user
// agent, a registry's Retry-After honoured, and token services on private
// addresses followed as the daemons follow them (realms).
func (c *Client) base() http.RoundTripper {
	return transport.NewUserAgent(&retryAfter{inner: realms{plainHTTP{c.transport, c.scheme}}, attempts: c.retries + 1}, userAgent)
}

func (c *Client) retryBackoff() remote.Backoff {
	return remote.Backoff{Duration: c.backoff, Factor: 2, Jitter: 0.1, Steps: c.retries + 1}
}

// roundTripper is base with the retries, for requests made here rather
// than through remote.
func (c *Client) roundTripper() http.RoundTripper {
	return transport.NewRetry(c.base(),
		transport.WithRetryPredicate(transient),
		transport.WithRetryStatusCodes(http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout),
		transport.WithRetryBackoff(c.retryBackoff()))
}

func (c *Client) authenticator() authn.Authenticator {
	if c.creds.Empty() {
		return authn.Anonymous
	}
	return authn.FromConfig(authn.AuthConfig{Username: c.creds.Username, Password: c.creds.Password, IdentityToken: c.creds.IdentityToken})
}

// transient says a failed request may go through when tried again: what
// go-containerregistry retries (a temporary error, a connection cut short),
// and a refused connection, which a registry being restarted gives.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.Temporary()
	}
	var nerr net.Error
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, net.ErrClosed) || (errors.As(err, &nerr) && nerr.Timeout())
}

// retryAfter honours a registry's Retry-After on 429 and 503: the answer
// is held back that long (at most maxRetryAfter, while ctx lasts) before
// go-containerregistry's retry sees it and tries again; the last allowed
// attempt is returned at once.
type retryAfter struct {
	inner    http.RoundTripper
	attempts int
	mu       sync.Mutex
	tries    map[*http.Request]int
}

func (r *retryAfter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.inner.RoundTrip(req)
	if err != nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return resp, err
	}
	secs, perr := strconv.Atoi(resp.Header.Get("Retry-After"))
	if perr != nil || secs <= 0 {
		return resp, nil
	}
	r.mu.Lock()
	if r.tries == nil {
		r.tries = map[*http.Request]int{}
	}
	r.tries[req]++
	last := r.tries[req] >= r.attempts
	if last {
		delete(r.tries, req)
	}
	r.mu.Unlock()
	if last {
		return resp, nil
	}
	wait := min(time.Duration(secs)*time.Second, maxRetryAfter)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-req.Context().Done():
	}
	return resp, nil
}

// classify marks a refusal of the credentials with auth.ErrAuth and of
// access with auth.ErrDenied, as the daemon's push errors are.
func classify(ctx context.Context, ref reference.Named, err error) error {
	name := reference.FamiliarString(ref)
	if ctx.Err() != nil {
		return fmt.Errorf("push of %s cancelled: %w", name, context.Cause(ctx))
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch {
		case terr.StatusCode == http.StatusUnauthorized || hasCode(terr, transport.UnauthorizedErrorCode):
			return fmt.Errorf("pushing %s: %w at %s: it answered %s", name, auth.ErrAuth, reference.Domain(ref), answer(terr))
		case terr.StatusCode == http.StatusForbidden || hasCode(terr, transport.DeniedErrorCode):
			return fmt.Errorf("pushing %s: %w: %s answered %s", name, auth.ErrDenied, reference.Domain(ref), answer(terr))
		}
	}
	return fmt.Errorf("pushing %s: %w", name, err)
}

// answer words a registry's refusal: its status and what it said, without
// the client library's own asides.
func answer(err *transport.Error) string {
	text := fmt.Sprintf("%d %s", err.StatusCode, http.StatusText(err.StatusCode))
	for _, d := range err.Errors {
		if d.Message != "" {
			text += ": " + d.Message
		}
	}
	return text
}

func hasCode(err *transport.Error, code transport.ErrorCode) bool {
	for _, d := range err.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}
