package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// ErrAuth marks a push the registry refused for its credentials.
var ErrAuth = errors.New("registry authentication failed")

// Tag gives the image every tag of target and returns an undo that puts
// each tag back where it was before, or removes it where there was none. Run
// Tag only after a complete build; run undo when what follows fails, so that
// a failed run moves no tag.
func Tag(ctx context.Context, api API, imageID string, target Target) (undo func(context.Context), err error) {
	type previous struct{ ref, id string }
	var done []previous
	undo = func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		for i := len(done) - 1; i >= 0; i-- {
			if p := done[i]; p.id != "" {
				_, _ = api.ImageTag(ctx, client.ImageTagOptions{Source: p.id, Target: p.ref})
			} else {
				_, _ = api.ImageRemove(ctx, p.ref, client.ImageRemoveOptions{})
			}
		}
	}
	for _, ref := range target.Tags {
		prev := previous{ref: ref.String()}
		if img, err := api.ImageInspect(ctx, prev.ref); err == nil {
			prev.id = img.ID
		} else if !cerrdefs.IsNotFound(err) {
			undo(ctx)
			return nil, fmt.Errorf("checking what %s names now: %w", reference.FamiliarString(ref), err)
		}
		if prev.id == imageID {
			continue
		}
		if _, err := api.ImageTag(ctx, client.ImageTagOptions{Source: imageID, Target: prev.ref}); err != nil {
			undo(ctx)
			return nil, fmt.Errorf("tagging %s as %s: %w", shortID(imageID), reference.FamiliarString(ref), err)
		}
		done = append(done, prev)
	}
	return undo, nil
}

// pushResult is the aux record the daemon sends once the manifest is up.
type pushResult struct {
	Tag    string
	Digest string
	Size   int
}

// PushOptions tune a push. The zero value tries once.
type PushOptions struct {
	// Retries is how many more times a push that failed for a transient
	// reason (a 5xx or 429 from the registry, a refused, reset or timed-out
	// connection) is tried. Authentication, permission and not-found
	// failures are never retried.
	Retries int
	// Backoff is the wait before retry n (1-based); nil means 1s, 2s, 4s,
	// ... up to 30s. A longer Retry-After in the registry's error wins.
	Backoff func(n int) time.Duration
	// Progress receives the push's status lines and retry notices.
	Progress Progress
}

// Push pushes one tag with authHeader as X-Registry-Auth and returns the
// manifest digest the registry accepted. The push counts only when the
// daemon's stream reports that digest: a stream that ends without one is an
// error, whatever the HTTP status said. Layers a failed attempt uploaded are
// not sent again: the registry reports them as already there.
func Push(ctx context.Context, api API, ref reference.NamedTagged, authHeader string, opts PushOptions) (string, error) {
	backoff := opts.Backoff
	if backoff == nil {
		backoff = DefaultBackoff
	}
	for attempt := 1; ; attempt++ {
		digest, err := pushOnce(ctx, api, ref, authHeader, opts.Progress)
		if err == nil {
			return digest, nil
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("push of %s cancelled: %w", reference.FamiliarString(ref), context.Cause(ctx))
		}
		var rerr *registryError
		if !errors.As(err, &rerr) || !rerr.transient() || attempt > opts.Retries {
			return "", err
		}
		wait := max(backoff(attempt), rerr.retryAfter())
		opts.Progress.send(Event{Phase: "push", Text: fmt.Sprintf("push failed: %s; retrying in %s (retry %d of %d)", rerr.msg, wait, attempt, opts.Retries)})
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return "", fmt.Errorf("push of %s cancelled while waiting to retry: %w", reference.FamiliarString(ref), context.Cause(ctx))
		}
	}
}

// DefaultBackoff doubles from one second up to thirty.
func DefaultBackoff(n int) time.Duration {
	d := time.Second << min(n-1, 5)
	return min(d, 30*time.Second)
}

// pushOnce makes one push attempt; Push words a cancellation.
func pushOnce(ctx context.Context, api API, ref reference.NamedTagged, authHeader string, progress Progress) (string, error) {
	name := reference.FamiliarString(ref)
	resp, err := api.ImagePush(ctx, ref.String(), client.ImagePushOptions{RegistryAuth: authHeader})
	if err != nil {
		return "", fmt.Errorf("pushing %s: %w", name, err)
	}
	var digest string
	for m, err := range resp.JSONMessages(ctx) {
		if err != nil {
			return "", fmt.Errorf("pushing %s: reading the daemon's response: %w", name, err)
		}
		if m.Error != nil {
			return "", classifyPushError(ref, &registryError{msg: strings.TrimSpace(m.Error.Message)})
		}
		if m.Aux != nil {
			var res pushResult
			if err := json.Unmarshal(*m.Aux, &res); err == nil && res.Digest != "" {
				digest = res.Digest
			}
		}
		progress.send(pushEvent(m))
	}
	if digest == "" {
		return "", fmt.Errorf("pushing %s: the daemon's stream ended without reporting the pushed digest", name)
	}
	return digest, nil
}

// registryError is a push failure the daemon relayed from the registry.
type registryError struct{ msg string }

func (e *registryError) Error() string { return e.msg }

var (
	permanentPushFailures = []string{"unauthorized", "authentication required", "denied", "incorrect username or password", "401", "403", "404", "not found", "name unknown", "manifest invalid", "unsupported", "no such host"}
	transientPushFailures = []string{"500", "502", "503", "504", "429", "toomanyrequests", "too many requests", "connection refused", "connection reset", "broken pipe", "timeout", "eof", "server closed"}
	retryAfterPattern     = regexp.MustCompile(`(?i)retry[- ]after:?\s*(\d+)`)
)

// transient tells a failure worth retrying: the registry or the way to it
// was briefly unwell. Anything not known to be transient is permanent.
func (e *registryError) transient() bool {
	msg := strings.ToLower(e.msg)
	for _, s := range permanentPushFailures {
		if strings.Contains(msg, s) {
			return false
		}
	}
	for _, s := range transientPushFailures {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
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

func pushEvent(m jsonstream.Message) Event {
	e := Event{Phase: "push", ID: m.ID, Text: m.Status}
	if m.Progress != nil {
		e.Current, e.Total = m.Progress.Current, m.Progress.Total
	}
	return e
}

// classifyPushError words the daemon's push failure for the user, marking an
// authentication failure with ErrAuth.
func classifyPushError(ref reference.Named, err error) error {
	msg := strings.ToLower(err.Error())
	name := reference.FamiliarString(ref)
	for _, s := range []string{"unauthorized", "authentication required", "denied", "incorrect username or password", "401", "403"} {
		if strings.Contains(msg, s) {
			return fmt.Errorf("pushing %s: %w at %s: %w", name, ErrAuth, reference.Domain(ref), err)
		}
	}
	return fmt.Errorf("pushing %s: %w", name, err)
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
