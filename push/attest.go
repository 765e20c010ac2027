package push

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/field"
	"github.com/scratchpush/scratchpush/provenance"
	"github.com/scratchpush/scratchpush/registry"
	"github.com/scratchpush/scratchpush/sign"
)

// statementType is the artifact type of an unsigned in-toto statement
// attached as a referrer.
const statementType = "application/vnd.in-toto+json"

// spdxPredicate is the predicate type of an SPDX document in a cosign
// attestation (cosign attest --type spdxjson).
const spdxPredicate = "https://spdx.dev/Document"

// attest signs the pushed image with the key, when there is one: its
// signature (cosign's .sig), and its provenance and SBOM as signed
// attestations (cosign's .att), for the index and every platform's
// manifest of one. docs are the SBOM documents by platform, nil without
// any. A failure leaves the image pushed.
func attest(ctx context.Context, o run, m made, res *Result, docs map[string][]byte) error {
	if len(res.Tags) == 0 || o.Key == nil {
		return nil
	}
	client := o.registry()
	repo := o.Target.Repository
	folders := m.fileDigests
	// What a key signs goes up at once, every cosign image of every
	// subject: its round trips are those of one.
	type cosignImage struct {
		subject subject
		suffix  string
		layers  []sign.Layer
		// there says that a layer of the image stands for layers[i]:
		// this key's signature of the subject, or its attestation of the
		// same statement (a warm run's, kept rather than signed again).
		there  func(old sign.Layer, i int) bool
		digest digest.Digest
	}
	var images []*cosignImage
	for _, s := range pushedSubjects(m, res) {
		l, err := o.Key.Signature(repo.Name(), s.desc.Digest)
		if err != nil {
			return err
		}
		images = append(images, &cosignImage{subject: s, suffix: registry.SignatureSuffix, layers: []sign.Layer{l},
			there: func(old sign.Layer, _ int) bool { return o.Key.Signs(old, s.desc.Digest) }})
		attestations, statements, err := attestationsOf(ctx, o, s, folders, docs[s.platform])
		if err != nil {
			return err
		}
		if len(attestations) > 0 {
			images = append(images, &cosignImage{subject: s, suffix: registry.AttestationSuffix, layers: attestations,
				there: func(old sign.Layer, i int) bool { return o.Key.Attests(old, statements[i]) }})
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, img := range images {
		g.Go(func() (err error) {
			img.digest, err = client.AppendCosign(gctx, repo, img.subject.desc.Digest, img.suffix, img.layers, img.there)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return field.Wrap("SignKey", fmt.Errorf("the image is pushed, but its signatures and attestations could not be put beside it: %w; run again (an unchanged folder's image is not pushed again), or cosign sign --key with the same key", err))
	}
	for _, img := range images {
		at := Referrer{Subject: img.subject.desc.Digest.String(), Digest: img.digest.String()}
		if img.suffix == registry.SignatureSuffix {
			o.note("signed %s (%s)", img.subject.desc.Digest, img.digest)
			at.ArtifactType = sign.SimpleSigningType
			res.Signatures = append(res.Signatures, at)
			continue
		}
		o.note("attested %s (%s)", img.subject.desc.Digest, img.digest)
		for _, l := range img.layers {
			at.ArtifactType = l.Annotations[sign.PredicateTypeKey]
			res.Attestations = append(res.Attestations, at)
		}
	}
	return nil
}

// attestationsOf are the key's attestations of s, and the statement each
// attests: its provenance (without a key, a referrer beside the SBOM
// instead: sbomJob.attach) and doc, its SBOM, when there is one.
func attestationsOf(ctx context.Context, o run, s subject, folders map[string]digest.Digest, doc []byte) ([]sign.Layer, [][]byte, error) {
	var layers []sign.Layer
	var statements [][]byte
	add := func(statement []byte, predicateType string) error {
		l, err := o.Key.Attestation(ctx, statement, predicateType)
		if err == nil {
			layers, statements = append(layers, l), append(statements, statement)
		}
		return err
	}
	if o.Provenance {
		statement, err := provenance.Statement(provenanceInput(o, s, folders))
		if err != nil {
			return nil, nil, err
		}
		if err := add(statement, provenance.PredicateType); err != nil {
			return nil, nil, err
		}
	}
	if doc != nil {
		statement, err := spdxStatement(o.Target.Repository, s, doc)
		if err != nil {
			return nil, nil, err
		}
		if err := add(statement, spdxPredicate); err != nil {
			return nil, nil, err
		}
	}
	return layers, statements, nil
}

// prepareProvenance uploads the blobs of the provenance statements of an
// image or index made here, whose digests are known before the push, while
// it goes up: attaching them after the push is then their manifests
// alone, as for the SBOM. A failure is left to attest, which uploads what
// is not there.
func prepareProvenance(ctx context.Context, o run, m made) {
	if !o.Provenance || o.Key != nil {
		return
	}
	client, folders := o.registry(), m.fileDigests
	for _, s := range madeSubjects(m) {
		if statement, err := provenance.Statement(provenanceInput(o, s, folders)); err == nil {
			_ = client.Prepare(ctx, o.Target.Repository, provenanceArtifact(o, statement))
		}
	}
}

// provenanceArtifact is statement as the referrer attached without a key.
func provenanceArtifact(o run, statement []byte) registry.Artifact {
	return registry.Artifact{Type: statementType, Title: "provenance.intoto.json", Blob: statement, Annotations: sbomAnnotations(o.Created())}
}

// provenanceInput is what the provenance of s says: the run's parameters
// that shaped the image (the environment's names, never its values).
func provenanceInput(o run, s subject, folders map[string]digest.Digest) provenance.Input {
	env := make([]string, 0, len(o.Spec.Env))
	for _, kv := range o.Spec.Env {
		env = append(env, kv.Key)
	}
	sort.Strings(env)
	params := map[string]any{
		"repository": reference.FamiliarName(o.Target.Repository),
		"cmd":        o.Spec.Cmd,
		"entrypoint": o.Spec.Entrypoint,
		"ports":      portStrings(o.Spec.Ports),
		"envNames":   env,
		"workdir":    o.Spec.Workdir,
		"user":       o.Spec.User,
		"volumes":    o.Spec.Volumes,
		"stopSignal": o.Spec.StopSignal,
		"essentials": essentialNames(o),
		"platforms":  platformNames(o),
	}
	in := provenance.Input{
		Tool:       o.Tool,
		Parameters: params,
		Internal:   map[string]any{"push": pushVia(o), "builder": string(o.Builder), "reproducible": o.Reproducible},
		Source:     provenance.Source{URL: o.Source.URL, Revision: o.Source.Revision},
	}
	in.Subjects = []provenance.Subject{{Name: o.Target.Repository.Name(), Digest: s.desc.Digest}}
	in.Folders = map[string]digest.Digest{}
	for p, d := range folders {
		if s.platform == "" || p == s.platform {
			in.Folders[p] = d
		}
	}
	return in
}

// spdxStatement is doc, an SPDX document of s, as the in-toto statement
// cosign attest --type spdxjson makes of it.
func spdxStatement(repo reference.Named, s subject, doc []byte) ([]byte, error) {
	st := map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []map[string]any{{"name": repo.Name(), "digest": map[string]string{s.desc.Digest.Algorithm().String(): s.desc.Digest.Encoded()}}},
		"predicateType": spdxPredicate,
		"predicate":     json.RawMessage(doc),
	}
	return json.Marshal(st)
}

// portStrings are ports as EXPOSE writes them (5000/tcp).
func portStrings(ports []builder.Port) []string {
	out := make([]string, 0, len(ports))
	for _, p := range ports {
		out = append(out, p.String())
	}
	return out
}

// essentialNames are the essentials scratch-push added, by their flags'
// names (the paths given are this machine's, not the image's).
func essentialNames(o run) []string {
	var out []string
	e := o.Essentials
	if e.CACerts != "" {
		out = append(out, "ca-certs")
	}
	if e.TZData != "" {
		out = append(out, "tzdata")
	}
	if e.NonRoot != nil {
		out = append(out, fmt.Sprintf("nonroot=%s:%d", e.NonRoot.Name, e.NonRoot.UID))
	}
	if e.Tmp {
		out = append(out, "tmp")
	}
	return out
}

// platformNames are the platforms the run made images for.
func platformNames(o run) []string {
	if len(o.Platforms) == 0 {
		p, _ := o.imagePlatform()
		return []string{builder.PlatformString(&p)}
	}
	var out []string
	for _, p := range o.Platforms {
		out = append(out, builder.PlatformString(&p.Platform))
	}
	return out
}

// pushVia is who pushed the image: the daemon, or this process.
func pushVia(o run) string {
	if o.PushesHere() {
		return "direct"
	}
	return "daemon"
}
