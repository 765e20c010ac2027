package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// makeFolder lays out a folder with the awkward cases: a user Dockerfile and
// .dockerignore, nested folders, links that dangle or point outside, a hard
// link pair, an empty file, and modes that must survive.
func makeFolder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("app", "#!binary", 0o755)
	write("Dockerfile", "FROM evil\n", 0o644)
	write(".dockerignore", "*\n", 0o644)
	write("conf/b.json", `{"b":1}`, 0o600)
	write("conf/a.json", `{"a":1}`, 0o644)
	write("empty", "", 0o644)
	write("a.txt", "sorts before a/", 0o644)
	write("a/x", "x", 0o644)
	must(t, os.Symlink("../../etc/passwd", filepath.Join(dir, "conf", "outside")))
	must(t, os.Symlink("missing", filepath.Join(dir, "dangling")))
	must(t, os.Link(filepath.Join(dir, "app"), filepath.Join(dir, "app-hardlink")))
	// Owned by someone else and stamped now: the context must not care.
	must(t, os.Lchown(filepath.Join(dir, "conf", "a.json"), 1234, 5678))
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

type entry struct {
	Name     string
	Type     byte
	Mode     int64
	Linkname string
	Body     string
}

func readTar(t *testing.T, b []byte) ([]entry, []*tar.Header) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var entries []entry
	var hdrs []*tar.Header
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return entries, hdrs
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, entry{h.Name, h.Typeflag, h.Mode, h.Linkname, string(body)})
		hdrs = append(hdrs, h)
	}
}

func TestWriteContextLayout(t *testing.T) {
	dir := makeFolder(t)
	stamp := time.Unix(1700000000, 0)
	var buf bytes.Buffer
	must(t, WriteContext(context.Background(), &buf, dir, []byte("FROM scratch\n"), Layout{ModTime: stamp, Workdir: "/a/new/dir"}))
	got, hdrs := readTar(t, buf.Bytes())
	want := []entry{
		{"Dockerfile", tar.TypeReg, 0o644, "", "FROM scratch\n"},
		{"rootfs/", tar.TypeDir, 0o755, "", ""},
		{"rootfs/.dockerignore", tar.TypeReg, 0o644, "", "*\n"},
		{"rootfs/Dockerfile", tar.TypeReg, 0o644, "", "FROM evil\n"},
		{"rootfs/a/", tar.TypeDir, 0o755, "", ""},
		{"rootfs/a/x", tar.TypeReg, 0o644, "", "x"},
		{"rootfs/a.txt", tar.TypeReg, 0o644, "", "sorts before a/"},
		{"rootfs/app", tar.TypeReg, 0o755, "", "#!binary"},
		{"rootfs/app-hardlink", tar.TypeLink, 0o755, "rootfs/app", ""},
		{"rootfs/conf/", tar.TypeDir, 0o755, "", ""},
		{"rootfs/conf/a.json", tar.TypeReg, 0o644, "", `{"a":1}`},
		{"rootfs/conf/b.json", tar.TypeReg, 0o600, "", `{"b":1}`},
		{"rootfs/conf/outside", tar.TypeSymlink, 0o777, "../../etc/passwd", ""},
		{"rootfs/dangling", tar.TypeSymlink, 0o777, "missing", ""},
		{"rootfs/empty", tar.TypeReg, 0o644, "", ""},
		{"rootfs/a/new/", tar.TypeDir, 0o755, "", ""},
		{"rootfs/a/new/dir/", tar.TypeDir, 0o755, "", ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("context entries:\n got %+v\nwant %+v", got, want)
	}
	for _, h := range hdrs {
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s owned by %d:%d (%q:%q), want 0:0", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if !h.ModTime.Equal(stamp) {
			t.Errorf("%s mtime %v, want %v", h.Name, h.ModTime, stamp)
		}
		if !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s carries atime/ctime", h.Name)
		}
	}
}

func TestWriteContextIsDeterministic(t *testing.T) {
	dir := makeFolder(t)
	var a, b bytes.Buffer
	must(t, WriteContext(context.Background(), &a, dir, []byte("x"), Layout{}))
	// Touch everything: new mtimes must not change the bytes.
	must(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.Mode()&os.ModeSymlink != 0 {
			return err
		}
		return os.Chtimes(p, time.Now(), time.Now().Add(time.Hour))
	}))
	must(t, WriteContext(context.Background(), &b, dir, []byte("x"), Layout{}))
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the same folder gave two different build contexts")
	}
}

