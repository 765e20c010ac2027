package builder

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ImageConfig is the image config for spec over layers with the given diff
// IDs, the first of them the essentials' when essentials: the same settings
// the build endpoint gives for the same options, and nothing that depends
// on when or where it is made except created.
func ImageConfig(spec Spec, platform ocispec.Platform, created time.Time, diffIDs []digest.Digest, essentials bool) ([]byte, error) {
	created = created.UTC()
	img := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{OS: platform.OS, Architecture: platform.Architecture, Variant: platform.Variant},
		Config: ocispec.ImageConfig{
			User:       spec.User,
			Env:        imageEnv(spec.Env),
			Entrypoint: spec.Entrypoint,
			Cmd:        spec.Cmd,
			WorkingDir: NormalizeWorkdir(spec.Workdir),
			StopSignal: spec.StopSignal,
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
	}
	if img.Config.WorkingDir == "" {
		img.Config.WorkingDir = "/"
	}
	for _, p := range ExpandPorts(spec.Ports) {
		if img.Config.ExposedPorts == nil {
			img.Config.ExposedPorts = map[string]struct{}{}
		}
		img.Config.ExposedPorts[p] = struct{}{}
	}
	for _, v := range spec.Volumes {
		if img.Config.Volumes == nil {
			img.Config.Volumes = map[string]struct{}{}
		}
		img.Config.Volumes[v] = struct{}{}
	}
	for _, l := range spec.Labels {
		if img.Config.Labels == nil {
			img.Config.Labels = map[string]string{}
		}
		img.Config.Labels[l.Key] = l.Value
	}
	folderLayers := len(diffIDs)
	if essentials {
		folderLayers--
		img.History = append(img.History, ocispec.History{Created: &created, CreatedBy: "scratch-push: essentials"})
	}
	for i := 0; i < folderLayers; i++ {
		img.History = append(img.History, ocispec.History{
			Created:   &created,
			CreatedBy: fmt.Sprintf("scratch-push: the folder, layer %d of %d", i+1, folderLayers),
		})
	}
	return json.Marshal(img)
}

// imageEnv is the environment as docker build leaves it: Docker's default
// PATH first unless set, and a later value of a key replacing the earlier
// one in place.
func imageEnv(env []KeyValue) []string {
	out := []string{"PATH=" + DefaultPath}
	index := map[string]int{"PATH": 0}
	for _, kv := range env {
		entry := kv.Key + "=" + kv.Value
		if i, ok := index[kv.Key]; ok {
			out[i] = entry
			continue
		}
		index[kv.Key] = len(out)
		out = append(out, entry)
	}
	return out
}

// Format is the kind of archive WriteImage writes for the load endpoint.
type Format int

const (
	// DockerSave is docker save's classic format (manifest.json, a config,
	// one plain tar per layer), for the classic image store and Podman,
	// which keep layers uncompressed and compress their own when they push.
	// It streams: each layer's size is measured first by a pass that reads
	// no file, then the layer is written while its digest is computed.
	DockerSave Format = iota
	// OCILayout is an OCI image layout (index.json, oci-layout, blobs) with
	// gzip layers and an OCI manifest, and docker save's manifest.json
	// beside it, for the containerd image store: it keeps the blobs as
	// loaded, names the image by its manifest's digest and pushes the
	// blobs unchanged, so the registry gets the manifest made here. The
	// archive names each blob by its digest, so every layer is compressed
	// to a temporary file first.
	OCILayout
)

// Made names an image made here by the digests that identify it: its
// config's, the image ID on the classic store and Podman; its manifest's,
// the image ID on the containerd store (empty for DockerSave, which has
// no manifest).
type Made struct {
	Config, Manifest digest.Digest
	// Files are the regular files the image holds, as its layers were
	// written.
	Files Catalog
}

// Is reports whether id, an image ID a daemon gave, names this image.
func (m Made) Is(id string) bool {
	return id != "" && (id == m.Config.String() || id == m.Manifest.String())
}

