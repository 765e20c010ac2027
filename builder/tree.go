package builder

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/moby/go-archive"
)

// Layer splitting: a registry push compresses and uploads each layer on its
// own goroutine in the daemon, so a big folder spread over a few layers of
// similar size pushes several times faster than one layer. Small folders
// stay one layer.
const (
	// MaxLayers is the default cap on the number of layers.
	MaxLayers = 4
	// minLayerBytes is the least a layer of a split folder holds.
	minLayerBytes = 32 << 20
)

// LayerDir is the folder of the build context holding layer i's files:
// rootfs, rootfs-1, … and, for a folder whose links climb above it (see
// Layout.Climb), a folder "_" within that, and so on, one level for each
// level climbed beyond the first.
func (l Layout) LayerDir(i int) string {
	return layerTop(i) + strings.Repeat("/_", max(0, l.Climb-1))
}

// layerTop is the top folder of the build context holding layer i's files.
func layerTop(i int) string {
	if i == 0 {
		return ContextRoot
	}
	return fmt.Sprintf("%s-%d", ContextRoot, i)
}

// splitPoints chooses where layers start, as indexes into the walk order,
// from the sizes Scan saw: up to maxLayers layers of similar size, each
// holding at least minLayerBytes where the folder allows.
//
// With cores > 0 (the daemon's processors) it takes, among 1 to maxLayers
// layers, the count the daemon pushes soonest by a simple model: the cores
// shared equally among the layers still being compressed, none faster than
// one core. A folder whose biggest file dwarfs the rest then gets fewer
// layers, as more would only slow that file's layer down (on 2 cores, a
// 100 MiB binary and 100 MB of text pushed in 8.5-9.9 s as 2 layers and
// 11.2-11.8 s as 4); ties go to more layers, which measured faster on an
// even gigabyte (47-51 s as 4 layers, 55-56 s as 2). The same folder and
// cores always give the same split.
func splitPoints(sizes []int64, total int64, maxLayers, cores int) []int {
	best := evenSplit(sizes, total, maxLayers)
	if cores <= 0 || len(best) == 0 {
		return best
	}
	bestTime := pushTime(layerSizes(sizes, best), cores)
	for n := maxLayers - 1; n >= 1; n-- {
		s := evenSplit(sizes, total, n)
		if t := pushTime(layerSizes(sizes, s), cores); t < bestTime*0.99 {
			best, bestTime = s, t
		}
	}
	return best
}

// layerSizes sums the sizes of each layer of a split.
func layerSizes(sizes []int64, splits []int) []int64 {
	out := make([]int64, len(splits)+1)
	for i, sz := range sizes {
		out[layerOf(splits, i)] += sz
	}
	return out
}

// pushTime is when the last layer is compressed, in units of one core's
// time per byte, with cores shared equally among the layers left.
func pushTime(layers []int64, cores int) float64 {
	ls := append([]int64(nil), layers...)
	slices.Sort(ls)
	var t, done float64
	for i, sz := range ls {
		rate := min(1, float64(cores)/float64(len(ls)-i))
		t += (float64(sz) - done) / rate
		done = float64(sz)
	}
	return t
}

// evenSplit cuts the walk into up to n layers of similar size.
func evenSplit(sizes []int64, total int64, maxLayers int) []int {
	n := min(int(total/minLayerBytes), maxLayers)
	if n < 2 {
		return nil
	}
	var splits []int
	var cum, startCum int64
	start := 0
	for i, sz := range sizes {
		left := int64(n - len(splits)) // layers still to fill, this one included
		if left > 1 && i > start && cum-startCum >= (total-startCum)/left && total-cum >= minLayerBytes {
			splits = append(splits, i)
			start, startCum = i, cum
		}
		cum += sz
	}
	return splits
}

// layerOf is the layer of the walk's i-th entry.
func layerOf(splits []int, i int) int {
	l := 0
	for l < len(splits) && i >= splits[l] {
		l++
	}
	return l
}

// contents says what writeTree puts in a file's place: its bytes, or as
// many zeros, for measuring a tar's size without reading the folder.
type contents int

const (
	fileBytes contents = iota
	zeros
)

