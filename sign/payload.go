package sign

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// Media types and annotations of cosign's signature and attestation
// layers, as cosign verify and verify-attestation read them.
const (
	SimpleSigningType  = "application/vnd.dev.cosign.simplesigning.v1+json"
	DSSEType           = "application/vnd.dsse.envelope.v1+json"
	SignatureKey       = "dev.cosignproject.cosign/signature"
	PredicateTypeKey   = "predicateType"
	InTotoPayloadType  = "application/vnd.in-toto+json"
	simpleSigningClaim = "cosign container image signature"
)

// Layer is one signature or attestation as cosign stores it: a layer of
// the image its tag (sha256-<digest>.sig, .att) names, its bytes the
// payload, the signature in an annotation (or, for an attestation, in
// the DSSE envelope that is the payload).
type Layer struct {
	MediaType   string
	Blob        []byte
	Annotations map[string]string
}

// simpleSigning is the payload cosign signs for an image: Red Hat's
// simple signing format, as cosign writes it (sigstore's payload.Cosign).
type simpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// Signature signs the manifest (or index) subject of repository repo as
// cosign sign does: the layer of its .sig tag.
func (k *Key) Signature(repo string, subject digest.Digest) (Layer, error) {
	r, err := name.NewRepository(repo, name.WeakValidation)
	if err != nil {
		return Layer{}, fmt.Errorf("naming %s for the signature: %w", repo, err)
	}
	var p simpleSigning
	p.Critical.Identity.DockerReference = r.Name() // as go-containerregistry names it, as cosign does
	p.Critical.Image.DockerManifestDigest = subject.String()
	p.Critical.Type = simpleSigningClaim
	payload, err := json.Marshal(p)
	if err != nil {
		return Layer{}, err
	}
	sig, err := k.Sign(payload)
	if err != nil {
		return Layer{}, err
	}
	return Layer{MediaType: SimpleSigningType, Blob: payload, Annotations: map[string]string{SignatureKey: base64.StdEncoding.EncodeToString(sig)}}, nil
}

// Attestation signs statement, an in-toto statement of predicateType, as
// cosign attest does: a DSSE envelope, the layer of the .att tag.
func (k *Key) Attestation(ctx context.Context, statement []byte, predicateType string) (Layer, error) {
	es, err := dsse.NewEnvelopeSigner(dsseSigner{k})
	if err != nil {
		return Layer{}, err
	}
	env, err := es.SignPayload(ctx, InTotoPayloadType, statement)
	if err != nil {
		return Layer{}, fmt.Errorf("signing the attestation: %w", err)
	}
	blob, err := json.Marshal(env)
	if err != nil {
		return Layer{}, err
	}
	return Layer{MediaType: DSSEType, Blob: blob, Annotations: map[string]string{SignatureKey: "", PredicateTypeKey: predicateType}}, nil
}

// dsseSigner is a Key as DSSE's signer: the envelope's pre-authentication
// encoding signed as any payload, and no key ID, as cosign leaves it.
type dsseSigner struct{ k *Key }

func (s dsseSigner) Sign(_ context.Context, data []byte) ([]byte, error) { return s.k.Sign(data) }
func (s dsseSigner) KeyID() (string, error)                              { return "", nil }

// Descriptor is l as its image's manifest lists it.
func (l Layer) Descriptor() ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: l.MediaType, Digest: digest.FromBytes(l.Blob), Size: int64(len(l.Blob)), Annotations: l.Annotations}
}

// Image is the image cosign keeps signatures or attestations in, of
// layers: an OCI manifest of them, and a config naming them as its file
// system (what go-containerregistry's empty image appended with them
// gives; cosign's verify reads the layers and their annotations alone).
func Image(layers []ocispec.Descriptor) (config, manifest []byte, err error) {
	img := ocispec.Image{RootFS: ocispec.RootFS{Type: "layers"}}
	for _, l := range layers {
		img.RootFS.DiffIDs = append(img.RootFS.DiffIDs, l.Digest)
	}
	if config, err = json.Marshal(img); err != nil {
		return nil, nil, err
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))},
		Layers:    layers,
	}
	if manifest, err = json.Marshal(m); err != nil {
		return nil, nil, err
	}
	return config, manifest, nil
}
