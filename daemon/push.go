package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"

	"github.com/scratchpush/scratchpush/auth"
)

// Tag gives the image every tag and returns an undo that puts each tag
// back where it was before, or removes it where there was none. Run Tag
// only after a complete build; run undo when what follows fails, so that a
// failed run moves no tag.
func Tag(ctx context.Context, api API, imageID string, tags []reference.NamedTagged) (undo func(context.Context), err error) {
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
	for _, ref := range tags {
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
		_, err := api.ImageTag(ctx, client.ImageTagOptions{Source: imageID, Target: prev.ref})
		// Undone even when it failed: a tag cut short (Ctrl-C, SIGTERM) may
		// be made in the daemon all the same.
		done = append(done, prev)
		if err != nil {
			undo(ctx)
			return nil, fmt.Errorf("tagging %s as %s: %w", shortID(imageID), reference.FamiliarString(ref), err)
		}
	}
	return undo, nil
}

// pushResult is the aux record the daemon sends once the manifest is up.
var statusDigest = regexp.MustCompile(`^(\S+): digest: (sha256:[0-9a-f]{64}) size: \d+$`)

type pushResult struct {
	Tag    string
	Digest string
	Size   int
}

// Push pushes one tag with the credentials (sent as X-Registry-Auth) and
// returns the manifest digest the registry accepted. The push counts only when the
// daemon's stream reports that digest: a stream that ends without one is an
// error, whatever the HTTP status said. Layers a failed attempt uploaded are
// not sent again: the registry reports them as already there.
func Push(ctx context.Context, api API, ref reference.NamedTagged, creds auth.Credentials, opts RegistryOptions) (string, error) {
	authHeader, err := auth.Header(creds, reference.Domain(ref))
	if err != nil {
		return "", err
	}
	var digest string
	err = retry(ctx, opts, "push of "+reference.FamiliarString(ref), func() error {
		var err error
		digest, err = pushOnce(ctx, api, ref, authHeader, opts.Progress)
		return err
	})
	return digest, err
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
		progress.send(Event{Phase: "push", Raw: &m})
		if m.Error != nil {
			return "", classifyPushError(ref, &registryError{msg: strings.TrimSpace(m.Error.Message)})
		}
		if m.Aux != nil {
			var res pushResult
			if err := json.Unmarshal(*m.Aux, &res); err == nil && res.Digest != "" {
				digest = res.Digest
			}
		}
		// Podman reports the digest only in its status line, as docker
		// push prints it: "v1: digest: sha256:… size: 423".
		if s := statusDigest.FindStringSubmatch(m.Status); s != nil && digest == "" && s[1] == ref.Tag() {
			digest = s[2]
		}
		progress.send(pushEvent(m))
	}
	if digest == "" {
		return "", fmt.Errorf("pushing %s: the daemon's stream ended without reporting the pushed digest", name)
	}
	return digest, nil
}

func pushEvent(m jsonstream.Message) Event {
	e := Event{Phase: "push", ID: m.ID, Text: m.Status, Echo: true}
	if m.Progress != nil {
		e.Current, e.Total = m.Progress.Current, m.Progress.Total
	}
	return e
}

// classifyPushError words the daemon's push failure for the user, marking
// authentication and access failures with auth.ErrAuth and auth.ErrDenied.
func classifyPushError(ref reference.Named, err *registryError) error {
	name := reference.FamiliarString(ref)
	switch {
	case err.denied():
		return fmt.Errorf("pushing %s: %w: %w", name, auth.ErrDenied, err)
	case err.auth():
		return fmt.Errorf("pushing %s: %w at %s: %w", name, auth.ErrAuth, reference.Domain(ref), err)
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
