package push

import (
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/scratchpush/scratchpush/atomicfile"
	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/field"
	"github.com/scratchpush/scratchpush/plan"
	"github.com/scratchpush/scratchpush/sbom"
)

// written is what writeOutputs wrote, for Result.Outputs.
func written(o run, digest string) []string {
	var out []string
	for _, w := range o.Outputs {
		out = append(out, w.String()+"@"+digest)
	}
	return out
}

// refNames are the names index.json gives the image: its tags.
func refNames(o run) []string {
	var out []string
	for _, t := range o.Target.Tags {
		out = append(out, t.Tag())
	}
	return out
}

// writeOutputs writes the image or index made here to every Output,
// with its SBOMs when the plan asks for them (of the whole, and of each
// platform of an index) beside it as referrers; it returns the documents,
// for the push to attach the same.
func writeOutputs(ctx context.Context, o run, m made) (*sbom.Documents, error) {
	parts := sbomParts(o, m)
	created := o.Created()
	var docs *sbom.Documents
	if o.SBOM {
		d, err := sbom.SPDX(ctx, sbomInput(o, parts, created))
		if err != nil {
			return nil, fmt.Errorf("making the SBOM: %w", err)
		}
		docs = &d
	}
	var err error
	if m.index != nil {
		err = writeIndexOutputs(o, *m.index, sbomDocs(parts, docs), created)
	} else {
		err = writeImageOutputs(o, *m.image, sbomDocs(parts, docs), created)
	}
	if err != nil {
		return nil, err
	}
	return docs, nil
}

// sbomArtifacts are the SBOM documents as artifacts, each referring to the
// image or index it describes: subjects by platform, "" for the whole.
func sbomArtifacts(docs map[string][]byte, subjects map[string]ocispec.Descriptor, created time.Time) ([]builder.Artifact, error) {
	var out []builder.Artifact
	for _, key := range slices.Sorted(maps.Keys(subjects)) {
		doc, ok := docs[key]
		if !ok {
			continue
		}
		a, err := builder.MakeArtifact(subjects[key], sbom.MediaType, sbomTitle, doc, sbomAnnotations(created))
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// writeImageOutputs writes img to every Output, with its SBOM (docs[""],
// if any) beside it in a layout.
func writeImageOutputs(o run, img builder.Image, docs map[string][]byte, created time.Time) error {
	artifacts, err := sbomArtifacts(docs, map[string]ocispec.Descriptor{"": img.Descriptor}, created)
	if err != nil {
		return err
	}
	for _, out := range o.Outputs {
		var err error
		switch out.Kind {
		case plan.OCILayout:
			err = img.WriteLayout(out.Path, refNames(o), artifacts)
		case plan.DockerArchive:
			err = atomicfile.Write(out.Path, 0o644, img.Named(o.Target.Tags).WriteArchive)
		}
		if err != nil {
			return field.Wrap("Outputs", fmt.Errorf("writing %s: %w", out, err))
		}
		o.note("wrote the image %s to %s", img.Made.Manifest, out)
	}
	return nil
}

// writeIndexOutputs writes ix as an OCI layout to every Output, with the
// SBOMs of the whole and of each platform beside it.
func writeIndexOutputs(o run, ix builder.Index, docs map[string][]byte, created time.Time) error {
	subjects := map[string]ocispec.Descriptor{"": ix.Descriptor()}
	for _, img := range ix.Images {
		subjects[builder.PlatformString(img.Descriptor.Platform)] = img.Descriptor
	}
	artifacts, err := sbomArtifacts(docs, subjects, created)
	if err != nil {
		return err
	}
	for _, out := range o.Outputs {
		if err := ix.WriteLayout(out.Path, refNames(o), artifacts); err != nil {
			return field.Wrap("Outputs", fmt.Errorf("writing %s: %w", out, err))
		}
		o.note("wrote the index %s to %s", ix.Digest, out)
	}
	return nil
}
