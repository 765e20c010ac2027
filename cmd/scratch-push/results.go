package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/scratchpush/scratchpush/daemon"
)

// resultFiles are the files a run leaves for the next job of a pipeline:
// --metadata-file, --iidfile and --digest-file. Each is removed when the run
// starts and written, whole, only when it succeeds, so a job never reads a
// value an earlier run left.
type resultFiles struct {
	metadata, iid, digest string
}

// prepare checks that each file can be written and removes an old one, in
// the order of the flags' help.
func (r resultFiles) prepare() error {
	for _, f := range []struct{ flag, path string }{{"--metadata-file", r.metadata}, {"--iidfile", r.iid}, {"--digest-file", r.digest}} {
		flag, path := f.flag, f.path
		if path == "" {
			continue
		}
		if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
			return usagef("%s %q: the folder %q does not exist: create it first", flag, path, filepath.Dir(path))
		}
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			return usagef("%s %q is a folder: give a file name", flag, path)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: removing the old %q: %w", flag, path, err)
		}
	}
	return nil
}

// metadata is the --metadata-file document.
type metadata struct {
	ImageID  string      `json:"imageID"`
	Tags     []tagResult `json:"tags"`
	Layers   []string    `json:"layers"` // uncompressed digests (diff IDs), bottom first
	Size     int64       `json:"size"`
	Platform string      `json:"platform"`
	Reused   bool        `json:"reused"`
	Daemon   struct {
		Version    string `json:"version"`
		APIVersion string `json:"apiVersion"`
	} `json:"daemon"`
}

// tagResult is one tag: its reference, and once pushed the manifest digest
// and the reference pinned to it.
type tagResult struct {
	Reference string `json:"reference"`
	Digest    string `json:"digest,omitempty"`
	Pinned    string `json:"pinned,omitempty"`
}

// write writes the files of a run that succeeded.
func (r resultFiles) write(ctx context.Context, api daemon.API, built daemon.Built, reused bool, tags []tagResult) error {
	if r.iid != "" {
		if err := writeAtomic(r.iid, []byte(built.ID)); err != nil {
			return fmt.Errorf("--iidfile: %w", err)
		}
	}
	if r.digest != "" && len(tags) > 0 {
		if err := writeAtomic(r.digest, []byte(tags[0].Digest)); err != nil {
			return fmt.Errorf("--digest-file: %w", err)
		}
	}
	if r.metadata == "" {
		return nil
	}
	facts, err := daemon.ImageFacts(ctx, api, built.ID)
	if err != nil {
		return fmt.Errorf("--metadata-file: %w", err)
	}
	m := metadata{ImageID: facts.ID, Tags: tags, Layers: facts.DiffIDs, Size: facts.Size, Platform: facts.Platform, Reused: reused}
	if m.Tags == nil {
		m.Tags = []tagResult{}
	}
	m.Daemon.Version, m.Daemon.APIVersion = facts.Version, facts.APIVersion
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("--metadata-file: %w", err)
	}
	if err := writeAtomic(r.metadata, append(b, '\n')); err != nil {
		return fmt.Errorf("--metadata-file: %w", err)
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
