package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/scratchpush/scratchpush/builder"
)

// Artifact is a blob to attach to a manifest: its artifact type, the file
// name it carries, its bytes and the artifact manifest's annotations.
type Artifact struct {
	Type        string
	Title       string
	Blob        []byte
	Annotations map[string]string
}

// Prepare uploads a's blobs (the blob and the empty config) to repo ahead
// of Attach, which then puts the artifact's manifest alone: a run uploads
// its SBOM while the image goes up, so that attaching it costs only the
// manifest's round trips after the push. Without a session it does
// nothing: Attach uploads them.
func (c *Client) Prepare(ctx context.Context, repo reference.Named, a Artifact) error {
	if c.session == nil {
		return nil
	}
	w, err := c.wire(ctx, repo)
	if err != nil {
		return err
	}
	return c.uploadArtifact(ctx, w, a)
}

// uploadArtifact uploads the blobs of a that are not in w's repository:
// those the session has not seen there are asked after (HEAD), and
// uploaded when missing.
func (c *Client) uploadArtifact(ctx context.Context, w *wire, a Artifact) error {
	g, gctx := errgroup.WithContext(ctx)
	blobs := [][]byte{a.Blob}
	if !bytes.Equal(a.Blob, ocispec.DescriptorEmptyJSON.Data) {
		blobs = append(blobs, ocispec.DescriptorEmptyJSON.Data)
	}
	for _, b := range blobs {
		d := digest.FromBytes(b)
		if c.session.uploaded(w.r.Name(), d) {
			continue
		}
		g.Go(func() error {
			there, err := w.hasBlob(gctx, d)
			if err != nil {
				return err
			}
			if !there {
				if err := w.uploadBlob(gctx, b); err != nil {
					return err
				}
			}
			c.session.upload(w.r.Name(), d)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return classify(ctx, w.repo, fmt.Errorf("uploading the %s: %w", a.Type, err))
	}
	return nil
}

// Attach pushes a's blob to repo as an OCI 1.1 artifact that refers to
// subject, a manifest or index already there: an image manifest of the
// given artifact type, the empty config, and blob as its one layer, which
// the referrers API lists under the subject. A registry without that API
// (Distribution 2.8) gets the OCI's fallback instead, an index tagged
// sha256-<subject hex> that lists the artifact, as oras reads it. The blob
// carries title as its file name (org.opencontainers.image.title), which
// oras pull writes it to. It returns the artifact manifest's digest.
//
// A registry has the referrers API when its answer to the manifest's put
// says it took up the subject (OCI-Subject), as the OCI's distribution
// spec 1.1 has registries with that API answer; else the fallback index
// is written. subject's media type and size are asked of the registry
// when not given (an image the daemon pushed). In round trips after the
// push: the subject asked after (when not given), the blobs Prepare did
// not upload and the fallback index read, all at once, the manifest put
// as soon as its blobs and subject are known (with the fallback's read,
// for a subject given and blobs uploaded); on a registry without the
// referrers API, the fallback index. The session
// learns whether the registry has the API, so that attaching the next
// subject does not read its fallback index unasked. A document Prepare
// did not upload (one kept for a reused image) may be attached already:
// the artifact's manifest and blobs are asked after with the fallback
// index, at once, and when they are there and listed nothing is put.
func (c *Client) Attach(ctx context.Context, repo reference.Named, subject ocispec.Descriptor, a Artifact) (digest.Digest, error) {
	ds, err := c.AttachAll(ctx, repo, subject, []Artifact{a})
	if err != nil {
		return "", err
	}
	return ds[0], nil
}

// AttachAll attaches each of as to subject as Attach does, together: the
// reads and puts of all go at once, and on a registry without the
// referrers API the fallback index, read once, is put once listing them
// all. It returns the artifacts' manifest digests, in as's order.
func (c *Client) AttachAll(ctx context.Context, repo reference.Named, subject ocispec.Descriptor, as []Artifact) ([]digest.Digest, error) {
	w, err := c.wire(ctx, repo)
	if err != nil {
		return nil, err
	}
	host := w.r.RegistryStr()
	hasAPI := c.session.referrersAPI(host)
	type attaching struct {
		a     Artifact
		made  builder.Artifact
		there bool // its manifest is in the registry already
		p     *put // its manifest's put, once made
	}
	all := make([]*attaching, len(as))
	var fallback *ocispec.Index
	var referred *ocispec.Index // what the referrers API lists, when asked
	g, gctx := errgroup.WithContext(ctx)
	known := subject.MediaType != "" && subject.Size > 0
	if !known {
		g.Go(func() error {
			desc, err := w.headManifest(gctx, subject.Digest.String())
			if err != nil {
				return fmt.Errorf("reading the manifest %s to attach to: %w", subject.Digest, err)
			}
			subject = desc
			return nil
		})
	}
	ask := false // whether the referrers API is asked what it lists
	for i, a := range as {
		at := &attaching{a: a}
		all[i] = at
		switch {
		case !known: // made once the subject is known
		case !c.session.uploaded(w.r.Name(), digest.FromBytes(a.Blob)):
			// Not uploaded in this run (a document kept for a reused
			// image): the artifact may be there, as an image pushed before
			// has it; asked after meanwhile.
			if at.made, err = builder.MakeArtifact(subject, a.Type, a.Title, a.Blob, a.Annotations); err != nil {
				return nil, err
			}
			ask = true
			g.Go(func() error {
				resp, err := w.do(gctx, http.MethodHead, w.url("/manifests/"+at.made.Descriptor.Digest.String()), http.Header{"Accept": {ocispec.MediaTypeImageManifest}}, nil, http.StatusOK, http.StatusNotFound)
				at.there = err == nil && resp.StatusCode == http.StatusOK
				return nil // not known: put it
			})
		default: // its blobs went up in this run (Prepare): its manifest is put at once
			if at.made, err = builder.MakeArtifact(subject, a.Type, a.Title, a.Blob, a.Annotations); err != nil {
				return nil, err
			}
			at.p = &put{}
		}
		g.Go(func() error {
			if err := c.uploadArtifact(gctx, w, at.a); err != nil || at.p == nil {
				return err
			}
			return w.putArtifact(gctx, at.made, subject, at.p)
		})
	}
	if ask {
		g.Go(func() error {
			referred = w.referrers(gctx, subject.Digest)
			return nil // not known: put it
		})
	}
	if !hasAPI { // read meanwhile, in case the registry has not the API
		g.Go(func() (err error) {
			fallback, err = w.fallbackIndex(gctx, subject.Digest)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, classify(ctx, repo, err)
	}
	// The others' manifests, at once, but those there and listed already.
	g, gctx = errgroup.WithContext(ctx)
	for _, at := range all {
		if at.p != nil {
			continue
		}
		if at.made.Manifest == nil {
			if at.made, err = builder.MakeArtifact(subject, at.a.Type, at.a.Title, at.a.Blob, at.a.Annotations); err != nil {
				return nil, err
			}
		}
		if at.there && (listed(referred, at.made.Descriptor.Digest) || listed(fallback, at.made.Descriptor.Digest)) {
			continue
		}
		at.p = &put{}
		g.Go(func() error { return w.putArtifact(gctx, at.made, subject, at.p) })
	}
	if err := g.Wait(); err != nil {
		return nil, classify(ctx, repo, err)
	}
	var ds []digest.Digest
	var unlisted []ocispec.Descriptor // put, and not yet listed by the registry
	for _, at := range all {
		ds = append(ds, at.made.Descriptor.Digest)
		if at.p == nil {
			continue
		}
		c.session.learnReferrers(host, at.p.subject)
		if !at.p.subject { // a registry that lists it says so (OCI-Subject), as the OCI's spec has it
			unlisted = append(unlisted, at.made.Descriptor)
		}
	}
	if len(unlisted) == 0 {
		return ds, nil
	}
	if fallback == nil { // not read meanwhile: the registry had said OCI-Subject before
		if fallback, err = w.fallbackIndex(ctx, subject.Digest); err != nil {
			return nil, classify(ctx, repo, err)
		}
	}
	if err := w.putFallback(ctx, subject.Digest, fallback, unlisted...); err != nil {
		return nil, classify(ctx, repo, fmt.Errorf("listing %s under %s in the referrers tag: %w", unlisted[0].Digest, subject.Digest, err))
	}
	return ds, nil
}

// putArtifact puts the artifact's manifest, made for subject, and keeps
// the registry's answer in p.
func (w *wire) putArtifact(ctx context.Context, made builder.Artifact, subject ocispec.Descriptor, p *put) error {
	got, err := w.putManifest(ctx, made.Descriptor.Digest.String(), ocispec.MediaTypeImageManifest, made.Manifest)
	if err != nil {
		return fmt.Errorf("attaching %s to %s: %w", made.Descriptor.ArtifactType, subject.Digest, err)
	}
	*p = got
	return nil
}

// listed says whether ix, a referrers tag's index, lists d.
func listed(ix *ocispec.Index, d digest.Digest) bool {
	if ix == nil {
		return false
	}
	for _, m := range ix.Manifests {
		if m.Digest == d {
			return true
		}
	}
	return false
}

// referrers is what the registry's referrers API lists for subject; nil
// when it has no such API or does not answer.
func (w *wire) referrers(ctx context.Context, subject digest.Digest) *ocispec.Index {
	return w.readIndex(ctx, "/referrers/"+subject.String())
}

// fallbackTag is the tag the OCI's referrers tag schema lists subject's
// referrers under.
func fallbackTag(subject digest.Digest) string {
	return subject.Algorithm().String() + "-" + subject.Encoded()
}

// fallbackIndex reads the index the referrers tag schema keeps for
// subject; none yet is an empty one.
func (w *wire) fallbackIndex(ctx context.Context, subject digest.Digest) (*ocispec.Index, error) {
	ix, err := w.getIndex(ctx, "/manifests/"+fallbackTag(subject))
	if err != nil {
		return nil, fmt.Errorf("reading the referrers tag of %s: %w", subject, err)
	}
	if ix == nil {
		ix = &ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	}
	return ix, nil
}

// readIndex is the OCI index at path, nil when it cannot be read.
func (w *wire) readIndex(ctx context.Context, path string) *ocispec.Index {
	ix, _ := w.getIndex(ctx, path)
	return ix
}

// getIndex reads the OCI index at path below the repository; nil when
// there is none (404).
func (w *wire) getIndex(ctx context.Context, path string) (*ocispec.Index, error) {
	body, _, err := w.get(ctx, path, ocispec.MediaTypeImageIndex)
	if err != nil || body == nil {
		return nil, err
	}
	ix := &ocispec.Index{}
	if err := json.Unmarshal(body, ix); err != nil {
		return nil, err
	}
	if ix.SchemaVersion != 2 || ix.MediaType != ocispec.MediaTypeImageIndex {
		return nil, fmt.Errorf("not an OCI image index (schema %d, %q)", ix.SchemaVersion, ix.MediaType)
	}
	return ix, nil
}

// putFallback lists adds in ix, the referrers tag's index of subject, and
// puts it back, unless it lists them already. The list is sorted by
// digest, as go-containerregistry and oras keep it.
func (w *wire) putFallback(ctx context.Context, subject digest.Digest, ix *ocispec.Index, adds ...ocispec.Descriptor) error {
	n := len(ix.Manifests)
	for _, add := range adds {
		if !listed(ix, add.Digest) {
			ix.Manifests = append(ix.Manifests, add)
		}
	}
	if len(ix.Manifests) == n {
		return nil
	}
	sort.Slice(ix.Manifests, func(i, j int) bool { return ix.Manifests[i].Digest < ix.Manifests[j].Digest })
	body, err := json.Marshal(ix)
	if err != nil {
		return err
	}
	_, err = w.putManifest(ctx, fallbackTag(subject), ocispec.MediaTypeImageIndex, body)
	return err
}
