// Package plan is the first step of a run: what a user asked, as typed
// (Input), checked once against the folder and the host, before any daemon
// is contacted, and made a Plan, its errors naming the field at fault
// (field.Error) so that a front end can say which flag, variable or
// wercker.yml key to fix. A Plan is what the rest of the run reads and
// never changes; the run's own state lives with the run (package push).
package plan

import (
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/scratchpush/scratchpush/auth"
	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon"
	"github.com/scratchpush/scratchpush/sign"
	"github.com/scratchpush/scratchpush/source"
	"github.com/scratchpush/scratchpush/target"
)

// Plan is a checked run: every value parsed and validated, nothing
// left to read from the command line. Input.Plan makes it; a program
// that fills it in itself must check Spec (builder.Spec.Check). A run
// reads it and never writes it.
type Plan struct {
	// Dir is the folder whose files make the image.
	Dir string
	// Spec is the image's settings; Layout the deterministic stamps, the
	// working directory and the annotations. The layer split and the
	// essentials' folder are the run's (builder.Layout's Splits, Climb
	// and Essentials stay unset here).
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
	// Provenance attaches an SLSA v1 provenance statement (package
	// provenance) to what is pushed: a cosign attestation signed with Key
	// when there is one, else an OCI referrer.
	Provenance bool
	// Key signs what is pushed as cosign signs (package sign), nil for no
	// signature.
	Key *sign.Key

	// Outputs are written with the image made here (and pushed from
	// here, when pushing, so that they hold what the registry gets).
	// With no push and no Target, the run needs no daemon.
	Outputs []Output

	// CacheDir keeps the records of images made, for reuse; "" is the
	// user's cache folder.
	CacheDir string

	// Files are written when the run succeeds.
	Files Files
}

// Created is when an image made here is made: Layout.Created, or for a
// reproducible one ModTime.
func (p Plan) Created() time.Time {
	if p.Layout.Created.IsZero() {
		return p.Layout.ModTime
	}
	return p.Layout.Created
}

// FilesOnly says the run needs no daemon: it writes Outputs and neither
// pushes nor names an image to tag.
func (p Plan) FilesOnly() bool {
	return len(p.Outputs) > 0 && !p.Push && p.Target.Repository == nil
}

// PushesHere says the push goes from this process, not the daemon's:
// asked (Direct), or for several platforms, whose index only this process
// pushes. Its credentials are then checked from here too.
func (p Plan) PushesHere() bool {
	return p.Direct || len(p.Platforms) > 0
}

// MakesHere says the image is made here, not built by the daemon's build
// endpoint: for several platforms, Reproducible, a push from here, or
// files to write. (The containerd store with the auto builder also gets
// an image made here; that is the daemon's fact, not the plan's.)
func (p Plan) MakesHere() bool {
	return len(p.Platforms) > 0 || p.Reproducible || p.Direct || len(p.Outputs) > 0
}
