package push

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon"
	"github.com/scratchpush/scratchpush/reuse"
	"github.com/scratchpush/scratchpush/sbom"
)

// Make: the image a run delivers, decided and made in one place. It is
// one of
//   - reused: an unchanged folder's image the daemon still has (package
//     reuse), and when it was pushed from here its manifest and config;
//   - made by the daemon: built through the build endpoint, or made here
//     and streamed straight into its load (Reproducible, or the
//     containerd store with the auto builder), never kept here;
//   - made here, to be pushed from here or written to files: one image,
//     or an index over several platforms, its compressed layers in a
//     temporary folder. The classic store and Podman get the folder again
//     as plain layers, loading while it is compressed.
// Nothing is pushed, tagged or written while making.

// made is the image a run has, for deliver.
type made struct {
	// built is the daemon's image, once it has one.
	built daemon.Built
	// loading is the daemon's copy still on its way (made here, the
	// classic store and Podman).
	loading *pendingLoad
	reused  bool
	// image or index is what was made here (for a reused image pushed from
	// here, its manifest and config, whose layers the registry has).
	image  *builder.Image
	index  *builder.Index
	layers *layerFiles
	// files are the files of an image the daemon made, as they were sent
	// to it (an image made here holds its own: Made.Files).
	files builder.Catalog
	// sboms are the SBOM documents at hand: kept for a reused image.
	sboms *sbom.Documents
	// remember records a made image by the daemon's ID, keepSBOM its SBOM;
	// each is called once the run has succeeded (nil: nothing to record).
	remember   func(id string)
	keepSBOM   func([]byte)
	keepPushed func(digest.Digest)
	// lastPushed is the manifest digest a reused image was last pushed as
	// by the daemon to the target's repository, from the records: a claim,
	// checked against the registry before it is believed.
	lastPushed digest.Digest
	// platforms are an index's images, in its order.
	platforms []PlatformImage
	// there is the manifest the registry's tag named already, when the
	// daemon had nothing to push (alreadyThere).
	there *ocispec.Descriptor
	// folder is the digest of a reused image's files (builder.Catalog's)
	// as recorded, when they were not read again.
	folder digest.Digest
	// fileDigests are folders(), taken once when the run delivers with
	// provenance: each statement of the run names them, and a catalog's
	// digest sorts every file's path.
	fileDigests map[string]digest.Digest
}

// folders are the digests of the files each image holds (Catalog.Digest),
// by platform ("" for an image), as provenance names its folders; an
// image whose files are not known (reused, without a record of them) has
// none.
func (m made) folders() map[string]digest.Digest {
	out := map[string]digest.Digest{}
	catalog := func(c builder.Catalog) digest.Digest {
		sum := c.Digest()
		return digest.NewDigestFromBytes(digest.SHA256, sum[:])
	}
	switch {
	case m.index != nil:
		for _, img := range m.index.Images {
			out[builder.PlatformString(img.Descriptor.Platform)] = catalog(img.Made.Files)
		}
	case m.image != nil && m.image.Made.Files != nil:
		out[""] = catalog(m.image.Made.Files)
	case m.files != nil:
		out[""] = catalog(m.files)
	case m.folder != "":
		out[""] = m.folder
	}
	return out
}

// discard undoes what making did, for a run that stops before delivering.
func (m made) discard(ctx context.Context, api daemon.API) {
	m.loading.stop(ctx, api)
	if !m.reused && api != nil {
		m.built.Discard(ctx, api)
	}
	m.layers.remove()
}

