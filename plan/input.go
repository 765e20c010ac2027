package plan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/scratchpush/scratchpush/auth"
	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon"
	"github.com/scratchpush/scratchpush/field"
	"github.com/scratchpush/scratchpush/sign"
	"github.com/scratchpush/scratchpush/target"
)

// Input is a run as a user states it: values as typed, lists as given, the
// way flags, environment variables and a wercker.yml give them. Plan
// turns it into checked Plan; each mistake it finds is a *field.Error
// naming one of these fields, so that the front end can say which flag,
// variable or key to fix.
type Input struct {
	// Dir is the folder whose files make the image.
	Dir string
	// Cmd and Entrypoint are a JSON array or a shell-like string
	// (builder.ParseCommand). AllowNoCommand accepts neither, for a base
	// image; AllowDynamic a program whose loader the folder lacks.
	Cmd, Entrypoint              string
	AllowNoCommand, AllowDynamic bool
	// Ports are EXPOSE items, each value possibly a list; Env and Labels
	// KEY=VALUE; Volumes paths.
	Ports, Env, Labels, Volumes []string
	Workdir, User, StopSignal   string
	// CACerts, TZData and NonRoot (NAME:UID) are essentials to add; "" adds
	// none.
	CACerts, TZData, NonRoot string
	Tmp                      bool
	// Platforms is one linux/ARCH[/VARIANT], or none to take the
	// program's; or PLATFORM=DIR pairs, each folder the image for that
	// platform, which with several make one multi-platform image (Dir is
	// then empty). A value may hold a comma or space separated list.
	Platforms []string
	// Builder is auto, buildkit or classic.
	Builder string
	// Reproducible makes the image here; SourceDateEpoch (seconds, as the
	// variable of reproducible-builds.org) stamps its files and time.
	Reproducible    bool
	SourceDateEpoch string
	NoCache         bool
	// MaxLayers caps the layer split when MaxLayersExact; otherwise the
	// default applies (one layer when Reproducible).
	MaxLayers      int
	MaxLayersExact bool

	// Registry, Repository and Tags name the target (target.Parse); Tags
	// default to latest.
	Registry, Repository string
	Tags                 []string
	// Mirrors are more repositories to push the same image to, under the
	// same tags (Mirror); a value may hold a comma or space separated list.
	Mirrors []string
	// Push pushes; false tags in the daemon only.
	Push bool
	// PushVia is daemon (the daemon pushes, the default) or direct (pushed
	// from here while the daemon loads the image).
	PushVia string
	// Annotations are KEY=VALUE for the manifest (and index), which must
	// then be made here. SourceInfo is auto (the default when empty: the
	// OCI's source, revision, created and version labels and annotations,
	// from CI variables read with LookupEnv or the folder's git checkout)
	// or none.
	Annotations []string
	SourceInfo  string
	LookupEnv   func(string) (string, bool)
	// SBOM is spdx (the default when empty: an SPDX document attached to
	// what is pushed) or none. Tool names this program in it.
	SBOM, Tool string
	// Provenance is slsa (the default when empty: an SLSA v1 provenance
	// statement attached to what is pushed) or none.
	Provenance string
	// SignKey is a cosign private key, a file or env://VAR, to sign what is
	// pushed with, opened with SignPassword's (asked only for it).
	SignKey      string
	SignPassword sign.Password
	// Credentials for the registry; empty takes the docker config's.
	Credentials auth.Credentials
	Retries     int

	// Outputs are oci-layout:DIR or docker-archive:FILE (Output).
	Outputs []string

	// CacheDir is the folder that keeps the records of images made, for
	// reuse (SCRATCH_PUSH_CACHE_DIR in the command); "" is the user's
	// cache folder, $XDG_CACHE_HOME/scratch-push.
	CacheDir string

	// MetadataFile, IIDFile, DigestFile and ImageRefsFile are the result
	// files (Files).
	MetadataFile, IIDFile, DigestFile, ImageRefsFile string
}

