package push

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon"
	"github.com/scratchpush/scratchpush/field"
	"github.com/scratchpush/scratchpush/provenance"
	"github.com/scratchpush/scratchpush/registry"
	"github.com/scratchpush/scratchpush/sbom"
)

// sbomJob is the SBOM documents being made while the image is pushed:
// for an image one; for an index one per platform and one for the whole.
type sbomJob struct {
	done    chan struct{}
	docs    map[string][]byte // by platform (os/arch[/variant]); "" for the whole
	err     error
	parts   []sbom.Part
	created time.Time
	cancel  context.CancelFunc
	// made: the documents are made now, not kept from an earlier run.
	made bool
}

// sbomInput is what the SBOM of the run's image describes: parts, made
// at created, named by the target's repository.
func sbomInput(o run, parts []sbom.Part, created time.Time) sbom.Input {
	return sbom.Input{Repository: o.Target.Repository, Parts: parts, Created: created, Tool: o.Tool}
}

// stop ends the making of the documents, when the run ends without them.
func (j *sbomJob) stop() {
	if j != nil {
		j.cancel()
		<-j.done
	}
}

// startSBOM starts making the documents of the image when Options ask for
// them and the run pushes, unless a reused image has its own; nil when no
// SBOM is asked for.
func startSBOM(ctx context.Context, api daemon.API, o run, m made) *sbomJob {
	if !o.SBOM || !o.Push {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	j := &sbomJob{done: make(chan struct{}), cancel: cancel}
	// The image's own time, so that the same image (reused, or made
	// again reproducibly) gets the same document, not one more referrer.
	created, err := imageCreated(ctx, api, m)
	if err != nil {
		j.err = err
		close(j.done)
		return j
	}
	j.created = created
	j.made = !m.reused
	j.parts = sbomParts(o, m)
	if m.sboms != nil {
		j.docs = sbomDocs(j.parts, m.sboms)
		close(j.done)
		return j
	}
	in := sbomInput(o, j.parts, j.created)
	go func() {
		defer close(j.done)
		start := time.Now()
		if len(in.Parts) == 1 && in.Parts[0].Files == nil { // an image made earlier: its files read now, as they were sent
			if in.Parts[0].Files, err = builder.CatalogOf(ctx, o.Dir, o.Layout); err != nil {
				j.err = err
				return
			}
		}
		docs, err := sbom.SPDX(ctx, in)
		if err != nil {
			j.err = err
			return
		}
		j.docs = sbomDocs(j.parts, &docs)
		o.note("made the SBOM (SPDX 2.3) in %.1fs", time.Since(start).Seconds())
		j.prepare(ctx, o)
	}()
	return j
}

// prepare uploads the documents' blobs while the image goes up, so that
// attaching them after the push is their manifests alone. A failure is
// left to attach, which uploads what is not there and says what failed.
func (j *sbomJob) prepare(ctx context.Context, o run) {
	client := o.registry()
	for _, doc := range j.docs {
		_ = client.Prepare(ctx, o.Target.Repository, j.artifact(doc))
	}
}

// artifact is doc as the artifact attached.
func (j *sbomJob) artifact(doc []byte) registry.Artifact {
	return registry.Artifact{Type: sbom.MediaType, Title: sbomTitle, Blob: doc, Annotations: sbomAnnotations(j.created)}
}

// imageCreated is the created time of m's image: its config's, for an
// image or index made here (the daemon may not have it yet), else the
// daemon's.
func imageCreated(ctx context.Context, api daemon.API, m made) (time.Time, error) {
	var config []byte
	switch {
	case m.image != nil:
		config = m.image.Config
	case m.index != nil:
		config = m.index.Images[0].Config
	default:
		return daemon.ImageCreated(ctx, api, m.built.ID)
	}
	var img ocispec.Image
	if err := json.Unmarshal(config, &img); err != nil || img.Created == nil {
		return time.Time{}, fmt.Errorf("reading the created time of the image made here: %v", err)
	}
	return *img.Created, nil
}

// attach waits for the documents and attaches each to what it describes:
// the pushed image, or the index and each platform's manifest; the
// provenance statement of each goes with it (without a key: with one it
// is a signed attestation, see attest), both in one attach. What was
// made here is described to the registry as made (media type and size);
// an image the daemon pushed is asked after. A nil job attaches the
// provenance alone.
func (j *sbomJob) attach(ctx context.Context, o run, m made, res *Result) error {
	if len(res.Tags) == 0 || (j == nil && !(o.Provenance && o.Key == nil)) {
		return nil
	}
	if j != nil {
		<-j.done
		if j.err != nil {
			return fmt.Errorf("making the SBOM: %w", j.err)
		}
		if !j.made {
			o.note("the SBOM is the one kept for this image")
		}
	}
	client := o.registry()
	folders := m.fileDigests
	// One subject at a time: the first teaches the session whether the
	// registry has the referrers API, which spares the others asking.
	for _, s := range pushedSubjects(m, res) {
		var as []registry.Artifact
		if j != nil {
			as = append(as, j.artifact(j.docs[s.platform]))
		}
		if o.Provenance && o.Key == nil { // with a key, a signed attestation instead (attest)
			statement, err := provenance.Statement(provenanceInput(o, s, folders))
			if err != nil {
				return err
			}
			as = append(as, provenanceArtifact(o, statement))
		}
		ds, err := client.AttachAll(ctx, o.Target.Repository, s.desc, as)
		if err != nil {
			what, flag, without := "its SBOM and provenance", "SBOM", field.Ref("SBOM")+" none "+field.Ref("Provenance")+" none pushes without them"
			switch {
			case len(as) == 1 && j != nil:
				what, without = "its SBOM", field.Ref("SBOM")+" none pushes without one"
			case len(as) == 1:
				what, flag, without = "its provenance", "Provenance", field.Ref("Provenance")+" none pushes without it"
			}
			return field.Wrap(flag, fmt.Errorf("the image is pushed, but %s could not be attached: %w; %s", what, err, without))
		}
		for i, a := range as {
			r := Referrer{Subject: s.desc.Digest.String(), Digest: ds[i].String(), ArtifactType: a.Type}
			if a.Type == sbom.MediaType {
				o.note("attached the SBOM %s to %s", ds[i], s.desc.Digest)
				res.SBOMs = append(res.SBOMs, r)
			} else {
				o.note("attached the provenance %s to %s", ds[i], s.desc.Digest)
				res.Provenance = append(res.Provenance, r)
			}
		}
	}
	return nil
}

// subject is a manifest or index pushed, which referrers, signatures and
// attestations are attached to; platform is its image's platform
// (os/arch[/variant]) in an index, "" for the image or the index.
type subject struct {
	desc     ocispec.Descriptor
	platform string
}

// pushedSubjects are what a run pushed: the manifest (or the index, and
// each platform's manifest in it), described as made here where it was,
// as the registry holds it (m.there), or by its digest alone for an image
// the daemon pushed. res holds a tag pushed.
func pushedSubjects(m made, res *Result) []subject {
	pushed := digest.Digest(res.Tags[0].Digest)
	switch {
	case m.index != nil, m.image != nil && m.image.Made.Manifest == pushed:
		return madeSubjects(m)
	case m.there != nil && m.there.Digest == pushed:
		return []subject{{desc: *m.there}}
	}
	return []subject{{desc: ocispec.Descriptor{Digest: pushed}}}
}

// madeSubjects are the subjects of an image or index made here, known
// before it is pushed; none for an image the daemon made.
func madeSubjects(m made) []subject {
	switch {
	case m.index != nil:
		subjects := []subject{{desc: m.index.Descriptor()}}
		for _, img := range m.index.Images {
			subjects = append(subjects, subject{img.Descriptor, builder.PlatformString(img.Descriptor.Platform)})
		}
		return subjects
	case m.image != nil:
		return []subject{{desc: m.image.Descriptor}}
	}
	return nil
}

// sbomTitle is the file name an SBOM blob carries, which oras pull writes.
const sbomTitle = "sbom.spdx.json"

// sbomAnnotations are an SBOM artifact's: the image's created time, so
// that the same image gets the same artifact.
func sbomAnnotations(created time.Time) map[string]string {
	return map[string]string{ocispec.AnnotationCreated: created.UTC().Format(time.RFC3339)}
}

// sbomParts are the SBOM's parts: for an index its platforms' images, in
// the order the plan gives them; else the one image. Each holds the files
// as its layers were written, when they were written in this run; a
// reused image's are nil, to be read again.
func sbomParts(o run, m made) []sbom.Part {
	if m.index != nil {
		byPlatform := map[string]builder.Image{}
		for _, img := range m.index.Images {
			byPlatform[builder.PlatformString(img.Descriptor.Platform)] = img
		}
		var parts []sbom.Part
		for _, p := range o.Platforms {
			parts = append(parts, sbom.Part{Platform: p.Platform, Files: byPlatform[builder.PlatformString(&p.Platform)].Made.Files})
		}
		return parts
	}
	platform, _ := o.imagePlatform()
	part := sbom.Part{Platform: platform, Files: m.files}
	if m.image != nil && m.image.Made.Files != nil {
		part.Files = m.image.Made.Files
	}
	return []sbom.Part{part}
}

// sbomDocs are docs by what they describe: "" the whole image, else a
// part's platform (os/arch[/variant]); nil without documents.
func sbomDocs(parts []sbom.Part, docs *sbom.Documents) map[string][]byte {
	if docs == nil {
		return nil
	}
	out := map[string][]byte{"": docs.Whole}
	for i, d := range docs.Parts {
		out[builder.PlatformString(&parts[i].Platform)] = d
	}
	return out
}
