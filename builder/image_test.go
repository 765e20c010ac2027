package builder

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestWriteImage(t *testing.T) {
	dir := makeFolder(t)
	spec := Spec{Cmd: []string{"./app"}, Ports: []Port{{7000, 7001, "tcp"}}, Env: []KeyValue{{"A", "1"}, {"A", "2"}}, Workdir: "/srv", Labels: []KeyValue{{"l", "v"}}}
	layout := Layout{ModTime: time.Unix(1700000000, 0), Workdir: "/srv", Splits: []int{3}}
	platform := ocispec.Platform{OS: "linux", Architecture: "arm64"}
	var a, b bytes.Buffer
	madeA, err := WriteImage(context.Background(), &a, dir, spec, layout, platform, DockerSave)
	must(t, err)
	madeB, err := WriteImage(context.Background(), &b, dir, spec, layout, platform, DockerSave)
	must(t, err)
	idA := madeA.Config.String()
	if !sameMade(madeA, madeB) || !bytes.Equal(a.Bytes(), b.Bytes()) || madeA.Manifest != "" {
		t.Fatal("the same folder and options gave two archives")
	}

	files := archiveFiles(t, a.Bytes())
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

// archiveFiles reads an archive's files by name.
func archiveFiles(t *testing.T, archive []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		must(t, err)
		body, err := io.ReadAll(tr)
		must(t, err)
		files[h.Name] = body
	}
}

