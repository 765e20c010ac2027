package push

// The image a run has: made now, or reused (package reuse) when the
// folder is unchanged since an earlier run made it.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon"
	"github.com/scratchpush/scratchpush/reuse"
	"github.com/scratchpush/scratchpush/sbom"
)

// made is an image the run has: made now, or reused.
type made struct {
	built  daemon.Built
	reused bool
	// upload is the push from here under way (Options.Direct), set
	// whenever one was started, even when making the image failed.
	upload *upload
	// remember records a made image; called once the run has succeeded.
	remember func()
	// sboms are the SBOM documents at hand: kept for a reused image, or
	// made with the image for its Outputs (nil for none); keepSBOM keeps
	// the one made for this image, once the run has succeeded: the
	// image's files are unchanged, so is its SBOM.
	sboms    *sbom.Documents
	keepSBOM func([]byte)
	// outputs are the Outputs written, KIND:PATH@DIGEST.
	outputs []string
	// platforms are an index's images, in its order.
	platforms []PlatformImage
}

// pushAgain pushes from here the image an earlier run made and pushed from
// here, whose layers' files are gone: enough when the registry still has
// every layer, which it is asked first, and then only the manifest goes
// up. ok is false when a layer is missing there or the record has no
// image: the run makes the image again.
func pushAgain(ctx context.Context, o run, pushed *builder.Image) (*upload, bool) {
	if pushed == nil {
		return nil, false
	}
	u := startUpload(ctx, *pushed, o, nil)
	if _, err := u.wait(); errors.Is(err, builder.ErrNotKept) {
		o.note("the registry no longer has every layer of image %s: making it again", pushed.Made.Manifest)
		return nil, false
	}
	return u, true
}

// reuseOrMake returns the image recorded for this folder and options when
// the daemon still has it, else makes one.
func reuseOrMake(ctx context.Context, api daemon.API, o run, sum builder.Summary, scanned time.Time) (made, error) {
	m := made{remember: func() {}}
	o.Layout.Splits = sum.Split(o.MaxLayers, o.cores(sum))
	o.Layout.Climb = sum.Climb
	dockerfile, err := builder.Dockerfile(o.Spec, o.Layout)
	if err != nil {
		return m, err
	}
	store, err := reuse.Open(o.CacheDir)
	if err != nil {
		o.note("%s; images are not reused", err)
	}
	key, ok := reuse.Key(ctx, sum.Fingerprint, reuse.Settings{Dockerfile: dockerfile, ModTime: o.Layout.ModTime, Builder: o.Builder,
		Reproducible: o.Reproducible, Direct: o.Direct, Platform: builder.PlatformString(o.Platform),
		Annotations: o.Layout.Annotations, Essentials: o.Layout.Essentials})
	ok = ok && err == nil
	repo := ""
	if o.Target.Repository != nil {
		repo = o.Target.Repository.Name()
	}
	if ok && !o.NoCache && len(o.Outputs) == 0 { // an Output needs the layers, which a reused image has not here
		if id, pushed, found := store.Lookup(ctx, api, key); found {
			reuse := true
			if o.Direct {
				m.upload, reuse = pushAgain(ctx, o, pushed)
			}
			if reuse {
				o.note("reusing image %s: nothing in %s changed since it was built (--no-cache builds again)", id, o.Dir)
				m.built, m.reused = daemon.Built{ID: id}, true
				if doc := store.SBOM(key, repo); repo != "" && doc != nil {
					m.sboms = &sbom.Documents{Whole: doc}
				}
				m.keepSBOM = func(doc []byte) { store.KeepSBOM(key, repo, doc) }
				return m, nil
			}
		}
	}
	layers := "1 layer"
	if n := o.Layout.Layers(); n > 1 {
		layers = fmt.Sprintf("%d layers", n)
	}
	o.note("sending %s: %d files, %d folders, %d links, %s, as %s", o.Dir, sum.Files, sum.Dirs, sum.Symlinks, HumanBytes(sum.Bytes), layers)
	if o.Direct || len(o.Outputs) > 0 {
		var d made
		d, err = makeDirect(ctx, api, o, sum.Bytes)
		m.built, m.upload, m.sboms, m.outputs = d.built, d.upload, d.sboms, d.outputs
	} else {
		m.built, err = makeImage(ctx, api, o, dockerfile, sum.Bytes)
	}
	if err != nil {
		return m, err
	}
	built := m.built
	// Recorded only if the folder was the same after the build read it.
	if after, err := builder.Scan(ctx, o.Dir); ok && err == nil && after.Fingerprint == sum.Fingerprint {
		var pushed *builder.Image
		if m.upload != nil {
			pushed = &m.upload.img
		}
		m.remember = func() { store.Record(ctx, key, built.ID, pushed, sum.Newest, scanned) }
		m.keepSBOM = func(doc []byte) { store.KeepSBOM(key, repo, doc) }
	}
	return m, nil
}