func TestScan(t *testing.T) {
	dir := makeFolder(t)
	sum, err := Scan(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	want := Summary{Files: 9, Dirs: 2, Symlinks: 2, Bytes: int64(len("#!binary") + len(`{"b":1}`) + len(`{"a":1}`) + len("FROM evil\n") + len("*\n") + len("sorts before a/") + len("x"))}
	got := Summary{Files: sum.Files, Dirs: sum.Dirs, Symlinks: sum.Symlinks, Bytes: sum.Bytes}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Scan = %+v, want %+v", got, want)
	}
	if n := len(sum.sizes); n != 13 {
		t.Errorf("Scan kept %d sizes for 13 entries", n)
	}
}

func TestScanRefusesSpecialFiles(t *testing.T) {
	t.Run("fifo", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "pipe")
		must(t, syscall.Mkfifo(p, 0o644))
		checkRefused(t, dir, p, "named pipe")
	})
	t.Run("socket", func(t *testing.T) {
		dir, err := os.MkdirTemp("", "sock") // socket paths must be short
		must(t, err)
		t.Cleanup(func() { os.RemoveAll(dir) })
		p := filepath.Join(dir, "s")
		l, err := net.Listen("unix", p)
		must(t, err)
		defer l.Close()
		checkRefused(t, dir, p, "socket")
	})
	t.Run("device", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "null")
		if err := syscall.Mknod(p, syscall.S_IFCHR|0o666, 0x103); err != nil {
			t.Skipf("cannot make a device node here: %v", err)
		}
		checkRefused(t, dir, p, "device")
	})
}

func checkRefused(t *testing.T, dir, path, kind string) {
	t.Helper()
	_, err := Scan(context.Background(), dir)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), kind) {
		t.Errorf("Scan error = %v, want it to name %s as a %s", err, path, kind)
	}
	err = WriteContext(context.Background(), io.Discard, dir, nil, Layout{})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("WriteContext error = %v, want it to name %s", err, path)
	}
}

func TestScanEmptyAndMissing(t *testing.T) {
	if _, err := Scan(context.Background(), t.TempDir()); !errors.Is(err, ErrEmptyFolder) {
		t.Errorf("empty folder: %v, want ErrEmptyFolder", err)
	}
	missing := filepath.Join(t.TempDir(), "nope")
	if _, err := Scan(context.Background(), missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing folder: %v", err)
	}
}

func TestWorkdirThroughAFile(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "srv"), []byte("x"), 0o644))
	layout := Layout{Workdir: "/srv/app"}
	err := WriteContext(context.Background(), io.Discard, dir, nil, layout)
	if err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("WriteContext error = %v, want 'not a directory'", err)
	}
}

