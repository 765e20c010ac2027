package builder

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/distribution/reference"
	"github.com/klauspost/pgzip"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The two archive formats WriteImage writes: docker save's and an OCI
// image layout. See Format.

type dockerSave struct {
	tw     *tar.Writer
	layout Layout
	layers []string // the archive's paths of the layers, bottom first
}

func (d *dockerSave) entry(name string, body []byte) error {
	if err := writeHeader(d.tw, d.layout.stamp(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(body)), Mode: 0o644})); err != nil {
		return err
	}
	if _, err := d.tw.Write(body); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

func (d *dockerSave) layer(write func(*tar.Writer, contents) error) (digest.Digest, error) {
	var size countingWriter
	sizer := tar.NewWriter(&size)
	if err := write(sizer, zeros); err != nil {
		return "", err
	}
	if err := sizer.Close(); err != nil {
		return "", err
	}
	name := fmt.Sprintf("layers/%d/layer.tar", len(d.layers))
	if err := writeHeader(d.tw, d.layout.stamp(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(size), Mode: 0o644})); err != nil {
		return "", err
	}
	h := sha256.New()
	lw := tar.NewWriter(io.MultiWriter(d.tw, h))
	if err := write(lw, fileBytes); err != nil {
		return "", changed(err)
	}
	if err := lw.Close(); err != nil {
		return "", changed(err)
	}
	d.layers = append(d.layers, name)
	return digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil))), nil
}

// manifestJSON is docker save's manifest.json for the config and layers at
// those paths, tagged with tags.
func manifestJSON(config string, layers []string, tags []reference.NamedTagged) ([]byte, error) {
	var repoTags []string
	for _, t := range tags {
		repoTags = append(repoTags, reference.FamiliarString(t))
	}
	return json.Marshal([]struct {
		Config   string
		RepoTags []string
		Layers   []string
	}{{Config: config, RepoTags: repoTags, Layers: layers}})
}

func (d *dockerSave) finish(img *Image, _ ocispec.Platform) error {
	id := digest.FromBytes(img.Config)
	manifest, err := manifestJSON(id.Encoded()+".json", d.layers, nil)
	if err != nil {
		return err
	}
	if err := d.entry(id.Encoded()+".json", img.Config); err != nil {
		return err
	}
	if err := d.entry("manifest.json", manifest); err != nil {
		return err
	}
	if err := d.tw.Close(); err != nil {
		return fmt.Errorf("writing the image archive: %w", err)
	}
	img.Made = Made{Config: id}
	return nil
}

// containerdName is the annotation of an index.json entry that names the
// image in full for the containerd image store, as docker save writes it.
const containerdName = "io.containerd.image.name"

// Image is an image made here whose layers are gzip blobs in files: what
// MakeImage returns, for a push from here and for the load endpoint.
type Image struct {
	Made
	// Config and Manifest are the blobs of the image config and the OCI
	// manifest, byte for byte as pushed.
	Config, Manifest []byte
	// Layers are the compressed layers, bottom first.
	Layers []Layer
	// Descriptor is the manifest's, with the platform, as an index names it.
	Descriptor ocispec.Descriptor
	// ModTime stamps the archive's own entries.
	ModTime time.Time
	// annotations, from Layout, go in the manifest when it is made.
	annotations map[string]string
	// names are what an archive of it names it (Named).
	names []reference.NamedTagged
}

// Named is the image whose archive names it by tags, as docker save's
// does, so that docker load and podman load tag it REPOSITORY:TAG:
// manifest.json's RepoTags, and in index.json an entry per tag with its
// full name (io.containerd.image.name, which the containerd image store
// reads) and its tag (org.opencontainers.image.ref.name). An archive for
// the load endpoint stays unnamed: the run tags the image itself, and
// undoes its tags when the push fails.
func (img Image) Named(tags []reference.NamedTagged) Image {
	img.names = tags
	return img
}

// Size is what the image's blobs weigh: the compressed layers, the config
// and the manifest.
func (img Image) Size() int64 {
	n := int64(len(img.Config) + len(img.Manifest))
	for _, l := range img.Layers {
		n += l.Size
	}
	return n
}

// Layer is one compressed layer of an Image.
type Layer struct {
	// Descriptor is the gzip blob's: media type, digest, size.
	ocispec.Descriptor
	// DiffID is the digest of the uncompressed tar, as the config lists it.
	DiffID digest.Digest
	// Path is the file holding the blob.
	Path string
}

