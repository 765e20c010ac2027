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

	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/scratchpush/scratchpush/auth"
	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon"
	"github.com/scratchpush/scratchpush/push"
	"github.com/scratchpush/scratchpush/target"
)

func runPush(ctx context.Context, s *streams, o options) error {
	opts, err := makeOptions(ctx, s, o)
	if err != nil {
		return err
	}
	progress := newPrinter(s.err, o.progress, s.errFd)
	defer progress.close()
	if o.werckerStep != "" {
		progress.note("%s", o.werckerStep)
	}
	opts.Progress = progress.event
	opts.Scanned = limitMemory
	if opts.Push {
		header, err := auth.Header(opts.Credentials, opts.Target.Host())
		if err != nil {
			return err
		}
		s.redact.add(header)
	}

	copts, err := clientOpts(o.context)
	if err != nil {
		return usageError{err}
	}
	var api *client.Client
	defer func() {
		if api != nil {
			api.Close()
		}
	}()
	engine := func(ctx context.Context) (daemon.API, error) {
		var err error
		api, err = daemon.Connect(ctx, copts...)
		return api, err
	}

	res, err := push.Run(ctx, engine, opts)
	progress.close() // results after the progress, never inside it
	if !opts.Push && err == nil {
		fmt.Fprintln(s.out, res.ImageID)
	}
	for _, t := range res.Tags {
		if t.Digest != "" {
			fmt.Fprintf(s.out, "%s@%s\n", t.Reference, t.Digest)
		}
	}
	return flagError(err)
}

// fieldFlags names the flag behind each field of push.Options that an
// error of the run can be about.
var fieldFlags = map[string]string{
	"Files.IID":      "--iidfile",
	"Files.Digest":   "--digest-file",
	"Files.Metadata": "--metadata-file",
}

// flagError puts the flag that gave a field's value in front of an error
// the run reports about it.
func flagError(err error) error {
	if flag := fieldFlags[push.FieldOf(err)]; flag != "" {
		return fmt.Errorf("%s: %w", flag, err)
	}
	return err
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

// makeOptions validates the command line and gathers credentials into the
// run's options, so that every mistake in it surfaces before the daemon is
// contacted.
func makeOptions(ctx context.Context, s *streams, o options) (push.Options, error) {
	p := push.Options{Dir: o.dir, Push: !o.noPush, Reproducible: o.reproducible, NoCache: o.noCache,
		MaxLayers: o.maxLayers, MaxLayersExact: o.maxLayersGiven, Retries: o.retries}
	fi, err := os.Stat(o.dir)
	switch {
	case err != nil:
		return p, usagef("folder %q: %s", o.dir, osReason(err))
	case !fi.IsDir():
		return p, usagef("%q is not a folder: give the folder that holds the image's files", o.dir)
	case isEmpty(o.dir):
		return p, usageError{fmt.Errorf("%q: %w: put the files for the image in it", o.dir, builder.ErrEmptyFolder)}
	}

	if p.Builder, err = daemon.ParseBuilder(o.builder); err != nil {
		return p, usageError{err}
	}
	spec, err := makeSpec(o)
	if err != nil {
		return p, usageError{err}
	}
	p.Spec = spec
	if _, err = builder.Dockerfile(spec, builder.Layout{}); err != nil { // every value checked before any work
		return p, usageError{err}
	}
	prog, err := builder.Preflight(ctx, o.dir, spec, o.allowDynamic)
	if err != nil {
		return p, usageError{err}
	}
	if p.Platform, err = choosePlatform(o.platform, prog); err != nil {
		return p, usageError{err}
	}
	p.Essentials = builder.Essentials{CACerts: o.caCerts, TZData: o.tzdata, Tmp: o.tmp}
	if o.nonroot != "" {
		u, _ := builder.ParseUser(o.nonroot) // checked by makeSpec
		p.Essentials.NonRoot = &u
	}
	if err := p.Essentials.Check(); err != nil {
		return p, usageError{err}
	}
	if p.Essentials.NonRoot != nil && prog.Path != "" && prog.Mode.Perm()&0o001 == 0 {
		return p, usagef("--nonroot: %s is not executable by others (mode %04o), and in the image root owns it while %s runs it: chmod o+x it in the folder", prog.Path, prog.Mode.Perm(), p.Essentials.NonRoot.Name)
	}
	p.Layout.Workdir = spec.Workdir
	if p.Layout.ModTime, err = sourceDateEpoch(); err != nil {
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
		if p.Target, err = target.Parse(o.registry, o.repository, tags); err != nil {
			return p, usageError{err}
		}
	case p.Push:
		return p, usagef("--repository is required to push: name it, e.g. --repository quay.io/team/app, or use --no-push")
	}
	p.Files = push.Files{Metadata: o.metadataFile, IID: o.iidFile, Digest: o.digestFile}
	if !p.Push && p.Files.Digest != "" {
		return p, usagef("--digest-file needs a push: drop --no-push or use --iidfile")
	}
	if err := prepareFiles(p.Files); err != nil {
		return p, err
	}
	if p.Push {
		if p.Credentials, err = credentials(ctx, s, o, p.Target.Host()); err != nil {
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
func choosePlatform(flag string, prog builder.Program) (*ocispec.Platform, error) {
	var pl *ocispec.Platform
	if prog.Arch != "" {
		pl = &ocispec.Platform{OS: "linux", Architecture: prog.Arch, Variant: prog.Variant}
	}
	if flag == "" {
		return pl, nil
	}
	parts := strings.Split(flag, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] != "linux" || parts[1] == "" {
		return nil, fmt.Errorf("--platform %q: give linux/ARCH or linux/ARCH/VARIANT, e.g. linux/arm64", flag)
	}
	want := ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		want.Variant = parts[2]
	}
	if pl != nil && pl.Architecture != want.Architecture {
		return nil, fmt.Errorf("--platform %s, but %s is built for linux/%s: build it for %s or drop --platform", flag, prog.Path, pl.Architecture, want.Architecture)
	}
	return &want, nil
}
