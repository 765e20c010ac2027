package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

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

// Attach pushes a's blob to repo as an OCI 1.1 artifact that refers to
// subject, a manifest or index already there: an image manifest of the
// given artifact type, the empty config, and blob as its one layer, which
// the referrers API lists under the subject. A registry without that API
// (Distribution 2.8) gets the OCI's fallback instead, an index tagged
// sha256-<subject hex> that lists the artifact, as oras reads it. The blob
// carries title as its file name (org.opencontainers.image.title), which
// oras pull writes it to. It returns the artifact manifest's digest.
func (c *Client) Attach(ctx context.Context, repo reference.Named, subject digest.Digest, a Artifact) (digest.Digest, error) {
	opts, err := c.repoOptions(ctx, repo)
	if err != nil {
		return "", classify(ctx, repo, err)
	}
	subjectRef, err := name.NewDigest(repo.Name()+"@"+subject.String(), c.nameOptions(reference.Domain(repo))...)
	if err != nil {
		return "", fmt.Errorf("naming %s@%s: %w", reference.FamiliarName(repo), subject, err)
	}
	desc, err := remote.Head(subjectRef, opts...)
	if err != nil {
		return "", classify(ctx, repo, fmt.Errorf("reading the manifest %s to attach to: %w", subject, err))
	}
	made, err := builder.MakeArtifact(ocispec.Descriptor{MediaType: string(desc.MediaType), Digest: subject, Size: desc.Size}, a.Type, a.Title, a.Blob, a.Annotations)
	if err != nil {
		return "", err
	}
	manifest, artifact := made.Manifest, made.Descriptor.Digest
	ref, err := name.NewDigest(repo.Name()+"@"+artifact.String(), c.nameOptions(reference.Domain(repo))...)
	if err != nil {
		return "", err
	}
	img, err := partial.CompressedToImage(artifactCore{manifest: manifest, blob: a.Blob, mediaType: a.Type})
	if err != nil {
		return "", err
	}
	if err := remote.Write(ref, img, opts...); err != nil {
		return "", classify(ctx, repo, fmt.Errorf("attaching %s to %s: %w", a.Type, subject, err))
	}
	return artifact, nil
}

// artifactCore is an artifact manifest as go-containerregistry's partial
// package wants a compressed image: the empty config, one blob.
type artifactCore struct {
	manifest, blob []byte
	mediaType      string
}

func (a artifactCore) RawConfigFile() ([]byte, error)      { return ocispec.DescriptorEmptyJSON.Data, nil }
func (a artifactCore) RawManifest() ([]byte, error)        { return a.manifest, nil }
func (a artifactCore) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func (a artifactCore) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h.String() != digest.FromBytes(a.blob).String() {
		return nil, fmt.Errorf("the artifact has no blob %s", h)
	}
	return blobLayer(a), nil
}

type blobLayer artifactCore

func (b blobLayer) Digest() (v1.Hash, error) { return v1.NewHash(digest.FromBytes(b.blob).String()) }
func (b blobLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(b.blob)), nil
}
func (b blobLayer) Size() (int64, error)                { return int64(len(b.blob)), nil }
func (b blobLayer) MediaType() (types.MediaType, error) { return types.MediaType(b.mediaType), nil }
