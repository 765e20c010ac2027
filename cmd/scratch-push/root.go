package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/display"
	"github.com/scratchpush/scratchpush/plan"
	"github.com/scratchpush/scratchpush/redact"
)

type streams struct {
	in     io.Reader
	out    io.Writer
	err    io.Writer
	redact *redact.Redactor
	// errFd and errTerminal say whether stderr is a terminal, for
	// --progress=auto and the live display's width.
	errFd       uintptr
	errTerminal bool
	// progress is the settled --progress mode, in which warnings and the
	// final error are written too; "" until then.
	progress string
}

// options is the command line: the run's input as typed, bound to the
// flags, and what only the command line has.
type options struct {
	in            plan.Input
	repositories  []string // --repository: the first is in.Repository, the rest in.Mirrors
	passwordStdin bool
	noPush        bool
	quiet         bool
	version       bool
	timeout       time.Duration
	werckerYML    string
	pipeline      string
	progress      string
	context       string
	// passwordFromFile: the wercker.yml gave the password, which then
	// counts as given, as a flag would.
	passwordFromFile bool
	// werckerStep says which step of the wercker.yml runs, once the
	// command line has been checked.
	werckerStep string
	// origins names where a flag's value came from when not the command
	// line: its variable, or a wercker.yml key and line. dirFrom is
	// WERCKER_OUTPUT_DIR when that gave the folder.
	origins map[string]string
	dirFrom string
}

const example = `  # Build ./out into the local daemon only (docker images shows it):
  scratch-push --no-push --repository myapp --tag dev --cmd ./app ./out

  # Push to a registry, the password on stdin, and run ./app --port 5000:
  echo "$QUAY_PASSWORD" | scratch-push \
      --username "$QUAY_USERNAME" --password-stdin \
      --repository quay.io/team/app --tag "$(git rev-parse --short HEAD)" \
      --cmd "./app --port 5000" --ports 5000 ./out

  # Credentials from docker login, two tags, the digest for the next job:
  scratch-push --repository ghcr.io/team/app --tag latest,v1.2.3 \
      --cmd ./app --digest-file digest --metadata-file metadata.json ./out

  # A byte-for-byte reproducible image, stamped with the last commit's time:
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) scratch-push \
      --repository quay.io/team/app --cmd ./app ./out

  # The internal/docker-scratch-push step of a wercker.yml, as it is:
  scratch-push --wercker-yml wercker.yml --pipeline deploy

  # A daemon elsewhere, reached as docker reaches it (DOCKER_CERT_PATH too):
  DOCKER_HOST=tcp://build-host:2376 DOCKER_TLS_VERIFY=1 \
      scratch-push --no-push --repository app --cmd ./app ./out`

