package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/scratchpush/scratchpush/auth"
	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon"
	"github.com/scratchpush/scratchpush/field"
	"github.com/scratchpush/scratchpush/plan"
)

// Engine opens the daemon a run works with. Run opens it once the folder
// has been scanned, so that a folder it cannot use is reported before any
// daemon is contacted; the caller closes it.
type Engine func(context.Context) (daemon.API, error)

// Run makes the image and delivers it, in three steps read top to bottom:
// the plan (checked by package plan; here the folders are scanned and the
// daemon described, once), make (the image: an unchanged folder's reused,
// built by the daemon, or made here, one image or an index over several
// platforms), and deliver (to the daemon, the registry, the mirrors, the
// files). A failure after the tags are set puts them back and removes what
// the run built, so the daemon is left as it was found; tags pushed before
// a failure stay pushed, and the Result names them.
func Run(ctx context.Context, engine Engine, p plan.Plan, opts ...Option) (Result, error) {
	o := run{Plan: p}
	for _, opt := range opts {
		opt(&o)
	}
	var res Result

	// The plan's facts: the folders, then the daemon, asked once.
	scanned := time.Now()
	sums, err := o.scan(ctx)
	if err != nil {
		return res, err
	}
	var api daemon.API // none when the run only writes files
	if !o.FilesOnly() {
		if api, err = engine(ctx); err != nil {
			return res, err
		}
		if o.daemon, err = daemon.Describe(ctx, api); err != nil {
			return res, err
		}
	}
	cleanup, err := writeEssentials(ctx, &o)
	if err != nil {
		return res, err
	}
	defer cleanup()
	noteSource(o)
	if err := checkAnnotated(o); err != nil {
		return res, err
	}
	registryOpts := daemon.RegistryOptions{Retries: o.Retries, Progress: o.progress}
	if o.Push && !o.Credentials.Empty() {
		if err := checkCredentials(ctx, api, o, &registryOpts); err != nil {
			return res, err
		}
	}

	// Make.
	var m made
	switch {
	case len(o.Platforms) > 0:
		m, err = makeIndex(ctx, api, o, sums)
	case o.FilesOnly():
		m, err = makeFiles(ctx, o, sums[0])
	default:
		m, err = reuseOrMake(ctx, api, o, sums[0], scanned)
	}
	res.Platforms = m.platforms
	if err != nil {
		if m.upload != nil {
			res.Tags = pushedTags(o, m.upload.stop())
		}
		return res, err
	}

	// Deliver.
	if api == nil {
		res.Outputs = m.outputs
		return res, nil
	}
	return finish(ctx, api, o, m, res, registryOpts)
}

// scan scans every folder the plan names: the one folder, or each
// platform's; the caller is told the whole.
func (o run) scan(ctx context.Context) ([]builder.Summary, error) {
	var sums []builder.Summary
	var all builder.Summary
	if len(o.Platforms) == 0 {
		sum, err := builder.Scan(ctx, o.Dir)
		if err != nil {
			return nil, err
		}
		sums, all = []builder.Summary{sum}, sum
	}
	for _, p := range o.Platforms {
		sum, err := builder.Scan(ctx, p.Dir)
		if err != nil {
			return nil, fmt.Errorf("the folder for %s, %s: %w", builder.PlatformString(&p.Platform), p.Dir, err)
		}
		sums = append(sums, sum)
		all.Files, all.Dirs, all.Symlinks, all.Bytes = all.Files+sum.Files, all.Dirs+sum.Dirs, all.Symlinks+sum.Symlinks, all.Bytes+sum.Bytes
	}
	if o.scanned != nil {
		o.scanned(all)
	}
	return sums, nil
}

// run is a run under way: the plan, and what the caller listens with.
type run struct {
	plan.Plan
	progress daemon.Progress
	scanned  func(builder.Summary)
	// daemon is what the daemon said of itself, asked once; zero when the
	// run needs no daemon.
	daemon daemon.Description
}

// Option sets how a run reports.
type Option func(*run)

// WithProgress has p receive events as the run goes: the daemon's, and
// the run's own words (Phase "note").
func WithProgress(p daemon.Progress) Option { return func(r *run) { r.progress = p } }

// WithScanned has f told what the folder holds before any work: the
// command line sizes its memory limit by it.
func WithScanned(f func(builder.Summary)) Option { return func(r *run) { r.scanned = f } }

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

