package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/scratchpush/scratchpush/auth"
	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon"
)

// plan is a validated command line: everything checked before any work.
type plan struct {
	dir     string
	builder daemon.Builder
	spec    builder.Spec
	layout  builder.Layout
	target  daemon.Target // zero Repository with --no-push and no --repository
	creds   auth.Credentials
	push    bool
	files   resultFiles
	// platform is the image's, when the program or --platform says.
	platform   *builder.Platform
	essentials builder.Essentials
	bytes      int64 // the folder's, for showing progress
}

func runPush(ctx context.Context, s *streams, o options) error {
	p, err := makePlan(ctx, s, o)
	if err != nil {
		return err
	}
	progress := newPrinter(s.err, o.progress, s.errFd)
	defer progress.close()
	if o.werckerStep != "" {
		progress.note("%s", o.werckerStep)
	}
	done := false // the run succeeded

	scanned := time.Now()
	sum, err := builder.Scan(ctx, p.dir)
	if err != nil {
		return err
	}
	if p.essentials.Any() {
		dir, err := os.MkdirTemp("", "scratch-push-essentials-")
		if err != nil {
			return fmt.Errorf("making the essentials: %w", err)
		}
		defer os.RemoveAll(dir)
		if err := builder.WriteEssentials(ctx, dir, p.essentials); err != nil {
			return err
		}
		p.layout.Essentials = dir
	}
	limitMemory(sum)
	p.bytes = sum.Bytes

	opts, err := clientOpts(o.context)
	if err != nil {
		return usageError{err}
	}
	api, err := daemon.Connect(ctx, opts...)
	if err != nil {
		return err
	}
	defer api.Close()

	p.layout.Splits = sum.Split(o.maxLayers, daemonCores(ctx, api, sum, o))
	p.layout.Climb = sum.Climb
	dockerfile, err := builder.Dockerfile(p.spec, p.layout)
	if err != nil {
		return err
	}

	registryOpts := daemon.RegistryOptions{Retries: o.retries, Progress: progress.event}
	if p.push && !p.creds.Empty() {
		// A wrong password fails here, before anything is built.
		err := daemon.Login(ctx, api, p.target.Host(), client.RegistryLoginOptions{
			Username:      p.creds.Username,
			Password:      p.creds.Password,
			IdentityToken: p.creds.IdentityToken,
			ServerAddress: auth.ServerAddress(p.target.Host()),
		}, registryOpts)
		if errors.Is(err, daemon.ErrLoginUnchecked) {
			// The daemon cannot check them: ask the registry from here.
			err = auth.Check(ctx, p.target.Host(), reference.Path(p.target.Repository), p.creds)
		}
		switch {
		case errors.Is(err, auth.ErrUnchecked):
			progress.note("%s; the push checks them", err)
		case err != nil:
			return explainRegistry(ctx, api, err, p)
		default:
			registryOpts.CredentialsChecked = true
		}
	}

	built, reused, remember, err := reuseOrMake(ctx, api, p, o, sum, scanned, dockerfile, progress)
	if err != nil {
		return err
	}
	defer func() {
		if done {
			remember()
		}
	}()
	// From here a failure puts the tags back and removes what this run
	// built, so that a failed run leaves the daemon as it found it. Tags
	// pushed before a failure stay pushed and printed: each is complete.
	undo := func(context.Context) {}
	defer func() {
		if !done {
			undo(ctx)
			built.Discard(ctx, api)
		}
	}()
	if p.target.Repository != nil {
		u, err := daemon.Tag(ctx, api, built.ID, p.target) // a failed Tag undoes itself
		if err != nil {
			return err
		}
		undo = u
	}
	var tags []tagResult
	if !p.push {
		for _, ref := range p.target.Tags {
			progress.note("tagged %s", reference.FamiliarString(ref))
			tags = append(tags, tagResult{Reference: reference.FamiliarString(ref)})
		}
		fmt.Fprintln(s.out, built.ID)
	} else {
		header, err := auth.Header(p.creds, p.target.Host())
		if err != nil {
			return err
		}
		s.redact.add(header)
		for _, ref := range p.target.Tags {
			digest, err := daemon.Push(ctx, api, ref, header, registryOpts)
			if err != nil {
				return explainRegistry(ctx, api, err, p)
			}
			fmt.Fprintf(s.out, "%s@%s\n", reference.FamiliarString(ref), digest)
			tags = append(tags, tagResult{reference.FamiliarString(ref), digest, reference.FamiliarName(ref) + "@" + digest})
		}
	}
	if err := p.files.write(ctx, api, built, reused, tags); err != nil {
		return err
	}
	done = true
	return nil
}

