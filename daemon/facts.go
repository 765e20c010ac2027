package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/client"
)

// Facts is what a run reports about the image it made and the daemon that
// holds it, for the next job of a pipeline.
type Facts struct {
	ID         string
	DiffIDs    []string // the layers' uncompressed digests, bottom first
	Size       int64
	Platform   string // os/architecture
	Version    string // the daemon's
	APIVersion string // the highest the daemon speaks
}

// ImageFacts asks the daemon about image id and itself.
func ImageFacts(ctx context.Context, api API, id string) (Facts, error) {
	img, err := api.ImageInspect(ctx, id)
	if err != nil {
		return Facts{}, fmt.Errorf("inspecting image %s: %w", id, err)
	}
	v, err := api.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return Facts{}, fmt.Errorf("asking the daemon for its version: %w", err)
	}
	return Facts{
		ID:         img.ID,
		DiffIDs:    img.RootFS.Layers,
		Size:       img.Size,
		Platform:   img.Os + "/" + img.Architecture,
		Version:    v.Version,
		APIVersion: v.APIVersion,
	}, nil
}

// ImageCreated is when image id was made, as its config says: for an
// image reused from an earlier run, that run's time.
func ImageCreated(ctx context.Context, api API, id string) (time.Time, error) {
	img, err := api.ImageInspect(ctx, id)
	if err != nil {
		return time.Time{}, fmt.Errorf("inspecting image %s: %w", id, err)
	}
	t, err := time.Parse(time.RFC3339Nano, img.Created)
	if err != nil {
		return time.Time{}, fmt.Errorf("image %s: its created time %q: %w", id, img.Created, err)
	}
	return t, nil
}