// writeEssentials writes the essentials Options ask for to a folder of
// their own, named in o.Layout; cleanup removes it.
func writeEssentials(ctx context.Context, o *run) (cleanup func(), err error) {
	if !o.Essentials.Any() {
		return func() {}, nil
	}
	dir, err := os.MkdirTemp("", "scratch-push-essentials-")
	if err != nil {
		return nil, fmt.Errorf("making the essentials: %w", err)
	}
	if err := builder.WriteEssentials(ctx, dir, o.Essentials); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	o.Layout.Essentials = dir
	return func() { os.RemoveAll(dir) }, nil
}

// finish tags the image the run has, pushes it (or waits for its upload;
// registryOpts are the daemon's push's) and writes the result files; on failure it undoes the tags and removes
// what the run made.
func finish(ctx context.Context, api daemon.API, o run, m made, res Result, registryOpts daemon.RegistryOptions) (Result, error) {
	res.ImageID, res.Reused, res.Outputs = m.built.ID, m.reused, m.outputs
	sboms := startSBOM(ctx, api, o, m)
	done := false
	undo := func(context.Context) {}
	defer func() {
		sboms.stop()
		if done {
			m.remember()
			return
		}
		if m.upload != nil {
			m.upload.stop()
		}
		undo(ctx)
		m.built.Discard(ctx, api)
	}()
	if o.Target.Repository != nil {
		u, err := daemon.Tag(ctx, api, m.built.ID, o.Target.Tags) // a failed Tag undoes itself
		if err != nil {
			if m.upload != nil {
				res.Tags = pushedTags(o, m.upload.stop())
			}
			return res, err
		}
		undo = u
	}
	if !o.Push {
		for _, ref := range o.Target.Tags {
			o.note("tagged %s", reference.FamiliarString(ref))
			res.Tags = append(res.Tags, Tag{Reference: reference.FamiliarString(ref)})
		}
	} else if m.upload != nil {
		digests, err := m.upload.wait()
		res.Tags = pushedTags(o, digests)
		if err != nil {
			return res, explainRegistry(ctx, api, err, o)
		}
	} else {
		for _, ref := range o.Target.Tags {
			digest, err := daemon.Push(ctx, api, ref, o.Credentials, registryOpts)
			if err != nil {
				return res, explainRegistry(ctx, api, err, o)
			}
			name := reference.FamiliarString(ref)
			res.Tags = append(res.Tags, Tag{name, digest, reference.FamiliarName(ref) + "@" + digest})
		}
	}
	if err := sboms.attach(ctx, o, &res); err != nil {
		return res, err
	}
	if err := pushMirrors(ctx, o, &res); err != nil {
		return res, err
	}
	if err := writeFiles(ctx, api, o.daemon, o.Files, res); err != nil {
		return res, err
	}
	if sboms != nil && sboms.made && m.keepSBOM != nil {
		m.keepSBOM(sboms.docs[""])
	}
	done = true
	return res, nil
}

// pushedTags names the tags pushed from here, one digest for each tag in
// order.
func pushedTags(o run, digests []string) []Tag {
	var tags []Tag
	for i, digest := range digests {
		ref := o.Target.Tags[i]
		tags = append(tags, Tag{reference.FamiliarString(ref), digest, reference.FamiliarName(ref) + "@" + digest})
	}
	return tags
}

// checkCredentials has the daemon log in, so that a wrong password fails
// before anything is built; where the daemon cannot check them, the
// registry is asked from here.
func checkCredentials(ctx context.Context, api daemon.API, o run, opts *daemon.RegistryOptions) error {
	var err error
	if o.Direct || len(o.Platforms) > 0 { // pushed from here: checked from here
		err = auth.Check(ctx, o.Target.Host(), reference.Path(o.Target.Repository), o.Credentials)
	} else {
		opts.Podman = o.daemon.Podman
		err = daemon.Login(ctx, api, o.Target.Host(), o.Credentials, *opts)
	}
	if errors.Is(err, daemon.ErrLoginUnchecked) {
		err = auth.Check(ctx, o.Target.Host(), reference.Path(o.Target.Repository), o.Credentials)
	}
	switch {
	case errors.Is(err, auth.ErrUnchecked):
		o.note("%s; the push checks them", err)
	case err != nil:
		return explainRegistry(ctx, api, err, o)
	default:
		opts.CredentialsChecked = true
	}
	return nil
}

// cores is what the layer split weighs: the daemon's processors, unless
// MaxLayersExact or there is no daemon.
func (o run) cores(sum builder.Summary) int {
	if o.MaxLayersExact {
		return 0
	}
	return o.daemon.CPUs
}