// The containerd store's archive: an OCI layout whose index names one
// manifest for the platform, gzip layers that unpack to the config's diff
// IDs, every blob named by its digest, and docker save's manifest.json
// beside it pointing at the same blobs. The same input gives the same
// bytes, and the config is the one DockerSave writes.
func TestWriteImageOCILayout(t *testing.T) {
	dir := makeFolder(t)
	spec := Spec{Cmd: []string{"./app"}}
	layout := Layout{ModTime: time.Unix(1700000000, 0), Splits: []int{3}}
	platform := ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	var a, b, saved bytes.Buffer
	made, err := WriteImage(context.Background(), &a, dir, spec, layout, platform, OCILayout)
	must(t, err)
	again, err := WriteImage(context.Background(), &b, dir, spec, layout, platform, OCILayout)
	must(t, err)
	classic, err := WriteImage(context.Background(), &saved, dir, spec, layout, platform, DockerSave)
	must(t, err)
	if !sameMade(made, again) || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("the same folder and options gave two archives")
	}
	if made.Config != classic.Config || made.Manifest == "" {
		t.Errorf("made %+v, the classic format's config %s", made, classic.Config)
	}
	if !made.Is(made.Manifest.String()) || !made.Is(made.Config.String()) || made.Is("") || made.Is("sha256:0") {
		t.Errorf("Is does not tell this image's IDs from others")
	}

	files := archiveFiles(t, a.Bytes())
	for name, body := range files {
		if hex, ok := strings.CutPrefix(name, "blobs/sha256/"); ok {
			if sum := sha256.Sum256(body); hex != fmt.Sprintf("%x", sum) {
				t.Errorf("blob %s holds bytes of digest %x", name, sum)
			}
		}
	}
	if string(files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout: %s", files["oci-layout"])
	}
	var index ocispec.Index
	must(t, json.Unmarshal(files["index.json"], &index))
	if len(index.Manifests) != 1 || index.Manifests[0].Digest != made.Manifest || index.Manifests[0].MediaType != ocispec.MediaTypeImageManifest ||
		index.Manifests[0].Platform == nil || index.Manifests[0].Platform.Variant != "v7" {
		t.Fatalf("index.json: %s", files["index.json"])
	}
	var m ocispec.Manifest
	must(t, json.Unmarshal(files["blobs/sha256/"+made.Manifest.Encoded()], &m))
	if m.Config.Digest != made.Config || m.Config.MediaType != ocispec.MediaTypeImageConfig || len(m.Layers) != 2 {
		t.Fatalf("manifest: %+v", m)
	}
	var img ocispec.Image
	must(t, json.Unmarshal(files["blobs/sha256/"+made.Config.Encoded()], &img))
	for i, l := range m.Layers {
		blob := files["blobs/sha256/"+l.Digest.Encoded()]
		if l.MediaType != ocispec.MediaTypeImageLayerGzip || l.Size != int64(len(blob)) {
			t.Errorf("layer %d: %+v, %d bytes", i, l, len(blob))
		}
		zr, err := gzip.NewReader(bytes.NewReader(blob))
		must(t, err)
		plain, err := io.ReadAll(zr)
		must(t, err)
		if sum := sha256.Sum256(plain); img.RootFS.DiffIDs[i].Encoded() != hex.EncodeToString(sum[:]) {
			t.Errorf("layer %d does not unpack to its diff ID", i)
		}
	}
	var saves []struct {
		Config string
		Layers []string
	}
	must(t, json.Unmarshal(files["manifest.json"], &saves))
	if len(saves) != 1 || saves[0].Config != "blobs/sha256/"+made.Config.Encoded() || len(saves[0].Layers) != 2 || saves[0].Layers[1] != "blobs/sha256/"+m.Layers[1].Digest.Encoded() {
		t.Errorf("manifest.json: %s", files["manifest.json"])
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
	_, err := WriteImage(context.Background(), w, dir, Spec{}, Layout{}, ocispec.Platform{OS: "linux", Architecture: "amd64"}, DockerSave)
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

// A layer of several gzip blocks, some compressible and some not, gets the
// same digest however many cores compress it, and the digest pinned here:
// a new compressor or block size would change the digest of every
// --reproducible image on the containerd store, and must be a decision.
func TestOCILayoutDigestOnAnyCores(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 3<<20)
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	var text bytes.Buffer
	for text.Len() < 3<<20 {
		fmt.Fprintf(&text, "%06d INFO request %d served in %d ms\n", text.Len(), r.IntN(1000), r.IntN(100))
	}
	must(t, os.WriteFile(filepath.Join(dir, "app"), noise, 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "log.txt"), text.Bytes(), 0o644))
	layout := Layout{ModTime: time.Unix(1700000000, 0)}
	platform := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	var made []Made
	for _, procs := range []int{1, 2, 8} {
		old := runtime.GOMAXPROCS(procs)
		m, err := WriteImage(context.Background(), io.Discard, dir, Spec{Cmd: []string{"./app"}}, layout, platform, OCILayout)
		runtime.GOMAXPROCS(old)
		must(t, err)
		made = append(made, m)
	}
	if !sameMade(made[0], made[1]) || !sameMade(made[0], made[2]) {
		t.Fatalf("1, 2 and 8 cores made %v", made)
	}
	if want := "sha256:5c2ac7bfa8168d34b2142dfed6fa4821e5a3dff5fbed6ade7882293d59e2ea6f"; made[0].Manifest.String() != want {
		t.Errorf("manifest %s, want %s", made[0].Manifest, want)
	}
}

