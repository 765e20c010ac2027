// Package reuse remembers the images made of unchanged folders. Sending a
// folder to the build endpoint costs the daemon a full read and checksum
// of it, even when its build cache then finds every step: 5 s for a
// gigabyte here. When the folder's stat data is the same as when this
// binary last made its image with the same options, and the daemon still
// has that image, the run tags and pushes that image instead: the check
// git's index and BuildKit's file sync make.
//
// The Store is a folder of files, one per image (under the user's cache
// folder unless told otherwise), holding an image ID, for an image pushed
// from here its manifest and config, and the SBOMs pushed with it; nothing
// secret. A second file per folder shape names the last image made of a
// folder of that shape and the digest of its files: a folder touched,
// copied or checked out again (the same bytes, new stat data) is read and,
// when its files are the same, that image is reused too. A record is only believed when the daemon still has the image
// it names, and an image pushed from here only when its manifest or config
// is what the daemon names that image by: an edited record is ignored. A
// folder others may write is not used at all.
//
// An image is recorded only when no entry of the folder changed in the
// second before the scan, and the folder was unchanged after the image was
// made: a change in the same clock tick as the scan could otherwise go
// unseen.
package reuse

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/scratchpush/scratchpush/atomicfile"
	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon"
)

// Settle is how old the newest entry of a folder must be for its image to
// be recorded: far above any file system's timestamp granularity.
const Settle = time.Second

// maxEntries bounds the record folder; past it the least recently used
// half goes.
const maxEntries = 512

// Store is a folder of records.
type Store struct{ dir string }

// Open finds the record folder: dir, else the user's cache folder's
// scratch-push. It refuses a folder that someone else owns or that others
// may write, since whoever writes a record chooses what is pushed; a
// missing one is made when the first record is written.
func Open(dir string) (Store, error) {
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return Store{}, fmt.Errorf("no cache folder for the image records: %w", err)
		}
		dir = filepath.Join(base, "scratch-push")
	}
	s := Store{dir: filepath.Join(dir, "images")}
	for _, d := range []string{dir, s.dir} {
		fi, err := os.Stat(d)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return Store{}, fmt.Errorf("the image records' folder: %w", err)
		}
		if err := private(d, fi); err != nil {
			return Store{}, err
		}
	}
	return s, nil
}

