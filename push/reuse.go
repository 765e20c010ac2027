package push

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon"
	"github.com/scratchpush/scratchpush/sbom"
)

// Reusing an unchanged folder's image. Sending a folder to the build
// endpoint costs the daemon a full read and checksum of it, even when its
// build cache then finds every step: 5 s for a gigabyte here. When the
// folder's stat data is the same as when this binary last built it with the
// same options, and the daemon still has that image, scratch-push tags and
// pushes that image instead: the check git's index and BuildKit's file sync
// make. The record is a file per build under the user's cache folder
// ($XDG_CACHE_HOME/scratch-push/images, or Options.CacheDir), holding
// an image ID and nothing secret. --no-cache skips the lookup.
//
// An image is recorded only when no entry of the folder changed in the
// second before the scan, and the folder was unchanged after the build
// too: a change in the same clock tick as the scan could otherwise go
// unseen.

// reuseSettle is how old the newest entry must be for a build to be
// recorded: far above any file system's timestamp granularity.
const reuseSettle = time.Second

// reuseMaxEntries bounds the record folder; past it the least recently used
// half goes.
const reuseMaxEntries = 512

type reuseStore struct{ dir string }

// openReuse finds the record folder; ok is false when there is none to use,
// and reuse is then simply off.
func openReuse(dir string) (reuseStore, bool) {
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return reuseStore{}, false
		}
		dir = filepath.Join(base, "scratch-push")
	}
	return reuseStore{dir: filepath.Join(dir, "images")}, true
}

