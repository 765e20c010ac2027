package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// ErrAuth marks a push the registry refused for its credentials.
var ErrAuth = errors.New("registry authentication failed")

// Tag gives the image every tag of target. Run it only after a complete
// build: a tag moves the moment it is set.
func Tag(ctx context.Context, api API, imageID string, target Target) error {
	for _, ref := range target.Tags {
		if _, err := api.ImageTag(ctx, client.ImageTagOptions{Source: imageID, Target: ref.String()}); err != nil {
			return fmt.Errorf("tagging %s as %s: %w", shortID(imageID), reference.FamiliarString(ref), err)
		}
	}
	return nil
}

// pushResult is the aux record the daemon sends once the manifest is up.
type pushResult struct {
	Tag    string
	Digest string
	Size   int
}

// Push pushes one tag with authHeader as X-Registry-Auth and returns the
// manifest digest the registry accepted. The push counts only when the
// daemon's stream reports that digest: a stream that ends without one is an
// error, whatever the HTTP status said.
func Push(ctx context.Context, api API, ref reference.NamedTagged, authHeader string, progress Progress) (string, error) {
	name := reference.FamiliarString(ref)
	resp, err := api.ImagePush(ctx, ref.String(), client.ImagePushOptions{RegistryAuth: authHeader})
	if err != nil {
		return "", classifyPushError(ref, err)
	}
	var digest string
	for m, err := range resp.JSONMessages(ctx) {
		if err != nil {
			if ctx.Err() != nil {
				return "", fmt.Errorf("push of %s cancelled: %w", name, context.Cause(ctx))
			}
			return "", fmt.Errorf("pushing %s: reading the daemon's response: %w", name, err)
		}
		if m.Error != nil {
			return "", classifyPushError(ref, errors.New(strings.TrimSpace(m.Error.Message)))
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
	for _, s := range []string{"unauthorized", "authentication required", "denied", "incorrect username or password", "401"} {
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
