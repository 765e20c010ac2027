package push

import (
	"context"
	"fmt"
	"strings"

	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon"
)

// Loading an image of this run into the daemon.

type loadResult struct {
	loaded daemon.Built
	as     builder.Made
	err    error
}

// loadArchive sends an image archive to the daemon and returns what it
// loaded, and what the archive holds, as madeAs says once it ends. A load
// cancelled after the archive was sent whole may still end in an image: it
// is removed (daemon.DiscardLate).
func loadArchive(ctx context.Context, api daemon.API, archive *sending, madeAs func() builder.Made) (daemon.Built, builder.Made, error) {
	loaded, err := daemon.Load(ctx, api, archive, archive.progress)
	archive.Close()
	m := madeAs() // the archive's writer has ended: sent whole, or stopped
	if err != nil && ctx.Err() != nil && (m.Config != "" || m.Manifest != "") {
		daemon.DiscardLate(ctx, api, m.Config.String(), m.Manifest.String())
	}
	if err != nil {
		return loaded, builder.Made{}, err
	}
	return loaded, m, nil
}

// loadChecked loads an archive of want and checks that the
// daemon holds it.
func loadChecked(ctx context.Context, api daemon.API, archive *sending, want builder.Made) (daemon.Built, error) {
	loaded, _, err := loadArchive(ctx, api, archive, func() builder.Made { return want })
	if err != nil {
		return loaded, err
	}
	if err := checkLoaded(ctx, api, loaded, want); err != nil {
		return daemon.Built{}, err
	}
	return loaded, nil
}

// checkLoaded makes sure the daemon holds want, the image of this run,
// and removes what it loaded when it does not: a folder that changed
// while it was read must not leave a half-right image behind.
func checkLoaded(ctx context.Context, api daemon.API, loaded daemon.Built, want builder.Made) error {
	if want.Is(loaded.ID) {
		return nil
	}
	loaded.Discard(ctx, api)
	var as []string // what names it: a config, a manifest or index, or both
	if want.Config != "" {
		as = append(as, want.Config.String())
	}
	if want.Manifest != "" {
		as = append(as, "manifest "+want.Manifest.String())
	}
	return fmt.Errorf("the daemon loaded the image as %s, but this run wrote it as %s", loaded.ID, strings.Join(as, ", "))
}

// pendingLoad is a load under way while the run goes on: the folder sent
// again as plain layers to a store that keeps its own copy (the classic
// store, Podman), while the same folder is compressed here.
type pendingLoad struct {
	done   chan struct{}
	result loadResult
	cancel context.CancelFunc
}

// startLoad sends the folder of o as a docker save archive of platform's
// image, from a goroutine.
func startLoad(ctx context.Context, api daemon.API, o run, size int64) *pendingLoad {
	ctx, cancel := context.WithCancel(ctx)
	platform, _ := o.imagePlatform()
	stream, madeAs := builder.ImageArchive(ctx, o.Dir, o.Spec, o.Layout, platform, builder.DockerSave)
	p := &pendingLoad{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(p.done)
		loaded, m, err := loadArchive(ctx, api, newSending(stream, "image", "the image", size, o.progress), madeAs)
		p.result = loadResult{loaded: loaded, as: m, err: err}
	}()
	return p
}

// wait is the load's end: the image the daemon holds, checked to have the
// config of want, the compressed image of the same folder.
func (p *pendingLoad) wait(ctx context.Context, api daemon.API, want builder.Made) (daemon.Built, error) {
	<-p.done
	l := p.result
	if l.err != nil {
		return daemon.Built{}, l.err
	}
	if l.as.Config != want.Config {
		l.loaded.Discard(ctx, api)
		return daemon.Built{}, fmt.Errorf("the daemon loaded config %s, but the image pushed has config %s: did the folder change during the run?", l.as.Config, want.Config)
	}
	if err := checkLoaded(ctx, api, l.loaded, want); err != nil {
		return daemon.Built{}, err
	}
	return l.loaded, nil
}

// stop cancels the load and removes what it loaded. A nil load has none.
func (p *pendingLoad) stop(ctx context.Context, api daemon.API) {
	if p == nil {
		return
	}
	p.cancel()
	<-p.done
	if p.result.err == nil {
		p.result.loaded.Discard(ctx, api)
	}
}
