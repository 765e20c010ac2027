package builder

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scratchpush/scratchpush/field"
)

// ErrEmptyFolder is returned by Scan for a folder with nothing in it: an
// image of nothing is never what was meant.
var ErrEmptyFolder = errors.New("the folder is empty")

// Summary is what Scan found. Bytes lets a caller show upload progress; a
// hard-linked file counts once, as it travels once.
type Summary struct {
	Files    int
	Dirs     int
	Symlinks int
	Bytes    int64
	sizes    []int64 // of each entry in walk order, for Split
	// Fingerprint digests every entry's name and stat data (type, mode,
	// size, modification and change times, device, inode, link count,
	// owner): what git's index and BuildKit's file sync compare to tell an
	// unchanged folder without reading it. Any write, chmod, rename,
	// addition or removal changes it, as the kernel updates the change time
	// on each and no user can set it back.
	Fingerprint [sha256.Size]byte
	// Shape digests what of the folder goes into the image besides the
	// files' bytes: every entry's name, type, mode and size, each link's
	// target, which files are hard links of one another. A folder touched,
	// copied or checked out again keeps its shape and changes its
	// fingerprint; only then is reading its files worth it, to find them
	// unchanged (Catalog.Digest).
	Shape [sha256.Size]byte
	// Newest is the latest modification or change time in the folder. A
	// fingerprint is only as good as the clock's granularity: an entry
	// changed in the same tick as the scan could change again unseen.
	Newest time.Time
	// Climb is how many levels above the folder its furthest-reaching
	// relative symbolic link points: 2 for "../../x" at the top. Layout.Climb
	// takes it.
	Climb int
}

// Layout says how the folder's files are laid out in the build context.
type Layout struct {
	// ModTime stamps every entry, so the same folder gives the same bytes on
	// any day: SOURCE_DATE_EPOCH when the caller has one, else the epoch.
	ModTime time.Time
	// Created is the image's creation time in its config, when made here;
	// zero means ModTime, as a reproducible image has it.
	Created time.Time
	// Workdir is the image's working directory. Its missing components are
	// added as directories so that WORKDIR adds no layer of its own.
	Workdir string
	// Splits are the walk positions where the second and later layers
	// start, as Scan chose them; none means one layer.
	Splits []int
	// Essentials, when set, is a folder (see WriteEssentials) whose files
	// make a layer below the folder's.
	Essentials string
	// Climb, from Summary.Climb, nests the layers' folders deep enough in the
	// build context that every symbolic link points inside the context:
	// Podman's build endpoint refuses one that points outside it ("invalid
	// symlink"), where Docker's extraction, chrooted, takes it.
	Climb int
	// Annotations go in the manifest of an image made here (and in the
	// index of several): a daemon that makes its own manifest keeps none.
	Annotations map[string]string
}

// EssentialsDir is the folder of the build context holding the essentials.
const EssentialsDir = "essentials"

// Split chooses where to cut the folder into at most maxLayers layers of
// similar size (see MaxLayers), for Layout.Splits. cores, when above 0, is
// how many processors the daemon has; see splitPoints for how that can
// lower the count.
func (s Summary) Split(maxLayers, cores int) []int {
	return splitPoints(s.sizes, s.Bytes, maxLayers, cores)
}

// Largest is the size of the folder's largest file: a layer holds it
// whole, however the folder is split.
func (s Summary) Largest() int64 {
	var n int64
	for _, size := range s.sizes {
		n = max(n, size)
	}
	return n
}

// Layers is how many layers the folder becomes.
func (l Layout) Layers() int { return len(l.Splits) + 1 }