// Plan checks every value of the input against the folder and the
// host, before any daemon is contacted, and gathers credentials from the
// docker config when the input has none; old result files are removed.
func (in Input) Plan(ctx context.Context) (Plan, error) {
	o := Plan{Dir: in.Dir, Push: in.Push, Reproducible: in.Reproducible, NoCache: in.NoCache,
		MaxLayers: in.MaxLayers, MaxLayersExact: in.MaxLayersExact, Retries: in.Retries, Credentials: in.Credentials,
		CacheDir: in.CacheDir}
	asked, pairs, err := in.platforms()
	if err != nil {
		return o, err
	}
	if len(pairs) == 1 {
		// One platform's folder: an image, as DIR and --platform make it.
		o.Dir, asked, pairs = pairs[0].dir, pairs[0].platform, nil
	}
	if len(pairs) == 0 {
		if err := checkDir(o.Dir); err != nil {
			return o, err
		}
	}
	if o.Builder, err = daemon.ParseBuilder(in.Builder); err != nil {
		return o, err
	}
	switch in.PushVia {
	case "", "daemon":
	case "direct":
		o.Direct = true
	default:
		return o, field.Errorf("PushVia", "%q: give daemon (the daemon pushes) or direct (pushed from here while the daemon loads the image)", in.PushVia)
	}
	switch in.SBOM {
	case "", "spdx":
		o.SBOM = true
	case "none":
	default:
		return o, field.Errorf("SBOM", "%q: give spdx (an SPDX 2.3 document attached to the pushed image) or none", in.SBOM)
	}
	o.Tool = in.Tool
	if o.Tool == "" {
		o.Tool = "scratch-push"
	}
	switch in.Provenance {
	case "", "slsa":
		o.Provenance = in.Push
	case "none":
	default:
		return o, field.Errorf("Provenance", "%q: give slsa (an SLSA v1 provenance statement attached to the pushed image) or none", in.Provenance)
	}
	if in.SignKey != "" {
		if !in.Push {
			return o, field.Errorf("SignKey", "signs what is pushed: push (drop %s), or drop the key", field.Ref("Push"))
		}
		lookup := in.LookupEnv
		if lookup == nil {
			lookup = func(string) (string, bool) { return "", false }
		}
		password := in.SignPassword
		if password == nil {
			password = func() ([]byte, error) { return nil, nil }
		}
		if o.Key, err = sign.LoadKey(ctx, in.SignKey, lookup, password); err != nil {
			return o, field.Errorf("SignKey", "%w", err)
		}
	}
	if o.Direct && !in.Push {
		return o, field.Errorf("PushVia", "direct pushes, but %s says not to push: drop one of them", field.Ref("Push"))
	}
	if in.Reproducible && o.Builder != daemon.BuilderAuto {
		return o, field.Errorf("Builder", "does not apply with %s: the image is made here and loaded, not built by the daemon", field.Ref("Reproducible"))
	}
	if o.Direct && o.Builder != daemon.BuilderAuto {
		return o, field.Errorf("Builder", "does not apply with %s direct: the image is made here and loaded, not built by the daemon", field.Ref("PushVia"))
	}
	switch {
	case !in.MaxLayersExact && in.Reproducible:
		// One layer, as a reproducible image is usually made, and the
		// fastest for the daemon to load; MaxLayers splits.
		o.MaxLayers = 1
	case !in.MaxLayersExact:
		o.MaxLayers = builder.MaxLayers
	case in.MaxLayers < 1:
		return o, field.Errorf("MaxLayers", "%d: give 1 or more", in.MaxLayers)
	}
	if in.Retries < 0 {
		return o, field.Errorf("Retries", "%d: give 0 or more", in.Retries)
	}
	if o.Spec, err = in.spec(); err != nil {
		return o, err
	}
	if len(pairs) > 0 {
		if o.Platforms, o.Essentials, err = in.checkPlatforms(ctx, o, pairs); err != nil {
			return o, err
		}
	} else {
		prog, err := builder.Preflight(ctx, o.Dir, o.Spec, in.AllowDynamic)
		if err != nil {
			return o, err
		}
		if o.Platform, err = choosePlatform(asked, prog); err != nil {
			return o, err
		}
		if o.Essentials, err = in.essentials(prog); err != nil {
			return o, err
		}
	}
	o.Layout.Workdir = o.Spec.Workdir
	if o.Layout.ModTime, err = sourceDateEpoch(in.SourceDateEpoch); err != nil {
		return o, err
	}
	if !in.Reproducible {
		// An image made here (Direct, the containerd store) is created
		// now, as a build's is.
		o.Layout.Created = time.Now().UTC().Truncate(time.Second)
	}
	if o.Target, err = in.target(); err != nil {
		return o, err
	}
	if err := in.describe(ctx, &o); err != nil {
		return o, err
	}
	if o.Outputs, err = parseOutputs(in.Outputs, len(o.Platforms)); err != nil {
		return o, err
	}
	if len(o.Outputs) > 0 {
		if o.Builder != daemon.BuilderAuto {
			return o, field.Errorf("Builder", "does not apply with %s: the image is made here", field.Ref("Outputs"))
		}
		o.Direct = o.Push // the registry gets what the files hold
	}
	o.Files = Files{Metadata: in.MetadataFile, IID: in.IIDFile, Digest: in.DigestFile, ImageRefs: in.ImageRefsFile}
	if !o.Push && o.Files.ImageRefs != "" {
		return o, field.Errorf("ImageRefsFile", "lists what is pushed, and nothing is: drop it or push")
	}
	if !o.Push && o.Files.Digest != "" {
		return o, field.Errorf("DigestFile", "there is no digest without a push: write the image ID with %s instead", field.Ref("IIDFile"))
	}
	if err := o.Files.prepare(); err != nil {
		return o, err
	}
	if len(o.Spec.Cmd) == 0 && len(o.Spec.Entrypoint) == 0 && !in.AllowNoCommand {
		return o, field.Errorf("Cmd", "missing, and so is %s: the image could not start (docker run: \"No command specified\"): name the program, e.g. %s ./app, or give %s for an image meant as a base for others", field.Ref("Entrypoint"), field.Ref("Cmd"), field.Ref("AllowNoCommand"))
	}
	if o.Push && o.Credentials.Empty() {
		if o.Credentials, err = auth.FromDockerConfig(ctx, "", o.Target.Host()); err != nil {
			return o, err
		}
	}
	if o.Mirrors, err = in.mirrors(ctx, o); err != nil {
		return o, err
	}
	return o, nil
}

