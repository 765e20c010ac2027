package push

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/scratchpush/scratchpush/atomicfile"
	"github.com/scratchpush/scratchpush/daemon"
	"github.com/scratchpush/scratchpush/field"
	"github.com/scratchpush/scratchpush/plan"
)

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
	SBOMs []Referrer `json:"sboms,omitempty"`
	// Provenance are the provenance statements attached as referrers;
	// Signatures and Attestations, with a key, cosign's .sig and .att
	// images, each with its subject (the artifact type of an attestation
	// is its predicate type).
	Provenance   []Referrer `json:"provenance,omitempty"`
	Signatures   []Referrer `json:"signatures,omitempty"`
	Attestations []Referrer `json:"attestations,omitempty"`
	// Outputs are the files written (--output), each KIND:PATH@DIGEST.
	Outputs []string `json:"outputs,omitempty"`
	Daemon  struct {
		Version    string `json:"version"`
		APIVersion string `json:"apiVersion"`
	} `json:"daemon"`
}

// write writes the files of a run that succeeded.
func writeFiles(ctx context.Context, api daemon.API, d daemon.Description, f plan.Files, r Result) error {
	if f.IID != "" {
		if err := atomicfile.WriteBytes(f.IID, []byte(r.ImageID)); err != nil {
			return field.Wrap("IIDFile", err)
		}
	}
	if f.Digest != "" && len(r.Tags) > 0 {
		if err := atomicfile.WriteBytes(f.Digest, []byte(r.Tags[0].Digest)); err != nil {
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
		if err := atomicfile.WriteBytes(f.ImageRefs, []byte(refs.String())); err != nil {
			return field.Wrap("ImageRefsFile", err)
		}
	}
	if f.Metadata == "" {
		return nil
	}
	facts, err := daemon.ImageFacts(ctx, api, d, r.ImageID)
	if err != nil {
		return field.Wrap("MetadataFile", err)
	}
	m := metadata{ImageID: facts.ID, Tags: r.Tags, Layers: facts.DiffIDs, Size: facts.Size, Platform: facts.Platform, Reused: r.Reused, Platforms: r.Platforms, SBOMs: r.SBOMs, Outputs: r.Outputs,
		Provenance: r.Provenance, Signatures: r.Signatures, Attestations: r.Attestations}
	if m.Tags == nil {
		m.Tags = []Tag{}
	}
	m.Daemon.Version, m.Daemon.APIVersion = facts.Version, facts.APIVersion
	b, err := json.MarshalIndent(m, "", "  ")
	if err == nil {
		err = atomicfile.WriteBytes(f.Metadata, append(b, '\n'))
	}
	if err != nil {
		return field.Wrap("MetadataFile", err)
	}
	return nil
}
