package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The index names each platform's image, ordered by platform whatever
// order they were made in; its archive holds every blob once, and
// index.json names the index, as the containerd store loads it.
func TestMakeIndex(t *testing.T) {
	dir := makeFolder(t)
	tmp := t.TempDir()
	spec := Spec{Cmd: []string{"./app"}}
	layout := Layout{ModTime: time.Unix(1700000000, 0)}
	var images []Image
	for _, p := range []ocispec.Platform{{OS: "linux", Architecture: "arm64"}, {OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm", Variant: "v7"}} {
		img, err := MakeImage(context.Background(), tmp, dir, spec, layout, p, nil)
		must(t, err)
		images = append(images, img)
	}
	ix, err := MakeIndex(images, nil)
	must(t, err)
	again, err := MakeIndex([]Image{images[2], images[0], images[1]}, nil)
	must(t, err)
	if again.Digest != ix.Digest || ix.Digest != digest.FromBytes(ix.Manifest) {
		t.Errorf("the same images in another order made %s, first %s", again.Digest, ix.Digest)
	}
	var index ocispec.Index
	must(t, json.Unmarshal(ix.Manifest, &index))
	var names []string
	for i, d := range index.Manifests {
		names = append(names, PlatformString(d.Platform))
		if d.Digest != ix.Images[i].Made.Manifest || d.MediaType != ocispec.MediaTypeImageManifest {
			t.Errorf("entry %d: %+v, image %s", i, d, ix.Images[i].Made.Manifest)
		}
	}
	if got := strings.Join(names, " "); index.MediaType != ocispec.MediaTypeImageIndex || got != "linux/amd64 linux/arm/v7 linux/arm64" {
		t.Errorf("index %s names %s", index.MediaType, got)
	}

	var archive bytes.Buffer
	must(t, ix.WriteArchive(&archive))
	entries := map[string][]byte{}
	tr := tar.NewReader(&archive)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		must(t, err)
		if _, dup := entries[h.Name]; dup {
			t.Errorf("%s is in the archive twice", h.Name)
		}
		b, err := io.ReadAll(tr)
		must(t, err)
		entries[h.Name] = b
	}
	var top ocispec.Index
	must(t, json.Unmarshal(entries[ocispec.ImageIndexFile], &top))
	if len(top.Manifests) != 1 || top.Manifests[0].Digest != ix.Digest || !bytes.Equal(entries[blobPath(ix.Digest)], ix.Manifest) {
		t.Errorf("index.json %s, want the index %s", entries[ocispec.ImageIndexFile], ix.Digest)
	}
	var size int64
	for name, b := range entries {
		if strings.HasPrefix(name, "blobs/") {
			size += int64(len(b))
			if d := digest.FromBytes(b); blobPath(d) != name {
				t.Errorf("%s holds %s", name, d)
			}
		}
	}
	if size != ix.Size() {
		t.Errorf("the blobs weigh %d, Size says %d", size, ix.Size())
	}

	if _, err := MakeIndex([]Image{images[0], images[0]}, nil); err == nil || !strings.Contains(err.Error(), "two images for linux/arm64") {
		t.Errorf("one platform twice: %v", err)
	}
}