// makeImage makes the run's image, the one way the plan and the daemon
// decide; sums are the folders' scans, taken at scanned.
func makeImage(ctx context.Context, api daemon.API, o run, sums []builder.Summary, scanned time.Time) (made, error) {
	switch {
	case len(o.Platforms) > 0:
		return makeIndex(ctx, o, sums)
	case api == nil:
		return makeHere(ctx, nil, o, sums[0])
	}
	sum := sums[0]
	o.Layout = o.layout(sum)
	dockerfile, err := builder.Dockerfile(o.Spec, o.Layout)
	if err != nil {
		return made{}, err
	}
	rec := record(ctx, o, sum, dockerfile)
	if m, ok := reused(ctx, api, o, rec, sum, scanned); ok {
		return m, nil
	}
	if err := o.credentials.wait(); err != nil { // a wrong password fails before the build
		return made{}, err
	}
	o.note("sending %s: %s, %s, %s, %s, as %s", o.Dir, count(sum.Files, "file"), count(sum.Dirs, "folder"), count(sum.Symlinks, "link"), HumanBytes(sum.Bytes), count(o.Layout.Layers(), "layer"))
	if big := sum.Largest(); o.Push && !o.Direct && !o.daemon.Containerd && big >= bigFile {
		o.note("the daemon compresses each layer for the push on one core, and one layer holds the %s file whole: --push direct compresses it on every core and uploads it as it goes, while the daemon loads the image (a 130 MB program: 3.4 s against 8.0 s across a 200 Mbit/s link, docs/benchmarks.md)", HumanBytes(big))
	}
	var m made
	if o.Direct || len(o.Outputs) > 0 {
		m, err = makeHere(ctx, api, o, sum)
	} else {
		m.built, m.files, err = makeInDaemon(ctx, api, o, dockerfile, sum.Bytes)
	}
	if err != nil {
		return m, err
	}
	files := m.files
	if m.image != nil {
		files = m.image.Made.Files
	}
	if m.remember = rec.remember(ctx, o, sum, scanned, m.image, files); m.remember != nil {
		m.keepSBOM, m.keepPushed = rec.keepSBOM, rec.keepPushed
	}
	return m, nil
}

// bigFile is the size from which a file's compression by the daemon, on
// one core, is worth a note on the classic store and Podman.
const bigFile = 64 << 20

// imageRecord is where the image of this folder and plan is recorded.
type imageRecord struct {
	store reuse.Store
	keys  reuse.Keys
	repo  string
	ok    bool // false: nothing is reused or recorded
}

func (r imageRecord) keepSBOM(doc []byte) {
	if r.ok && r.repo != "" {
		r.store.KeepSBOM(r.keys.Stat, r.repo, doc)
	}
}

func (r imageRecord) keepPushed(d digest.Digest) {
	if r.ok && r.repo != "" {
		r.store.KeepPushed(r.keys.Stat, r.repo, d)
	}
}

// remember is made's record of the image once the run has succeeded, nil
// when it is not to be recorded: the folder must be the same after it was
// read as at the scan. files are the files it was made of.
func (r imageRecord) remember(ctx context.Context, o run, sum builder.Summary, scanned time.Time, pushed *builder.Image, files builder.Catalog) func(id string) {
	if !r.ok {
		return nil
	}
	if after, err := builder.Scan(ctx, o.Dir); err != nil || after.Fingerprint != sum.Fingerprint {
		return nil
	}
	img := reuse.Image{Pushed: pushed}
	if files != nil {
		img.Files = files.Digest()
	}
	return func(id string) {
		img.ID = id
		r.store.Record(ctx, r.keys, img, sum.Newest, scanned)
	}
}

func record(ctx context.Context, o run, sum builder.Summary, dockerfile []byte) imageRecord {
	store, err := reuse.Open(o.CacheDir)
	if err != nil {
		o.note("%s; images are not reused", err)
		return imageRecord{}
	}
	keys, ok := reuse.KeysOf(ctx, sum, reuse.Settings{Dockerfile: dockerfile, ModTime: o.Layout.ModTime, Builder: o.Builder,
		Reproducible: o.Reproducible, Direct: o.Direct, Platform: builder.PlatformString(o.Platform),
		Annotations: o.Layout.Annotations, Essentials: o.Layout.Essentials})
	r := imageRecord{store: store, keys: keys, ok: ok}
	if o.Target.Repository != nil {
		r.repo = o.Target.Repository.Name()
	}
	return r
}