// Scan walks dir without reading file contents and checks that every entry
// can go into an image: a regular file, directory or symbolic link, and
// readable. It fails on the first problem with the path named, before any
// byte is sent to a daemon.
func Scan(ctx context.Context, dir string) (Summary, error) {
	var sum Summary
	root, err := resolveRoot(dir)
	if err != nil {
		return sum, err
	}
	seen := map[inode]string{} // the first path of each hard-linked file
	var sizes []int64
	fp, shape := sha256.New(), sha256.New()
	fmt.Fprintf(fp, "%q\n", root)
	err = walk(ctx, root, func(p string, fi fs.FileInfo) error {
		sizes = append(sizes, 0)
		sum.Newest = fingerprint(fp, root, p, fi, sum.Newest)
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(shape, "%q %o", rel, uint32(fi.Mode()))
		defer io.WriteString(shape, "\n")
		switch {
		case fi.IsDir():
			sum.Dirs++
			if err := unix.Access(p, unix.R_OK|unix.X_OK); err != nil {
				return fmt.Errorf("cannot list folder %q: %w", p, err)
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			sum.Symlinks++
			target, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("reading link %q: %w", p, unwrapPathError(err))
			}
			fmt.Fprintf(shape, " -> %q", target)
			sum.Climb = max(sum.Climb, climb(filepath.ToSlash(rel), target))
		default:
			sum.Files++
			if err := unix.Access(p, unix.R_OK); err != nil {
				return fmt.Errorf("cannot read %q: %w", p, err)
			}
			fmt.Fprintf(shape, " %d", fi.Size())
			if ino, ok := hardLinkKey(fi); ok {
				if first, ok := seen[ino]; ok {
					fmt.Fprintf(shape, " = %q", first)
					return nil
				}
				seen[ino] = rel
			}
			sum.Bytes += fi.Size()
			sizes[len(sizes)-1] = fi.Size()
		}
		return nil
	})
	if err != nil {
		return sum, err
	}
	if sum.Files+sum.Dirs+sum.Symlinks == 0 {
		return sum, fmt.Errorf("%q: %w: put the files for the image in it", dir, ErrEmptyFolder)
	}
	sum.sizes = sizes
	copy(sum.Fingerprint[:], fp.Sum(nil))
	copy(sum.Shape[:], shape.Sum(nil))
	return sum, nil
}

// climb is how many levels above the folder a link at rel (slash-separated,
// relative to the folder) pointing at target reaches on its way; 0 for an
// absolute target, which resolves inside the image's root wherever it is.
func climb(rel, target string) int {
	if path.IsAbs(target) {
		return 0
	}
	depth := strings.Count(rel, "/")
	lowest := depth
	for _, part := range strings.Split(target, "/") {
		switch part {
		case "", ".":
		case "..":
			depth--
			lowest = min(lowest, depth)
		default:
			depth++
		}
	}
	return max(0, -lowest)
}

// fingerprint adds one entry's name and stat data to h and returns the later
// of newest and the entry's modification and change times.
func fingerprint(h io.Writer, root, p string, fi fs.FileInfo, newest time.Time) time.Time {
	rel, _ := filepath.Rel(root, p)
	mtime := fi.ModTime()
	fmt.Fprintf(h, "%q %o %d %d", rel, uint32(fi.Mode()), fi.Size(), mtime.UnixNano())
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ctime := time.Unix(st.Ctim.Unix())
		fmt.Fprintf(h, " %d %d %d %d %d %d", ctime.UnixNano(), st.Dev, st.Ino, st.Nlink, st.Uid, st.Gid) //nolint:unconvert // field types differ by platform
		if ctime.After(mtime) {
			mtime = ctime
		}
	}
	io.WriteString(h, "\n")
	if mtime.After(newest) {
		return mtime
	}
	return newest
}

// Context returns the build context as a tar stream produced while it is
// read: the Dockerfile at the root and the folder's files under ContextRoot.
// Nothing is buffered beyond one copy buffer. A failure while walking the
// folder surfaces as the stream's read error; closing the stream early stops
// the walk.
//
// files, once the stream has ended (read whole, or closed), is the
// Catalog of what it carried.
func Context(ctx context.Context, dir string, dockerfile []byte, layout Layout) (stream io.ReadCloser, files func() Catalog) {
	cat := &catalog{}
	r, done := streamed(func(w io.Writer) error { return writeContext(ctx, w, dir, dockerfile, layout, cat) })
	return r, func() Catalog { <-done; return cat.files }
}

// streamed runs write on its own goroutine into a pipe and returns the
// reading end, which reports write's error, and a channel closed once write
// has returned. Closing the reader early makes write fail and stop.
func streamed(write func(io.Writer) error) (io.ReadCloser, <-chan struct{}) {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(write(pw))
	}()
	return pr, done
}

// WriteContext writes the build context tar to w: the Dockerfile, then the
// folder's entries under layout.LayerDir(layer), in the order of a lexical
// depth-first walk, owned by 0:0, stamped with layout.ModTime, modes kept.
// Symbolic links are written as links, never followed; files hard-linked to
// each other travel once and are linked again on arrival.
func WriteContext(ctx context.Context, w io.Writer, dir string, dockerfile []byte, layout Layout) error {
	return writeContext(ctx, w, dir, dockerfile, layout, nil)
}

