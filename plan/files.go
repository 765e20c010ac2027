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
// Input.Options removes old ones, so that a job never reads a value an
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
		if fi, err := os.Stat(filepath.Dir(r.path)); err != nil || !fi.IsDir() {
			return field.Errorf(r.name, "%q: the folder %q does not exist: create it first", r.path, filepath.Dir(r.path))
		}
		if fi, err := os.Stat(r.path); err == nil && fi.IsDir() {
			return field.Errorf(r.name, "%q is a folder: give a file name", r.path)
		}
		if err := os.Remove(r.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return field.Errorf(r.name, "removing the old %q: %w", r.path, err)
		}
	}
	return nil
}