// daemonCores is what the layer split weighs: the daemon's processors,
// unless --max-layers was given, which then says exactly how far to split.
// It asks the daemon only for a folder big enough to split.
func daemonCores(ctx context.Context, api daemon.API, sum builder.Summary, o options) int {
	if o.maxLayersGiven || len(sum.Split(o.maxLayers, 0)) == 0 {
		return 0
	}
	return daemon.CPUs(ctx, api)
}

// limitMemory sets a soft memory limit that keeps the heap from growing
// with the size of the folder or the length of the push: the program holds
// one copy buffer and a small record per folder entry, and the limit only
// makes the garbage collector run before the daemon's progress messages pile
// up. GOMEMLIMIT, when set, wins.
func limitMemory(sum builder.Summary) {
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		return
	}
	entries := int64(sum.Files + sum.Dirs + sum.Symlinks)
	debug.SetMemoryLimit(8<<20 + 512*entries)
}

// makeImage builds the image through the build endpoint, or with
// --reproducible makes it here and loads it.
func makeImage(ctx context.Context, api daemon.API, p plan, dockerfile []byte, o options, progress *printer) (daemon.Built, error) {
	if !o.reproducible {
		opts := daemon.BuildOptions{
			Dockerfile: builder.DockerfileName,
			NoCache:    o.noCache,
			Builder:    p.builder,
			Progress:   progress.event,
		}
		if p.platform != nil {
			platform, daemonPlatform, err := imagePlatform(ctx, api, p)
			if err != nil {
				return daemon.Built{}, err
			}
			if platform != daemonPlatform {
				opts.Platform = &ocispec.Platform{OS: platform.OS, Architecture: platform.Architecture, Variant: platform.Variant}
			}
		}
		newContext := func() io.ReadCloser {
			return newSending(builder.Context(ctx, p.dir, dockerfile, p.layout), "context", "the build context", p.bytes, progress.event)
		}
		return daemon.Build(ctx, api, newContext, opts)
	}
	platform, _, err := imagePlatform(ctx, api, p)
	if err != nil {
		return daemon.Built{}, err
	}
	format := builder.DockerSave
	if containerd, err := daemon.ContainerdStore(ctx, api); err != nil {
		return daemon.Built{}, err
	} else if containerd {
		format = builder.OCILayout
	}
	stream, made := builder.Image(ctx, p.dir, p.spec, p.layout, platform, format)
	archive := newSending(stream, "image", "the image", p.bytes, progress.event)
	built, err := daemon.Load(ctx, api, archive, progress.event)
	archive.Close()
	if err != nil {
		return built, err
	}
	if m := made(); !m.Is(built.ID) {
		built.Discard(ctx, api)
		return daemon.Built{}, fmt.Errorf("the daemon loaded the image as %s, but it was made as %s (manifest %s)", built.ID, m.Config, m.Manifest)
	}
	return built, nil
}

// imagePlatform is the platform the image is for, the program's or
// --platform's when either says, else the daemon's; and the daemon's.
func imagePlatform(ctx context.Context, api daemon.API, p plan) (image, daemonPlatform builder.Platform, err error) {
	osName, arch, err := daemon.Platform(ctx, api)
	if err != nil {
		return builder.Platform{}, builder.Platform{}, err
	}
	daemonPlatform = builder.Platform{OS: osName, Architecture: arch}
	if p.platform != nil {
		return *p.platform, daemonPlatform, nil
	}
	return daemonPlatform, daemonPlatform, nil
}

