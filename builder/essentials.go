package builder

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/scratchpush/scratchpush/field"
)

// Essentials are the files a scratch image lacks that most programs end up
// needing, each opt-in. They go into a layer of their own below the
// folder's, so a file of the same name in the folder wins, and the layer is
// the same for every image made with the same essentials and pushes once.
type Essentials struct {
	// CACerts is a PEM bundle to install as
	// /etc/ssl/certs/ca-certificates.crt, where Go, OpenSSL and curl look.
	CACerts string
	// TZData is a zoneinfo folder to install as /usr/share/zoneinfo.
	TZData string
	// NonRoot, when set, is the user an /etc/passwd and /etc/group name
	// beside root, and whom the image runs as.
	NonRoot *User
	// Tmp adds an empty /tmp, mode 1777.
	Tmp bool
}

// User is a user name and ID; the group has the same name and ID.
type User struct {
	Name string
	UID  int
}

// Where the image holds the CA bundle and the time zone data: where Go,
// OpenSSL and curl look (WriteEssentials puts them there; an SBOM names
// the files it finds there).
const (
	ImageCACerts = "/etc/ssl/certs/ca-certificates.crt"
	ImageTZData  = "/usr/share/zoneinfo"
)

// Default locations on Debian, Ubuntu, Alpine and Fedora alike.
const (
	DefaultCACerts = "/etc/ssl/certs/ca-certificates.crt"
	DefaultTZData  = "/usr/share/zoneinfo"
	DefaultNonRoot = "nonroot:65532" // distroless's
)

// Any reports whether any essential is asked for.
func (e Essentials) Any() bool {
	return e.CACerts != "" || e.TZData != "" || e.NonRoot != nil || e.Tmp
}

var userName = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// ParseUser reads NAME:UID, the user Essentials.NonRoot adds.
func ParseUser(s string) (User, error) {
	name, id, ok := strings.Cut(s, ":")
	uid, err := strconv.Atoi(id)
	switch {
	case !ok || !userName.MatchString(name):
		return User{}, fmt.Errorf("%q: give NAME:UID, a lower-case name and a number, e.g. %s", s, DefaultNonRoot)
	case err != nil || uid < 1 || uid > 1<<31-2:
		return User{}, fmt.Errorf("%q: the user ID must be a number from 1 to 2147483646 (0 is root)", s)
	}
	return User{Name: name, UID: uid}, nil
}

// Check looks at the host files before any work: a bundle that holds no
// certificate or a zoneinfo folder without UTC is a mistake to say now.
func (e Essentials) Check() error {
	if e.CACerts != "" {
		b, err := os.ReadFile(e.CACerts)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return field.Errorf("CACerts", "%s does not exist: install the ca-certificates package or name a bundle", e.CACerts)
		case err != nil:
			return field.Wrap("CACerts", err)
		case !strings.Contains(string(b), "-----BEGIN CERTIFICATE-----"):
			return field.Errorf("CACerts", "%s holds no PEM certificate", e.CACerts)
		}
	}
	if e.TZData != "" {
		if _, err := os.Stat(filepath.Join(e.TZData, "UTC")); err != nil {
			return field.Errorf("TZData", "%s is not a zoneinfo folder (no UTC in it): install the tzdata package or name a zoneinfo folder", e.TZData)
		}
	}
	return nil
}

// WriteEssentials lays the essentials out in dir, as they go into the image.
func WriteEssentials(ctx context.Context, dir string, e Essentials) error {
	if e.CACerts != "" {
		if err := copyFile(e.CACerts, filepath.Join(dir, ImageCACerts)); err != nil {
			return field.Wrap("CACerts", err)
		}
	}
	if e.TZData != "" {
		if err := copyTree(ctx, e.TZData, filepath.Join(dir, ImageTZData)); err != nil {
			return field.Wrap("TZData", err)
		}
	}
	if u := e.NonRoot; u != nil {
		passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:%s:/home/%s:/sbin/nologin\n", u.Name, u.UID, u.UID, u.Name, u.Name)
		group := fmt.Sprintf("root:x:0:\n%s:x:%d:\n", u.Name, u.UID)
		for name, body := range map[string]string{"etc/passwd": passwd, "etc/group": group} {
			if err := writeNew(filepath.Join(dir, name), []byte(body)); err != nil {
				return field.Wrap("NonRoot", err)
			}
		}
	}
	if e.Tmp {
		tmp := filepath.Join(dir, "tmp")
		if err := os.Mkdir(tmp, 0o755); err != nil {
			return field.Wrap("Tmp", err)
		}
		if err := os.Chmod(tmp, 0o777|fs.ModeSticky); err != nil {
			return field.Wrap("Tmp", err)
		}
	}
	return nil
}

func writeNew(path string, body []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, body, 0o644)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", from, err)
	}
	return out.Close()
}

// copyTree copies regular files, folders and links from one folder to
// another; anything else is skipped.
func copyTree(ctx context.Context, from, to string) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		case d.Type().IsRegular():
			return copyFile(p, dst)
		}
		return nil
	})
}

// TreeDigest digests a folder's names, types, modes, link targets and file
// contents: what the essentials layer is made of, for telling whether an
// image made earlier has the same.
func TreeDigest(ctx context.Context, dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%q %o %d\n", rel, uint32(fi.Mode()), fi.Size())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "-> %q\n", target)
		case fi.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(h, f)
			f.Close()
			return err
		}
		return nil
	})
	return fmt.Sprintf("%x", h.Sum(nil)), err
}
