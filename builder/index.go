package builder

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Index is a multi-platform image made here: an OCI image index naming one
// image made here for each platform. It is an OCI index, not Docker's
// manifest list, because the manifests it names are OCI manifests (mixing
// the two is what the OCI and Docker's own tools avoid), and every
// registry and engine that takes a multi-platform image takes it.
type Index struct {
	// Images are the platforms' images, in the index's order.
	Images []Image
	// Manifest is the index blob, byte for byte as pushed; Digest its.
	Manifest []byte
	Digest   digest.Digest
	// ModTime stamps the archive's own entries.
	ModTime time.Time
}

// MakeIndex makes the index over images, ordered by platform so that the
// same images give the same digest whatever order they were made in, with
// the annotations given. Two images for one platform are refused: a
// runtime could pick either.
func MakeIndex(images []Image, annotations map[string]string) (Index, error) {
	images = slices.Clone(images)
	slices.SortFunc(images, func(a, b Image) int {
		return strings.Compare(PlatformString(a.Descriptor.Platform), PlatformString(b.Descriptor.Platform))
	})
	ix := Index{Images: images}
	descs := make([]ocispec.Descriptor, len(images))
	for i, img := range images {
		if img.Descriptor.Platform == nil {
			return Index{}, fmt.Errorf("image %s names no platform", img.Made.Manifest)
		}
		if i > 0 && PlatformString(images[i-1].Descriptor.Platform) == PlatformString(img.Descriptor.Platform) {
			return Index{}, fmt.Errorf("two images for %s: give each platform once", PlatformString(img.Descriptor.Platform))
		}
		descs[i] = img.Descriptor
		if ix.ModTime.IsZero() || img.ModTime.Before(ix.ModTime) {
			ix.ModTime = img.ModTime
		}
	}
	var err error
	ix.Manifest, err = json.Marshal(ocispec.Index{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageIndex,
		Manifests:   descs,
		Annotations: annotations,
	})
	if err != nil {
		return Index{}, err
	}
	ix.Digest = digest.FromBytes(ix.Manifest)
	return ix, nil
}

// PlatformString is os/architecture[/variant], as --platform takes it.
func PlatformString(p *ocispec.Platform) string {
	if p == nil {
		return ""
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Descriptor is the index blob's.
func (ix Index) Descriptor() ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: ix.Digest, Size: int64(len(ix.Manifest))}
}

// WriteArchive writes the index and every image's blobs as an OCI image
// layout for the containerd image store's load endpoint, which keeps the
// whole multi-platform image and names it by the index's digest. A blob
// that two images share is written once.
func (ix Index) WriteArchive(w io.Writer) error {
	tw := tar.NewWriter(w)
	stamp := Layout{ModTime: ix.ModTime}
	for _, b := range ix.blobs() {
		if err := b.writeTar(tw, stamp); err != nil {
			return err
		}
	}
	top, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{ix.Descriptor()},
	})
	if err != nil {
		return err
	}
	layoutFile, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return err
	}
	d := dockerSave{tw: tw, layout: stamp}
	for _, e := range []struct {
		name string
		body []byte
	}{
		{ocispec.ImageIndexFile, top},
		{ocispec.ImageLayoutFile, layoutFile},
	} {
		if err := d.entry(e.name, e.body); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("writing the image archive: %w", err)
	}
	return nil
}

// Archive is WriteArchive as a stream produced while it is read.
func (ix Index) Archive() io.ReadCloser {
	r, _ := streamed(ix.WriteArchive)
	return r
}

// Size is what the index's blobs weigh, each counted once.
func (ix Index) Size() int64 {
	var n int64
	for _, b := range ix.blobs() {
		n += b.size
	}
	return n
}
