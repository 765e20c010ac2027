package push

import (
	"fmt"
	"runtime"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/scratchpush/scratchpush/auth"
	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon"
	"github.com/scratchpush/scratchpush/plan"
	"github.com/scratchpush/scratchpush/registry"
)

// run is a run under way: the plan, what the daemon said of itself, and
// what the caller listens with. The plan is the run's own copy: only the
// essentials' folder, once written, is set in its Layout.
type run struct {
	plan.Plan
	progress daemon.Progress
	scanned  func(builder.Summary)
	// daemon is what the daemon said of itself, asked once; zero when the
	// run needs no daemon.
	daemon daemon.Description
	// registries is what the run's registry clients share: one ping and
	// one token per repository for the whole run.
	registries *registry.Session
	// credentials is the credentials' check (nil: none), which a daemon's
	// runs meanwhile: waited for before anything is built or the daemon
	// pushes.
	credentials *credentialCheck
}

// Option sets how a run reports.
type Option func(*run)

// WithProgress has p receive events as the run goes: the daemon's, and
// the run's own words (Phase "note").
func WithProgress(p daemon.Progress) Option { return func(r *run) { r.progress = p } }

// WithScanned has f told what the folder holds before any work: the
// command line sizes its memory limit by it.
func WithScanned(f func(builder.Summary)) Option { return func(r *run) { r.scanned = f } }

// note sends a word of the run's own: no ID, so every display prints it as
// a line of its own.
func (o run) note(format string, args ...any) {
	if o.progress != nil {
		o.progress(daemon.Event{Phase: "note", Text: fmt.Sprintf(format, args...)})
	}
}

// event sends an event when someone listens.
func (o run) event(e daemon.Event) {
	if o.progress != nil {
		o.progress(e)
	}
}

// imagePlatform is the platform the image is for, the one the plan names,
// else the daemon's (linux on this machine's architecture without a
// daemon); and the daemon's.
func (o run) imagePlatform() (image, daemonPlatform ocispec.Platform) {
	daemonPlatform = ocispec.Platform{OS: o.daemon.OS, Architecture: o.daemon.Arch}
	if daemonPlatform.OS == "" {
		daemonPlatform = ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	}
	if o.Platform != nil {
		return *o.Platform, daemonPlatform
	}
	return daemonPlatform, daemonPlatform
}

// samePlatform compares what names a platform: OS, architecture, variant.
func samePlatform(a, b ocispec.Platform) bool {
	return a.OS == b.OS && a.Architecture == b.Architecture && a.Variant == b.Variant
}

// cores is what the layer split weighs: the daemon's processors, unless
// MaxLayersExact or there is no daemon.
func (o run) cores() int {
	if o.MaxLayersExact {
		return 0
	}
	return o.daemon.CPUs
}

// layout is the plan's layout with the layer split of a folder as sum
// found it.
func (o run) layout(sum builder.Summary) builder.Layout {
	l := o.Layout
	l.Splits = sum.Split(o.MaxLayers, o.cores())
	l.Climb = sum.Climb
	return l
}

// registry is the client for the target's registry, with the run's
// credentials and retries.
func (o run) registry(opts ...registry.Option) *registry.Client {
	return o.registryFor(o.Credentials, o.Target.Scheme, opts...)
}

// registryFor is a client for a registry written with scheme, presenting
// creds, with the run's retries.
func (o run) registryFor(creds auth.Credentials, scheme string, opts ...registry.Option) *registry.Client {
	return registry.New(creds, append([]registry.Option{registry.WithRetries(o.Retries), registry.WithScheme(scheme), registry.WithSession(o.registries)}, opts...)...)
}

// daemonID is the ID the daemon gives an image made here, as docker images
// shows it: the manifest's digest on the containerd store, the config's
// elsewhere; the config's when the run has no daemon.
func (o run) daemonID(m builder.Made) digest.Digest {
	if o.daemon.Containerd {
		return m.Manifest
	}
	return m.Config
}
