package integration

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// The same folder built twice — other mtimes on the host, --no-cache, either
// builder — gives the same layer, so pushing it again uploads no layer: a
// proxy in front of the registry (faultProxy, injecting nothing) notes the
// blobs uploaded.
func TestIdenticalLayers(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir, _ := seedFolder(t, "identical")
	if err := os.MkdirAll(filepath.Join(dir, "conf", "deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "conf", "deep", "x.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	repo := uniqueRepo(t, "identical")
	reg := registryClient{t}
	p := newFaultProxy(t)
	var layers []string
	for i, b := range []string{"buildkit", "buildkit", "classic", "classic"} {
		// Another day on the host: every mtime moves.
		stamp := time.Now().Add(time.Duration(i+1) * 24 * time.Hour)
		filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
			if err == nil {
				os.Chtimes(p, stamp, stamp)
			}
			return err
		})
		tag := b + "-" + string(rune('a'+i))
		removeImages(t, p.addr+"/"+repo+":"+tag)
		before := len(p.uploads())
		res := scratchPush(t, env.password, nil, "--registry", p.addr, "--repository", repo, "--username", env.username, "--password-stdin", "--tag", tag, "--no-cache", "--builder", b, "--cmd", "./app", dir)
		if res.code != 0 {
			t.Fatalf("%s: exit %d: %s", tag, res.code, res.stderr)
		}
		m, _ := reg.manifest(repo, tag)
		if len(m.Layers) != 1 {
			t.Fatalf("%s: %d layers", tag, len(m.Layers))
		}
		layers = append(layers, m.Layers[0].Digest.String())
		uploaded := p.uploads()[before:]
		if !slices.Contains(uploaded, m.Config.Digest.String()) {
			// Each build's config is new (its created time): the proxy
			// must have seen it go by, or its noting is broken.
			t.Fatalf("%s: the proxy noted no upload of the new config %s (uploads %q)", tag, m.Config.Digest, uploaded)
		}
		if i > 0 && slices.Contains(uploaded, layers[i]) {
			t.Errorf("%s: the push uploaded the layer again (uploads %q)", tag, p.uploads())
		}
	}
	for _, l := range layers[1:] {
		if l != layers[0] {
			t.Errorf("layers differ: %q", layers)
			break
		}
	}
}
