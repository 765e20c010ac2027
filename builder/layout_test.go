package builder

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// An image written as an OCI layout holds every blob under its digest, and
// index.json names the image by each tag, with its platform, and the
// artifact referring to it; a folder that is not empty is refused and left
// alone.
func TestWriteLayout(t *testing.T) {
	dir := makeFolder(t)
	img, err := MakeImage(context.Background(), t.TempDir(), dir, Spec{Cmd: []string{"./app"}}, Layout{ModTime: time.Unix(1700000000, 0)}, ocispec.Platform{OS: "linux", Architecture: "amd64"}, nil)
	must(t, err)
	sbom, err := MakeArtifact(img.Descriptor, "application/spdx+json", "sbom.spdx.json", []byte(`{"spdxVersion":"SPDX-2.3"}`), map[string]string{"a": "b"})
	must(t, err)
	out := filepath.Join(t.TempDir(), "layout")
	must(t, img.WriteLayout(out, []string{"v1", "latest"}, nil, []Beside{sbom.Beside()}))

	var index ocispec.Index
	b, err := os.ReadFile(filepath.Join(out, "index.json"))
	must(t, err)
	must(t, json.Unmarshal(b, &index))
	if len(index.Manifests) != 3 || index.Manifests[2].Digest != sbom.Descriptor.Digest || index.Manifests[2].ArtifactType != "application/spdx+json" || index.Manifests[2].Platform != nil {
		t.Fatalf("index.json %s", b)
	}
	for i, tag := range []string{"v1", "latest"} {
		if e := index.Manifests[i]; e.Digest != img.Made.Manifest || e.Annotations[ocispec.AnnotationRefName] != tag || e.Platform == nil || e.Platform.Architecture != "amd64" {
			t.Errorf("entry %d: %+v, want the image named %s, with its platform", i, e, tag)
		}
	}
	var m ocispec.Manifest
	must(t, json.Unmarshal(sbom.Manifest, &m))
	if m.Subject == nil || m.Subject.Digest != img.Made.Manifest || m.Config.Digest != ocispec.DescriptorEmptyJSON.Digest || m.Layers[0].Annotations[ocispec.AnnotationTitle] != "sbom.spdx.json" {
		t.Errorf("artifact manifest %s", sbom.Manifest)
	}
	want := []digest.Digest{img.Made.Manifest, img.Made.Config, sbom.Descriptor.Digest, m.Layers[0].Digest, ocispec.DescriptorEmptyJSON.Digest}
	for _, l := range img.Layers {
		want = append(want, l.Digest)
	}
	for _, d := range want {
		b, err := os.ReadFile(filepath.Join(out, "blobs", "sha256", d.Encoded()))
		if err != nil || digest.FromBytes(b) != d {
			t.Errorf("blob %s: %v", d, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(out, "oci-layout")); err != nil || !strings.Contains(string(b), `"imageLayoutVersion":"1.0.0"`) {
		t.Errorf("oci-layout: %s, %v", b, err)
	}
	if err := img.WriteLayout(out, []string{"v1"}, nil, nil); err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Errorf("a second write into the layout: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "index.json")); err != nil {
		t.Errorf("the refused write removed the first: %v", err)
	}
}

// A layout that fails half-way leaves what was there: the user's empty
// folder, or link to one, empty and in place; a folder it made, gone.
func TestWriteLayoutFailureLeavesTheFolder(t *testing.T) {
	dir := makeFolder(t)
	tmp := t.TempDir()
	img, err := MakeImage(context.Background(), tmp, dir, Spec{Cmd: []string{"./app"}}, Layout{ModTime: time.Unix(1700000000, 0)}, ocispec.Platform{OS: "linux", Architecture: "amd64"}, nil)
	must(t, err)
	must(t, os.RemoveAll(tmp)) // the layers' files are gone: the write fails
	base := t.TempDir()
	empty := filepath.Join(base, "empty")
	must(t, os.Mkdir(empty, 0o750))
	target := filepath.Join(base, "target")
	must(t, os.Mkdir(target, 0o755))
	link := filepath.Join(base, "link")
	must(t, os.Symlink(target, link))
	fresh := filepath.Join(base, "fresh")
	for _, out := range []string{empty, link, fresh} {
		if err := img.WriteLayout(out, []string{"v1"}, nil, nil); err == nil {
			t.Fatalf("%s: the layout was written without its layers", out)
		}
	}
	if fi, err := os.Stat(empty); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o750 {
		t.Errorf("the user's empty folder: %v, %v", fi, err)
	}
	for _, d := range []string{empty, target} {
		if entries, _ := os.ReadDir(d); len(entries) != 0 {
			t.Errorf("%s holds %d entries after the failure", d, len(entries))
		}
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link: %v, %v; want it kept", fi, err)
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("the folder made for the layout is still there: %v", err)
	}
}
