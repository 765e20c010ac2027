package plan

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/scratchpush/scratchpush/field"
)

// Files are the files a run leaves for the next job of a pipeline, each
// written whole (a temporary file renamed) and only when the run succeeds.
// Input.Plan removes old ones, so that a job never reads a value an
// earlier run left. Errors about them name Input's MetadataFile, IIDFile
// and DigestFile.
type Files struct {
	Metadata string // JSON: image ID, tags, layers, size, platform, daemon
	IID      string // the image ID
	Digest   string // the first tag's pushed manifest digest
	// ImageRefs lists every tag pushed, REFERENCE@DIGEST a line, as ko's
	// --image-refs does, the mirrors' too.
	ImageRefs string
}

// prepare checks that each file can be written and removes an old one: a
// failed run then leaves none.
func (f Files) prepare() error {
	for _, r := range []struct{ name, path string }{{"MetadataFile", f.Metadata}, {"IIDFile", f.IID}, {"DigestFile", f.Digest}, {"ImageRefsFile", f.ImageRefs}} {
		if r.path == "" {
			continue
		}
		dir := filepath.Dir(r.path)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return field.Errorf(r.name, "%q: the folder %q does not exist: create it first", r.path, dir)
		}
		fi, err := os.Lstat(r.path)
		switch {
		case err == nil && fi.IsDir():
			return field.Errorf(r.name, "%q is a folder: give a file name", r.path)
		case err == nil && !fi.Mode().IsRegular():
			// A fifo, device or link would be replaced by a regular file.
			return field.Errorf(r.name, "%q is not a regular file (%s): give the name of a file to write", r.path, kind(fi.Mode()))
		}
		if err := writable(dir); err != nil {
			return field.Errorf(r.name, "%q: the folder %q cannot be written: %w", r.path, dir, err)
		}
		if err := os.Remove(r.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return field.Errorf(r.name, "removing the old %q: %w", r.path, err)
		}
	}
	return nil
}

// writable checks that a file can be made in dir, as the result files
// will be once the image is pushed, by making one.
func writable(dir string) error {
	f, err := os.CreateTemp(dir, ".scratch-push-check-*")
	if err != nil {
		return errors.Unwrap(err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// kind names a file mode's type.
func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeDevice != 0, m&fs.ModeCharDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a regular file"
}
