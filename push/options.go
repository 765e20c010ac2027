// Package push is the run behind scratch-push: a folder made into a
// FROM-scratch image in the daemon (built through the Engine API's build
// endpoint, or made here and loaded), tagged, and pushed, with every failure
// undone. Input.Options checks what a user typed and turns it into Options
// once, its errors naming the field at fault (field.Error); Run does the
// rest and returns a Result, reporting progress as data and printing
// nothing.
package push

import (
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/scratchpush/scratchpush/auth"
	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon"
	"github.com/scratchpush/scratchpush/source"
	"github.com/scratchpush/scratchpush/target"
)

// Options is a checked run: every value parsed and validated, nothing
// left to read from the command line. Input.Options makes it; a program
// that fills it in itself must check Spec (builder.Spec.Check).
type Options struct {
	// Dir is the folder whose files make the image.
	Dir string
	// Spec is the image's settings; Layout the deterministic stamps and the
	// working directory. Run fills in the layer split and the essentials.
	Spec   builder.Spec
	Layout builder.Layout
	// Essentials are added in a layer of their own.
	Essentials builder.Essentials
	// Builder is the daemon's builder for the build endpoint.
	Builder daemon.Builder
	// Platform is the image's, when the program or the user says; nil
	// leaves it to the daemon.
	Platform *ocispec.Platform
	// Platforms, when set, make one multi-platform image: an image a
	// platform, each from its own folder, made here under one OCI index,
	// which is pushed from here (Direct or not). Dir and Platform are then
	// unused. The containerd store loads the whole index; the classic
	// store and Podman, which hold one platform an image, load the image
	// for the daemon's platform, else the first.
	Platforms []PlatformDir
	// Reproducible makes the image here and loads it, instead of building.
	Reproducible bool
	// NoCache builds again: no reuse of an unchanged folder's image, no
	// build cache.
	NoCache bool
	// MaxLayers caps the layer split; unless MaxLayersExact, the daemon's
	// processors may lower it.
	MaxLayers      int
	MaxLayersExact bool

	// Target is where the image goes; a zero Repository tags nothing.
	Target target.Target
	// Mirrors get the same tags once Target has them.
	Mirrors []Mirror
	// Push pushes every tag of Target; false only tags in the daemon.
	Push bool
	// Direct pushes from here (package registry) instead of through the
	// daemon: the image is made here, and the daemon loads it while it
	// uploads.
	Direct bool
	// Credentials for Target's registry; empty pushes anonymously.
	Credentials auth.Credentials
	// Retries is how often a transient login or push failure is retried.
	Retries int

	// Source is where the folder comes from, as far as Input found out;
	// it is in the labels and Layout.Annotations. Annotated says the input
	// gave annotations, which need a manifest made here.
	Source    source.Info
	Annotated bool
	// SBOM attaches an SPDX document of the image (package sbom) to what
	// is pushed, as an OCI referrer. Tool names this program in it.
	SBOM bool
	Tool string

	// Outputs are written with the image made here (and pushed from
	// here, when pushing, so that they hold what the registry gets).
	// With no push and no Target, the run needs no daemon.
	Outputs []Output

	// CacheDir keeps the records of images made, for reuse; "" is the
	// user's cache folder.
	CacheDir string

	// Files are written when the run succeeds.
	Files Files
	// Progress receives events as the run goes: the daemon's, and the
	// run's own words (Phase "note").
	Progress daemon.Progress
	// Scanned, when set, is told what the folder holds before any work:
	// the command line sizes its memory limit by it.
	Scanned func(builder.Summary)
}

// Result is what a run did. On failure it holds the tags pushed before it,
// which stay pushed: each is complete.
type Result struct {
	// ImageID is the daemon's ID of the image (see Engines in the docs).
	ImageID string
	// Reused says an unchanged folder's image was taken without a build.
	Reused bool
	// Tags are the tags pushed, or with Push false, set in the daemon.
	Tags []Tag
	// Platforms are a multi-platform image's platforms and their
	// manifests' digests, in the index's order.
	Platforms []PlatformImage
	// SBOMs are the SBOM documents attached, each to its subject.
	SBOMs []Referrer
	// Outputs are the Outputs written, each KIND:PATH@DIGEST.
	Outputs []string
}

// PlatformImage is one platform of a multi-platform image.
type PlatformImage struct {
	Platform string `json:"platform"`
	Digest   string `json:"digest"`
}
