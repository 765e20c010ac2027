package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Folders that are awkward but valid must arrive in the image exactly:
// names with spaces, unicode, newlines and leading dashes, a tree 100
// levels deep, 10,000 small files, an empty file, and links that dangle or
// point outside the folder, kept as links and never followed on the host.
func TestAwkwardFolder(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir, _ := seedFolder(t, "awkward")
	write := func(name, body string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	odd := []string{"name with spaces.txt", "ünïcödé ✓ 名前.txt", "new\nline.txt", "-leading-dash.txt", "--double", "tab\there", `back\slash`, `quote"and'apostrophe`, "$HOME.txt"}
	for _, n := range odd {
		write(n, "odd:"+n)
	}
	write("empty", "")
	deep := strings.Repeat("level/", 100) + "bottom.txt"
	write(deep, "deep")
	const many = 10000
	for i := 0; i < many; i++ {
		write(fmt.Sprintf("many/%02d/f%05d", i%40, i), fmt.Sprint(i))
	}
	// A host file the links point at: it must never be read into the image.
	hostFile := filepath.Join(t.TempDir(), "host-only.txt")
	write("../host-marker", "") // beside the folder, outside it
	if err := os.WriteFile(hostFile, []byte("HOST CONTENT"), 0o644); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{"dangling": "no/such/target", "outside-relative": "../host-marker", "outside-absolute": hostFile, "loop": "loop"}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}

	repo := uniqueRepo(t, "awkward")
	removeImages(t, env.registry+"/"+repo+":v1")
	res := scratchPush(t, env.password, nil, append(pushArgs(repo, "v1"), "-q", "--cmd", "./app", dir)...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	reg := registryClient{t}
	m, _ := reg.manifest(repo, "v1")
	blob := reg.blob(repo, m.Layers[0].Digest.String())
	entries, _ := layerEntries(t, blob)
	for _, n := range odd {
		if e, ok := entries[n]; !ok || e.Type != '0' || e.Size != int64(len("odd:"+n)) {
			t.Errorf("%q in layer: %+v (present %v)", n, e, ok)
		}
	}
	if e, ok := entries["empty"]; !ok || e.Size != 0 || e.Type != '0' {
		t.Errorf("empty file in layer: %+v (present %v)", e, ok)
	}
	if e, ok := entries[deep]; !ok || e.Size != 4 {
		t.Errorf("the file 100 levels down: %+v (present %v)", e, ok)
	}
	files := 0
	for name, e := range entries {
		if strings.HasPrefix(name, "many/") && e.Type == '0' {
			files++
		}
	}
	if files != many {
		t.Errorf("%d of the %d small files in the layer", files, many)
	}
	for name, target := range links {
		if e := entries[name]; e.Type != '2' || e.Linkname != target {
			t.Errorf("link %s in layer: %+v, want a symlink to %s", name, e, target)
		}
	}
	if strings.Contains(gunzip(t, blob), "HOST CONTENT") {
		t.Error("a file outside the folder was read into the image through a link")
	}
}

// A folder named by a relative path with .. in it (cd dirs && scratch-push
// ../dirs/basic) is found, and --cmd resolved inside it.
func TestFolderNamedWithDotDot(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir, _ := seedFolder(t, "found through ..")
	cwd, err := os.Getwd()
	must(t, err)
	rel, err := filepath.Rel(cwd, dir)
	must(t, err)
	if !strings.HasPrefix(rel, "..") {
		t.Fatalf("%s is not named with .. from %s", rel, cwd)
	}
	repo := uniqueRepo(t, "dotdot")
	removeImages(t, repo+":v1")
	res := scratchPush(t, "", nil, "--no-push", "--repository", repo, "--tag", "v1", "--cmd", "./app", rel)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	if out := docker(t, nil, "run", "--rm", repo+":v1"); !strings.HasPrefix(out, "found through ..\n") {
		t.Errorf("docker run printed %q", out)
	}
}
