package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/scratchpush/scratchpush/auth"
	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon"
	"github.com/scratchpush/scratchpush/display"
	"github.com/scratchpush/scratchpush/field"
	"github.com/scratchpush/scratchpush/push"
)

func runPush(ctx context.Context, s *streams, o options) error {
	if o.in.Push {
		if err := stdinPassword(s, &o); err != nil {
			return err
		}
	}
	o.in.SignPassword = signPassword(s, o)
	opts, err := o.in.Plan(ctx)
	if err != nil {
		return o.explain(err, true)
	}
	for _, c := range []struct {
		name, value string
		words       []string
	}{{"Cmd", o.in.Cmd, opts.Spec.Cmd}, {"Entrypoint", o.in.Entrypoint, opts.Spec.Entrypoint}} {
		if w := builder.ShellSyntax(c.words); w != "" && !strings.HasPrefix(strings.TrimSpace(c.value), "[") && !o.quiet {
			warn(s, fmt.Sprintf("%s: %q goes to %s as a plain argument: no shell runs the command in a scratch image, so nothing there chains, pipes, redirects or expands: give one program and its arguments", o.origin(c.name), w, c.words[0]))
		}
	}
	s.redact.AddCredentials(opts.Credentials.Username, opts.Credentials.Password)
	s.redact.Add(opts.Credentials.IdentityToken)
	for _, m := range opts.Mirrors {
		s.redact.AddCredentials(m.Credentials.Username, m.Credentials.Password)
		s.redact.Add(m.Credentials.IdentityToken)
	}
	progress := display.New(s.err, o.progress, s.errFd)
	defer progress.Close()
	if o.werckerStep != "" {
		progress.Note("%s", o.werckerStep)
	}
	if opts.Push {
		header, err := auth.Header(opts.Credentials, opts.Target.Host())
		if err != nil {
			return err
		}
		s.redact.Add(header)
	}

	copts, err := daemon.Endpoint(o.context)
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

	start := time.Now()
	res, err := push.Run(ctx, engine, opts, push.WithProgress(progress.Event), push.WithScanned(func(sum builder.Summary) { limitMemory(sum, opts.SBOM && opts.Push) }))
	if err == nil {
		progress.Note("finished in %.1fs", time.Since(start).Seconds())
	}
	progress.Close() // results after the progress, never inside it
	if !opts.Push && err == nil && res.ImageID != "" {
		fmt.Fprintln(s.out, res.ImageID)
	}
	if !opts.Push { // pushed, the references are the result; the progress names the files
		for _, w := range res.Outputs {
			fmt.Fprintln(s.out, w)
		}
	}
	for _, t := range res.Tags {
		if t.Digest != "" {
			fmt.Fprintf(s.out, "%s@%s\n", t.Reference, t.Digest)
		}
	}
	var input push.InputError
	return o.explain(err, errors.As(err, &input))
}

// inputFlags names the flag behind each field of plan.Input (Username and
// Password: of its Credentials).
var inputFlags = map[string]string{
	"Cmd": "cmd", "Entrypoint": "entrypoint", "AllowNoCommand": "allow-no-command", "AllowDynamic": "allow-dynamic",
	"Ports": "ports", "Env": "env", "Labels": "label", "Volumes": "volume", "Workdir": "workdir", "User": "user",
	"StopSignal": "stop-signal", "CACerts": "ca-certs", "TZData": "tzdata", "NonRoot": "nonroot", "Tmp": "tmp",
	"Platforms": "platform", "Builder": "builder", "Reproducible": "reproducible", "NoCache": "no-cache",
	"MaxLayers": "max-layers", "Registry": "registry", "Repository": "repository", "Tags": "tag",
	"Retries": "retries", "MetadataFile": "metadata-file", "IIDFile": "iidfile", "DigestFile": "digest-file",
	"Username": "username", "Password": "password-stdin", "Push": "no-push", "PushVia": "push", "SBOM": "sbom",
	"Annotations": "annotation", "SourceInfo": "source-info", "Outputs": "output",
	"Mirrors": "repository", "ImageRefsFile": "image-refs",
	"Provenance": "provenance", "SignKey": "sign-key",
}

// explain puts in front of an error about one input the flag, variable or
// wercker.yml key and line that gave the value, and names the other inputs
// it mentions by their flags; usage marks it a mistake in the input.
func (o options) explain(err error, usage bool) error {
	if err == nil {
		return nil
	}
	if field.Of(err) != nil {
		err = explained{field.Render(err, o.origin, flagName), err}
	}
	if usage {
		return usageError{err}
	}
	return err
}

type explained struct {
	text string
	err  error
}

func (e explained) Error() string { return e.text }
func (e explained) Unwrap() error { return e.err }

// origin says what gave an input's value; "" for the folder named on the
// command line and for what no flag gives.
func (o options) origin(name string) string {
	switch name {
	case "Dir":
		return o.dirFrom
	case "SourceDateEpoch":
		return "SOURCE_DATE_EPOCH"
	}
	flag, ok := inputFlags[name]
	if !ok {
		return ""
	}
	if from, ok := o.origins[flag]; ok {
		return from
	}
	return "--" + flag
}

func flagName(name string) string {
	if flag, ok := inputFlags[name]; ok {
		return "--" + flag
	}
	return name
}

// limitMemory sets a soft memory limit that keeps the heap from growing
// with the size of the folder or the length of the push: the program holds
// one copy buffer and a small record per folder entry, and the limit only
// makes the garbage collector run before the daemon's progress messages pile
// up. An image made here adds what its compression needs; an SBOM, what
// its document takes per file (sbomPerFile), held while it is written:
// below that the collector runs all the time (613 collections where 58
// do, for 100,000 files: 16.5 s of CPU against 9.4). GOMEMLIMIT, when
// set, wins.
func limitMemory(sum builder.Summary, sbom bool) {
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		return
	}
	entries := int64(sum.Files + sum.Dirs + sum.Symlinks)
	perEntry := int64(512)
	if sbom {
		perEntry += sbomPerFile
	}
	debug.SetMemoryLimit(8<<20 + builder.CompressMemory() + perEntry*entries)
}

// sbomPerFile is the heap an SBOM takes per file: its SPDX entry, its
// relationship, and their JSON twice (for the document's namespace, then
// the document), about 2 KiB measured at 100,000 files.
const sbomPerFile = 2 << 10

// stdinPassword reads the password from stdin when asked to, and refuses
// half of a user name and password: the docker config is asked only when
// neither is given.
func stdinPassword(s *streams, o *options) error {
	c := &o.in.Credentials
	if o.passwordStdin {
		pw, err := readPassword(s.in)
		if err != nil {
			return err
		}
		c.Password = pw
		s.redact.Add(pw)
	}
	switch {
	case c.Username != "" && c.Password == "":
		return usagef("--username %q given without a password: pipe it to --password-stdin or set SCRATCH_PUSH_PASSWORD", c.Username)
	case c.Username == "" && c.Password != "":
		return usagef("a password was given without a user name: add --username or SCRATCH_PUSH_USERNAME")
	}
	return nil
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