// WriteImage writes the folder and spec as an image archive of the given
// format for the Engine API's load endpoint, and returns the digests that
// name it. Nothing depends on the clock: the same folder, options,
// platform and layout.ModTime give the same bytes and the same digests on
// any machine. A file that changes while it is read fails the write.
func WriteImage(ctx context.Context, w io.Writer, dir string, spec Spec, layout Layout, platform ocispec.Platform, format Format) (Made, error) {
	if format == OCILayout {
		tmp, err := os.MkdirTemp("", "scratch-push-layers-")
		if err != nil {
			return Made{}, fmt.Errorf("making a folder for the compressed layers: %w", err)
		}
		defer os.RemoveAll(tmp)
		img, err := makeImage(ctx, &ociLayout{tmp: tmp, tw: tar.NewWriter(w), stamp: Layout{ModTime: layout.ModTime}}, dir, spec, layout, platform)
		return img.Made, err
	}
	img, err := makeImage(ctx, &dockerSave{tw: tar.NewWriter(w), layout: layout}, dir, spec, layout, platform)
	return img.Made, err
}

// MakeImage makes the image WriteImage's OCILayout holds without writing
// an archive: its layers compressed to files in tmp, which the caller
// owns and removes once done with the Image. A push from here uploads
// them; Image.WriteArchive gives the load endpoint the same blobs. tee,
// when not nil, is given each layer's compressed bytes as they are made
// (a push from here streams them up meanwhile).
func MakeImage(ctx context.Context, tmp, dir string, spec Spec, layout Layout, platform ocispec.Platform, tee func() LayerTee) (Image, error) {
	return makeImage(ctx, &ociLayout{tmp: tmp, tee: tee}, dir, spec, layout, platform)
}

// LayerTee is told a layer's compressed bytes as they are made (Write, which
// must not fail the layer: it reports no error), then the layer's digest,
// or what stopped it (Commit).
type LayerTee interface {
	io.Writer
	Commit(d digest.Digest, err error) error
}

func makeImage(ctx context.Context, a archiveWriter, dir string, spec Spec, layout Layout, platform ocispec.Platform) (Image, error) {
	root, err := resolveRoot(dir)
	if err != nil {
		return Image{}, err
	}
	var diffIDs []digest.Digest
	cat := &catalog{}
	add := func(root string, l Layout, layer int) error {
		cat.essential = root == layout.Essentials
		d, err := a.layer(func(tw *tar.Writer, c contents) error {
			return writeTree(ctx, tw, root, l, layer, func(_ int, rel string) string { return rel }, c, cat)
		})
		if err == nil {
			diffIDs = append(diffIDs, d)
		}
		return err
	}
	if layout.Essentials != "" {
		if err := add(layout.Essentials, Layout{ModTime: layout.ModTime}, 0); err != nil {
			return Image{}, err
		}
	}
	for layer := 0; layer < layout.Layers(); layer++ {
		if err := add(root, layout, layer); err != nil {
			return Image{}, err
		}
	}
	created := layout.Created
	if created.IsZero() {
		created = layout.ModTime
	}
	config, err := ImageConfig(spec, platform, created, diffIDs, layout.Essentials != "")
	if err != nil {
		return Image{}, err
	}
	img := Image{Config: config, ModTime: layout.ModTime, annotations: layout.Annotations}
	if err := a.finish(&img, platform); err != nil {
		return Image{}, err
	}
	img.Made.Files = cat.files
	return img, nil
}

// archiveWriter is what the two formats do differently: how a layer goes
// in, and what names the image at the end.
type archiveWriter interface {
	// layer writes one layer, whose tar write produces (twice, with zeros
	// then with the files, or once), and returns its diff ID.
	layer(write func(*tar.Writer, contents) error) (digest.Digest, error)
	// finish completes img, whose Config is set, and names it.
	finish(img *Image, platform ocispec.Platform) error
}

// changed words a layer that came out another size than measured.
func changed(err error) error {
	if strings.Contains(err.Error(), "write too long") || strings.Contains(err.Error(), "missed writing") {
		return fmt.Errorf("the folder changed while it was being read (%w): build from a folder nothing writes to", err)
	}
	return err
}

type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

// ImageArchive returns WriteImage's archive as a stream produced while it is read,
// and a function that reports what was made once the stream has ended.
func ImageArchive(ctx context.Context, dir string, spec Spec, layout Layout, platform ocispec.Platform, format Format) (io.ReadCloser, func() Made) {
	var made Made
	r, done := streamed(func(w io.Writer) (err error) {
		made, err = WriteImage(ctx, w, dir, spec, layout, platform, format)
		return err
	})
	return r, func() Made { <-done; return made }
}
