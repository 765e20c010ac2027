package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// BuilderLoad names images made by scratch-push itself and sent through the
// load endpoint rather than built by the daemon.
const BuilderLoad Builder = "load"

// Docker says "Loaded image ID: sha256:…" for an untagged image; Podman
// says "Loaded image: sha256:…".
var loadedID = regexp.MustCompile(`Loaded image(?: ID)?: (sha256:[0-9a-f]{64})`)

// Load sends an image archive in docker save format to the daemon's load
// endpoint, streaming, and returns the loaded image, which is untagged. The
// daemon's stream must report the image ID; an errorDetail is a failure.
func Load(ctx context.Context, api API, archive io.Reader, progress Progress) (Built, error) {
	res, err := api.ImageLoad(ctx, archive, client.ImageLoadWithQuiet(true))
	if err != nil {
		return Built{}, fmt.Errorf("sending the image to the daemon: %w", err)
	}
	defer res.Close()
	b := Built{Builder: BuilderLoad}
	err = decodeStream(res, func(m jsonstream.Message) error {
		progress.send(Event{Phase: "build", Raw: &m})
		if m.Error != nil {
			return fmt.Errorf("the daemon could not load the image: %s", strings.TrimSpace(m.Error.Message))
		}
		if s := loadedID.FindStringSubmatch(m.Stream); s != nil {
			b.ID = s[1]
		}
		if text := strings.TrimSpace(m.Stream); text != "" {
			progress.send(Event{Phase: "build", Text: text, Echo: true})
		}
		return nil
	})
	if err == nil && b.ID == "" {
		err = errors.New("the daemon's load stream ended without reporting an image ID")
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("load cancelled: %w", context.Cause(ctx))
		}
		return Built{}, err
	}
	b.created = []string{b.ID}
	return b, nil
}

// DiscardLate removes an image that a cancelled load may still make: a
// daemon that has read the whole archive can go on and commit it after the
// client has gone (Podman's service does). ids name the image as the
// daemon may (config or manifest digest); it waits a few seconds for one
// to appear, on a context of its own, and leaves one that has a tag.
func DiscardLate(ctx context.Context, api API, ids ...string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for tries := 0; tries < 12; tries++ {
		for _, id := range ids {
			if id == "" {
				continue
			}
			img, err := api.ImageInspect(ctx, id)
			if err != nil {
				continue
			}
			if len(img.RepoTags) == 0 {
				_, _ = api.ImageRemove(ctx, id, client.ImageRemoveOptions{})
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