func writeContext(ctx context.Context, w io.Writer, dir string, dockerfile []byte, layout Layout, cat *catalog) error {
	root, err := resolveRoot(dir)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	if err := writeHeader(tw, layout.stamp(&tar.Header{Typeflag: tar.TypeReg, Name: DockerfileName, Mode: 0o644, Size: int64(len(dockerfile))})); err != nil {
		return err
	}
	if _, err := tw.Write(dockerfile); err != nil {
		return fmt.Errorf("writing build context: %w", err)
	}
	if layout.Essentials != "" {
		if err := writeHeader(tw, layout.stamp(&tar.Header{Typeflag: tar.TypeDir, Name: EssentialsDir + "/", Mode: 0o755})); err != nil {
			return err
		}
		name := func(_ int, rel string) string { return EssentialsDir + "/" + rel }
		if cat != nil {
			cat.essential = true
		}
		if err := writeTree(ctx, tw, layout.Essentials, Layout{ModTime: layout.ModTime}, -1, name, fileBytes, cat); err != nil {
			return err
		}
	}
	for i := 0; i < layout.Layers(); i++ {
		// The layer's folder and, when nested, the folders above it.
		for dir := layerTop(i); ; dir += "/_" {
			if err := writeHeader(tw, layout.stamp(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755})); err != nil {
				return err
			}
			if dir == layout.LayerDir(i) {
				break
			}
		}
	}
	name := func(layer int, rel string) string { return layout.LayerDir(layer) + "/" + rel }
	if cat != nil {
		cat.essential = false
	}
	if err := writeTree(ctx, tw, root, layout, -1, name, fileBytes, cat); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("writing build context: %w", err)
	}
	return nil
}

// walk calls fn for every entry below root, in lexical depth-first order,
// with its Lstat information, after checking that it can go into an image.
func walk(ctx context.Context, root string, fn func(p string, fi fs.FileInfo) error) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("reading %q: %w", p, unwrapPathError(err))
		}
		if p == root {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return fmt.Errorf("reading %q: %w", p, unwrapPathError(err))
		}
		if err := checkType(p, fi); err != nil {
			return err
		}
		return fn(p, fi)
	})
}

// missingDirs lists, as absolute image paths, the components of workdir that
// the folder lacks. A component that exists but is not a directory is an
// error: WORKDIR could not be created there.
func missingDirs(root, workdir string) ([]string, error) {
	wd := NormalizeWorkdir(workdir)
	if wd == "" || wd == "/" {
		return nil, nil
	}
	var missing []string
	cur := ""
	for _, part := range strings.Split(strings.TrimPrefix(wd, "/"), "/") {
		cur = path.Join(cur, "/", part)
		if len(missing) > 0 {
			missing = append(missing, cur)
			continue
		}
		fi, err := os.Lstat(filepath.Join(root, filepath.FromSlash(cur)))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, cur)
		case err != nil:
			return nil, fmt.Errorf("checking working directory %q: %w", cur, err)
		case !fi.IsDir():
			return nil, field.Errorf("Workdir", "%q: %q in the folder is a file or link, not a directory", wd, cur)
		}
	}
	return missing, nil
}

func resolveRoot(dir string) (string, error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("folder %q: %w", dir, unwrapPathError(err))
	}
	// Absolute, so that a folder given as ../out resolves paths inside it
	// (SecureJoin refuses a root with .. in it).
	if root, err = filepath.Abs(root); err != nil {
		return "", fmt.Errorf("folder %q: %w", dir, err)
	}
	fi, err := os.Stat(root)
	if err != nil {
		return "", fmt.Errorf("folder %q: %w", dir, unwrapPathError(err))
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%q is not a folder", dir)
	}
	return root, nil
}

func checkType(p string, fi fs.FileInfo) error {
	m := fi.Mode()
	switch {
	case m.IsRegular(), m.IsDir(), m&fs.ModeSymlink != 0:
		return nil
	case m&fs.ModeSocket != 0:
		return fmt.Errorf("%q is a socket, which cannot go into an image: remove it from the folder", p)
	case m&fs.ModeNamedPipe != 0:
		return fmt.Errorf("%q is a named pipe (fifo), which cannot go into an image: remove it from the folder", p)
	case m&fs.ModeDevice != 0:
		return fmt.Errorf("%q is a device file, which cannot go into an image: remove it from the folder", p)
	default:
		return fmt.Errorf("%q has unsupported file type %v: remove it from the folder", p, m.Type())
	}
}

type inode struct{ dev, ino uint64 }

func hardLinkKey(fi fs.FileInfo) (inode, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Nlink < 2 {
		return inode{}, false
	}
	return inode{dev: uint64(st.Dev), ino: st.Ino}, true //nolint:unconvert // Dev is not uint64 everywhere
}

// unwrapPathError drops the path from *fs.PathError: callers name the path
// themselves, relative to what the user gave.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
