package daemon

import (
	"context"
	"fmt"
	"strings"
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

// Description is what a run needs to know of the daemon, asked once
// (Describe): two requests, the version and the info.
type Description struct {
	// OS and Arch are the daemon's platform: what an image it runs is for.
	OS, Arch string
	// CPUs is how many processors it has: how many layers it compresses at
	// full speed at once when it pushes; 0 when it does not say.
	CPUs int
	// Containerd says it keeps its images in containerd's image store (the
	// default of new Docker 29 installs), as docker info says with its
	// driver-type. There an image's ID is the digest of its manifest or
	// index, not of its config, and it pushes the blobs it holds as they
	// are.
	Containerd bool
	// Podman says it is Podman's Docker-compatible service.
	Podman bool
	// Version is the daemon's; APIVersion the highest it speaks.
	Version, APIVersion string
}

// Describe asks the daemon what a run needs to know of it.
func Describe(ctx context.Context, api API) (Description, error) {
	v, err := api.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return Description{}, fmt.Errorf("asking the daemon for its version: %w", err)
	}
	info, err := api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return Description{}, fmt.Errorf("asking the daemon how it stores images: %w", err)
	}
	d := Description{OS: v.Os, Arch: v.Arch, CPUs: max(info.Info.NCPU, 0), Version: v.Version, APIVersion: v.APIVersion,
		Podman: strings.Contains(EngineName(v), "Podman")}
	for _, kv := range info.Info.DriverStatus {
		if kv[0] == "driver-type" && kv[1] == "io.containerd.snapshotter.v1" {
			d.Containerd = true
		}
	}
	return d, nil
}

// ImageFacts asks the daemon about image id; d is the daemon's
// description.
func ImageFacts(ctx context.Context, api API, d Description, id string) (Facts, error) {
	img, err := api.ImageInspect(ctx, id)
	if err != nil {
		return Facts{}, fmt.Errorf("inspecting image %s: %w", id, err)
	}
	return Facts{
		ID:         img.ID,
		DiffIDs:    img.RootFS.Layers,
		Size:       img.Size,
		Platform:   img.Os + "/" + img.Architecture,
		Version:    d.Version,
		APIVersion: d.APIVersion,
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