// makeImage makes the image here and loads it when Reproducible, or when
// the daemon keeps its images in the containerd store and the builder is
// auto: that store keeps the gzip blobs as loaded and pushes them as they
// are, which takes half the time of a build whose layers the daemon then
// compresses on one core. Otherwise it builds the image through the build
// endpoint. size is the folder's, for showing progress.
func makeImage(ctx context.Context, api daemon.API, o run, dockerfile []byte, size int64) (daemon.Built, error) {
	containerd := o.daemon.Containerd && (o.Reproducible || o.Builder == daemon.BuilderAuto)
	if !o.Reproducible && !containerd {
		workdir := builder.NormalizeWorkdir(o.Spec.Workdir)
		opts := daemon.BuildOptions{
			Dockerfile: builder.DockerfileName,
			NoCache:    o.NoCache,
			Builder:    o.Builder,
			Progress:   o.progress,
			Workdir:    workdir != "" && workdir != "/",
		}
		if o.Platform != nil {
			if platform, daemonPlatform := o.imagePlatform(); !samePlatform(platform, daemonPlatform) {
				opts.Platform = &platform
			}
		}
		newContext := func() io.ReadCloser {
			return newSending(builder.Context(ctx, o.Dir, dockerfile, o.Layout), "context", "the build context", size, o.progress)
		}
		return daemon.Build(ctx, api, newContext, opts)
	}
	platform, _ := o.imagePlatform()
	format := builder.DockerSave
	if containerd {
		format = builder.OCILayout
	}
	stream, made := builder.ImageArchive(ctx, o.Dir, o.Spec, o.Layout, platform, format)
	built, m, err := loadArchive(ctx, api, newSending(stream, "image", "the image", size, o.progress), made)
	if err != nil {
		return built, err
	}
	if err := checkLoaded(ctx, api, built, m); err != nil {
		return daemon.Built{}, err
	}
	return built, nil
}

// checkLoaded makes sure the daemon holds the image that was made here,
// and removes what it loaded when it does not: a folder that changed
// while it was read must not leave a half-right image behind.
func checkLoaded(ctx context.Context, api daemon.API, built daemon.Built, made builder.Made) error {
	if made.Is(built.ID) {
		return nil
	}
	built.Discard(ctx, api)
	var as []string // what names it: a config, a manifest or index, or both
	if made.Config != "" {
		as = append(as, made.Config.String())
	}
	if made.Manifest != "" {
		as = append(as, "manifest "+made.Manifest.String())
	}
	return fmt.Errorf("the daemon loaded the image as %s, but it was made as %s", built.ID, strings.Join(as, ", "))
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

// explainRegistry says what to check when the daemon could not use the
// registry: the credentials it refused, or the plain HTTP it got where it
// expected HTTPS.
func explainRegistry(ctx context.Context, api daemon.API, err error, o run) error {
	if daemon.PlainHTTP(err) {
		return plainHTTPAdvice(err, o.Target.Host(), o.daemon.Podman)
	}
	who := "these credentials" // an identity token names no user
	if o.Credentials.Username != "" {
		who = fmt.Sprintf("user %q", o.Credentials.Username)
	}
	if errors.Is(err, auth.ErrDenied) {
		return fmt.Errorf("%w: check that %s may push to %s", err, who, reference.FamiliarName(o.Target.Repository))
	}
	if !errors.Is(err, auth.ErrAuth) {
		return err
	}
	if o.Credentials.Empty() {
		return field.Wrap("Credentials", fmt.Errorf("%w: no credentials were found for %s: give a user name and password, or docker login", err, o.Target.Host()))
	}
	return field.Wrap("Credentials", fmt.Errorf("%w: check the user name and password for %s (%s was refused)", err, o.Target.Host(), who))
}

// plainHTTPAdvice says how to let the daemon use a plain-HTTP registry:
// Docker and Podman keep the list of such registries in their own
// configuration, read when they start.
func plainHTTPAdvice(err error, host string, podman bool) error {
	if podman {
		return fmt.Errorf("%w: Podman expects HTTPS of %s; if it serves plain HTTP, mark it insecure in registries.conf ([[registry]] location = %q, insecure = true) and restart podman system service", err, host, host)
	}
	return fmt.Errorf("%w: the daemon expects HTTPS of %s; if it serves plain HTTP, add it to \"insecure-registries\" in the daemon's daemon.json and restart the daemon", err, host)
}
