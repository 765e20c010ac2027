package reuse

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon/daemontest"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// image makes a small image here, as a push from here records it.
func image(t *testing.T, text string) builder.Image {
	t.Helper()
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "app"), []byte(text), 0o755))
	img, err := builder.MakeImage(context.Background(), t.TempDir(), dir, builder.Spec{Cmd: []string{"./app"}}, builder.Layout{ModTime: time.Unix(1700000000, 0)}, ocispec.Platform{OS: "linux", Architecture: "amd64"}, nil)
	must(t, err)
	return img
}

func TestRecordAndLookup(t *testing.T) {
	s, err := Open(t.TempDir())
	must(t, err)
	ctx := context.Background()
	img := image(t, "one")
	id := img.Made.Config.String() // the classic store's name for it
	fake := daemontest.New()
	fake.AddImage(id)
	keys, ok := KeysOf(ctx, builder.Summary{Fingerprint: [32]byte{1}}, Settings{Dockerfile: []byte("FROM scratch")})
	if !ok {
		t.Fatal("no key")
	}
	key := keys.Stat
	scanned := time.Now()
	s.Record(ctx, keys, Image{ID: id, Pushed: &img}, scanned, scanned) // not settled: not recorded
	if _, _, found := s.Lookup(ctx, fake, key); found {
		t.Fatal("a folder changed at the scan was recorded")
	}
	s.Record(ctx, keys, Image{ID: id, Pushed: &img}, scanned.Add(-time.Minute), scanned)
	got, pushed, found := s.Lookup(ctx, fake, key)
	if !found || got != id || pushed == nil || pushed.Made.Manifest != img.Made.Manifest {
		t.Fatalf("lookup: %s, %v, %t", got, pushed, found)
	}

	// A record edited to push another image under the same ID is ignored.
	other := image(t, "not what was built")
	text := id + "\n" + base64.StdEncoding.EncodeToString(other.Manifest) + "\n" + base64.StdEncoding.EncodeToString(other.Config) + "\n"
	must(t, os.WriteFile(filepath.Join(s.dir, key), []byte(text), 0o600))
	if _, _, found := s.Lookup(ctx, fake, key); found {
		t.Error("an edited record was believed")
	}
	must(t, os.WriteFile(filepath.Join(s.dir, key), []byte(id+"\nnot base64\n"), 0o600))
	if _, _, found := s.Lookup(ctx, fake, key); found {
		t.Error("a garbled record was believed")
	}
	// An image the daemon no longer has is not reused.
	s.Record(ctx, keys, Image{ID: "sha256:" + strings.Repeat("0", 64)}, scanned.Add(-time.Minute), scanned)
	if _, _, found := s.Lookup(ctx, fake, key); found {
		t.Error("an image the daemon has not was reused")
	}

	s.KeepSBOM(key, "r.example/team/app", []byte(`{"spdxVersion":"SPDX-2.3"}`))
	if doc := s.SBOM(key, "r.example/team/app"); string(doc) != `{"spdxVersion":"SPDX-2.3"}` {
		t.Errorf("kept SBOM %q", doc)
	}
	if doc := s.SBOM(key, "r.example/other"); doc != nil {
		t.Errorf("another repository's SBOM %q", doc)
	}
}

// A folder of the same shape with other stat data (touched, copied)
// finds the last image made of that shape, and the digest of its files;
// the keys differ with either the stat data or the shape.
func TestShapeRecord(t *testing.T) {
	s, err := Open(t.TempDir())
	must(t, err)
	ctx := context.Background()
	settings := Settings{Dockerfile: []byte("FROM scratch")}
	first, _ := KeysOf(ctx, builder.Summary{Fingerprint: [32]byte{1}, Shape: [32]byte{7}}, settings)
	touched, _ := KeysOf(ctx, builder.Summary{Fingerprint: [32]byte{2}, Shape: [32]byte{7}}, settings)
	reshaped, _ := KeysOf(ctx, builder.Summary{Fingerprint: [32]byte{1}, Shape: [32]byte{8}}, settings)
	if first.Shape != touched.Shape || first.Stat == touched.Stat || first.Shape == reshaped.Shape || first.Stat != reshaped.Stat {
		t.Fatalf("keys %+v, touched %+v, reshaped %+v", first, touched, reshaped)
	}
	if other, _ := KeysOf(ctx, builder.Summary{Fingerprint: [32]byte{1}, Shape: [32]byte{7}}, Settings{Dockerfile: []byte("FROM scratch\nCMD x")}); other.Shape == first.Shape {
		t.Error("other settings, same shape key")
	}
	scanned := time.Now()
	s.Record(ctx, first, Image{ID: "sha256:" + strings.Repeat("1", 64)}, scanned.Add(-time.Minute), scanned)
	if _, _, ok := s.Shape(touched.Shape); ok {
		t.Fatal("a shape recorded without its files' digest")
	}
	s.Record(ctx, first, Image{ID: "sha256:" + strings.Repeat("1", 64), Files: [32]byte{9}}, scanned.Add(-time.Minute), scanned)
	stat, files, ok := s.Shape(touched.Shape)
	if !ok || stat != first.Stat || files != ([32]byte{9}) {
		t.Errorf("shape record: %s %x %t", stat, files, ok)
	}
	if _, _, ok := s.Shape(reshaped.Shape); ok {
		t.Error("another shape found a record")
	}
	must(t, os.WriteFile(s.shapePath(touched.Shape), []byte(first.Stat+"\nnot hex\n"), 0o600))
	if _, _, ok := s.Shape(touched.Shape); ok {
		t.Error("a garbled shape record was believed")
	}
}

// A folder others may write is refused: whoever writes a record chooses
// what is pushed.
func TestOpenRefusesSharedFolder(t *testing.T) {
	dir := t.TempDir()
	must(t, os.Chmod(dir, 0o777))
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "chmod go-w") {
		t.Errorf("a world-writable folder gave %v", err)
	}
	must(t, os.Chmod(dir, 0o755))
	must(t, os.Mkdir(filepath.Join(dir, "images"), 0o700))
	must(t, os.Chmod(filepath.Join(dir, "images"), 0o775))
	if _, err := Open(dir); err == nil {
		t.Error("a group-writable records folder was used")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "new")); err != nil {
		t.Errorf("a folder still to be made: %v", err)
	}
}

func TestPrune(t *testing.T) {
	s, err := Open(t.TempDir())
	must(t, err)
	must(t, os.MkdirAll(s.dir, 0o700))
	for i := range maxEntries + 1 {
		path := filepath.Join(s.dir, strings.Repeat("a", 3)+string(rune('a'+i%26))+time.Now().Format("150405.000000000")+string(rune('0'+i%10)))
		must(t, os.WriteFile(path, nil, 0o600))
		old := time.Now().Add(-time.Duration(maxEntries-i) * time.Minute)
		must(t, os.Chtimes(path, old, old))
	}
	s.prune()
	entries, _ := os.ReadDir(s.dir)
	if len(entries) != maxEntries/2 {
		t.Errorf("%d records after pruning, want %d", len(entries), maxEntries/2)
	}
}