// reused is the image recorded for this folder and plan when the daemon
// still has it and, for one pushed from here, the registry still has its
// layers (only the manifest then goes up again): the image of the same
// stat data, or else of a folder of the same shape (touched, copied,
// checked out again) whose files, read now, are the same. An Output needs
// the layers, which a reused image has not here.
func reused(ctx context.Context, api daemon.API, o run, rec imageRecord, sum builder.Summary, scanned time.Time) (made, bool) {
	if !rec.ok || o.NoCache || len(o.Outputs) > 0 {
		return made{}, false
	}
	key, why := rec.keys.Stat, fmt.Sprintf("nothing in %s changed since it was built", o.Dir)
	id, pushed, found := rec.store.Lookup(ctx, api, key)
	var files builder.Catalog
	if !found {
		var want [32]byte
		if key, want, found = rec.store.Shape(rec.keys.Shape); !found {
			return made{}, false
		}
		if id, pushed, found = rec.store.Lookup(ctx, api, key); !found {
			return made{}, false
		}
		start := time.Now()
		var err error
		if files, err = builder.CatalogOf(ctx, o.Dir, o.Layout); err != nil || files.Digest() != want {
			return made{}, false
		}
		why = fmt.Sprintf("the files in %s, read in %.1fs, are the ones it was built of; only their times changed", o.Dir, time.Since(start).Seconds())
	}
	if o.Direct {
		if pushed == nil {
			return made{}, false
		}
		blobs := []digest.Digest{pushed.Made.Config}
		for _, l := range pushed.Layers {
			blobs = append(blobs, l.Digest)
		}
		client := o.registry()
		if d, ok := o.tagged(client); ok && d == pushed.Made.Manifest {
			blobs = nil // the tag names it: the registry has its blobs
		}
		if has, err := client.Has(ctx, o.Target.Repository, blobs); !has || err != nil {
			o.note("the registry no longer has every layer of image %s: making it again", pushed.Made.Manifest)
			return made{}, false
		}
	}
	o.note("reusing image %s: %s (--no-cache builds again)", id, why)
	m := made{built: daemon.Built{ID: id}, reused: true, keepSBOM: rec.keepSBOM, keepPushed: rec.keepPushed, files: files}
	if stat, sum, ok := rec.store.Shape(rec.keys.Shape); files == nil && ok && stat == key {
		m.folder = digest.NewDigestFromBytes(digest.SHA256, sum[:]) // its files' digest, recorded with it
	}
	if !o.Direct && rec.repo != "" {
		m.lastPushed = rec.store.Pushed(key, rec.repo)
	}
	if o.Direct {
		m.image = pushed // only its manifest goes up again
	}
	if doc := rec.store.SBOM(key, rec.repo); rec.repo != "" && doc != nil {
		m.sboms = &sbom.Documents{Whole: doc}
	}
	if files != nil { // recorded under the new stat data, for the next run
		m.remember = rec.remember(ctx, o, sum, scanned, pushed, files)
	}
	return m, true
}

