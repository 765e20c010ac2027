package builder

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Artifact is an OCI 1.1 artifact that refers to an image or index (its
// subject), as an SBOM does: an image manifest of its artifact type, the
// empty config, and one blob.
type Artifact struct {
	Manifest []byte
	Blob     []byte
	// Descriptor is the manifest's, with the artifact type and the
	// manifest's annotations, as a referrers list names it.
	Descriptor ocispec.Descriptor
}

// MakeArtifact makes the artifact of artifactType whose blob, titled title
// (org.opencontainers.image.title, the file name oras pull writes), refers
// to subject.
func MakeArtifact(subject ocispec.Descriptor, artifactType, title string, blob []byte, annotations map[string]string) (Artifact, error) {
	subject = ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       ocispec.DescriptorEmptyJSON,
		Layers: []ocispec.Descriptor{{MediaType: artifactType, Digest: digest.FromBytes(blob), Size: int64(len(blob)),
			Annotations: map[string]string{ocispec.AnnotationTitle: title}}},
		Subject:     &subject,
		Annotations: annotations,
	})
	if err != nil {
		return Artifact{}, err
	}
	return Artifact{Manifest: manifest, Blob: blob, Descriptor: ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageManifest, ArtifactType: artifactType,
		Digest: digest.FromBytes(manifest), Size: int64(len(manifest)), Annotations: annotations,
	}}, nil
}

// layoutBlob is a blob of an image made here: in memory, or in a file.
type layoutBlob struct {
	digest digest.Digest
	size   int64
	data   []byte
	path   string
}

func memoryBlob(b []byte) layoutBlob {
	return layoutBlob{digest: digest.FromBytes(b), size: int64(len(b)), data: b}
}

// layoutBlobs are the image's blobs: its layers, config and manifest.
func (img Image) layoutBlobs() []layoutBlob {
	var out []layoutBlob
	for _, l := range img.Layers {
		out = append(out, layoutBlob{digest: l.Digest, size: l.Size, path: l.Path})
	}
	return append(out, memoryBlob(img.Config), memoryBlob(img.Manifest))
}

// blobs are the index's blobs, each once: every image's, then the index.
func (ix Index) blobs() []layoutBlob {
	var out []layoutBlob
	seen := map[digest.Digest]bool{}
	for _, img := range ix.Images {
		for _, b := range img.layoutBlobs() {
			if !seen[b.digest] {
				seen[b.digest] = true
				out = append(out, b)
			}
		}
	}
	return append(out, memoryBlob(ix.Manifest))
}

// writeTar writes the blob into an archive, under blobs/.
func (b layoutBlob) writeTar(tw *tar.Writer, stamp Layout) error {
	if b.path == "" {
		return (&dockerSave{tw: tw, layout: stamp}).entry(blobPath(b.digest), b.data)
	}
	return copyBlob(tw, Layer{Descriptor: ocispec.Descriptor{Digest: b.digest, Size: b.size}, Path: b.path}, stamp)
}

// Beside is what a layout holds beside its image: an artifact referring
// to it (Artifact.Beside), or an image of cosign's signatures: the
// descriptor index.json lists it by, and every blob it needs.
type Beside struct {
	Descriptor ocispec.Descriptor
	Blobs      [][]byte
}

// Beside is the artifact as a layout holds it: its manifest, blob and
// the empty config.
func (a Artifact) Beside() Beside {
	return Beside{a.Descriptor, [][]byte{a.Manifest, a.Blob, ocispec.DescriptorEmptyJSON.Data}}
}

// WriteLayout writes the image as an OCI image layout into dir, which must
// not exist or be empty: its blobs, and index.json naming it once by each
// of names (org.opencontainers.image.ref.name: tags, as skopeo's
// oci:DIR:TAG and umoci look them up), or once unnamed, with its platform
// (as syft picks an image), with annotations besides; what goes beside it
// (artifacts referring to it, as oras keeps referrers in a layout; cosign's
// signature images) is listed after it. A failure removes what was
// written.
func (img Image) WriteLayout(dir string, names []string, annotations map[string]string, beside []Beside) error {
	return writeLayout(dir, img.layoutBlobs(), img.Descriptor, names, annotations, beside)
}

// WriteLayout writes the index and every platform's image as WriteLayout
// of an Image does.
func (ix Index) WriteLayout(dir string, names []string, annotations map[string]string, beside []Beside) error {
	return writeLayout(dir, ix.blobs(), ix.Descriptor(), names, annotations, beside)
}

// named is top once per set of annotations (each naming it), or once
// unnamed without any.
func named(top ocispec.Descriptor, names []map[string]string) []ocispec.Descriptor {
	if len(names) == 0 {
		return []ocispec.Descriptor{top}
	}
	out := make([]ocispec.Descriptor, len(names))
	for i, annotations := range names {
		out[i] = top
		out[i].Annotations = annotations
	}
	return out
}

func writeLayout(dir string, blobs []layoutBlob, top ocispec.Descriptor, names []string, annotations map[string]string, beside []Beside) (err error) {
	made, err := emptyDir(dir)
	if err != nil {
		return err
	}
	defer func() {
		// A failure leaves what was there: no folder when it was made
		// here, else the user's empty folder (or link to one), emptied.
		switch {
		case err == nil:
		case made:
			os.RemoveAll(dir)
		default:
			for _, name := range []string{ocispec.ImageIndexFile, ocispec.ImageLayoutFile, ocispec.ImageBlobsDir} {
				os.RemoveAll(filepath.Join(dir, name))
			}
		}
	}()
	var refNames []map[string]string
	for _, name := range names {
		refNames = append(refNames, map[string]string{ocispec.AnnotationRefName: name})
	}
	if len(annotations) > 0 {
		if len(refNames) == 0 {
			refNames = []map[string]string{{}}
		}
		for _, m := range refNames {
			maps.Copy(m, annotations)
		}
	}
	manifests := named(top, refNames)
	for _, b := range beside {
		for _, blob := range b.Blobs {
			blobs = append(blobs, memoryBlob(blob))
		}
		manifests = append(manifests, b.Descriptor)
	}
	written := map[digest.Digest]bool{}
	for _, b := range blobs {
		if written[b.digest] {
			continue
		}
		written[b.digest] = true
		if err := writeBlob(dir, b); err != nil {
			return err
		}
	}
	index, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: manifests})
	if err != nil {
		return err
	}
	layoutFile, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ocispec.ImageLayoutFile), layoutFile, 0o644); err != nil {
		return fmt.Errorf("writing the image layout: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ocispec.ImageIndexFile), index, 0o644); err != nil {
		return fmt.Errorf("writing the image layout: %w", err)
	}
	return nil
}

// emptyDir makes dir (made is then true), or takes it when it is an empty
// folder.
func emptyDir(dir string) (made bool, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Mkdir(dir, 0o755); err != nil {
			return false, fmt.Errorf("making %s for the image layout: %w", dir, err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("%s, for the image layout: %w", dir, err)
	case len(entries) > 0:
		return false, fmt.Errorf("%s is not empty: give a new or empty folder for the image layout", dir)
	}
	return false, nil
}

func writeBlob(dir string, b layoutBlob) error {
	path := filepath.Join(dir, filepath.FromSlash(blobPath(b.digest)))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing the image layout: %w", err)
	}
	if b.path == "" {
		if err := os.WriteFile(path, b.data, 0o644); err != nil {
			return fmt.Errorf("writing the image layout: %w", err)
		}
		return nil
	}
	in, err := os.Open(b.path)
	if err != nil {
		return fmt.Errorf("reading back a compressed layer: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("writing the image layout: %w", err)
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
