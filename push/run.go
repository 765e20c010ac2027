package push

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/scratchpush/scratchpush/auth"
	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon"
	"github.com/scratchpush/scratchpush/field"
	"github.com/scratchpush/scratchpush/plan"
	"github.com/scratchpush/scratchpush/registry"
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
	o := run{Plan: p, registries: registry.NewSession()}
	for _, opt := range opts {
		opt(&o)
	}
	o.progress = serial(o.progress) // the upload and the load report at once
	var res Result

	// The plan's facts: the folders, then the daemon, asked once.
	scanned := time.Now()
	sums, err := o.scan(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return res, err
		}
		return res, InputError{err} // the folder holds what cannot go in an image
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
	if o.Push && o.Target.Scheme == "http" && !o.PushesHere() {
		o.note("the daemon speaks to %s as its own configuration says (insecure-registries), whatever the scheme written; http:// is for pushes from here (--push direct)", o.Target.Host())
	}
	if err := checkAnnotated(o); err != nil {
		return res, InputError{err}
	}
	registryOpts := daemon.RegistryOptions{Retries: o.Retries, Progress: o.progress, Podman: o.daemon.Podman}
	// Without credentials a daemon's push would fail only after the build,
	// when the registry wants some: the registry is asked first (but for
	// Podman's own push, which may find those of podman login).
	if o.Push && (!o.Credentials.Empty() || o.PushesHere() || !o.daemon.Podman) {
		o.credentials = startCredentialCheck(ctx, api, o)
		// A check not needed in the end (the image there already) ends
		// before the run does.
		defer o.credentials.wait()
		if o.PushesHere() { // checked before anything else
			if err := o.credentials.wait(); err != nil {
				return res, err
			}
		}
	}

	// Make, then deliver.
	m, err := makeImage(ctx, api, o, sums, scanned)
	defer m.built.Tidied() // the daemon tidies its build cache meanwhile
	res.Platforms = m.platforms
	if err != nil {
		m.discard(ctx, api)
		return res, err
	}
	return deliver(ctx, api, o, m, res, registryOpts)
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

// credentialCheck is the credentials' check under way.
type credentialCheck struct {
	done chan struct{}
	err  error
	// ok says the registry (or the daemon's login) took them.
	ok bool
}

// wait returns the check's verdict: nil when the credentials were taken,
// or could not be checked (the push checks them then). A nil check has
// nothing to wait for.
func (c *credentialCheck) wait() error {
	if c == nil {
		return nil
	}
	<-c.done
	return c.err
}

// registryOptions are opts with what the check found, once it has ended.
func (c *credentialCheck) registryOptions(opts daemon.RegistryOptions) daemon.RegistryOptions {
	if c != nil {
		<-c.done
		opts.CredentialsChecked = c.ok
	}
	return opts
}

// startCredentialCheck has the daemon log in, so that a wrong password
// fails before anything is built; where the daemon cannot check them, the
// registry is asked from here, as it is for a push from here. The check
// goes on while the folder is looked at: an unchanged image the registry
// has already needs neither (see alreadyThere).
func startCredentialCheck(ctx context.Context, api daemon.API, o run) *credentialCheck {
	c := &credentialCheck{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		var err error
		anonymous := o.Credentials.Empty()
		if o.PushesHere() || anonymous { // nothing to log in with: asked from here
			err = o.registry().Check(ctx, o.checked())
		} else {
			err = daemon.Login(ctx, api, o.Target.Host(), o.Credentials, daemon.RegistryOptions{Retries: o.Retries, Progress: o.progress, Podman: o.daemon.Podman})
		}
		if errors.Is(err, daemon.ErrLoginUnchecked) {
			err = o.registry().Check(ctx, o.checked())
		}
		if err == nil && !o.PushesHere() {
			// The daemon pushes, and this process asks the registry too (is
			// a reused image there already, the SBOM): its handshake now,
			// after the daemon's login, whose requests it would otherwise
			// race (the daemons take a ping that fails for a refusal).
			go o.registry().Warm(ctx, o.Target.Repository)
		}
		switch {
		case errors.Is(err, registry.ErrPlainHTTP):
			c.err = field.Wrap("Registry", err)
		case errors.Is(err, auth.ErrUnchecked) && anonymous: // no verdict on none: the push tells
		case errors.Is(err, auth.ErrUnchecked):
			o.note("%s; the push checks them", err)
		case err != nil:
			c.err = explainRegistry(err, o)
		default:
			c.ok = true
		}
	}()
	return c
}

// tagged is what the run's session read the first tag to name, if it did.
func (o run) tagged(c *registry.Client) (digest.Digest, bool) {
	if len(o.Target.Tags) == 0 {
		return "", false
	}
	return c.Tagged(o.Target.Tags[0])
}

// checked is what the credentials' check asks the registry for: the first
// tag pushed (the run's session learns what it names), else the
// repository.
func (o run) checked() reference.Named {
	if len(o.Target.Tags) > 0 {
		return o.Target.Tags[0]
	}
	return o.Target.Repository
}
