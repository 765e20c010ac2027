package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
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

// uploadArtifact uploads the blobs of a the session has not uploaded to
// w's repository in this run.
func (c *Client) uploadArtifact(ctx context.Context, w *wire, a Artifact) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, b := range [][]byte{a.Blob, ocispec.DescriptorEmptyJSON.Data} {
		if c.session.uploaded(w.r.Name(), digest.FromBytes(b)) {
			continue
		}
		g.Go(func() error {
			if err := w.uploadBlob(gctx, b); err != nil {
				return err
			}
			c.session.upload(w.r.Name(), digest.FromBytes(b))
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
// not upload and the fallback index read, all at once; the manifest; on a
// registry without the referrers API, the fallback index. The session
// learns whether the registry has the API, so that attaching the next
// subject does not read its fallback index unasked.
func (c *Client) Attach(ctx context.Context, repo reference.Named, subject ocispec.Descriptor, a Artifact) (digest.Digest, error) {
	w, err := c.wire(ctx, repo)
	if err != nil {
		return "", err
	}
	host := w.r.RegistryStr()
	hasAPI := c.session.referrersAPI(host)
	var fallback *ocispec.Index
	g, gctx := errgroup.WithContext(ctx)
	if subject.MediaType == "" || subject.Size <= 0 {
		g.Go(func() error {
			desc, err := w.headManifest(gctx, subject.Digest.String())
			if err != nil {
				return fmt.Errorf("reading the manifest %s to attach to: %w", subject.Digest, err)
			}
			subject = desc
			return nil
		})
	}
	if !hasAPI { // read meanwhile, in case the registry has not the API
		g.Go(func() (err error) {
			fallback, err = w.fallbackIndex(gctx, subject.Digest)
			return err
		})
	}
	g.Go(func() error { return c.uploadArtifact(gctx, w, a) })
	if err := g.Wait(); err != nil {
		return "", classify(ctx, repo, err)
	}
	made, err := builder.MakeArtifact(subject, a.Type, a.Title, a.Blob, a.Annotations)
	if err != nil {
		return "", err
	}
	p, err := w.putManifest(ctx, made.Descriptor.Digest.String(), ocispec.MediaTypeImageManifest, made.Manifest)
	if err != nil {
		return "", classify(ctx, repo, fmt.Errorf("attaching %s to %s: %w", a.Type, subject.Digest, err))
	}
	c.session.learnReferrers(host, p.subject)
	if p.subject { // the registry lists it: it says so (OCI-Subject), as the OCI's spec has it
		return made.Descriptor.Digest, nil
	}
	if fallback == nil { // not read meanwhile: the registry had said OCI-Subject before
		if fallback, err = w.fallbackIndex(ctx, subject.Digest); err != nil {
			return "", classify(ctx, repo, err)
		}
	}
	if err := w.putFallback(ctx, subject.Digest, fallback, made.Descriptor); err != nil {
		return "", classify(ctx, repo, fmt.Errorf("listing %s under %s in the referrers tag: %w", made.Descriptor.Digest, subject.Digest, err))
	}
	return made.Descriptor.Digest, nil
}

// fallbackTag is the tag the OCI's referrers tag schema lists subject's
// referrers under.
func fallbackTag(subject digest.Digest) string {
	return subject.Algorithm().String() + "-" + subject.Encoded()
}

// fallbackIndex reads the index the referrers tag schema keeps for
// subject; none yet is an empty one.
func (w *wire) fallbackIndex(ctx context.Context, subject digest.Digest) (*ocispec.Index, error) {
	u := w.url("/manifests/" + fallbackTag(subject))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", ocispec.MediaTypeImageIndex)
	resp, err := w.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading the referrers tag of %s: %w", subject, err)
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK, http.StatusNotFound); err != nil {
		return nil, fmt.Errorf("reading the referrers tag of %s: %w", subject, err)
	}
	ix := &ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	if resp.StatusCode == http.StatusNotFound {
		return ix, nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(ix); err != nil {
		return nil, fmt.Errorf("reading the referrers tag of %s: %w", subject, err)
	}
	if ix.SchemaVersion != 2 || ix.MediaType != ocispec.MediaTypeImageIndex {
		return nil, fmt.Errorf("the referrers tag of %s is not an OCI image index (schema %d, %q)", subject, ix.SchemaVersion, ix.MediaType)
	}
	return ix, nil
}

// putFallback lists add in ix, the referrers tag's index of subject, and
// puts it back, unless it lists add already. The list is sorted by digest,
// as go-containerregistry and oras keep it.
func (w *wire) putFallback(ctx context.Context, subject digest.Digest, ix *ocispec.Index, add ocispec.Descriptor) error {
	for _, d := range ix.Manifests {
		if d.Digest == add.Digest {
			return nil
		}
	}
	ix.Manifests = append(ix.Manifests, add)
	sort.Slice(ix.Manifests, func(i, j int) bool { return ix.Manifests[i].Digest < ix.Manifests[j].Digest })
	body, err := json.Marshal(ix)
	if err != nil {
		return err
	}
	_, err = w.putManifest(ctx, fallbackTag(subject), ocispec.MediaTypeImageIndex, body)
	return err
}