// reuseKey names a build: the folder's fingerprint, the Dockerfile (every
// option and the layer split), the file stamp, how the image is made, the
// essentials' contents, and this binary, whose changes may change the bytes
// it sends. false: no key could be made, so nothing is reused or recorded.
func reuseKey(ctx context.Context, sum builder.Summary, dockerfile []byte, o run) (string, bool) {
	h := sha256.New()
	fmt.Fprintf(h, "scratch-push image record v1\n%x\n%q\n%d\n%s %t %t %q\n", sum.Fingerprint, dockerfile, o.Layout.ModTime.Unix(), o.Builder, o.Reproducible, o.Direct, builder.PlatformString(o.Platform))
	// The annotations, but for the created time, which is the reused
	// image's own.
	for _, k := range slices.Sorted(maps.Keys(o.Layout.Annotations)) {
		if k != ocispec.AnnotationCreated {
			fmt.Fprintf(h, "annotation %q=%q\n", k, o.Layout.Annotations[k])
		}
	}
	if o.Layout.Essentials != "" {
		d, err := builder.TreeDigest(ctx, o.Layout.Essentials)
		if err != nil {
			return "", false
		}
		fmt.Fprintf(h, "essentials %s\n", d)
	}
	if exe, err := os.Executable(); err == nil {
		if fi, err := os.Stat(exe); err == nil {
			fmt.Fprintf(h, "%q %d %d\n", exe, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return hex.EncodeToString(h.Sum(nil)), true
}

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
	store, ok := openReuse(o.CacheDir)
	key, keyed := reuseKey(ctx, sum, dockerfile, o)
	ok = ok && keyed
	if ok && !o.NoCache && len(o.Outputs) == 0 { // an Output needs the layers, which a reused image has not here
		if id, pushed, found := store.lookup(ctx, api, key); found {
			reuse := true
			if o.Direct {
				m.upload, reuse = pushAgain(ctx, o, pushed)
			}
			if reuse {
				o.note("reusing image %s: nothing in %s changed since it was built (--no-cache builds again)", id, o.Dir)
				m.built, m.reused = daemon.Built{ID: id}, true
				if doc := store.sbom(key, o); doc != nil {
					m.sboms = &sbom.Documents{Whole: doc}
				}
				m.keepSBOM = func(doc []byte) { store.keepSBOM(key, o, doc) }
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
		m.remember = func() { store.record(ctx, key, built.ID, pushed, sum, scanned) }
		m.keepSBOM = func(doc []byte) { store.keepSBOM(key, o, doc) }
	}
	return m, nil
}

// lookup returns the image recorded for key when the daemon still has it,
// and when it was pushed from here, the image as pushed: its manifest and
// config, without the layers' files.
func (r reuseStore) lookup(ctx context.Context, api daemon.API, key string) (string, *builder.Image, bool) {
	path := filepath.Join(r.dir, key)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", nil, false
	}
	id, rest, _ := strings.Cut(string(b), "\n")
	if !strings.HasPrefix(id, "sha256:") {
		return "", nil, false
	}
	img, err := api.ImageInspect(ctx, id)
	if err != nil || img.ID != id {
		return "", nil, false
	}
	now := time.Now()
	_ = os.Chtimes(path, now, now) // most recently used, for pruning
	return id, pushedImage(rest), true
}

// pushedImage reads back what record wrote of an image pushed from here:
// its manifest and config, a line of base64 each; nil when there are none.
func pushedImage(rest string) *builder.Image {
	lines := strings.Fields(rest)
	if len(lines) != 2 {
		return nil
	}
	manifest, err1 := base64.StdEncoding.DecodeString(lines[0])
	config, err2 := base64.StdEncoding.DecodeString(lines[1])
	if err1 != nil || err2 != nil {
		return nil
	}
	img, err := builder.ParseImage(manifest, config)
	if err != nil {
		return nil
	}
	return &img
}

// record remembers that key built id, when the folder had settled before the
// scan, and the image pushed from here if it was; failures only cost a
// later rebuild.
func (r reuseStore) record(ctx context.Context, key, id string, pushed *builder.Image, sum builder.Summary, scanned time.Time) {
	if ctx.Err() != nil || sum.Newest.After(scanned.Add(-reuseSettle)) {
		return
	}
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return
	}
	f, err := os.CreateTemp(r.dir, ".new-*")
	if err != nil {
		return
	}
	text := id + "\n"
	if pushed != nil {
		text += base64.StdEncoding.EncodeToString(pushed.Manifest) + "\n" + base64.StdEncoding.EncodeToString(pushed.Config) + "\n"
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(r.dir, key))
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return
	}
	r.prune()
}

// sbomPath is where the SBOM of key's image is kept: it names the
// repository, so a document is kept for each repository pushed to.
func (r reuseStore) sbomPath(key string, o run) string {
	sum := sha256.Sum256([]byte(key + "\n" + o.Target.Repository.Name()))
	return filepath.Join(r.dir, hex.EncodeToString(sum[:])+".spdx.json")
}

// sbom is the SBOM kept for key's image, or nil.
func (r reuseStore) sbom(key string, o run) []byte {
	if o.Target.Repository == nil {
		return nil
	}
	path := r.sbomPath(key, o)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	now := time.Now()
	_ = os.Chtimes(path, now, now) // most recently used, for pruning
	return b
}

// keepSBOM keeps doc for key's image, whole or not at all.
func (r reuseStore) keepSBOM(key string, o run, doc []byte) {
	if o.Target.Repository == nil || os.MkdirAll(r.dir, 0o700) != nil {
		return
	}
	_ = writeAtomic(r.sbomPath(key, o), doc)
	r.prune()
}

// prune keeps the record folder small: past reuseMaxEntries it removes the
// least recently used half.
func (r reuseStore) prune() {
	entries, err := os.ReadDir(r.dir)
	if err != nil || len(entries) <= reuseMaxEntries {
		return
	}
	type aged struct {
		name string
		used time.Time
	}
	var all []aged
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			all = append(all, aged{e.Name(), fi.ModTime()})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].used.Before(all[j].used) })
	for _, a := range all[:len(all)-reuseMaxEntries/2] {
		_ = os.Remove(filepath.Join(r.dir, a.name))
	}
}
