package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out")
	if err := WriteBytes(path, []byte("one")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644&^umask() {
		t.Fatalf("mode %v, %v; want 0644 under umask %04o", fi.Mode(), err, umask())
	}
	// A failed write leaves the file as it was, and nothing beside it.
	failed := errors.New("disk full")
	err = Write(path, 0o644, func(w io.Writer) error { _, _ = w.Write([]byte("half")); return failed })
	if !errors.Is(err, failed) {
		t.Fatalf("error %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "one" {
		t.Errorf("after a failed write the file holds %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the folder holds %d entries after a failed write", len(entries))
	}
	if err := WriteBytes(filepath.Join(dir, "missing", "out"), nil); err == nil {
		t.Error("writing into a missing folder succeeded")
	}
}