// ErrNotKept is what opening a layer of a parsed image gives: its blob
// was not kept here.
var ErrNotKept = errors.New("the layer's blob is not kept here")

// Open reads the layer's blob.
func (l Layer) Open() (io.ReadCloser, error) {
	if l.Path == "" {
		return nil, fmt.Errorf("layer %s: %w", l.Digest, ErrNotKept)
	}
	return os.Open(l.Path)
}

// ParseImage is the Image that manifest and config make, as MakeImage
// made them, without its layers' files: enough to push it again to a
// registry that still has the layers.
func ParseImage(manifest, config []byte) (Image, error) {
	var m ocispec.Manifest
	var c ocispec.Image
	if err := json.Unmarshal(manifest, &m); err != nil {
		return Image{}, fmt.Errorf("reading a manifest: %w", err)
	}
	if err := json.Unmarshal(config, &c); err != nil {
		return Image{}, fmt.Errorf("reading an image config: %w", err)
	}
	if m.Config.Digest != digest.FromBytes(config) || len(m.Layers) != len(c.RootFS.DiffIDs) {
		return Image{}, errors.New("the manifest does not go with the config")
	}
	img := Image{
		Made:     Made{Config: m.Config.Digest, Manifest: digest.FromBytes(manifest)},
		Config:   config,
		Manifest: manifest,
	}
	for i, d := range m.Layers {
		img.Layers = append(img.Layers, Layer{Descriptor: d, DiffID: c.RootFS.DiffIDs[i]})
	}
	img.Descriptor = ocispec.Descriptor{MediaType: m.MediaType, Digest: img.Made.Manifest, Size: int64(len(manifest)), Platform: &c.Platform}
	return img, nil
}

// ociLayout compresses each layer to a file in tmp, hashing the tar and the
// gzip stream in the same pass, and when tw is set copies it into that
// archive as a blob. The gzip is klauspost/pgzip's: blocks of gzipBlock
// bytes compressed on every core, each with the previous block's end as
// its dictionary. Its bytes depend on the level and the block size only,
// never on how many blocks are in flight, so every machine makes the same
// layer digest.
type ociLayout struct {
	tmp    string
	tee    func() LayerTee // nil: none
	tw     *tar.Writer     // nil: make the layers only (MakeImage)
	stamp  Layout
	layers []Layer
}

// gzipBlock is the size of the blocks a layer is compressed in. It is part
// of what the layer's digest is made of: changing it changes every digest
// of every image made here for the containerd store or a push from here.
const gzipBlock = 1 << 20

// gzipBlocks is how many blocks are compressed at once: one a core, up to
// four, which compress a gigabyte in well under a second.
func gzipBlocks() int { return min(runtime.GOMAXPROCS(0), 4) }

// CompressMemory is the heap that compressing a layer takes, on top of the
// rest: the blocks in flight, their output, and the compressors' state.
// Below it, a memory limit (debug.SetMemoryLimit) keeps the garbage
// collector running all the time and compression slows fivefold.
func CompressMemory() int64 { return int64(gzipBlocks()) * 8 << 20 }

func blobPath(d digest.Digest) string { return "blobs/" + d.Algorithm().String() + "/" + d.Encoded() }

func (o *ociLayout) layer(write func(*tar.Writer, contents) error) (digest.Digest, error) {
	f, err := os.CreateTemp(o.tmp, "layer-")
	if err != nil {
		return "", fmt.Errorf("making a temporary file for a layer: %w", err)
	}
	defer f.Close()
	packed, plain := sha256.New(), sha256.New()
	var size countingWriter
	out := []io.Writer{f, packed, &size}
	var tee LayerTee
	if o.tee != nil {
		tee = o.tee()
		out = append(out, tee)
	}
	d, err := o.compress(io.MultiWriter(out...), packed, plain, &size, f, write)
	if tee != nil {
		_ = tee.Commit(d.Digest, err) // a layer not streamed is sent from its file
	}
	if err != nil {
		return "", err
	}
	l := Layer{Descriptor: d, DiffID: digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(plain.Sum(nil))), Path: f.Name()}
	if o.tw != nil {
		if err := copyBlob(o.tw, l, o.stamp); err != nil {
			return "", err
		}
	}
	o.layers = append(o.layers, l)
	return l.DiffID, nil
}

