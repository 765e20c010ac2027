package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestWriteImage(t *testing.T) {
	dir := makeFolder(t)
	spec := Spec{Cmd: []string{"./app"}, Ports: []string{"7000-7001/tcp"}, Env: []KeyValue{{"A", "1"}, {"A", "2"}}, Workdir: "/srv", Labels: []KeyValue{{"l", "v"}}}
	layout := Layout{ModTime: time.Unix(1700000000, 0), Workdir: "/srv", Splits: []int{3}}
	platform := Platform{OS: "linux", Architecture: "arm64"}
	var a, b bytes.Buffer
	idA, err := WriteImage(context.Background(), &a, dir, spec, layout, platform)
	must(t, err)
	idB, err := WriteImage(context.Background(), &b, dir, spec, layout, platform)
	must(t, err)
	if idA != idB || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("the same folder and options gave two archives")
	}

	files := map[string][]byte{}
	tr := tar.NewReader(&a)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(t, err)
		body, err := io.ReadAll(tr)
		must(t, err)
		files[h.Name] = body
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	must(t, json.Unmarshal(files["manifest.json"], &manifest))
	if len(manifest) != 1 || len(manifest[0].Layers) != 2 || manifest[0].RepoTags != nil {
		t.Fatalf("manifest.json: %s", files["manifest.json"])
	}
	config := files[manifest[0].Config]
	sum := sha256.Sum256(config)
	if "sha256:"+hex.EncodeToString(sum[:]) != idA || manifest[0].Config != hex.EncodeToString(sum[:])+".json" {
		t.Errorf("image ID %s does not name the config", idA)
	}
	var img ocispec.Image
	must(t, json.Unmarshal(config, &img))
	for i, l := range manifest[0].Layers {
		sum := sha256.Sum256(files[l])
		if img.RootFS.DiffIDs[i].Encoded() != hex.EncodeToString(sum[:]) {
			t.Errorf("layer %d does not match its diff ID", i)
		}
	}
	want := ocispec.ImageConfig{
		Cmd:          []string{"./app"},
		Env:          []string{"PATH=" + DefaultPath, "A=2"},
		ExposedPorts: map[string]struct{}{"7000/tcp": {}, "7001/tcp": {}},
		Labels:       map[string]string{"l": "v"},
		WorkingDir:   "/srv",
	}
	if !reflect.DeepEqual(img.Config, want) || img.OS != "linux" || img.Architecture != "arm64" || !img.Created.Equal(layout.ModTime) {
		t.Errorf("config %+v on %s/%s created %v", img.Config, img.OS, img.Architecture, img.Created)
	}
	// Layer 1: a .dockerignore Dockerfile a/ ; layer 2 the rest, the
	// working directory added to layer 1.
	first := names(t, files[manifest[0].Layers[0]])
	second := names(t, files[manifest[0].Layers[1]])
	if !reflect.DeepEqual(first, []string{".dockerignore", "Dockerfile", "a/", "srv/"}) {
		t.Errorf("layer 1 holds %q", first)
	}
	if len(second) == 0 || second[0] != "a/" || strings.HasPrefix(second[0], "rootfs") {
		t.Errorf("layer 2 holds %q", second)
	}
}

func names(t *testing.T, layer []byte) []string {
	t.Helper()
	entries, _ := readTar(t, layer)
	var n []string
	for _, e := range entries {
		n = append(n, e.Name)
	}
	return n
}

func TestWriteImageNoticesAChangingFolder(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "grows")
	must(t, os.WriteFile(p, []byte("small"), 0o644))
	w := &growingWriter{path: p}
	_, err := WriteImage(context.Background(), w, dir, Spec{}, Layout{}, Platform{OS: "linux", Architecture: "amd64"})
	if err == nil || !strings.Contains(err.Error(), "changed while it was being read") {
		t.Errorf("error = %v", err)
	}
}

// growingWriter appends to a file of the folder as soon as the archive
// starts, between the measuring pass and the writing pass.
type growingWriter struct {
	path string
	done bool
}

func (g *growingWriter) Write(p []byte) (int, error) {
	if !g.done {
		g.done = true
		f, err := os.OpenFile(g.path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return 0, err
		}
		f.WriteString(strings.Repeat(" and now bigger", 100))
		f.Close()
	}
	return len(p), nil
}
