package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/scratchpush/scratchpush/sign"
)

// Cosign's tags: where cosign keeps the signatures (.sig) and the
// attestations (.att) of a manifest, sha256-<hex>.sig, which cosign
// verify and verify-attestation read by default.
const (
	SignatureSuffix   = "sig"
	AttestationSuffix = "att"
)

// CosignTag is the tag cosign keeps subject's signatures or attestations
// (suffix SignatureSuffix, AttestationSuffix) under: the referrers tag
// schema's name for subject, and the suffix.
func CosignTag(subject digest.Digest, suffix string) string {
	return fallbackTag(subject) + "." + suffix
}

// AppendCosign adds layers to the image cosign keeps under subject's tag
// of suffix (SignatureSuffix, AttestationSuffix) in repo, as cosign sign
// and cosign attest append theirs: the image there is read, a layer it
// holds already (the same bytes and annotations) is not added twice, nor
// layers[i] when there(old, i) says a layer there stands for it (the same
// key's signature of the same subject), the new layers' blobs and the
// config go up, and the manifest is put under the tag; with nothing new,
// nothing is put, and the tag's manifest is returned. In round trips: the
// read with the uploads (POST, PUT), the blobs of the layers there when
// there asks after them, then the put; a tag that held layers already,
// one more for its config.
func (c *Client) AppendCosign(ctx context.Context, repo reference.Named, subject digest.Digest, suffix string, layers []sign.Layer, there func(old sign.Layer, i int) bool) (digest.Digest, error) {
	w, err := c.wire(ctx, repo)
	if err != nil {
		return "", err
	}
	tag := CosignTag(subject, suffix)
	var existing []ocispec.Descriptor
	var current digest.Digest // what the tag names now
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		body, _, err := w.get(gctx, "/manifests/"+tag, ocispec.MediaTypeImageManifest+", application/vnd.docker.distribution.manifest.v2+json")
		if err != nil || body == nil {
			return err
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(body, &m); err != nil {
			return fmt.Errorf("reading %s: %w", tag, err)
		}
		existing, current = m.Layers, digest.FromBytes(body)
		return nil
	})
	// The blobs go up meanwhile, sent rather than asked after (small, and
	// an ask costs as much), and the config of an image of the new layers
	// alone, the image's when the tag names none yet.
	var added []ocispec.Descriptor // layers', in their order
	uploading := map[digest.Digest]bool{}
	for _, l := range layers {
		d := l.Descriptor()
		added = append(added, d)
		if !uploading[d.Digest] {
			uploading[d.Digest] = true
			g.Go(func() error { return w.uploadBlob(gctx, l.Blob) })
		}
	}
	guess, _, err := sign.Image(distinct(added))
	if err != nil {
		return "", err
	}
	g.Go(func() error { return w.uploadBlob(gctx, guess) })
	if err := g.Wait(); err != nil {
		return "", classify(ctx, repo, fmt.Errorf("reading and uploading %s: %w", tag, err))
	}
	covered := w.covered(ctx, existing, layers, there)
	all := existing
	for i, d := range added {
		if !holds(all, d) && !covered[i] {
			all = append(all, d)
		}
	}
	if len(all) == len(existing) && current != "" {
		return current, nil // every layer stood for already
	}
	config, manifest, err := sign.Image(all)
	if err != nil {
		return "", err
	}
	if !bytes.Equal(config, guess) {
		if err := w.uploadBlob(ctx, config); err != nil {
			return "", classify(ctx, repo, fmt.Errorf("uploading the config of %s: %w", tag, err))
		}
	}
	p, err := w.putManifest(ctx, tag, ocispec.MediaTypeImageManifest, manifest)
	if err != nil {
		return "", classify(ctx, repo, fmt.Errorf("putting %s: %w", tag, err))
	}
	return p.digest, nil
}

// maxJudged bounds the layers there covered reads: the newest, as a
// registry may hold (or make up) any number.
const maxJudged = 32

// covered says which of the new layers a layer there stands for, as
// there judges it: the newest layers there of the new ones' media types
// and about their size (at most twice the largest) are read, at once.
func (w *wire) covered(ctx context.Context, existing []ocispec.Descriptor, layers []sign.Layer, there func(old sign.Layer, i int) bool) []bool {
	out := make([]bool, len(layers))
	if there == nil || len(existing) == 0 {
		return out
	}
	types, largest := map[string]bool{}, int64(0)
	for _, l := range layers {
		types[l.MediaType], largest = true, max(largest, int64(len(l.Blob)))
	}
	existing = existing[max(0, len(existing)-maxJudged):]
	olds := make([]sign.Layer, len(existing))
	var g errgroup.Group
	for j, d := range existing {
		if !types[d.MediaType] || d.Size > 2*largest+1024 {
			continue // not one of ours: a registry may list anything
		}
		g.Go(func() error {
			body, _, err := w.get(ctx, "/blobs/"+d.Digest.String(), "*/*")
			if err == nil && digest.FromBytes(body) == d.Digest {
				olds[j] = sign.Layer{MediaType: d.MediaType, Blob: body, Annotations: d.Annotations}
			}
			return nil
		})
	}
	_ = g.Wait()
	for i := range out {
		for _, old := range olds {
			if old.Blob != nil && there(old, i) {
				out[i] = true
				break
			}
		}
	}
	return out
}

// distinct is layers without repeats (holds).
func distinct(layers []ocispec.Descriptor) []ocispec.Descriptor {
	var out []ocispec.Descriptor
	for _, d := range layers {
		if !holds(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// holds says whether layers has d: the same bytes, media type and
// annotations.
func holds(layers []ocispec.Descriptor, d ocispec.Descriptor) bool {
	for _, l := range layers {
		if l.Digest == d.Digest && l.MediaType == d.MediaType && len(l.Annotations) == len(d.Annotations) {
			same := true
			for k, v := range d.Annotations {
				same = same && l.Annotations[k] == v
			}
			if same {
				return true
			}
		}
	}
	return false
}
