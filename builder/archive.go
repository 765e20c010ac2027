package builder

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"

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
// those paths, untagged.
func manifestJSON(config string, layers []string) ([]byte, error) {
	return json.Marshal([]struct {
		Config   string
		RepoTags []string
		Layers   []string
	}{{Config: config, Layers: layers}})
}

func (d *dockerSave) finish(config []byte, _ ocispec.Platform) (Made, error) {
	id := digest.FromBytes(config)
	manifest, err := manifestJSON(id.Encoded()+".json", d.layers)
	if err != nil {
		return Made{}, err
	}
	if err := d.entry(id.Encoded()+".json", config); err != nil {
		return Made{}, err
	}
	if err := d.entry("manifest.json", manifest); err != nil {
		return Made{}, err
	}
	if err := d.tw.Close(); err != nil {
		return Made{}, fmt.Errorf("writing the image archive: %w", err)
	}
	return Made{Config: id}, nil
}

// ociLayout compresses each layer to a file in tmp, hashing the tar and the
// gzip stream in the same pass, then copies it into the archive as a blob.
// The gzip is klauspost/pgzip's: blocks of gzipBlock bytes compressed on
// every core, each with the previous block's end as its dictionary. Its
// bytes depend on the level and the block size only, never on how many
// blocks are in flight, so every machine makes the same layer digest.
type ociLayout struct {
	dockerSave
	tmp   string
	descs []ocispec.Descriptor
}

// gzipBlock is the size of the blocks a layer is compressed in. It is part
// of what the layer's digest is made of: changing it changes every digest
// of every --reproducible image on the containerd store.
const gzipBlock = 1 << 20

func blobPath(d digest.Digest) string { return "blobs/" + d.Algorithm().String() + "/" + d.Encoded() }

func (o *ociLayout) layer(write func(*tar.Writer, contents) error) (digest.Digest, error) {
	f, err := os.CreateTemp(o.tmp, "layer-")
	if err != nil {
		return "", fmt.Errorf("making a temporary file for a layer: %w", err)
	}
	defer f.Close()
	packed, plain := sha256.New(), sha256.New()
	var size countingWriter
	gz, err := pgzip.NewWriterLevel(io.MultiWriter(f, packed, &size), pgzip.DefaultCompression)
	if err != nil {
		return "", err
	}
	if err := gz.SetConcurrency(gzipBlock, runtime.GOMAXPROCS(0)); err != nil {
		return "", err
	}
	lw := tar.NewWriter(io.MultiWriter(gz, plain))
	if err := write(lw, fileBytes); err != nil {
		return "", changed(err)
	}
	if err := lw.Close(); err != nil {
		return "", changed(err)
	}
	if err := gz.Close(); err != nil {
		return "", fmt.Errorf("compressing a layer: %w", err)
	}
	desc := ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageLayerGzip,
		Digest:    digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(packed.Sum(nil))),
		Size:      int64(size),
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("reading back a compressed layer: %w", err)
	}
	name := blobPath(desc.Digest)
	if err := writeHeader(o.tw, o.layout.stamp(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: desc.Size, Mode: 0o644})); err != nil {
		return "", err
	}
	if _, err := io.Copy(o.tw, f); err != nil {
		return "", fmt.Errorf("writing %s: %w", name, err)
	}
	o.descs = append(o.descs, desc)
	o.layers = append(o.layers, name)
	return digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(plain.Sum(nil))), nil
}

func (o *ociLayout) finish(config []byte, platform ocispec.Platform) (Made, error) {
	cfg := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))}
	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfg,
		Layers:    o.descs,
	})
	if err != nil {
		return Made{}, err
	}
	man := ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageManifest,
		Digest:    digest.FromBytes(manifest),
		Size:      int64(len(manifest)),
		Platform:  &ocispec.Platform{OS: platform.OS, Architecture: platform.Architecture, Variant: platform.Variant},
	}
	index, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{man},
	})
	if err != nil {
		return Made{}, err
	}
	saved, err := manifestJSON(blobPath(cfg.Digest), o.layers)
	if err != nil {
		return Made{}, err
	}
	layoutFile, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return Made{}, err
	}
	for _, e := range []struct {
		name string
		body []byte
	}{
		{blobPath(cfg.Digest), config},
		{blobPath(man.Digest), manifest},
		{ocispec.ImageIndexFile, index},
		{ocispec.ImageLayoutFile, layoutFile},
		{"manifest.json", saved},
	} {
		if err := o.entry(e.name, e.body); err != nil {
			return Made{}, err
		}
	}
	if err := o.tw.Close(); err != nil {
		return Made{}, fmt.Errorf("writing the image archive: %w", err)
	}
	return Made{Config: cfg.Digest, Manifest: man.Digest}, nil
}
