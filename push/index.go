package push

import (
	"context"
	"fmt"
	"time"

	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon"
	"github.com/scratchpush/scratchpush/registry"
)

// A multi-platform image (Options.Platforms). Every platform's image is
// made here, as --push direct makes one, and the OCI index over them is
// made here too; the registry client pushes each image by digest and then
// the index under each tag, while the daemon loads: the containerd store
// the whole index, so that docker images lists it and docker push pushes
// every platform; the classic store and Podman, which keep one platform an
// image, the image for the daemon's platform, else the first one given.
// The Engine API's push cannot send an index from those stores, so the
// index always goes up from here.

// makeIndex makes each platform's image and the index here, writes the
// Outputs, starts the upload when pushing, and loads the daemon's part
// (none without a daemon).
func makeIndex(ctx context.Context, api daemon.API, o run, sums []builder.Summary) (made, error) {
	m := made{remember: func() {}}
	o.progress = serial(o.progress)
	layers, err := newLayerFiles()
	if err != nil {
		return m, err
	}
	ix, err := makeImages(ctx, layers.dir, o, sums)
	if err != nil {
		layers.remove()
		return m, err
	}
	for _, img := range ix.Images {
		m.platforms = append(m.platforms, PlatformImage{builder.PlatformString(img.Descriptor.Platform), img.Made.Manifest.String()})
	}
	o.note("made index %s here for %d platforms", ix.Digest, len(ix.Images))
	if len(o.Outputs) > 0 {
		m.sboms, err = writeOutputs(ctx, o, sbomParts(o), func(docs map[string][]byte, created time.Time) error {
			return writeIndexOutputs(o, ix, docs, created)
		})
		if err != nil {
			layers.remove()
			return m, err
		}
		m.outputs = written(o, ix.Digest.String())
	}
	if api == nil {
		layers.remove()
		return m, nil
	}

	layers.readers.Add(1) // before the upload can end and remove them
	if o.Push {
		m.upload = startSend(ctx, o, layers.remove, func(ctx context.Context, c *registry.Client) ([]string, error) {
			return c.PushIndex(ctx, ix, o.Target.Tags)
		})
	}
	m.built, err = loadIndex(ctx, api, o, ix)
	layers.readers.Done()
	if !o.Push {
		layers.remove()
	}
	return m, err
}

// makeImages makes each platform's image, its layers in tmp, and the index.
func makeImages(ctx context.Context, tmp string, o run, sums []builder.Summary) (builder.Index, error) {
	var images []builder.Image
	for i, p := range o.Platforms {
		layout := o.Layout
		layout.Splits = sums[i].Split(o.MaxLayers, o.cores(sums[i]))
		layout.Climb = sums[i].Climb
		start := time.Now()
		img, err := builder.MakeImage(ctx, tmp, p.Dir, o.Spec, layout, p.Platform)
		if err != nil {
			return builder.Index{}, fmt.Errorf("making the image for %s from %s: %w", builder.PlatformString(&p.Platform), p.Dir, err)
		}
		o.note("made the image for %s from %s (%d files, %s) in %.1fs: manifest %s", builder.PlatformString(&p.Platform), p.Dir, sums[i].Files, HumanBytes(sums[i].Bytes), time.Since(start).Seconds(), img.Made.Manifest)
		images = append(images, img)
	}
	return builder.MakeIndex(images, o.Layout.Annotations)
}

// loadIndex loads the index into the daemon, or on a store that holds one
// platform an image, the image for the daemon's platform, else the first.
func loadIndex(ctx context.Context, api daemon.API, o run, ix builder.Index) (daemon.Built, error) {
	if o.daemon.Containerd {
		made := builder.Made{Manifest: ix.Digest} // the store names it by the index
		archive := newSending(ix.Archive(), "image", "the image", ix.Size(), o.progress)
		built, _, err := loadArchive(ctx, api, archive, func() builder.Made { return made })
		if err != nil {
			return built, err
		}
		if err := checkLoaded(ctx, api, built, made); err != nil {
			return daemon.Built{}, err
		}
		return built, nil
	}
	_, host := o.imagePlatform()
	img := ix.Images[0]
	for _, i := range ix.Images {
		if samePlatform(*i.Descriptor.Platform, host) {
			img = i
			break
		}
	}
	others := "the registry gets every platform"
	if !o.Push {
		others = "without a push the others are kept nowhere"
	}
	o.note("the daemon's image store holds one platform an image: it gets %s; %s", builder.PlatformString(img.Descriptor.Platform), others)
	archive := newSending(img.Archive(), "image", "the image", img.Size(), o.progress)
	built, _, err := loadArchive(ctx, api, archive, func() builder.Made { return img.Made })
	if err != nil {
		return built, err
	}
	if err := checkLoaded(ctx, api, built, img.Made); err != nil {
		return daemon.Built{}, err
	}
	return built, nil
}
