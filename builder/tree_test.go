package builder

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSplitPoints(t *testing.T) {
	const mb = 1 << 20
	many := func(n int, size int64) []int64 {
		s := make([]int64, n)
		for i := range s {
			s[i] = size
		}
		return s
	}
	sum := func(s []int64) (t int64) {
		for _, v := range s {
			t += v
		}
		return
	}
	cases := []struct {
		name  string
		sizes []int64
		max   int
		cores int
		want  []int
	}{
		{"small folder", []int64{6 * mb, 100, 100}, 4, 0, nil},
		{"four even files", many(4, 50*mb), 4, 0, []int{1, 2, 3}},
		{"capped at two", many(4, 50*mb), 2, 0, []int{2}},
		{"one layer asked", many(4, 50*mb), 1, 0, nil},
		{"a huge file and crumbs", append([]int64{1000 * mb}, many(100, 100)...), 4, 0, nil},
		{"binary then text", append([]int64{100 * mb}, many(2000, 50<<10)...), 4, 0, []int{1, 668, 1335}},
		{"folders count nothing", []int64{0, 60 * mb, 0, 60 * mb, 0}, 4, 0, []int{2}},
		// The daemon's cores: a dominant file gets fewer layers, even
		// folders keep them all, plenty of cores change nothing.
		{"binary then text, 2 cores", append([]int64{100 * mb}, many(2000, 50<<10)...), 4, 2, []int{1}},
		{"binary then text, 1 core", append([]int64{100 * mb}, many(2000, 50<<10)...), 4, 1, []int{1, 668, 1335}},
		{"binary then text, 16 cores", append([]int64{100 * mb}, many(2000, 50<<10)...), 4, 16, []int{1, 668, 1335}},
		{"even gigabyte, 2 cores", many(8, 128*mb), 4, 2, []int{2, 4, 6}},
		{"a huge file and a third, 2 cores", []int64{300 * mb, 100 * mb}, 4, 2, []int{1}},
	}
	for _, c := range cases {
		got := splitPoints(c.sizes, sum(c.sizes), c.max, c.cores)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: splits %v, want %v", c.name, got, c.want)
		}
	}
}

// A folder split over layers: every entry lands in exactly one layer, each
// layer repeats the folders it writes into, hard links stay with their file.
func TestWriteContextLayers(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a/1", "a/2", "b/c/3", "b/c/4", "z"} {
		p := filepath.Join(dir, f)
		must(t, os.MkdirAll(filepath.Dir(p), 0o750))
		must(t, os.WriteFile(p, []byte(f), 0o644))
	}
	must(t, os.Link(filepath.Join(dir, "a", "1"), filepath.Join(dir, "b", "c", "link")))
	// Walk order: a a/1 a/2 b b/c b/c/3 b/c/4 b/c/link z
	//             0 1   2   3 4   5     6     7        8
	layout := Layout{Splits: []int{2, 6}}
	var buf bytes.Buffer
	must(t, WriteContext(context.Background(), &buf, dir, []byte("x"), layout))
	entries, _ := readTar(t, buf.Bytes())
	var names []string
	for _, e := range entries {
		names = append(names, e.Name)
		if strings.HasSuffix(e.Name, "/b/c/link") && (e.Name != "rootfs/b/c/link" || e.Linkname != "rootfs/a/1") {
			t.Errorf("the hard link left its file's layer: %+v", e)
		}
	}
	want := []string{
		"Dockerfile", "rootfs/", "rootfs-1/", "rootfs-2/",
		"rootfs/a/", "rootfs/a/1",
		"rootfs-1/a/", "rootfs-1/a/2", "rootfs-1/b/", "rootfs-1/b/c/", "rootfs-1/b/c/3",
		"rootfs-2/b/", "rootfs-2/b/c/", "rootfs-2/b/c/4",
		"rootfs/b/", "rootfs/b/c/", "rootfs/b/c/link",
		"rootfs-2/z",
	}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name, "/b/c/") && e.Mode != 0o750 {
			t.Errorf("%s repeated with mode %o, want 750", e.Name, e.Mode)
		}
	}
	df, err := Dockerfile(Spec{}, layout)
	must(t, err)
	if !strings.Contains(string(df), "COPY rootfs/ /\nCOPY rootfs-1/ /\nCOPY rootfs-2/ /\n") {
		t.Errorf("Dockerfile:\n%s", df)
	}
}

func TestClimb(t *testing.T) {
	for _, c := range []struct {
		rel, target string
		want        int
	}{
		{"up", "../../outside", 2},
		{"a/b/link", "../../x", 0},
		{"a/link", "../../x", 1},
		{"link", "/etc/passwd", 0},
		{"link", "../../../etc/passwd", 3},
		{"link", "./x/../../y", 1}, // on its way, though it ends inside
		{"a/link", "..//./..//x", 1},
		{"link", "x", 0},
	} {
		if got := climb(c.rel, c.target); got != c.want {
			t.Errorf("climb(%q, %q) = %d, want %d", c.rel, c.target, got, c.want)
		}
	}
}

// A link that climbs two levels above the folder puts every layer one
// folder deeper in the build context, so that it still points inside the
// context; the image gets the same files.
func TestLinksClimbingAboveTheFolder(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "app"), []byte("app"), 0o755))
	must(t, os.Symlink("../../outside", filepath.Join(dir, "up")))
	must(t, os.Link(filepath.Join(dir, "app"), filepath.Join(dir, "z")))
	sum, err := Scan(context.Background(), dir)
	must(t, err)
	if sum.Climb != 2 {
		t.Fatalf("Climb = %d, want 2", sum.Climb)
	}
	layout := Layout{Climb: sum.Climb, Splits: []int{1}}
	var buf bytes.Buffer
	must(t, WriteContext(context.Background(), &buf, dir, []byte("x"), layout))
	entries, _ := readTar(t, buf.Bytes())
	var got []string
	for _, e := range entries {
		got = append(got, e.Name+" "+e.Linkname)
	}
	want := []string{"Dockerfile ", "rootfs/ ", "rootfs/_/ ", "rootfs-1/ ", "rootfs-1/_/ ",
		"rootfs/_/app ", "rootfs-1/_/up ../../outside", "rootfs/_/z rootfs/_/app"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	df, err := Dockerfile(Spec{}, layout)
	must(t, err)
	if !strings.Contains(string(df), "COPY rootfs/_/ /\nCOPY rootfs-1/_/ /\n") {
		t.Errorf("Dockerfile:\n%s", df)
	}
}