// spec parses the image's settings, each value once, and checks that an
// image can carry them.
func (in Input) spec() (builder.Spec, error) {
	spec := builder.Spec{Workdir: in.Workdir, User: in.User, Volumes: in.Volumes, StopSignal: in.StopSignal}
	if in.NonRoot != "" {
		u, err := builder.ParseUser(in.NonRoot)
		if err != nil {
			return spec, field.Wrap("NonRoot", err)
		}
		if in.User != "" {
			return spec, field.Errorf("User", "%q conflicts with %s, which runs the image as %s: give one", in.User, field.Ref("NonRoot"), u.Name)
		}
		spec.User = fmt.Sprintf("%d:%d", u.UID, u.UID)
	}
	var err error
	for _, c := range []struct {
		name, value string
		argv        *[]string
	}{{"Cmd", in.Cmd, &spec.Cmd}, {"Entrypoint", in.Entrypoint, &spec.Entrypoint}} {
		if c.value == "" {
			continue
		}
		if *c.argv, err = builder.ParseCommand(c.value); err != nil {
			return spec, field.Wrap(c.name, err)
		}
	}
	if spec.Ports, err = builder.ParsePorts(in.Ports); err != nil {
		return spec, field.Wrap("Ports", err)
	}
	for _, p := range []struct {
		name   string
		values []string
		pairs  *[]builder.KeyValue
	}{{"Env", in.Env, &spec.Env}, {"Labels", in.Labels, &spec.Labels}} {
		for _, v := range p.values {
			kv, err := builder.ParseKeyValue(v)
			if err != nil {
				return spec, field.Wrap(p.name, err)
			}
			*p.pairs = append(*p.pairs, kv)
		}
	}
	return spec, spec.Check()
}

// essentials checks the host files the essentials copy, and that a
// non-root user can run the program.
func (in Input) essentials(prog builder.Program) (builder.Essentials, error) {
	e := builder.Essentials{CACerts: in.CACerts, TZData: in.TZData, Tmp: in.Tmp}
	if in.NonRoot != "" {
		u, _ := builder.ParseUser(in.NonRoot) // checked by spec
		e.NonRoot = &u
	}
	if err := e.Check(); err != nil {
		return e, err
	}
	if e.NonRoot != nil && prog.Path != "" && prog.Mode.Perm()&0o001 == 0 {
		return e, field.Errorf("NonRoot", "%s is not executable by others (mode %04o), and in the image root owns it while %s runs it: chmod o+x it in the folder", prog.Path, prog.Mode.Perm(), e.NonRoot.Name)
	}
	return e, nil
}

