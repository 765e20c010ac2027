// Package atomicfile writes a file whole or not at all: the bytes go to a
// temporary file beside it, which is renamed over the path once complete,
// so that a reader (the next job of a pipeline, docker load) never sees
// half of one, and a failure leaves what was there.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write writes path from write, with mode perm (as umask allows).
func Write(path string, perm os.FileMode, write func(w io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), perm&^umask())
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// WriteBytes writes data to path with mode 0644 (as umask allows),
// naming the path in its error.
func WriteBytes(path string, data []byte) error {
	if err := Write(path, 0o644, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
		return fmt.Errorf("writing %q: %w", path, err)
	}
	return nil
}
