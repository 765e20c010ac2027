package push

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon"
)

// Reusing an unchanged folder's image. Sending a folder to the build
// endpoint costs the daemon a full read and checksum of it, even when its
// build cache then finds every step: 5 s for a gigabyte here. When the
// folder's stat data is the same as when this binary last built it with the
// same options, and the daemon still has that image, scratch-push tags and
// pushes that image instead: the check git's index and BuildKit's file sync
// make. The record is a file per build under the user's cache folder
// ($XDG_CACHE_HOME/scratch-push/images, or SCRATCH_PUSH_CACHE_DIR), holding
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
func openReuse() (reuseStore, bool) {
	dir := os.Getenv("SCRATCH_PUSH_CACHE_DIR")
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
func reuseKey(ctx context.Context, sum builder.Summary, dockerfile []byte, o Options) (string, bool) {
	h := sha256.New()
	fmt.Fprintf(h, "scratch-push image record v1\n%x\n%q\n%d\n%s %t %q\n", sum.Fingerprint, dockerfile, o.Layout.ModTime.Unix(), o.Builder, o.Reproducible, platformString(o.Platform))
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
	// remember records a made image; called once the run has succeeded.
	remember func()
}

// reuseOrMake returns the image recorded for this folder and options when
// the daemon still has it, else makes one.
func reuseOrMake(ctx context.Context, api daemon.API, o Options, sum builder.Summary, scanned time.Time, dockerfile []byte) (made, error) {
	m := made{remember: func() {}}
	store, ok := openReuse()
	key, keyed := reuseKey(ctx, sum, dockerfile, o)
	ok = ok && keyed
	if ok && !o.NoCache {
		if id, found := store.lookup(ctx, api, key); found {
			o.note("reusing image %s: nothing in %s changed since it was built (--no-cache builds again)", id, o.Dir)
			m.built, m.reused = daemon.Built{ID: id}, true
			return m, nil
		}
	}
	layers := "1 layer"
	if n := o.Layout.Layers(); n > 1 {
		layers = fmt.Sprintf("%d layers", n)
	}
	o.note("sending %s: %d files, %d folders, %d links, %s, as %s", o.Dir, sum.Files, sum.Dirs, sum.Symlinks, HumanBytes(sum.Bytes), layers)
	built, err := makeImage(ctx, api, o, dockerfile, sum.Bytes)
	if err != nil {
		return m, err
	}
	m.built = built
	// Recorded only if the folder was the same after the build read it.
	if after, err := builder.Scan(ctx, o.Dir); ok && err == nil && after.Fingerprint == sum.Fingerprint {
		m.remember = func() { store.record(ctx, key, built.ID, sum, scanned) }
	}
	return m, nil
}

// lookup returns the image recorded for key when the daemon still has it.
func (r reuseStore) lookup(ctx context.Context, api daemon.API, key string) (string, bool) {
	path := filepath.Join(r.dir, key)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	id := strings.TrimSpace(string(b))
	if !strings.HasPrefix(id, "sha256:") {
		return "", false
	}
	img, err := api.ImageInspect(ctx, id)
	if err != nil || img.ID != id {
		return "", false
	}
	now := time.Now()
	_ = os.Chtimes(path, now, now) // most recently used, for pruning
	return id, true
}

// record remembers that key built id, when the folder had settled before the
// scan; failures only cost a later rebuild.
func (r reuseStore) record(ctx context.Context, key, id string, sum builder.Summary, scanned time.Time) {
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
	_, err = f.WriteString(id + "\n")
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