// compress writes a layer through gzip to out, whose bytes packed hashes
// and size counts, and returns its descriptor; plain hashes the tar.
func (o *ociLayout) compress(out io.Writer, packed, plain hash.Hash, size *countingWriter, f *os.File, write func(*tar.Writer, contents) error) (ocispec.Descriptor, error) {
	gz, err := pgzip.NewWriterLevel(out, pgzip.DefaultCompression)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := gz.SetConcurrency(gzipBlock, gzipBlocks()); err != nil {
		return ocispec.Descriptor{}, err
	}
	lw := tar.NewWriter(io.MultiWriter(gz, plain))
	if err := write(lw, fileBytes); err != nil {
		return ocispec.Descriptor{}, changed(err)
	}
	if err := lw.Close(); err != nil {
		return ocispec.Descriptor{}, changed(err)
	}
	if err := gz.Close(); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("compressing a layer: %w", err)
	}
	if err := f.Close(); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("writing a compressed layer: %w", err)
	}
	return ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageLayerGzip,
		Digest:    digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(packed.Sum(nil))),
		Size:      int64(*size),
	}, nil
}

// copyBlob writes a layer's blob into the archive.
func copyBlob(tw *tar.Writer, l Layer, stamp Layout) error {
	f, err := l.Open()
	if err != nil {
		return fmt.Errorf("reading back a compressed layer: %w", err)
	}
	defer f.Close()
	name := blobPath(l.Digest)
	if err := writeHeader(tw, stamp.stamp(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: l.Size, Mode: 0o644})); err != nil {
		return err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

func (o *ociLayout) finish(img *Image, platform ocispec.Platform) error {
	img.Layers = o.layers
	cfg := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(img.Config), Size: int64(len(img.Config))}
	descs := make([]ocispec.Descriptor, len(o.layers))
	for i, l := range o.layers {
		descs[i] = l.Descriptor
	}
	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageManifest,
		Config:      cfg,
		Layers:      descs,
		Annotations: img.annotations,
	})
	if err != nil {
		return err
	}
	img.Manifest = manifest
	img.Descriptor = ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageManifest,
		Digest:    digest.FromBytes(manifest),
		Size:      int64(len(manifest)),
		Platform:  &ocispec.Platform{OS: platform.OS, Architecture: platform.Architecture, Variant: platform.Variant},
	}
	img.Made = Made{Config: cfg.Digest, Manifest: img.Descriptor.Digest}
	if o.tw == nil {
		return nil
	}
	return img.writeTail(o.tw)
}

// WriteArchive writes the image as WriteImage's OCILayout does, for the
// load endpoint: the blobs as they are, so that the containerd image store
// keeps and pushes them unchanged. The classic store and Podman take it
// too, decompressing the layers.
func (img Image) WriteArchive(w io.Writer) error {
	tw := tar.NewWriter(w)
	for _, l := range img.Layers {
		if err := copyBlob(tw, l, Layout{ModTime: img.ModTime}); err != nil {
			return err
		}
	}
	return img.writeTail(tw)
}

// Archive is WriteArchive as a stream produced while it is read.
func (img Image) Archive() io.ReadCloser {
	r, _ := streamed(img.WriteArchive)
	return r
}

// writeTail writes what follows the layers in the OCI archive: the config
// and manifest blobs, index.json, oci-layout, and docker save's
// manifest.json for loaders that read only that. It closes tw.
func (img Image) writeTail(tw *tar.Writer) error {
	layers := make([]string, len(img.Layers))
	for i, l := range img.Layers {
		layers[i] = blobPath(l.Digest)
	}
	var names []map[string]string
	for _, t := range img.names {
		names = append(names, map[string]string{ocispec.AnnotationRefName: t.Tag(), containerdName: t.String()})
	}
	index, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: named(img.Descriptor, names),
	})
	if err != nil {
		return err
	}
	saved, err := manifestJSON(blobPath(img.Made.Config), layers, img.names)
	if err != nil {
		return err
	}
	layoutFile, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return err
	}
	d := dockerSave{tw: tw, layout: Layout{ModTime: img.ModTime}}
	for _, e := range []struct {
		name string
		body []byte
	}{
		{blobPath(img.Made.Config), img.Config},
		{blobPath(img.Made.Manifest), img.Manifest},
		{ocispec.ImageIndexFile, index},
		{ocispec.ImageLayoutFile, layoutFile},
		{"manifest.json", saved},
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
