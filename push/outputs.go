package push

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/scratchpush/scratchpush/atomicfile"
	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/field"
	"github.com/scratchpush/scratchpush/plan"
	"github.com/scratchpush/scratchpush/sbom"
	"github.com/scratchpush/scratchpush/sign"
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
	signed, kind, err := layoutSignatures(ctx, o, m, sbomDocs(parts, docs))
	if err != nil {
		return nil, err
	}
	if m.index != nil {
		err = writeIndexOutputs(o, *m.index, sbomDocs(parts, docs), created, kind, signed)
	} else {
		err = writeImageOutputs(o, *m.image, sbomDocs(parts, docs), created, kind, signed)
	}
	if err != nil {
		return nil, err
	}
	return docs, nil
}

// The annotations cosign's layouts (cosign save) mark their images with,
// which cosign verify --local-image reads.
const (
	cosignKind      = "kind"
	cosignImageKind = "dev.cosignproject.cosign/image"
	cosignIndexKind = "dev.cosignproject.cosign/imageIndex"
	cosignSigsKind  = "dev.cosignproject.cosign/sigs"
	cosignAttsKind  = "dev.cosignproject.cosign/atts"
)

// layoutSignatures are, with a key, the images of the signature and the
// attestations (provenance, SBOM) of what m made, as a layout keeps them
// beside it, and the annotations that mark the image itself; none without
// a key.
func layoutSignatures(ctx context.Context, o run, m made, docs map[string][]byte) ([]builder.Beside, map[string]string, error) {
	if o.Key == nil {
		return nil, nil, nil
	}
	subjects := madeSubjects(m)
	top, kind := subjects[0], cosignImageKind
	if m.index != nil {
		kind = cosignIndexKind
	}
	sig, err := o.Key.Signature(o.Target.Repository.Name(), top.desc.Digest)
	if err != nil {
		return nil, nil, err
	}
	atts, _, err := attestationsOf(ctx, o, top, m.fileDigests, docs[""])
	if err != nil {
		return nil, nil, err
	}
	images := map[string][]sign.Layer{cosignSigsKind: {sig}, cosignAttsKind: atts}
	var beside []builder.Beside
	for _, k := range []string{cosignSigsKind, cosignAttsKind} {
		layers := images[k]
		if len(layers) == 0 {
			continue
		}
		var descs []ocispec.Descriptor
		blobs := [][]byte{}
		for _, l := range layers {
			descs = append(descs, l.Descriptor())
			blobs = append(blobs, l.Blob)
		}
		config, manifest, err := sign.Image(descs)
		if err != nil {
			return nil, nil, err
		}
		beside = append(beside, builder.Beside{
			Descriptor: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manifest), Size: int64(len(manifest)), Annotations: map[string]string{cosignKind: k}},
			Blobs:      append(blobs, config, manifest),
		})
	}
	o.note("the layout holds the signature and attestations as cosign save keeps them (cosign verify --local-image reads them)")
	return beside, map[string]string{cosignKind: kind}, nil
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

// sbomBeside are the SBOM documents' artifacts (sbomArtifacts) as a
// layout holds them, then more.
func sbomBeside(docs map[string][]byte, subjects map[string]ocispec.Descriptor, created time.Time, more []builder.Beside) ([]builder.Beside, error) {
	artifacts, err := sbomArtifacts(docs, subjects, created)
	if err != nil {
		return nil, err
	}
	var out []builder.Beside
	for _, a := range artifacts {
		out = append(out, a.Beside())
	}
	return append(out, more...), nil
}

// writeImageOutputs writes img to every Output, with its SBOM (docs[""],
// if any) and signed (its signature images) beside it in a layout, itself
// annotated so.
func writeImageOutputs(o run, img builder.Image, docs map[string][]byte, created time.Time, annotations map[string]string, signed []builder.Beside) error {
	beside, err := sbomBeside(docs, map[string]ocispec.Descriptor{"": img.Descriptor}, created, signed)
	if err != nil {
		return err
	}
	for _, out := range o.Outputs {
		var err error
		switch out.Kind {
		case plan.OCILayout:
			err = img.WriteLayout(out.Path, refNames(o), annotations, beside)
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
// SBOMs of the whole and of each platform, and signed, beside it.
func writeIndexOutputs(o run, ix builder.Index, docs map[string][]byte, created time.Time, annotations map[string]string, signed []builder.Beside) error {
	subjects := map[string]ocispec.Descriptor{"": ix.Descriptor()}
	for _, img := range ix.Images {
		subjects[builder.PlatformString(img.Descriptor.Platform)] = img.Descriptor
	}
	beside, err := sbomBeside(docs, subjects, created, signed)
	if err != nil {
		return err
	}
	for _, out := range o.Outputs {
		if err := ix.WriteLayout(out.Path, refNames(o), annotations, beside); err != nil {
			return field.Wrap("Outputs", fmt.Errorf("writing %s: %w", out, err))
		}
		o.note("wrote the index %s to %s", ix.Digest, out)
	}
	return nil
}
