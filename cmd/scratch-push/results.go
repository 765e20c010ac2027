package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/scratchpush/scratchpush/push"
)

// prepareFiles checks that each result file can be written and removes an
// old one, in the order of the flags' help: a failed run then leaves none,
// and the next job never reads a value an earlier run left.
func prepareFiles(f push.Files) error {
	for _, r := range []struct{ flag, path string }{{"--metadata-file", f.Metadata}, {"--iidfile", f.IID}, {"--digest-file", f.Digest}} {
		flag, path := r.flag, r.path
		if path == "" {
			continue
		}
		if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
			return usagef("%s %q: the folder %q does not exist: create it first", flag, path, filepath.Dir(path))
		}
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			return usagef("%s %q is a folder: give a file name", flag, path)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: removing the old %q: %w", flag, path, err)
		}
	}
	return nil
}