func newRootCommand(s *streams) *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:   "scratch-push [flags] DIR | --platform PLATFORM=DIR...",
		Short: "Turn a folder into a FROM-scratch image and push it",
		Long: `scratch-push builds a minimal image FROM scratch out of the files in DIR,
with the command, ports, environment and labels you give, through the Docker
daemon's Engine API (DOCKER_HOST), tags it and pushes it to a registry.

stdout carries only results: one REPOSITORY:TAG@DIGEST line per pushed tag
(with --no-push, the image ID). Progress and messages go to stderr.

Credentials come from --username with --password-stdin (or --password), or
SCRATCH_PUSH_USERNAME and SCRATCH_PUSH_PASSWORD, or else from the docker config
(DOCKER_CONFIG or ~/.docker/config.json, credsStore and credHelpers included).

Exit status: 0 success; 1 the run failed; 2 the input was refused before
anything was built (flags, variables, the folder and what it holds);
130/143 interrupted.

"scratch-push version" prints the versions; "scratch-push completion bash"
(or zsh, fish, powershell) prints a shell completion script. A folder named
like one of these commands is given as ./version.`,
		Example:       example,
		Args:          cobra.ArbitraryArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			flags := cmd.Flags()
			if o.version {
				fmt.Fprintf(s.out, "scratch-push version %s\n", toolVersion())
				return nil
			}
			o.origins = map[string]string{}
			if err := flagsFromEnv(flags, o.origins); err != nil {
				return err
			}
			if err := chooseProgress(s, flags.Changed("progress"), &o); err != nil {
				return err
			}
			if o.werckerYML != "" {
				var err error
				if args, err = applyWercker(s, flags, &o, args); err != nil {
					return err
				}
			} else if o.pipeline != "" {
				return usagef("--pipeline chooses a pipeline of --wercker-yml: give the file too")
			}
			switch {
			case len(args) == 1:
				o.in.Dir = args[0]
			case len(args) > 1:
				return usagef("%d folders given (%s): name one folder, DIR, or give --platform PLATFORM=DIR for each platform; a flag's value with spaces needs quotes", len(args), strings.Join(args, " "))
			case !platformFolders(o.in.Platforms):
				return noFolder(flags)
			}
			passwordFlag := flags.Changed("password")
			if pw := os.Getenv("SCRATCH_PUSH_PASSWORD"); !passwordFlag && !o.passwordStdin && (pw != "" || !o.passwordFromFile) {
				o.in.Credentials.Password = pw
			}
			s.redact.Add(o.in.Credentials.Password)
			if passwordFlag && o.passwordStdin {
				return usagef("--password and --password-stdin conflict: give the password one way")
			}
			if passwordFlag && !o.quiet {
				warn(s, "a password on the command line can end up in shell history and process lists: prefer --password-stdin or SCRATCH_PUSH_PASSWORD")
			}
			o.in.SourceDateEpoch = os.Getenv("SOURCE_DATE_EPOCH")
			if !flags.Changed("reproducible") {
				o.in.Reproducible = o.in.SourceDateEpoch != ""
			}
			o.in.MaxLayersExact = flags.Changed("max-layers")
			o.in.Push = !o.noPush
			o.in.Repository, o.in.Mirrors = "", nil
			for _, v := range o.repositories {
				for _, r := range builder.SplitList(v) {
					if o.in.Repository == "" {
						o.in.Repository = r
					} else {
						o.in.Mirrors = append(o.in.Mirrors, r)
					}
				}
			}
			o.in.Tool = "scratch-push " + toolVersion()
			o.in.LookupEnv = os.LookupEnv
			o.in.CacheDir = os.Getenv("SCRATCH_PUSH_CACHE_DIR")
			if o.timeout < 0 {
				return usagef("--timeout %s: give a positive duration such as 10m, or 0 for no limit", o.timeout)
			}
			ctx := cmd.Context()
			if o.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeoutCause(ctx, o.timeout, fmt.Errorf("--timeout of %s reached: raise it or find what stalls", o.timeout))
				defer cancel()
			}
			return runPush(ctx, s, o)
		},
	}
	cmd.AddCommand(newVersionCommand(s))
	cmd.SetFlagErrorFunc(flagError)
	cmd.SetOut(s.out)
	cmd.SetErr(s.err)
	wrapUsage(cmd)
	cmd.InitDefaultCompletionCmd() // after SetOut: its scripts go where it points
	for _, c := range cmd.Commands() {
		if c.Name() == "completion" {
			// Cobra's completion command prints its help, exit 0, for a
			// shell it does not know.
			c.Args = cobra.ArbitraryArgs
			c.RunE = func(c *cobra.Command, args []string) error {
				if len(args) > 0 {
					return usagef("completion %q: give bash, zsh, fish or powershell", args[0])
				}
				return c.Help()
			}
		}
	}

	f := cmd.Flags()
	f.SortFlags = false
	f.StringArrayVar(&o.repositories, "repository", nil, "repository to push to: quay.io/team/app, user/app (Docker Hub), 127.0.0.1:5000/app; no tag or digest in it (required unless --no-push); repeatable: the image is pushed to the first (with --registry and the credentials given) and copied from there to each other under the same tags, with the docker config's credentials for its registry")
	f.StringArrayVar(&o.in.Tags, "tag", nil, "tag to push; repeatable, and a value may hold a comma or space separated list (default latest)")
	f.StringVar(&o.in.Registry, "registry", "", "registry host or URL: https://quay.io, quay.io and quay.io/v2/ mean the same; put in front of a repository that names no host, and must agree with one that does (default: the repository's host, else Docker Hub)")
	f.StringVar(&o.in.Credentials.Username, "username", "", "registry user name")
	f.StringVar(&o.in.Credentials.Password, "password", "", "registry password; draws a warning: prefer --password-stdin or SCRATCH_PUSH_PASSWORD")
	f.BoolVar(&o.passwordStdin, "password-stdin", false, "read the registry password from stdin: one line, its newline dropped")
	f.StringVar(&o.in.Cmd, "cmd", "", `command to run: a shell-like string split with POSIX quoting (./app --name "my app"), or a JSON array (["./app","--port","5000"]); nothing is expanded`)
	f.StringVar(&o.in.Entrypoint, "entrypoint", "", "entrypoint, in the forms of --cmd")
	f.StringArrayVar(&o.in.Ports, "ports", nil, "ports to expose: 5000, 5000/tcp, 53/udp, 132/sctp, ranges 7000-7002; repeatable, lists allowed; host bindings (8080:80) are refused")
	f.StringArrayVar(&o.in.Env, "env", nil, "environment variable KEY=VALUE, the value may hold =; repeatable")
	f.StringArrayVar(&o.in.Labels, "label", nil, "label KEY=VALUE, the value may hold =; repeatable")
	f.StringVar(&o.in.Workdir, "workdir", "", "working directory of the command, made absolute and clean as WORKDIR does; created in the image if the folder lacks it")
	f.StringVar(&o.in.User, "user", "", "user (and group) to run as: 1000, 1000:1000, or a NAME, which needs an /etc/passwd in the folder")
	f.StringArrayVar(&o.in.Volumes, "volume", nil, "path to declare as a volume; repeatable")
	f.StringVar(&o.in.StopSignal, "stop-signal", "", "signal that stops the container: SIGTERM, TERM, 15, SIGRTMIN+3")
	f.BoolVar(&o.noPush, "no-push", false, "build and tag in the local daemon only (docker images shows it), and print the image ID")
	choiceVar(f, &o.in.PushVia, "push", "daemon", "who pushes: daemon (the daemon, as docker push does), or direct (scratch-push itself, from the image it makes here, while the daemon loads it: faster, and the registry gets the exact manifest made here)", "daemon", "direct")
	f.StringArrayVar(&o.in.Annotations, "annotation", nil, "manifest annotation KEY=VALUE (and the index's, for several platforms); repeatable; needs the manifest made here: --push direct, several platforms, or Docker's containerd image store")
	choiceVar(f, &o.in.SourceInfo, "source-info", "auto", "auto: label the image (and annotate a manifest made here) with org.opencontainers.image.source and .revision from CI variables (GITHUB_*, GitLab's CI_*, WERCKER_GIT_*) or the folder's git checkout, .version from a tag like v1.2.3, and .created; none: leave them out", "auto", "none")
	choiceVar(f, &o.in.SBOM, "sbom", "spdx", "attach an SBOM to what is pushed, as an OCI referrer: spdx (an SPDX 2.3 document: each Go program's modules, the essentials, every file's checksums) or none", "spdx", "none")
	choiceVar(f, &o.in.Provenance, "provenance", "slsa", "attach provenance to what is pushed: slsa (an SLSA v1 statement: scratch-push and its version, the source revision, the folder's digest, the parameters that shaped the image, the environment's names but never its values; signed, as a cosign attestation, with --sign-key) or none", "slsa", "none")
	f.StringVar(&o.in.SignKey, "sign-key", "", "sign what is pushed with this cosign private key (a file, or env://VAR), as cosign sign does, and attest its provenance and SBOM as cosign attest does; the key's password from COSIGN_PASSWORD, else asked on the terminal")
	f.BoolVar(&o.in.NoCache, "no-cache", false, "build again: neither reuse the image of an unchanged folder nor use the daemon's build cache")
	f.BoolVar(&o.in.Reproducible, "reproducible", false, "make the image here, byte for byte the same for the same folder, and load it (default on when SOURCE_DATE_EPOCH is set)")
	f.IntVar(&o.in.MaxLayers, "max-layers", builder.MaxLayers, "split a folder of more than 64 MiB into up to this many layers, which push in parallel; unless given, fewer when the daemon's processors would be shared badly, and one with --reproducible; given, it is the exact cap")
	choiceVar(f, &o.in.Builder, "builder", "auto", "how the daemon gets the image: auto (on the containerd image store, made here and loaded, and its blobs pushed as made; elsewhere BuildKit where offered, else the classic builder), buildkit or classic", "auto", "buildkit", "classic")
	f.IntVar(&o.in.Retries, "retries", 3, "times to retry a login or push that failed for a transient reason (registry 5xx or 429, a refused, reset or timed-out connection)")
	f.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up when the whole run takes longer (0: no limit)")
	f.BoolVar(&o.version, "version", false, "print this tool's version and exit; \"scratch-push version\" adds Go's, the Engine API's and the daemon's")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print no progress, only results and errors (--progress=quiet)")
	cmd.PersistentFlags().StringVar(&o.context, "context", "", "the docker CLI context to use (as docker --context; DOCKER_CONTEXT works too); default: DOCKER_HOST, else the docker config's current context")
	choiceVar(f, &o.progress, "progress", display.Auto, "how to show progress on stderr: auto (tty on a terminal that is not TERM=dumb, else plain), tty, plain (timestamped lines), json (the daemon's messages as JSON lines), quiet", display.Modes...)
	f.StringVar(&o.in.CACerts, "ca-certs", "", "add a CA bundle as /etc/ssl/certs/ca-certificates.crt: the host's with --ca-certs, or --ca-certs=`FILE`")
	f.Lookup("ca-certs").NoOptDefVal = builder.DefaultCACerts
	f.StringVar(&o.in.TZData, "tzdata", "", "add time zone data as /usr/share/zoneinfo: the host's with --tzdata, or --tzdata=`DIR`")
	f.Lookup("tzdata").NoOptDefVal = builder.DefaultTZData
	f.StringVar(&o.in.NonRoot, "nonroot", "", "add /etc/passwd and /etc/group with a user, and run as it: "+builder.DefaultNonRoot+" with --nonroot, or --nonroot=`NAME:UID`")
	f.Lookup("nonroot").NoOptDefVal = builder.DefaultNonRoot
	f.BoolVar(&o.in.Tmp, "tmp", false, "add an empty /tmp, mode 1777")
	f.BoolVar(&o.in.AllowNoCommand, "allow-no-command", false, "accept neither --cmd nor --entrypoint: an image meant as a base for others, which cannot start by itself")
	f.BoolVar(&o.in.AllowDynamic, "allow-dynamic", false, "accept a dynamically linked program whose loader the folder lacks (it will not start unless the loader and libraries come another way)")
	f.StringArrayVar(&o.in.Platforms, "platform", nil, "the image's platform, linux/ARCH[/VARIANT] (default: the program's architecture, else the daemon's); or PLATFORM=DIR, repeatable, for one multi-platform image (an OCI index) made of each folder's image for its platform, in place of DIR")
	f.StringArrayVar(&o.in.Outputs, "output", nil, "also write the image, made here, to oci-layout:DIR (an OCI image layout, the SBOM beside it as a referrer) or docker-archive:FILE (what docker load takes); repeatable; with --no-push and no --repository, no daemon is needed; when pushing, the push goes from here, so the registry gets what the files hold")
	f.StringVar(&o.in.MetadataFile, "metadata-file", "", "write the results as JSON to this file: image ID, each tag's reference and digest, layers, size, daemon version")
	f.StringVar(&o.in.IIDFile, "iidfile", "", "write the image ID to this file")
	f.StringVar(&o.in.DigestFile, "digest-file", "", "write the pushed manifest digest to this file")
	f.StringVar(&o.in.ImageRefsFile, "image-refs", "", "write every pushed reference, REPOSITORY:TAG@DIGEST a line (every repository's), to this file")
	f.StringVar(&o.werckerYML, "wercker-yml", "", "run the internal/docker-scratch-push step of this wercker.yml; flags given here override its keys, and DIR defaults to $WERCKER_OUTPUT_DIR")
	f.StringVar(&o.pipeline, "pipeline", "", "with --wercker-yml: the pipeline whose step to run (default: the one that has it)")
	completions := map[string][]string{
		"platform": {"linux/amd64", "linux/arm64", "linux/arm/v7", "linux/arm/v6", "linux/386", "linux/ppc64le", "linux/s390x", "linux/riscv64"},
	}
	f.VisitAll(func(fl *pflag.Flag) {
		if c, ok := fl.Value.(*choice); ok {
			completions[fl.Name] = c.values
		}
	})
	for flag, values := range completions {
		_ = cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
	}
	return cmd
}