// target names where the image goes; none without a repository, which a
// push needs.
func (in Input) target() (target.Target, error) {
	var tags []string
	for _, t := range in.Tags {
		tags = append(tags, builder.SplitList(t)...)
	}
	if len(in.Tags) > 0 && len(tags) == 0 {
		return target.Target{}, field.Errorf("Tags", "empty: give a tag such as latest or a commit id")
	}
	if len(tags) == 0 {
		tags = []string{"latest"}
	}
	switch {
	case in.Repository != "":
		return target.Parse(in.Registry, in.Repository, tags)
	case in.Push:
		return target.Target{}, field.Errorf("Repository", "required to push: name it, e.g. quay.io/team/app, or tag in the daemon only")
	case len(in.Tags) > 0:
		return target.Target{}, field.Errorf("Tags", "%s given without a repository, which tags name the image in (in the daemon and in --output files too): name one with %s, or drop the tags", strings.Join(tags, ", "), field.Ref("Repository"))
	}
	return target.Target{}, nil
}

// checkDir wants a folder with something in it.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return field.Errorf("Dir", "folder %q: no such folder", dir)
	case errors.Is(err, os.ErrPermission):
		return field.Errorf("Dir", "folder %q: permission denied", dir)
	case err != nil:
		return field.Wrap("Dir", err)
	case !fi.IsDir():
		return field.Errorf("Dir", "%q is not a folder: give the folder that holds the image's files", dir)
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil // the scan says why
	}
	defer f.Close()
	if _, err := f.Readdirnames(1); errors.Is(err, io.EOF) {
		return field.Errorf("Dir", "%q: %w: put the files for the image in it", dir, builder.ErrEmptyFolder)
	}
	return nil
}

// maxEpoch is the last second of 9999: RFC 3339 times, as image configs
// write them, have four digits of year.
const maxEpoch = 253402300799

// sourceDateEpoch is the mtime stamped on every file: SOURCE_DATE_EPOCH
// when set (reproducible-builds.org), else the Unix epoch.
func sourceDateEpoch(v string) (time.Time, error) {
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	if err != nil || secs < 0 {
		return time.Time{}, field.Errorf("SourceDateEpoch", "%q is not a count of seconds since 1970: set it to e.g. $(git log -1 --format=%%ct)", v)
	}
	if secs > maxEpoch {
		return time.Time{}, field.Errorf("SourceDateEpoch", "%s is after the year 9999, which image configs and tar headers cannot hold: set it to e.g. $(git log -1 --format=%%ct)", v)
	}
	return time.Unix(secs, 0).UTC(), nil
}

// choosePlatform is the image's platform from the one asked for
// (os/arch[/variant]) and the architecture the program is built for: the
// one or the other, and an error when they disagree. nil leaves it to the
// daemon.
func choosePlatform(asked string, prog builder.Program) (*ocispec.Platform, error) {
	var pl *ocispec.Platform
	if prog.Arch != "" {
		pl = &ocispec.Platform{OS: "linux", Architecture: prog.Arch, Variant: prog.Variant}
	}
	if asked == "" {
		return pl, nil
	}
	want, err := parsePlatform(asked)
	if err != nil {
		return nil, err
	}
	if pl != nil && pl.Architecture != want.Architecture {
		return nil, field.Errorf("Platforms", "%s, but %s is built for linux/%s: build it for %s or drop the platform", asked, prog.Path, pl.Architecture, want.Architecture)
	}
	return &want, nil
}

// parsePlatform reads linux/ARCH[/VARIANT].
func parsePlatform(s string) (ocispec.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] != "linux" || parts[1] == "" || (len(parts) == 3 && parts[2] == "") {
		return ocispec.Platform{}, field.Errorf("Platforms", "%q: give linux/ARCH or linux/ARCH/VARIANT, e.g. linux/arm64", s)
	}
	p := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}
