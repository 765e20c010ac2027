package integration

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each essential is proven by a program in the image that needs it: an HTTPS
// call to a server whose certificate a test CA signed, a time zone lookup,
// the user it runs as, and a write to /tmp as that user. The same program in
// an image without them fails the way a bare scratch image makes it fail.
func TestEssentials(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir := t.TempDir()
	goBuild(t, filepath.Join(dir, "check"), "./testdata/essentials")
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "test-ca.pem")
	must(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644))

	repo := uniqueRepo(t, "essentials")
	essentials := []string{"--ca-certs=" + ca, "--tzdata", "--nonroot", "--tmp"}
	for _, c := range []struct {
		tag   string
		flags []string
	}{{"with", essentials}, {"reproducible", append([]string{"--reproducible"}, essentials...)}, {"bare", nil}} {
		removeImages(t, repo+":"+c.tag)
		res := scratchPush(t, "", nil, append(c.flags, "--no-push", "--repository", repo, "--tag", c.tag, "--entrypoint", "./check", dir)...)
		if res.code != 0 {
			t.Fatalf("%s: exit %d: %s", c.tag, res.code, res.stderr)
		}
	}
	run := func(tag string, args ...string) string {
		out, _ := dockerErr(nil, append([]string{"run", "--rm", "--network", "host", repo + ":" + tag}, args...)...)
		return strings.TrimSpace(out)
	}
	for _, c := range []struct{ args, with, bare string }{
		{srv.URL, "https 204", "certificate signed by unknown authority"},
		{"tz Asia/Tokyo", "tz JST 9", "unknown time zone Asia/Tokyo"},
		{"id", "uid=65532 gid=65532 user=nonroot", "error: user: "}, // root, and no user database to name it
		{"tmp", "wrote /tmp/essentials-check", "no such file or directory"},
	} {
		args := strings.Fields(c.args)
		if args[0] != "tz" && args[0] != "id" && args[0] != "tmp" {
			args = []string{"https", c.args}
		}
		for _, tag := range []string{"with", "reproducible"} {
			if got := run(tag, args...); got != c.with {
				t.Errorf("%s %s: got %q, want %q", tag, args[0], got, c.with)
			}
		}
		if got := run("bare", args...); !strings.Contains(got, c.bare) {
			t.Errorf("without essentials, %s: got %q, want it to contain %q", args[0], got, c.bare)
		}
	}
	// The folder's own file wins over an essential of the same name.
	must(t, os.MkdirAll(filepath.Join(dir, "etc"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "etc", "passwd"), []byte("root:x:0:0::/:/x\napp:x:65532:65532::/:/x\n"), 0o644))
	removeImages(t, repo+":own-passwd")
	if res := scratchPush(t, "", nil, "--nonroot", "--no-push", "--repository", repo, "--tag", "own-passwd", "--entrypoint", "./check", dir); res.code != 0 {
		t.Fatalf("own passwd: exit %d: %s", res.code, res.stderr)
	}
	if got := run("own-passwd", "id"); got != "uid=65532 gid=65532 user=app" {
		t.Errorf("own passwd: got %q, want the folder's user name", got)
	}
}
