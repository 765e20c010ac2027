package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/field"
	"github.com/scratchpush/scratchpush/sbom"
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
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, field.Errorf("Outputs", "%s: %w", v, err)
		case kind == DockerArchive && fi.IsDir():
			return nil, field.Errorf("Outputs", "%s is a folder: give a file name", v)
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

// filesOnly says the run needs no daemon: it writes Outputs and neither
// pushes nor names an image to tag.
func filesOnly(o Options) bool {
	return len(o.Outputs) > 0 && !o.Push && o.Target.Repository == nil
}

// written is what writeOutputs wrote, for Result.Outputs.
func written(o Options, digest string) []string {
	var out []string
	for _, w := range o.Outputs {
		out = append(out, w.String()+"@"+digest)
	}
	return out
}

// refName is the name index.json gives the image: the first tag.
func refName(o Options) string {
	if len(o.Target.Tags) > 0 {
		return o.Target.Tags[0].Tag()
	}
	return ""
}

// imageSBOM makes the SBOM of an image made here when Options ask for one:
// the whole image's, and with several parts each part's.
func imageSBOM(ctx context.Context, o Options, parts []sbom.Part, created time.Time) (sbom.Documents, error) {
	if !o.SBOM {
		return sbom.Documents{}, nil
	}
	name := "image"
	if o.Target.Repository != nil {
		name = reference.FamiliarName(o.Target.Repository)
	}
	return sbom.SPDX(ctx, sbom.Input{Name: name, Parts: parts, Created: created, Tool: o.Tool})
}

// sbomArtifact is the SBOM as an artifact referring to subject.
func sbomArtifact(subject ocispec.Descriptor, doc []byte, created time.Time) (builder.Artifact, error) {
	return builder.MakeArtifact(subject, sbom.MediaType, "sbom.spdx.json", doc, map[string]string{ocispec.AnnotationCreated: created.UTC().Format(time.RFC3339)})
}

// writeImageOutputs writes img to every Output, with its SBOM doc (nil:
// none) beside it in a layout.
func writeImageOutputs(o Options, img builder.Image, doc []byte, created time.Time) error {
	var artifacts []builder.Artifact
	if doc != nil {
		a, err := sbomArtifact(img.Descriptor, doc, created)
		if err != nil {
			return err
		}
		artifacts = append(artifacts, a)
	}
	for _, out := range o.Outputs {
		var err error
		switch out.Kind {
		case OCILayout:
			err = img.WriteLayout(out.Path, refName(o), artifacts)
		case DockerArchive:
			err = writeFile(out.Path, img.WriteArchive)
		}
		if err != nil {
			return field.Wrap("Outputs", fmt.Errorf("writing %s: %w", out, err))
		}
		o.note("wrote the image %s to %s", img.Made.Manifest, out)
	}
	return nil
}

// writeIndexOutputs writes ix as an OCI layout to every Output, with the
// SBOMs of the whole and of each platform beside it.
func writeIndexOutputs(o Options, ix builder.Index, docs sbom.Documents, platforms []PlatformDir, created time.Time) error {
	var artifacts []builder.Artifact
	if docs.Whole != nil {
		a, err := sbomArtifact(ix.Descriptor(), docs.Whole, created)
		if err != nil {
			return err
		}
		artifacts = append(artifacts, a)
		for i, p := range platforms {
			for _, img := range ix.Images {
				if builder.PlatformString(img.Descriptor.Platform) == builder.PlatformString(&p.Platform) {
					a, err := sbomArtifact(img.Descriptor, docs.Parts[i], created)
					if err != nil {
						return err
					}
					artifacts = append(artifacts, a)
				}
			}
		}
	}
	for _, out := range o.Outputs {
		if err := ix.WriteLayout(out.Path, refName(o), artifacts); err != nil {
			return field.Wrap("Outputs", fmt.Errorf("writing %s: %w", out, err))
		}
		o.note("wrote the index %s to %s", ix.Digest, out)
	}
	return nil
}

// writeFile writes a file whole or not at all, from write.
func writeFile(path string, write func(w io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// runFiles makes the image here and writes it to the Outputs, with no
// daemon: nothing is pushed or tagged.
func runFiles(ctx context.Context, o Options) (Result, error) {
	var res Result
	sum, err := builder.Scan(ctx, o.Dir)
	if err != nil {
		return res, err
	}
	if o.Scanned != nil {
		o.Scanned(sum)
	}
	cleanup, err := writeEssentials(ctx, &o)
	if err != nil {
		return res, err
	}
	defer cleanup()
	noteSource(o)
	o.Layout.Splits = sum.Split(o.MaxLayers, 0)
	o.Layout.Climb = sum.Climb
	platform := ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if o.Platform != nil {
		platform = *o.Platform
	}
	layers, err := newLayerFiles()
	if err != nil {
		return res, err
	}
	defer layers.remove()
	img, err := builder.MakeImage(ctx, layers.dir, o.Dir, o.Spec, o.Layout, platform)
	if err != nil {
		return res, err
	}
	if _, err := outputImage(ctx, o, img, platform); err != nil {
		return res, err
	}
	res.Outputs = written(o, img.Made.Manifest.String())
	return res, nil
}

// created is when an image made here is made: Layout.Created, or for a
// reproducible one ModTime.
func (o Options) created() time.Time {
	if o.Layout.Created.IsZero() {
		return o.Layout.ModTime
	}
	return o.Layout.Created
}
