package daemon

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// RegistryOptions tune the calls that reach a registry through the daemon:
// Login and Push. The zero value tries once.
type RegistryOptions struct {
	// Retries is how many more times a call that failed for a transient
	// reason (a 5xx or 429 from the registry, a refused, reset or timed-out
	// connection) is tried. Authentication, permission and not-found
	// failures are not retried.
	Retries int
	// Backoff is the wait before retry n (1-based); nil means DefaultBackoff.
	// A longer Retry-After, when the daemon passes one on, wins.
	Backoff func(n int) time.Duration
	// Progress receives status lines and retry notices.
	Progress Progress
	// CredentialsChecked says that Login accepted the credentials. A push
	// that then reports "unauthorized" met a registry that was briefly
	// unwell, so it is retried like any transient failure.
	CredentialsChecked bool
	// Podman says the daemon is Podman's service (Description.Podman),
	// whose login endpoint cannot reach a plain-HTTP registry.
	Podman bool
}

// DefaultBackoff doubles from one second up to thirty.
func DefaultBackoff(n int) time.Duration {
	d := time.Second << min(n-1, 5)
	return min(d, 30*time.Second)
}

// registryError is a failure the daemon relayed from a registry.
type registryError struct{ msg string }

func (e *registryError) Error() string { return e.msg }

// Failures are told apart by the words the daemon relays; status codes
// count only as whole words, so that a port such as 40459 is no 404.
var (
	authFailures      = failures(`unauthorized|authentication required|incorrect username or password|\b401\b`)
	deniedFailures    = failures(`denied|forbidden|\b403\b`)
	permanentFailures = failures(`not found|name unknown|blob unknown|manifest unknown|manifest invalid|unsupported|no such host|\b404\b`)
	// Docker 29 relays a registry's 500 with a JSON body (the Distribution
	// registry's UNKNOWN) as "unknown: unknown error", naming no status.
	transientFailures = failures(`internal server error|bad gateway|unavailable|gateway timeout|too many requests|toomanyrequests|connection refused|connection reset|broken pipe|timeout|\beof\b|server closed|\b(500|502|503|504|429)\b|^unknown: |error from registry: unknown\b|\bunknown error\b`)
	retryAfterPattern = regexp.MustCompile(`(?i)retry[- ]after:?\s*(\d+)`)
)

func failures(pattern string) *regexp.Regexp { return regexp.MustCompile("(?i)" + pattern) }

func (e *registryError) auth() bool { return authFailures.MatchString(e.msg) }

func (e *registryError) denied() bool { return deniedFailures.MatchString(e.msg) }

// transient tells a failure worth retrying: the registry or the way to it
// was briefly unwell. Anything not known to be transient is permanent.
func (e *registryError) transient(credentialsChecked bool) bool {
	switch {
	case e.denied():
		return false
	case e.auth():
		return credentialsChecked
	case permanentFailures.MatchString(e.msg):
		return false
	}
	return transientFailures.MatchString(e.msg)
}

// retryAfter is the wait a registry asked for, when the daemon passed it on.
func (e *registryError) retryAfter() time.Duration {
	m := retryAfterPattern.FindStringSubmatch(e.msg)
	if m == nil {
		return 0
	}
	secs, err := strconv.Atoi(m[1])
	if err != nil || secs > 600 {
		return 0
	}
	return time.Duration(secs) * time.Second
}

// retry calls attempt until it succeeds, fails for good, the retries run out
// or ctx ends, waiting with backoff between attempts.
//
// An authentication failure is final, unless the credentials were checked
// already or an earlier attempt failed transiently: the daemon first pings
// the registry for its auth challenge, and when that ping fails it sends the
// next request without credentials, so a registry recovering from a 503
// answers 401 once. That one is retried once, never more: a refusal
// repeated is a refusal, and retrying it only sends the credentials again.
func retry(ctx context.Context, opts RegistryOptions, what string, attempt func() error) error {
	backoff := opts.Backoff
	if backoff == nil {
		backoff = DefaultBackoff
	}
	trusted := opts.CredentialsChecked
	authRetried := false
	for n := 1; ; n++ {
		err := attempt()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s cancelled: %w", what, context.Cause(ctx))
		}
		var rerr *registryError
		if !errors.As(err, &rerr) || !rerr.transient(trusted && !authRetried) || n > opts.Retries {
			return err
		}
		if rerr.auth() {
			authRetried = true
		}
		trusted = true
		wait := max(backoff(n), rerr.retryAfter())
		opts.Progress.send(Event{Phase: "push", Text: fmt.Sprintf("%s failed: %s; retrying in %s (retry %d of %d)", what, rerr.msg, wait, n, opts.Retries)})
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("%s cancelled while waiting to retry: %w", what, context.Cause(ctx))
		}
	}
}
