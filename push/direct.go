package push

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon"
	"github.com/scratchpush/scratchpush/registry"
	"github.com/scratchpush/scratchpush/sbom"
)

// Pushing from here (Options.Direct). The image is made here, its layers
// compressed on every core to temporary files; then two things run at
// once: the registry client uploads those blobs and the manifest, and the
// daemon loads the image. The containerd store gets the same blobs (an OCI
// archive), so its image is the one pushed; the classic store and Podman
// get the folder again as plain layers, which they load faster than gzip
// ones, and the run checks that they name the same config. The run ends
// when both have.

// upload is a push from here under way.
type upload struct {
	img     builder.Image
	done    chan struct{}
	digests []string
	err     error
	cancel  context.CancelFunc
}

// wait returns the digest of each tag pushed, in the order of the tags,
// and what stopped the rest.
func (u *upload) wait() ([]string, error) {
	<-u.done
	return u.digests, u.err
}

// stop cancels the upload and waits for it: a tag whose manifest was
// already put stays pushed and is returned. A nil upload has none.
func (u *upload) stop() []string {
	if u == nil {
		return nil
	}
	u.cancel()
	<-u.done
	return u.digests
}

// makeDirect makes the image here, writes it to the Outputs, starts its
// upload when pushing, and loads it into the daemon; the upload goes on
// after it returns, unless the load failed, in which case it is stopped.
// The upload is returned whenever it was started.
func makeDirect(ctx context.Context, api daemon.API, o run, size int64) (made, error) {
	var m made
	platform, _ := o.imagePlatform()
	containerd := o.daemon.Containerd
	o.progress = serial(o.progress)
	// The upload removes the layers when it ends, once the load no longer
	// reads them; until the upload starts, a failure removes them here,
	// and without an upload the end of the load does.
	layers, err := newLayerFiles()
	if err != nil {
		return m, err
	}

	// The classic store and Podman get the folder as plain layers, read
	// again while it is compressed for the registry; the containerd store
	// gets the compressed blobs once they are made.
	loadCtx, cancelLoad := context.WithCancel(ctx)
	defer cancelLoad()
	loaded := make(chan loadResult, 1)
	if !containerd {
		stream, made := builder.ImageArchive(loadCtx, o.Dir, o.Spec, o.Layout, platform, builder.DockerSave)
		go load(loadCtx, api, newSending(stream, "image", "the image", size, o.progress), made, loaded)
	}
	img, err := builder.MakeImage(ctx, layers.dir, o.Dir, o.Spec, o.Layout, platform)
	if err == nil && len(o.Outputs) > 0 {
		m.sboms, err = writeOutputs(ctx, o, []sbom.Part{imagePart(o, platform)}, func(docs map[string][]byte, created time.Time) error {
			return writeImageOutputs(o, img, docs, created)
		})
		m.outputs = written(o, img.Made.Manifest.String())
	}
	if err != nil {
		if !containerd {
			cancelLoad()
			if l := <-loaded; l.err == nil {
				l.built.Discard(ctx, api)
			}
		}
		layers.remove()
		return m, err
	}
	if containerd {
		layers.readers.Add(1) // before the upload can end and remove them
	}
	if o.Push {
		o.note("made image %s here; pushing it from here while the daemon loads it", img.Made.Manifest)
		m.upload = startUpload(ctx, img, o, layers.remove)
	} else {
		o.note("made image %s here; the daemon loads it", img.Made.Manifest)
		defer layers.remove()
	}
	if containerd {
		go func() {
			defer layers.readers.Done()
			load(loadCtx, api, newSending(img.Archive(), "image", "the image", img.Size(), o.progress), func() builder.Made { return img.Made }, loaded)
		}()
	}
	l := <-loaded
	err = l.err
	if err == nil {
		if l.made.Config != img.Made.Config {
			l.built.Discard(ctx, api)
			err = fmt.Errorf("the daemon loaded config %s, but the image pushed has config %s: did the folder change during the run?", l.made.Config, img.Made.Config)
		} else {
			err = checkLoaded(ctx, api, l.built, img.Made)
		}
	}
	if err != nil {
		m.upload.stop()
		return m, err
	}
	m.built = l.built
	return m, nil
}

