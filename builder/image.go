package builder

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Platform is what the image runs on: the daemon's OS and architecture.
type Platform struct {
	OS, Architecture, Variant string
}

// ImageConfig is the image config for spec over layers with the given diff
// IDs, the first of them the essentials' when essentials: the same settings
// the build endpoint gives for the same options, and nothing that depends
// on when or where it is made except created.
func ImageConfig(spec Spec, platform Platform, created time.Time, diffIDs []digest.Digest, essentials bool) ([]byte, error) {
	ports, err := ParsePorts(spec.Ports)
	if err != nil {
		return nil, fmt.Errorf("--ports: %w", err)
	}
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
	for _, p := range ExpandPorts(ports) {
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

// WriteImage writes the folder and spec as an image archive in the format of
// docker save (manifest.json, a config, one tar per layer) for the Engine
// API's load endpoint, and returns the image ID the daemon will give it.
// Nothing depends on the clock: the same folder, options, platform and
// layout.ModTime give the same bytes and the same image ID on any machine.
//
// It streams: each layer's size is measured first by a pass that reads no
// file, then the layer is written while its digest is computed. A file that
// changes between the two passes fails the write.
func WriteImage(ctx context.Context, w io.Writer, dir string, spec Spec, layout Layout, platform Platform) (string, error) {
	root, err := resolveRoot(dir)
	if err != nil {
		return "", err
	}
	tw := tar.NewWriter(w)
	entry := func(name string, size int64) error {
		return writeHeader(tw, layout.stamp(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644}))
	}
	rel := func(_ int, rel string) string { return rel }
	var diffIDs []digest.Digest
	var layerPaths []string
	writeLayer := func(root string, layout Layout, layer int) error {
		var size countingWriter
		sizer := tar.NewWriter(&size)
		if err := writeTree(ctx, sizer, root, layout, layer, rel, zeros); err != nil {
			return err
		}
		if err := sizer.Close(); err != nil {
			return err
		}
		name := fmt.Sprintf("layers/%d/layer.tar", len(layerPaths))
		if err := entry(name, int64(size)); err != nil {
			return err
		}
		h := sha256.New()
		lw := tar.NewWriter(io.MultiWriter(tw, h))
		if err := writeTree(ctx, lw, root, layout, layer, rel, fileBytes); err != nil {
			return changed(err)
		}
		if err := lw.Close(); err != nil {
			return changed(err)
		}
		diffIDs = append(diffIDs, digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil))))
		layerPaths = append(layerPaths, name)
		return nil
	}
	if layout.Essentials != "" {
		if err := writeLayer(layout.Essentials, Layout{ModTime: layout.ModTime}, 0); err != nil {
			return "", err
		}
	}
	for layer := 0; layer < layout.Layers(); layer++ {
		if err := writeLayer(root, layout, layer); err != nil {
			return "", err
		}
	}
	config, err := ImageConfig(spec, platform, layout.ModTime, diffIDs, layout.Essentials != "")
	if err != nil {
		return "", err
	}
	id := digest.FromBytes(config)
	manifest, err := json.Marshal([]struct {
		Config   string
		RepoTags []string
		Layers   []string
	}{{Config: id.Encoded() + ".json", Layers: layerPaths}})
	if err != nil {
		return "", err
	}
	for _, f := range []struct {
		name string
		body []byte
	}{{id.Encoded() + ".json", config}, {"manifest.json", manifest}} {
		if err := entry(f.name, int64(len(f.body))); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.body); err != nil {
			return "", fmt.Errorf("writing %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return "", fmt.Errorf("writing the image archive: %w", err)
	}
	return id.String(), nil
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

// Image returns WriteImage's archive as a stream produced while it is read,
// and a function that reports the image ID once the stream has ended.
func Image(ctx context.Context, dir string, spec Spec, layout Layout, platform Platform) (io.ReadCloser, func() string) {
	var id string
	r, done := stream(func(w io.Writer) (err error) {
		id, err = WriteImage(ctx, w, dir, spec, layout, platform)
		return err
	})
	return r, func() string { <-done; return id }
}
