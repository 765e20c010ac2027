package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/scratchpush/scratchpush/daemon"
	"github.com/scratchpush/scratchpush/field"
)

// Files are the files a run leaves for the next job of a pipeline, each
// written whole (a temporary file renamed) and only when the run succeeds.
// Input.Options removes old ones, so that a job never reads a value an
// earlier run left. Errors about them name Input's MetadataFile, IIDFile
// and DigestFile.
type Files struct {
	Metadata string // JSON: image ID, tags, layers, size, platform, daemon
	IID      string // the image ID
	Digest   string // the first tag's pushed manifest digest
	// ImageRefs lists every tag pushed, REFERENCE@DIGEST a line, as ko's
	// --image-refs does, the mirrors' too.
	ImageRefs string
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
	// Platforms are a multi-platform image's: each one's manifest.
	Platforms []PlatformImage `json:"platforms,omitempty"`
	// SBOMs are the SBOM referrers attached, each to its subject.
	SBOMs  []Referrer `json:"sboms,omitempty"`
	Daemon struct {
		Version    string `json:"version"`
		APIVersion string `json:"apiVersion"`
	} `json:"daemon"`
}

// prepare checks that each file can be written and removes an old one: a
// failed run then leaves none.
func (f Files) prepare() error {
	for _, r := range []struct{ name, path string }{{"MetadataFile", f.Metadata}, {"IIDFile", f.IID}, {"DigestFile", f.Digest}, {"ImageRefsFile", f.ImageRefs}} {
		if r.path == "" {
			continue
		}
		if fi, err := os.Stat(filepath.Dir(r.path)); err != nil || !fi.IsDir() {
			return field.Errorf(r.name, "%q: the folder %q does not exist: create it first", r.path, filepath.Dir(r.path))
		}
		if fi, err := os.Stat(r.path); err == nil && fi.IsDir() {
			return field.Errorf(r.name, "%q is a folder: give a file name", r.path)
		}
		if err := os.Remove(r.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return field.Errorf(r.name, "removing the old %q: %w", r.path, err)
		}
	}
	return nil
}

// write writes the files of a run that succeeded.
func (f Files) write(ctx context.Context, api daemon.API, r Result) error {
	if f.IID != "" {
		if err := writeAtomic(f.IID, []byte(r.ImageID)); err != nil {
			return field.Wrap("IIDFile", err)
		}
	}
	if f.Digest != "" && len(r.Tags) > 0 {
		if err := writeAtomic(f.Digest, []byte(r.Tags[0].Digest)); err != nil {
			return field.Wrap("DigestFile", err)
		}
	}
	if f.ImageRefs != "" {
		var refs strings.Builder
		for _, t := range r.Tags {
			if t.Digest != "" {
				refs.WriteString(t.Reference + "@" + t.Digest + "\n")
			}
		}
		if err := writeAtomic(f.ImageRefs, []byte(refs.String())); err != nil {
			return field.Wrap("ImageRefsFile", err)
		}
	}
	if f.Metadata == "" {
		return nil
	}
	facts, err := daemon.ImageFacts(ctx, api, r.ImageID)
	if err != nil {
		return field.Wrap("MetadataFile", err)
	}
	m := metadata{ImageID: facts.ID, Tags: r.Tags, Layers: facts.DiffIDs, Size: facts.Size, Platform: facts.Platform, Reused: r.Reused, Platforms: r.Platforms, SBOMs: r.SBOMs}
	if m.Tags == nil {
		m.Tags = []Tag{}
	}
	m.Daemon.Version, m.Daemon.APIVersion = facts.Version, facts.APIVersion
	b, err := json.MarshalIndent(m, "", "  ")
	if err == nil {
		err = writeAtomic(f.Metadata, append(b, '\n'))
	}
	if err != nil {
		return field.Wrap("MetadataFile", err)
	}
	return nil
}

// writeAtomic writes a file whole or not at all: a reader never sees half.
func writeAtomic(path string, data []byte) error {
	if err := writeFile(path, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
		return fmt.Errorf("writing %q: %w", path, err)
	}
	return nil
}