// writeTree writes the folder's entries for one layer (or every layer when
// only < 0) to tw, each named name(layer, rel), in walk order, owned by 0:0
// and stamped with layout.ModTime. An entry whose parent folder sits in an
// earlier layer gets that folder's entry again, so that every layer carries
// the folders it writes into with their own modes. Hard links stay in the
// layer of the file they link to.
func writeTree(ctx context.Context, tw *tar.Writer, root string, layout Layout, only int, name func(layer int, rel string) string, c contents, cat *catalog) error {
	extra, err := missingDirs(root, layout.Workdir)
	if err != nil {
		return err
	}
	type linked struct {
		layer int
		name  string
	}
	links := map[inode]linked{}
	dirs := map[string]*tar.Header{} // by rel path, for repeating them in later layers
	emitted := map[string]bool{}     // layer/rel of folders already written
	buf := make([]byte, 256<<10)
	i := -1
	emitParents := func(layer int, rel string) error {
		var chain []string
		for d := path.Dir(rel); d != "."; d = path.Dir(d) {
			chain = append(chain, d)
		}
		for j := len(chain) - 1; j >= 0; j-- {
			key := fmt.Sprint(layer, "/", chain[j])
			if emitted[key] || dirs[chain[j]] == nil {
				continue
			}
			emitted[key] = true
			h := *dirs[chain[j]]
			h.Name = name(layer, chain[j]) + "/"
			if err := writeHeader(tw, &h); err != nil {
				return err
			}
		}
		return nil
	}
	err = walk(ctx, root, func(p string, fi fs.FileInfo) error {
		i++
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		layer := layerOf(layout.Splits, i)
		var target string
		if fi.Mode()&fs.ModeSymlink != 0 {
			if target, err = os.Readlink(p); err != nil {
				return fmt.Errorf("reading link %q: %w", p, unwrapPathError(err))
			}
		}
		hdr, err := archive.FileInfoHeader(rel, fi, target)
		if err != nil {
			return fmt.Errorf("describing %q: %w", p, err)
		}
		layout.stamp(hdr)
		if fi.IsDir() {
			dirs[rel] = hdr
			emitted[fmt.Sprint(layer, "/", rel)] = true
		}
		var first linked
		isLink := false
		if fi.Mode().IsRegular() {
			if ino, ok := hardLinkKey(fi); ok {
				if first, isLink = links[ino]; isLink {
					layer = first.layer
				} else {
					links[ino] = linked{layer, rel}
				}
			}
		}
		if only >= 0 && layer != only {
			return nil
		}
		if err := emitParents(layer, rel); err != nil {
			return err
		}
		hdr.Name = name(layer, rel)
		if fi.IsDir() {
			hdr.Name += "/"
		}
		switch {
		case isLink:
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, name(first.layer, first.name), 0
			if c == fileBytes {
				cat.addLink(rel, filepath.Join(root, filepath.FromSlash(first.name)))
			}
			return writeHeader(tw, hdr)
		case fi.Mode().IsRegular():
			var h *hashing
			if cat != nil && c == fileBytes {
				h = newHashing()
			}
			if err := writeFile(tw, hdr, p, buf, c, h); err != nil {
				return err
			}
			if h != nil {
				cat.add(rel, p, fi, h)
			}
			return nil
		}
		return writeHeader(tw, hdr)
	})
	if err != nil {
		return err
	}
	if only <= 0 {
		for _, d := range extra {
			if err := writeHeader(tw, layout.stamp(&tar.Header{Typeflag: tar.TypeDir, Name: name(0, strings.TrimPrefix(d, "/")) + "/", Mode: 0o755})); err != nil {
				return err
			}
		}
	}
	return nil
}

// stamp makes a header deterministic: owned by 0:0 without names, the
// layout's mtime, no atime or ctime, PAX format.
func (l Layout) stamp(h *tar.Header) *tar.Header {
	h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
	h.ModTime = l.ModTime.Truncate(time.Second)
	h.AccessTime, h.ChangeTime = time.Time{}, time.Time{}
	h.Format = tar.FormatPAX
	return h
}

func writeHeader(tw *tar.Writer, hdr *tar.Header) error {
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing tar entry %q: %w", hdr.Name, err)
	}
	return nil
}

// writeFile writes a file's entry and bytes; h, when set, sees the bytes.
func writeFile(tw *tar.Writer, hdr *tar.Header, p string, buf []byte, c contents, h *hashing) error {
	if err := writeHeader(tw, hdr); err != nil {
		return err
	}
	if c == zeros {
		clear(buf)
		for left := hdr.Size; left > 0; {
			n := min(left, int64(len(buf)))
			if _, err := tw.Write(buf[:n]); err != nil {
				return err
			}
			left -= n
		}
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("opening %q: %w", p, unwrapPathError(err))
	}
	defer f.Close()
	var w io.Writer = tw
	if h != nil {
		w = io.MultiWriter(tw, h)
	}
	n, err := io.CopyBuffer(w, io.LimitReader(f, hdr.Size), buf)
	if err != nil {
		return fmt.Errorf("reading %q: %w", p, unwrapPathError(err))
	}
	if n != hdr.Size {
		return fmt.Errorf("reading %q: the file shrank from %d to %d bytes while it was being sent: build from a folder nothing writes to", p, hdr.Size, n)
	}
	return nil
}
