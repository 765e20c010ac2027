package push

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/scratchpush/scratchpush/daemon"
)

// Files are the files a run leaves for the next job of a pipeline, each
// written whole (a temporary file renamed) and only when the run succeeds.
// The caller removes old ones before the run, so that a job never reads a
// value an earlier run left.
type Files struct {
	Metadata string // JSON: image ID, tags, layers, size, platform, daemon
	IID      string // the image ID
	Digest   string // the first tag's pushed manifest digest
}

// Tag is one tag of a run: its reference, and once pushed the manifest
// digest and the reference pinned to it.
type Tag struct {
	Reference string `json:"reference"`
	Digest    string `json:"digest,omitempty"`
	Pinned    string `json:"pinned,omitempty"`
}

// metadata is the Metadata file's document.
type metadata struct {
	ImageID  string   `json:"imageID"`
	Tags     []Tag    `json:"tags"`
	Layers   []string `json:"layers"` // uncompressed digests (diff IDs), bottom first
	Size     int64    `json:"size"`
	Platform string   `json:"platform"`
	Reused   bool     `json:"reused"`
	Daemon   struct {
		Version    string `json:"version"`
		APIVersion string `json:"apiVersion"`
	} `json:"daemon"`
}

// write writes the files of a run that succeeded.
func (f Files) write(ctx context.Context, api daemon.API, r Result) error {
	if f.IID != "" {
		if err := writeAtomic(f.IID, []byte(r.ImageID)); err != nil {
			return fieldError{"Files.IID", err}
		}
	}
	if f.Digest != "" && len(r.Tags) > 0 {
		if err := writeAtomic(f.Digest, []byte(r.Tags[0].Digest)); err != nil {
			return fieldError{"Files.Digest", err}
		}
	}
	if f.Metadata == "" {
		return nil
	}
	facts, err := daemon.ImageFacts(ctx, api, r.ImageID)
	if err != nil {
		return fieldError{"Files.Metadata", err}
	}
	m := metadata{ImageID: facts.ID, Tags: r.Tags, Layers: facts.DiffIDs, Size: facts.Size, Platform: facts.Platform, Reused: r.Reused}
	if m.Tags == nil {
		m.Tags = []Tag{}
	}
	m.Daemon.Version, m.Daemon.APIVersion = facts.Version, facts.APIVersion
	b, err := json.MarshalIndent(m, "", "  ")
	if err == nil {
		err = writeAtomic(f.Metadata, append(b, '\n'))
	}
	if err != nil {
		return fieldError{"Files.Metadata", err}
	}
	return nil
}

// writeAtomic writes a file whole or not at all: a reader never sees half.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing %q: %w", path, err)
	}
	return nil
}