func TestContextStreamsAndStops(t *testing.T) {
	dir := makeFolder(t)
	rc, files := Context(context.Background(), dir, []byte("x"), Layout{})
	b, err := io.ReadAll(rc)
	must(t, err)
	entries, _ := readTar(t, b)
	if len(entries) != 15 {
		t.Errorf("%d entries, want 15", len(entries))
	}
	// The catalog lists each regular file with the checksum of the bytes
	// the stream carried.
	sums := map[string]string{} // by path in the image
	for _, e := range entries {
		if e.Type == tar.TypeReg && e.Name != DockerfileName {
			_, rel, _ := strings.Cut(e.Name, ContextRoot+"/")
			sums["/"+rel] = fmt.Sprintf("%x", sha256.Sum256([]byte(e.Body)))
		}
	}
	for _, e := range entries { // a hard link holds its target's bytes
		if e.Type == tar.TypeLink {
			_, rel, _ := strings.Cut(e.Name, ContextRoot+"/")
			_, target, _ := strings.Cut(e.Linkname, ContextRoot+"/")
			sums["/"+rel] = sums["/"+target]
		}
	}
	got := files()
	if len(got) != len(sums) || len(sums) == 0 {
		t.Fatalf("the catalog lists %d files, the stream carried %d", len(got), len(sums))
	}
	for _, f := range got {
		if sums[f.Path] != f.SHA256 {
			t.Errorf("%s: the catalog says %s, the stream carried %s", f.Path, f.SHA256, sums[f.Path])
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	stopped, _ := Context(ctx, dir, []byte("x"), Layout{})
	_, err = io.ReadAll(stopped)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled stream read error = %v, want context.Canceled", err)
	}
}

// TestScanFingerprint: the fingerprint stays while nothing changes and moves
// on any change a build would see, even one that keeps size and mtime.
func TestScanFingerprint(t *testing.T) {
	dir := makeFolder(t)
	scan := func() Summary {
		t.Helper()
		sum, err := Scan(context.Background(), dir)
		must(t, err)
		return sum
	}
	first := scan()
	if again := scan(); again.Fingerprint != first.Fingerprint {
		t.Fatal("the fingerprint of an untouched folder changed")
	}
	fi, err := os.Stat(filepath.Join(dir, "app"))
	must(t, err)
	if first.Newest.Before(fi.ModTime()) {
		t.Errorf("Newest %v is before app's mtime %v", first.Newest, fi.ModTime())
	}
	app := filepath.Join(dir, "app")
	changes := []struct {
		name   string
		change func()
	}{
		{"same size, mtime put back", func() {
			must(t, os.WriteFile(app, []byte("#!BINARY"), 0o755))
			must(t, os.Chtimes(app, fi.ModTime(), fi.ModTime()))
		}},
		{"chmod", func() { must(t, os.Chmod(app, 0o700)) }},
		{"new file", func() { must(t, os.WriteFile(filepath.Join(dir, "a", "y"), nil, 0o644)) }},
		{"rename", func() { must(t, os.Rename(filepath.Join(dir, "a", "y"), filepath.Join(dir, "a", "z"))) }},
		{"link retargeted", func() {
			must(t, os.Remove(filepath.Join(dir, "dangling")))
			must(t, os.Symlink("elsewhere", filepath.Join(dir, "dangling")))
		}},
		{"removal", func() { must(t, os.Remove(filepath.Join(dir, "a", "z"))) }},
	}
	seen := map[[32]byte]string{first.Fingerprint: "the first scan"}
	for _, c := range changes {
		time.Sleep(10 * time.Millisecond) // past the clock's granularity
		c.change()
		fp := scan().Fingerprint
		if prev, dup := seen[fp]; dup {
			t.Errorf("%s: the fingerprint is the same as after %s", c.name, prev)
		}
		seen[fp] = c.name
	}
}

// A folder's shape survives what changes only stat data (touch, copy,
// checkout), and changes with anything the image would show: a mode, a
// size, a name, a link's target, which files are hard links. The files'
// digest is the same however the files are sent (context, image made
// here, read again) and changes with a byte.
func TestShapeAndFilesDigest(t *testing.T) {
	ctx := context.Background()
	dir := makeFolder(t)
	scan := func() Summary {
		t.Helper()
		s, err := Scan(ctx, dir)
		must(t, err)
		return s
	}
	base := scan()
	later := time.Now().Add(time.Hour)
	must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink == 0 {
			err = os.Chtimes(p, later, later)
		}
		return err
	}))
	touched := scan()
	if touched.Shape != base.Shape || touched.Fingerprint == base.Fingerprint {
		t.Fatalf("touched: shape kept %t, fingerprint kept %t; want the shape only", touched.Shape == base.Shape, touched.Fingerprint == base.Fingerprint)
	}

	layout := Layout{ModTime: time.Unix(1700000000, 0)}
	read, err := CatalogOf(ctx, dir, layout)
	must(t, err)
	stream, files := Context(ctx, dir, []byte("FROM scratch\n"), layout)
	_, err = io.Copy(io.Discard, stream)
	must(t, err)
	stream.Close()
	img, err := MakeImage(ctx, t.TempDir(), dir, Spec{Cmd: []string{"./app"}}, layout, ocispec.Platform{OS: "linux", Architecture: "amd64"}, nil)
	must(t, err)
	if len(read) == 0 || read.Digest() != files().Digest() || read.Digest() != img.Made.Files.Digest() {
		t.Fatalf("the files' digest differs between a read (%d files), the context and an image made here", len(read))
	}

	for _, change := range []struct {
		name  string
		apply func()
	}{
		{"a mode", func() { must(t, os.Chmod(filepath.Join(dir, "a.txt"), 0o600)) }},
		{"a size", func() { must(t, os.WriteFile(filepath.Join(dir, "a/x"), []byte("xx"), 0o644)) }},
		{"a name", func() { must(t, os.Rename(filepath.Join(dir, "a/x"), filepath.Join(dir, "a/y"))) }},
		{"a link's target", func() {
			must(t, os.Remove(filepath.Join(dir, "dangling")))
			must(t, os.Symlink("missinG", filepath.Join(dir, "dangling")))
		}},
		{"a hard link made a copy", func() {
			must(t, os.Remove(filepath.Join(dir, "app-hardlink")))
			must(t, os.WriteFile(filepath.Join(dir, "app-hardlink"), []byte("#!binary"), 0o755))
		}},
	} {
		before := scan().Shape
		change.apply()
		if scan().Shape == before {
			t.Errorf("%s changed, the shape did not", change.name)
		}
	}

	before := scan()
	beforeFiles, err := CatalogOf(ctx, dir, layout)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "conf/a.json"), []byte(`{"A":1}`), 0o644)) // same size
	after, err := CatalogOf(ctx, dir, layout)
	must(t, err)
	if scan().Shape != before.Shape || after.Digest() == beforeFiles.Digest() {
		t.Error("a byte changed in place: want the same shape and another files' digest")
	}
}