// private refuses a folder owned by another user or writable by others.
func private(dir string, fi fs.FileInfo) error {
	if !fi.IsDir() {
		return fmt.Errorf("the image records' folder %s is not a folder", dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("the image records' folder %s may be written by others (mode %04o): chmod go-w it", dir, fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("the image records' folder %s belongs to user %d, not to this one (%d)", dir, st.Uid, os.Geteuid())
	}
	return nil
}

// Settings are what, besides the folder's stat data, names an image: the
// Dockerfile (every option and the layer split), the file stamp, how the
// image is made, its annotations but for the created time (the reused
// image's own), and the essentials' folder, whose contents count.
type Settings struct {
	Dockerfile   []byte
	ModTime      time.Time
	Builder      daemon.Builder
	Reproducible bool
	Direct       bool
	Platform     string
	Annotations  map[string]string
	Essentials   string
}

// Keys name the image of a folder made with some settings by this binary,
// whose changes may change the bytes it sends: Stat by the folder's scan
// (its stat data), Shape by what of it goes into the image but its files'
// bytes (see builder.Summary.Shape).
type Keys struct{ Stat, Shape string }

// KeysOf makes the keys of the folder sum describes; ok is false when none
// could be made: nothing is then reused or recorded.
func KeysOf(ctx context.Context, sum builder.Summary, s Settings) (keys Keys, ok bool) {
	h := sha256.New()
	fmt.Fprintf(h, "%q\n%d\n%s %t %t %q\n", s.Dockerfile, s.ModTime.Unix(), s.Builder, s.Reproducible, s.Direct, s.Platform)
	for _, k := range slices.Sorted(maps.Keys(s.Annotations)) {
		if k != "org.opencontainers.image.created" {
			fmt.Fprintf(h, "annotation %q=%q\n", k, s.Annotations[k])
		}
	}
	if s.Essentials != "" {
		d, err := builder.TreeDigest(ctx, s.Essentials)
		if err != nil {
			return Keys{}, false
		}
		fmt.Fprintf(h, "essentials %s\n", d)
	}
	if exe, err := os.Executable(); err == nil {
		if fi, err := os.Stat(exe); err == nil {
			fmt.Fprintf(h, "%q %d %d\n", exe, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	settings := h.Sum(nil)
	key := func(kind string, folder [32]byte) string {
		sum := sha256.Sum256(fmt.Appendf(nil, "scratch-push image record v1 %s\n%x\n%x\n", kind, folder, settings))
		return hex.EncodeToString(sum[:])
	}
	return Keys{Stat: key("stat", sum.Fingerprint), Shape: key("shape", sum.Shape)}, true
}

// Lookup returns the image recorded for key when the daemon still has
// it, and when it was pushed from here, the image as pushed: its manifest
// and config, without the layers' files. A record whose image is not what
// the daemon names it by is ignored.
func (s Store) Lookup(ctx context.Context, api daemon.API, key string) (id string, pushed *builder.Image, ok bool) {
	path := filepath.Join(s.dir, key)
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
	pushed, whole := pushedImage(rest)
	if !whole || (pushed != nil && !pushed.Made.Is(id)) {
		return "", nil, false
	}
	now := time.Now()
	_ = os.Chtimes(path, now, now) // most recently used, for pruning
	return id, pushed, true
}

// pushedImage reads back what Record wrote of an image pushed from here:
// its manifest and config, a line of base64 each; nil when there are
// none, and whole false when the lines are there but not an image.
func pushedImage(rest string) (img *builder.Image, whole bool) {
	lines := strings.Fields(rest)
	if len(lines) == 0 {
		return nil, true
	}
	if len(lines) != 2 {
		return nil, false
	}
	manifest, err1 := base64.StdEncoding.DecodeString(lines[0])
	config, err2 := base64.StdEncoding.DecodeString(lines[1])
	if err1 != nil || err2 != nil {
		return nil, false
	}
	parsed, err := builder.ParseImage(manifest, config)
	if err != nil {
		return nil, false
	}
	return &parsed, true
}

// Image is what a record says of an image: its ID; for one pushed from
// here, the image as pushed (manifest and config); and, when known, the
// digest of the files it was made of (builder.Catalog.Digest).
type Image struct {
	ID     string
	Pushed *builder.Image
	Files  [sha256.Size]byte
}

// Record remembers img under keys, when the folder's newest entry is older
// than Settle at the scan: under its stat data, and with the files'
// digest under its shape, for a run that finds the same shape with other
// stat data. Failures only cost a later rebuild.
func (s Store) Record(ctx context.Context, keys Keys, img Image, newest, scanned time.Time) {
	if ctx.Err() != nil || newest.After(scanned.Add(-Settle)) {
		return
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return
	}
	text := img.ID + "\n"
	if img.Pushed != nil {
		text += base64.StdEncoding.EncodeToString(img.Pushed.Manifest) + "\n" + base64.StdEncoding.EncodeToString(img.Pushed.Config) + "\n"
	}
	if atomicfile.WriteBytes(filepath.Join(s.dir, keys.Stat), []byte(text)) != nil {
		return
	}
	if img.Files != ([sha256.Size]byte{}) {
		_ = atomicfile.WriteBytes(s.shapePath(keys.Shape), fmt.Appendf(nil, "%s\n%x\n", keys.Stat, img.Files))
	}
	s.prune()
}

func (s Store) shapePath(key string) string { return filepath.Join(s.dir, key+".shape") }

// Shape is the record of the last image made of a folder of this shape:
// the key of its stat record, and the digest of its files.
func (s Store) Shape(key string) (stat string, files [sha256.Size]byte, ok bool) {
	path := s.shapePath(key)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", files, false
	}
	lines := strings.Fields(string(b))
	if len(lines) != 2 {
		return "", files, false
	}
	d, err := hex.DecodeString(lines[1])
	if err != nil || len(d) != len(files) || len(lines[0]) != 2*sha256.Size {
		return "", files, false
	}
	copy(files[:], d)
	now := time.Now()
	_ = os.Chtimes(path, now, now) // most recently used, for pruning
	return lines[0], files, true
}

// sbomPath is where the SBOM of key's image is kept: it names the
// repository, so a document is kept for each repository pushed to.
func (s Store) sbomPath(key, repo string) string {
	sum := sha256.Sum256([]byte(key + "\n" + repo))
	return filepath.Join(s.dir, hex.EncodeToString(sum[:])+".spdx.json")
}

// SBOM is the SBOM kept for key's image pushed to repo, or nil.
func (s Store) SBOM(key, repo string) []byte {
	path := s.sbomPath(key, repo)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	now := time.Now()
	_ = os.Chtimes(path, now, now) // most recently used, for pruning
	return b
}

// KeepSBOM keeps doc for key's image pushed to repo, whole or not at all.
func (s Store) KeepSBOM(key, repo string, doc []byte) {
	if os.MkdirAll(s.dir, 0o700) != nil {
		return
	}
	_ = atomicfile.WriteBytes(s.sbomPath(key, repo), doc)
	s.prune()
}

// pushedPath is where the manifest digest key's image was last pushed
// as to repo by a daemon is kept.
func (s Store) pushedPath(key, repo string) string {
	sum := sha256.Sum256([]byte(key + "\n" + repo))
	return filepath.Join(s.dir, hex.EncodeToString(sum[:])+".pushed")
}

// Pushed is the manifest digest key's image was last pushed as to repo by
// a daemon, or "". Anyone who can write the records could change it: a
// run believes it only once the registry's manifest of that digest is
// shown to be the image (push's alreadyThere).
func (s Store) Pushed(key, repo string) digest.Digest {
	b, err := os.ReadFile(s.pushedPath(key, repo))
	if err != nil {
		return ""
	}
	d := digest.Digest(strings.TrimSpace(string(b)))
	if d.Validate() != nil {
		return ""
	}
	return d
}

// KeepPushed keeps d as what key's image was pushed as to repo.
func (s Store) KeepPushed(key, repo string, d digest.Digest) {
	if os.MkdirAll(s.dir, 0o700) != nil {
		return
	}
	_ = atomicfile.WriteBytes(s.pushedPath(key, repo), []byte(d.String()+"\n"))
	s.prune()
}

// prune keeps the record folder small: past maxEntries it removes the
// least recently used half.
func (s Store) prune() {
	entries, err := os.ReadDir(s.dir)
	if err != nil || len(entries) <= maxEntries {
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
	for _, a := range all[:len(all)-maxEntries/2] {
		_ = os.Remove(filepath.Join(s.dir, a.name))
	}
}