// makeInDaemon has the daemon make the image: the build endpoint, or,
// when Reproducible or on the containerd store with the auto builder, an
// image made here streamed into its load endpoint (that store keeps the
// gzip blobs as loaded and pushes them as they are, which takes half the
// time of a build whose layers the daemon then compresses on one core).
// size is the folder's, for showing progress. It returns the image and the
// files sent.
func makeInDaemon(ctx context.Context, api daemon.API, o run, dockerfile []byte, size int64) (daemon.Built, builder.Catalog, error) {
	containerd := o.daemon.Containerd && (o.Reproducible || o.Builder == daemon.BuilderAuto)
	platform, daemonPlatform := o.imagePlatform()
	if !o.Reproducible && !containerd {
		workdir := builder.NormalizeWorkdir(o.Spec.Workdir)
		opts := daemon.BuildOptions{
			Dockerfile: builder.DockerfileName,
			NoCache:    o.NoCache,
			Builder:    o.Builder,
			Progress:   buildSteps(o.progress),
			Workdir:    workdir != "" && workdir != "/",
		}
		if o.Platform != nil && !samePlatform(platform, daemonPlatform) {
			opts.Platform = &platform
		}
		var files func() builder.Catalog // of the context last sent
		newContext := func() io.ReadCloser {
			var stream io.ReadCloser
			stream, files = builder.Context(ctx, o.Dir, dockerfile, o.Layout)
			return newSending(stream, "context", "the build context", size, o.progress)
		}
		built, err := daemon.Build(ctx, api, newContext, opts)
		if err != nil {
			return built, nil, err
		}
		return built, files(), nil
	}
	format := builder.DockerSave
	if containerd {
		format = builder.OCILayout
	}
	stream, made := builder.ImageArchive(ctx, o.Dir, o.Spec, o.Layout, platform, format)
	built, m, err := loadArchive(ctx, api, newSending(stream, "image", "the image", size, o.progress), made)
	if err != nil {
		return built, nil, err
	}
	if err := checkLoaded(ctx, api, built, m); err != nil {
		return daemon.Built{}, nil, err
	}
	return built, m.Files, nil
}

// makeHere makes the image here, its layers compressed on every core to
// temporary files, and for a push from here streamed to the registry
// meanwhile (a layer whose stream failed goes up from its file); a
// classic store or Podman (api, when not the containerd store) gets the
// folder as plain layers meanwhile, which it loads faster than gzip ones.
// api is nil for a run that only writes files.
func makeHere(ctx context.Context, api daemon.API, o run, sum builder.Summary) (made, error) {
	var m made
	o.Layout = o.layout(sum)
	platform, _ := o.imagePlatform()
	layers, err := newLayerFiles()
	if err != nil {
		return m, err
	}
	if api != nil && !o.daemon.Containerd {
		m.loading = startLoad(ctx, api, o, sum.Bytes)
	}
	var tee func() builder.LayerTee
	if o.Push && o.Direct { // each layer goes up as it is compressed
		client := o.registry()
		tee = func() builder.LayerTee { return client.StreamBlob(ctx, o.Target.Repository) }
	}
	img, err := builder.MakeImage(ctx, layers.dir, o.Dir, o.Spec, o.Layout, platform, tee)
	m.layers = layers
	if err != nil {
		m.discard(ctx, api)
		return made{}, err
	}
	o.note("made image %s here (manifest %s)", o.daemonID(img.Made), img.Made.Manifest)
	m.image = &img
	return m, nil
}

// makeIndex makes each platform's image and the index over them here.
func makeIndex(ctx context.Context, o run, sums []builder.Summary) (made, error) {
	layers, err := newLayerFiles()
	if err != nil {
		return made{}, err
	}
	var images []builder.Image
	for i, p := range o.Platforms {
		start := time.Now()
		img, err := builder.MakeImage(ctx, layers.dir, p.Dir, o.Spec, o.layout(sums[i]), p.Platform, nil)
		if err != nil {
			layers.remove()
			return made{}, fmt.Errorf("making the image for %s from %s: %w", builder.PlatformString(&p.Platform), p.Dir, err)
		}
		o.note("made the image for %s from %s (%d files, %s) in %.1fs: manifest %s", builder.PlatformString(&p.Platform), p.Dir, sums[i].Files, HumanBytes(sums[i].Bytes), time.Since(start).Seconds(), img.Made.Manifest)
		images = append(images, img)
	}
	ix, err := builder.MakeIndex(images, o.Layout.Annotations)
	if err != nil {
		layers.remove()
		return made{}, err
	}
	o.note("made index %s here for %d platforms", ix.Digest, len(ix.Images))
	m := made{index: &ix, layers: layers}
	for _, img := range ix.Images {
		m.platforms = append(m.platforms, PlatformImage{builder.PlatformString(img.Descriptor.Platform), img.Made.Manifest.String()})
	}
	return m, nil
}