type loadResult struct {
	built daemon.Built
	made  builder.Made
	err   error
}

// load sends an archive to the daemon and reports what it loaded and what
// the archive was made as.
func load(ctx context.Context, api daemon.API, archive *sending, made func() builder.Made, out chan<- loadResult) {
	built, m, err := loadArchive(ctx, api, archive, made)
	out <- loadResult{built, m, err}
}

// loadArchive sends an image archive to the daemon and returns what it
// loaded and what was made. A load cancelled after the archive was sent
// whole may still end in an image: it is removed (daemon.DiscardLate).
func loadArchive(ctx context.Context, api daemon.API, archive *sending, made func() builder.Made) (daemon.Built, builder.Made, error) {
	built, err := daemon.Load(ctx, api, archive, archive.progress)
	archive.Close()
	m := made() // the archive's writer has ended: sent whole, or stopped
	if err != nil && ctx.Err() != nil && (m.Config != "" || m.Manifest != "") {
		daemon.DiscardLate(ctx, api, m.Config.String(), m.Manifest.String())
	}
	if err != nil {
		return built, builder.Made{}, err
	}
	return built, m, nil
}

// startUpload pushes img under every tag of the target from a goroutine,
// reporting the bytes sent as events of the "push" phase; cleanup, when
// set, runs when the upload ends, before wait and stop return.
func startUpload(ctx context.Context, img builder.Image, o run, cleanup func()) *upload {
	u := startSend(ctx, o, cleanup, func(ctx context.Context, c *registry.Client) ([]string, error) {
		return c.Push(ctx, img, o.Target.Tags)
	})
	u.img = img // the goroutine never reads it
	return u
}

// startSend runs send, a push from here of every tag of the target, as
// startUpload does.
func startSend(ctx context.Context, o run, cleanup func(), send func(context.Context, *registry.Client) ([]string, error)) *upload {
	ctx, cancel := context.WithCancel(ctx)
	u := &upload{done: make(chan struct{}), cancel: cancel}
	var last time.Time
	client := o.registry(registry.WithProgress(func(complete, total int64) {
		if now := time.Now(); complete == total || now.Sub(last) >= 100*time.Millisecond {
			last = now
			o.event(daemon.Event{Phase: "push", ID: "registry", Text: "uploading", Current: complete, Total: total})
		}
	}))
	go func() {
		defer close(u.done)
		if cleanup != nil {
			defer cleanup()
		}
		start := time.Now()
		u.digests, u.err = send(ctx, client)
		if u.err == nil {
			o.event(daemon.Event{Phase: "push", ID: "registry", Text: fmt.Sprintf("pushed in %.1fs", time.Since(start).Seconds())})
		}
	}()
	return u
}

// registry is the client for the target's registry, with the run's
// credentials and retries.
func (o run) registry(opts ...registry.Option) *registry.Client {
	return registry.New(o.Credentials, append([]registry.Option{registry.WithRetries(o.Retries)}, opts...)...)
}

// serial makes p safe to call from the upload and the load at once.
func serial(p daemon.Progress) daemon.Progress {
	if p == nil {
		return nil
	}
	var mu sync.Mutex
	return func(e daemon.Event) {
		mu.Lock()
		defer mu.Unlock()
		p(e)
	}
}

// layerFiles is the folder an image made here keeps its compressed layers
// in: the upload, the daemon's load and the Outputs read them, each a
// reader, and the folder goes once the last is done.
type layerFiles struct {
	dir     string
	readers sync.WaitGroup
}

func newLayerFiles() (*layerFiles, error) {
	dir, err := os.MkdirTemp("", "scratch-push-layers-")
	if err != nil {
		return nil, fmt.Errorf("making a folder for the compressed layers: %w", err)
	}
	return &layerFiles{dir: dir}, nil
}

// remove waits for the readers, then removes the folder.
func (l *layerFiles) remove() {
	l.readers.Wait()
	os.RemoveAll(l.dir)
}