// flagsFromEnv sets each flag the command line left out from its variable,
// SCRATCH_PUSH_ and the flag's name in capitals with _ for -
// (SCRATCH_PUSH_MAX_LAYERS=2), as CI systems pass settings: a flag beats its
// variable, which beats a --wercker-yml key. The password's variable is read
// apart, so that it is not taken for a password on the command line.
func flagsFromEnv(flags *pflag.FlagSet, origins map[string]string) error {
	var err error
	flags.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "password" || f.Name == "help" {
			return
		}
		name := envName(f.Name)
		if v, ok := os.LookupEnv(name); ok && v != "" {
			if e := flags.Set(f.Name, v); e != nil {
				err = usagef("%s=%q: %v", name, v, e)
			}
			origins[f.Name] = name
		}
	})
	return err
}

// platformFolders says whether --platform names the folders
// (PLATFORM=DIR), which then stand in for DIR.
func platformFolders(values []string) bool {
	for _, v := range values {
		if strings.Contains(v, "=") {
			return true
		}
	}
	return false
}

func envName(flag string) string {
	return "SCRATCH_PUSH_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// chooseProgress settles --progress against -q and the terminal.
func chooseProgress(s *streams, given bool, o *options) error {
	if o.quiet {
		if given && o.progress != display.Quiet {
			return usagef("-q and --progress=%s conflict: -q means --progress=quiet", o.progress)
		}
		o.progress = display.Quiet
	}
	if o.progress == display.Auto {
		o.progress = display.Plain
		// A terminal that says it draws nothing (TERM=dumb: an editor's
		// shell, a CI log viewer) gets lines, as BuildKit's auto mode does.
		if s.errTerminal && os.Getenv("TERM") != "dumb" {
			o.progress = display.TTY
		}
	}
	o.quiet = o.progress == display.Quiet
	s.progress = o.progress
	return nil
}
