package push

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/scratchpush/scratchpush/daemon"
	"github.com/scratchpush/scratchpush/registry"
)

// upload is a push from here under way: an image or index made here going
// up under every tag of the target, from a goroutine.
type upload struct {
	done    chan struct{}
	digests []string
	err     error
	cancel  context.CancelFunc
}

// startUpload runs send, a push from here of every tag of the target,
// reporting the bytes sent as events of the "push" phase.
func startUpload(ctx context.Context, o run, send func(context.Context, *registry.Client) ([]string, error)) *upload {
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
		u.digests, u.err = send(ctx, client)
		if u.err == nil { // in docker push's word, which ends the line
			o.event(daemon.Event{Phase: "push", ID: "registry", Text: "Pushed"})
		}
	}()
	return u
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
// in, for the upload, the daemon's load and the Outputs; it goes when the
// run has delivered the image.
type layerFiles struct{ dir string }

func newLayerFiles() (*layerFiles, error) {
	dir, err := os.MkdirTemp("", "scratch-push-layers-")
	if err != nil {
		return nil, fmt.Errorf("making a folder for the compressed layers: %w", err)
	}
	return &layerFiles{dir: dir}, nil
}

// remove removes the folder; a nil layerFiles has none.
func (l *layerFiles) remove() {
	if l != nil {
		os.RemoveAll(l.dir)
	}
}