// explainRegistry says what to check when the daemon could not use the
// registry: the credentials it refused, or the plain HTTP it got where it
// expected HTTPS.
func explainRegistry(ctx context.Context, api daemon.API, err error, p plan) error {
	if daemon.PlainHTTP(err) {
		return plainHTTPAdvice(err, p.target.Host(), daemon.IsPodman(ctx, api))
	}
	who := "these credentials" // an identity token names no user
	if p.creds.Username != "" {
		who = fmt.Sprintf("user %q", p.creds.Username)
	}
	if errors.Is(err, auth.ErrDenied) {
		return fmt.Errorf("%w: check that %s may push to %s", err, who, reference.FamiliarName(p.target.Repository))
	}
	if !errors.Is(err, auth.ErrAuth) {
		return err
	}
	if p.creds.Empty() {
		return fmt.Errorf("%w: no credentials were found for %s: give --username and --password-stdin, or docker login", err, p.target.Host())
	}
	return fmt.Errorf("%w: check the user name and password for %s (%s was refused)", err, p.target.Host(), who)
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

// makePlan validates the command line and gathers credentials, so that every
// mistake in it surfaces before the daemon is contacted.
func makePlan(ctx context.Context, s *streams, o options) (plan, error) {
	p := plan{dir: o.dir, push: !o.noPush}
	fi, err := os.Stat(o.dir)
	switch {
	case err != nil:
		return p, usagef("folder %q: %s", o.dir, osReason(err))
	case !fi.IsDir():
		return p, usagef("%q is not a folder: give the folder that holds the image's files", o.dir)
	case isEmpty(o.dir):
		return p, usageError{fmt.Errorf("%q: %w: put the files for the image in it", o.dir, builder.ErrEmptyFolder)}
	}

	if p.builder, err = daemon.ParseBuilder(o.builder); err != nil {
		return p, usageError{err}
	}
	spec, err := makeSpec(o)
	if err != nil {
		return p, usageError{err}
	}
	if p.builder == daemon.BuilderAuto && builder.NormalizeWorkdir(spec.Workdir) != "" && builder.NormalizeWorkdir(spec.Workdir) != "/" {
		// BuildKit's WORKDIR always adds a layer, if only an empty one; the
		// classic builder adds none when the folder holds the directory,
		// which the build context sees to.
		p.builder = daemon.BuilderClassic
	}
	p.spec = spec
	if _, err = builder.Dockerfile(spec, builder.Layout{}); err != nil { // every value checked before any work
		return p, usageError{err}
	}
	prog, err := builder.Preflight(ctx, o.dir, spec, o.allowDynamic)
	if err != nil {
		return p, usageError{err}
	}
	if p.platform, err = choosePlatform(o.platform, prog); err != nil {
		return p, usageError{err}
	}
	p.essentials = builder.Essentials{CACerts: o.caCerts, TZData: o.tzdata, Tmp: o.tmp}
	if o.nonroot != "" {
		u, _ := builder.ParseUser(o.nonroot) // checked by makeSpec
		p.essentials.NonRoot = &u
	}
	if err := p.essentials.Check(); err != nil {
		return p, usageError{err}
	}
	if p.essentials.NonRoot != nil && prog.Path != "" && prog.Mode.Perm()&0o001 == 0 {
		return p, usagef("--nonroot: %s is not executable by others (mode %04o), and in the image root owns it while %s runs it: chmod o+x it in the folder", prog.Path, prog.Mode.Perm(), p.essentials.NonRoot.Name)
	}
	p.layout.Workdir = spec.Workdir
	if p.layout.ModTime, err = sourceDateEpoch(); err != nil {
		return p, usageError{err}
	}

	var tags []string
	for _, t := range o.tags {
		tags = append(tags, builder.SplitList(t)...)
	}
	if len(o.tags) > 0 && len(tags) == 0 {
		return p, usagef("--tag is empty: give a tag such as latest or a commit id")
	}
	if len(tags) == 0 {
		tags = []string{"latest"}
	}
	switch {
	case o.repository != "":
		if p.target, err = daemon.ParseTarget(o.registry, o.repository, tags); err != nil {
			return p, usageError{err}
		}
	case p.push:
		return p, usagef("--repository is required to push: name it, e.g. --repository quay.io/team/app, or use --no-push")
	}
	p.files = resultFiles{metadata: o.metadataFile, iid: o.iidFile, digest: o.digestFile}
	if !p.push && p.files.digest != "" {
		return p, usagef("--digest-file needs a push: drop --no-push or use --iidfile")
	}
	if err := p.files.prepare(); err != nil {
		return p, err
	}
	if p.push {
		if p.creds, err = credentials(ctx, s, o, p.target.Host()); err != nil {
			return p, err
		}
	}
	if len(spec.Cmd) == 0 && len(spec.Entrypoint) == 0 && !o.allowNoCommand {
		return p, usagef("neither --cmd nor --entrypoint is given, so the image could not start (docker run: \"No command specified\"): name the program, e.g. --cmd ./app, or give --allow-no-command for an image meant as a base for others")
	}
	return p, nil
}

func makeSpec(o options) (builder.Spec, error) {
	spec := builder.Spec{Workdir: o.workdir, User: o.user, Volumes: o.volumes, StopSignal: o.stopSignal}
	var err error
	if o.nonroot != "" {
		u, err := builder.ParseUser(o.nonroot)
		if err != nil {
			return spec, fmt.Errorf("--nonroot %w", err)
		}
		if o.user != "" {
			return spec, fmt.Errorf("--nonroot and --user %q conflict: --nonroot runs the image as %s", o.user, u.Name)
		}
		spec.User = fmt.Sprintf("%d:%d", u.UID, u.UID)
	}
	if o.cmd != "" {
		if spec.Cmd, err = builder.ParseCommand(o.cmd); err != nil {
			return spec, fmt.Errorf("--cmd: %w", err)
		}
	}
	if o.entrypoint != "" {
		if spec.Entrypoint, err = builder.ParseCommand(o.entrypoint); err != nil {
			return spec, fmt.Errorf("--entrypoint: %w", err)
		}
	}
	if spec.Ports, err = builder.ParsePorts(o.ports); err != nil {
		return spec, fmt.Errorf("--ports: %w", err)
	}
	for _, e := range o.env {
		kv, err := builder.ParseKeyValue(e)
		if err != nil {
			return spec, fmt.Errorf("--env: %w", err)
		}
		spec.Env = append(spec.Env, kv)
	}
	for _, l := range o.labels {
		kv, err := builder.ParseKeyValue(l)
		if err != nil {
			return spec, fmt.Errorf("--label: %w", err)
		}
		spec.Labels = append(spec.Labels, kv)
	}
	return spec, nil
}

// credentials takes them from the flags or environment when given, else
// from the docker config the way docker push does.
func credentials(ctx context.Context, s *streams, o options, host string) (auth.Credentials, error) {
	c := auth.Credentials{Username: o.username, Password: o.password}
	if o.passwordStdin {
		pw, err := readPassword(s.in)
		if err != nil {
			return c, err
		}
		c.Password = pw
		s.redact.add(pw)
	}
	switch {
	case c.Username != "" && c.Password == "":
		return c, usagef("--username %q given without a password: pipe it to --password-stdin or set SCRATCH_PUSH_PASSWORD", c.Username)
	case c.Username == "" && c.Password != "":
		return c, usagef("a password was given without a user name: add --username or SCRATCH_PUSH_USERNAME")
	case !c.Empty():
		return c, nil
	}
	c, err := auth.FromDockerConfig(ctx, "", host)
	if err != nil {
		return c, err
	}
	s.redact.add(c.Password)
	s.redact.add(c.IdentityToken)
	return c, nil
}

func readPassword(in io.Reader) (string, error) {
	if in == nil {
		return "", usagef("--password-stdin: there is no stdin to read")
	}
	buf, err := io.ReadAll(io.LimitReader(in, 64<<10))
	if err != nil {
		return "", fmt.Errorf("--password-stdin: reading stdin: %w", err)
	}
	pw := strings.TrimRight(string(buf), "\r\n")
	if pw == "" {
		return "", usagef("--password-stdin: stdin was empty: pipe the password in, e.g. echo \"$PASSWORD\" | scratch-push --password-stdin ...")
	}
	return pw, nil
}

// sourceDateEpoch is the mtime stamped on every file: SOURCE_DATE_EPOCH when
// set (reproducible-builds.org), else the Unix epoch.
func sourceDateEpoch() (time.Time, error) {
	v, ok := os.LookupEnv("SOURCE_DATE_EPOCH")
	if !ok || v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	if err != nil || secs < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a count of seconds since 1970: set it to e.g. $(git log -1 --format=%%ct)", v)
	}
	return time.Unix(secs, 0).UTC(), nil
}

// isEmpty reports a folder with nothing in it; one it cannot list is left
// for the scan to report.
func isEmpty(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	return errors.Is(err, io.EOF)
}

func osReason(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "no such folder"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	}
	return err.Error()
}

// choosePlatform is the image's platform from --platform (os/arch[/variant])
// and the architecture the program is built for: the one or the other, and
// an error when they disagree. nil leaves it to the daemon.
func choosePlatform(flag string, prog builder.Program) (*builder.Platform, error) {
	var pl *builder.Platform
	if prog.Arch != "" {
		pl = &builder.Platform{OS: "linux", Architecture: prog.Arch, Variant: prog.Variant}
	}
	if flag == "" {
		return pl, nil
	}
	parts := strings.Split(flag, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] != "linux" || parts[1] == "" {
		return nil, fmt.Errorf("--platform %q: give linux/ARCH or linux/ARCH/VARIANT, e.g. linux/arm64", flag)
	}
	want := builder.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		want.Variant = parts[2]
	}
	if pl != nil && pl.Architecture != want.Architecture {
		return nil, fmt.Errorf("--platform %s, but %s is built for linux/%s: build it for %s or drop --platform", flag, prog.Path, pl.Architecture, want.Architecture)
	}
	return &want, nil
}