// A push from here and the load endpoint get the same image: MakeImage's
// archive is byte for byte WriteImage's OCILayout, and the manifest and
// config alone (ParseImage, what a later run keeps) name the same blobs,
// whose files are then not at hand.
func TestMakeImageIsTheOCILayout(t *testing.T) {
	dir := makeFolder(t)
	spec := Spec{Cmd: []string{"./app"}, Labels: []KeyValue{{Key: "a", Value: "1"}}}
	layout := Layout{ModTime: time.Unix(1700000000, 0), Splits: []int{3}}
	platform := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	var streamed, written bytes.Buffer
	made, err := WriteImage(context.Background(), &streamed, dir, spec, layout, platform, OCILayout)
	must(t, err)
	img, err := MakeImage(context.Background(), t.TempDir(), dir, spec, layout, platform, nil)
	must(t, err)
	must(t, img.WriteArchive(&written))
	if !sameMade(img.Made, made) || !bytes.Equal(streamed.Bytes(), written.Bytes()) {
		t.Fatalf("MakeImage made %+v and another archive; WriteImage made %+v", img.Made, made)
	}
	if len(img.Layers) != 2 || img.Size() <= img.Layers[0].Size+img.Layers[1].Size {
		t.Errorf("%d layers, size %d", len(img.Layers), img.Size())
	}
	parsed, err := ParseImage(img.Manifest, img.Config)
	must(t, err)
	if parsed.Made.Config != img.Made.Config || parsed.Made.Manifest != img.Made.Manifest || len(parsed.Layers) != 2 {
		t.Fatalf("parsed %+v, made %+v", parsed.Made, img.Made)
	}
	for i, l := range parsed.Layers {
		if l.Digest != img.Layers[i].Digest || l.DiffID != img.Layers[i].DiffID || l.Size != img.Layers[i].Size {
			t.Errorf("layer %d parsed as %+v, made as %+v", i, l, img.Layers[i])
		}
		if _, err := l.Open(); !errors.Is(err, ErrNotKept) {
			t.Errorf("opening a parsed layer: %v, want ErrNotKept", err)
		}
	}
	if _, err := ParseImage(img.Manifest, []byte(`{}`)); err == nil {
		t.Error("a manifest with another config parsed")
	}
}

// sameMade compares what names two images and the files each holds.
func sameMade(a, b Made) bool {
	return a.Config == b.Config && a.Manifest == b.Manifest && slices.Equal(a.Files, b.Files)
}

// An archive of a Named image names it as docker save does, so that docker
// load and podman load tag it: RepoTags in manifest.json, an entry per tag
// in index.json with its full name and tag; the load endpoint's archive
// names nothing.
func TestNamedArchive(t *testing.T) {
	img, err := MakeImage(context.Background(), t.TempDir(), makeFolder(t), Spec{Cmd: []string{"./app"}}, Layout{ModTime: time.Unix(1700000000, 0)}, ocispec.Platform{OS: "linux", Architecture: "amd64"}, nil)
	must(t, err)
	repo, err := reference.ParseNormalizedNamed("127.0.0.1:5000/team/app")
	must(t, err)
	var tags []reference.NamedTagged
	for _, tag := range []string{"v1", "latest"} {
		tagged, err := reference.WithTag(repo, tag)
		must(t, err)
		tags = append(tags, tagged)
	}
	for _, c := range []struct {
		img      Image
		repoTags []string
	}{{img, nil}, {img.Named(tags), []string{"127.0.0.1:5000/team/app:v1", "127.0.0.1:5000/team/app:latest"}}} {
		var b bytes.Buffer
		must(t, c.img.WriteArchive(&b))
		files := archiveFiles(t, b.Bytes())
		var saved []struct{ RepoTags []string }
		must(t, json.Unmarshal(files["manifest.json"], &saved))
		if len(saved) != 1 || !slices.Equal(saved[0].RepoTags, c.repoTags) {
			t.Errorf("manifest.json %s, want RepoTags %q", files["manifest.json"], c.repoTags)
		}
		var index ocispec.Index
		must(t, json.Unmarshal(files["index.json"], &index))
		if len(index.Manifests) != max(1, len(c.repoTags)) {
			t.Fatalf("index.json %s", files["index.json"])
		}
		for i, e := range index.Manifests {
			if e.Digest != img.Made.Manifest {
				t.Errorf("index.json entry %d names %s", i, e.Digest)
			}
			if c.repoTags != nil && (e.Annotations["io.containerd.image.name"] != tags[i].String() || e.Annotations[ocispec.AnnotationRefName] != tags[i].Tag()) {
				t.Errorf("index.json entry %d annotations %v, want %s", i, e.Annotations, tags[i])
			}
		}
	}
}
