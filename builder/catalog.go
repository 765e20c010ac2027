package builder

import (
	"archive/tar"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"
)

// File is one regular file an image holds, described from the bytes
// written into its layer: what an SBOM lists, so that what it says is what
// was sent, whatever happened to the folder before or after.
type File struct {
	// Path is where the image holds it: "/app", "/etc/app.json".
	Path string
	// Source is the file it was read from, and Size and ModTime what it
	// was then.
	Source  string
	Size    int64
	ModTime time.Time
	// SHA1 and SHA256 are the checksums of the bytes sent, in hex.
	SHA1, SHA256 string
	// ELF says the bytes begin as a program's do.
	ELF bool
	// Essential says scratch-push added it (Essentials).
	Essential bool
}

// Catalog is the regular files of an image, in the order they were
// written: the essentials' layer first, then the folder's, walk order.
type Catalog []File

// Digest digests the files' contents: each one's path in the image, the
// SHA-256 of its bytes, and whether scratch-push added it. With the
// folder's Summary.Shape it tells the same image's files, whatever their
// times.
func (c Catalog) Digest() [sha256.Size]byte {
	lines := make([]string, 0, len(c))
	for _, f := range c {
		lines = append(lines, fmt.Sprintf("%q %s %t\n", f.Path, f.SHA256, f.Essential))
	}
	slices.Sort(lines)
	return sha256.Sum256([]byte(strings.Join(lines, "")))
}

// catalog collects a Catalog while writeTree writes; a nil one collects
// nothing.
type catalog struct {
	files     Catalog
	essential bool
	byPath    map[string]int // Source to index, for hard links
}

// hashing tees a file's bytes into both checksums and keeps its first
// four, as they go into the layer.
type hashing struct {
	sha1, sha256 hash.Hash
	head         []byte
}

func newHashing() *hashing { return &hashing{sha1: sha1.New(), sha256: sha256.New()} }

func (h *hashing) Write(p []byte) (int, error) {
	if len(h.head) < 4 {
		h.head = append(h.head, p[:min(len(p), 4-len(h.head))]...)
	}
	h.sha1.Write(p)
	h.sha256.Write(p)
	return len(p), nil
}

// add records a file written whole from source.
func (c *catalog) add(rel, source string, fi fs.FileInfo, h *hashing) {
	if c == nil {
		return
	}
	if c.byPath == nil {
		c.byPath = map[string]int{}
	}
	c.byPath[source] = len(c.files)
	c.files = append(c.files, File{
		Path: "/" + rel, Source: source, Size: fi.Size(), ModTime: fi.ModTime(),
		SHA1: hex.EncodeToString(h.sha1.Sum(nil)), SHA256: hex.EncodeToString(h.sha256.Sum(nil)),
		ELF: string(h.head) == "\x7fELF", Essential: c.essential,
	})
}

// addLink records a hard link to a file already written (first, its
// source): the same bytes under another path.
func (c *catalog) addLink(rel, first string) {
	if c == nil {
		return
	}
	if i, ok := c.byPath[first]; ok {
		f := c.files[i]
		f.Path = "/" + rel
		c.files = append(c.files, f)
	}
}

// CatalogOf describes the files an image of dir and layout's essentials
// would hold, reading them now exactly as a layer is written: for an
// image made earlier (reused), whose bytes are not at hand.
func CatalogOf(ctx context.Context, dir string, layout Layout) (Catalog, error) {
	root, err := resolveRoot(dir)
	if err != nil {
		return nil, err
	}
	c := &catalog{}
	tw := tar.NewWriter(io.Discard)
	name := func(_ int, rel string) string { return rel }
	if layout.Essentials != "" {
		c.essential = true
		if err := writeTree(ctx, tw, layout.Essentials, Layout{ModTime: layout.ModTime}, -1, name, fileBytes, c); err != nil {
			return nil, err
		}
		c.essential = false
	}
	if err := writeTree(ctx, tw, root, layout, -1, name, fileBytes, c); err != nil {
		return nil, err
	}
	return c.files, nil
}
