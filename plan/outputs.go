package plan

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/scratchpush/scratchpush/field"
)

// Output is where an image made here is written besides the daemon and
// the registry: an OCI image layout folder (with the SBOM as a referrer)
// or a docker save archive (docker load takes it).
type Output struct {
	Kind string // OCILayout or DockerArchive
	Path string
}

// The kinds of Output.
const (
	OCILayout     = "oci-layout"
	DockerArchive = "docker-archive"
)

func (out Output) String() string { return out.Kind + ":" + out.Path }

// parseOutputs reads KIND:PATH values and checks each path can be
// written: a layout's folder new or empty, an archive's folder there.
func parseOutputs(values []string, platforms int) ([]Output, error) {
	var outs []Output
	for _, v := range values {
		kind, path, _ := strings.Cut(v, ":")
		if (kind != OCILayout && kind != DockerArchive) || path == "" {
			return nil, field.Errorf("Outputs", "%q: give oci-layout:DIR or docker-archive:FILE", v)
		}
		if kind == DockerArchive && platforms > 1 {
			return nil, field.Errorf("Outputs", "%s: a docker archive holds one platform's image: write several platforms as oci-layout:DIR", v)
		}
		if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
			return nil, field.Errorf("Outputs", "%s: the folder %q does not exist: create it first", v, filepath.Dir(path))
		}
		fi, err := os.Stat(path)
		// Where the output's first file goes must take one now, not
		// after the image is made.
		into := filepath.Dir(path)
		if err == nil && kind == OCILayout && fi.IsDir() {
			into = path
		}
		if werr := writable(into); werr != nil && (err == nil || errors.Is(err, fs.ErrNotExist)) {
			return nil, field.Errorf("Outputs", "%s: the folder %q cannot be written: %w", v, into, werr)
		}
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, field.Errorf("Outputs", "%s: %w", v, err)
		case kind == DockerArchive && fi.IsDir():
			return nil, field.Errorf("Outputs", "%s is a folder: give a file name", v)
		case kind == DockerArchive:
			return nil, field.Errorf("Outputs", "%s exists: give a new file name, or remove it first (as oci-layout wants a new or empty folder)", v)
		case kind == OCILayout && !fi.IsDir():
			return nil, field.Errorf("Outputs", "%s is a file: give a new or empty folder", v)
		case kind == OCILayout:
			if entries, _ := os.ReadDir(path); len(entries) > 0 {
				return nil, field.Errorf("Outputs", "%s is not empty: give a new or empty folder", v)
			}
		}
		outs = append(outs, Output{kind, path})
	}
	return outs, nil
}
