package integration

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Eight runs at once against one daemon and one registry, each with its own
// folder and tag: all succeed, and each tag holds its own folder's content.
func TestConcurrentRuns(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	const runs = 8
	repo := uniqueRepo(t, "concurrent")
	var wg sync.WaitGroup
	results := make([]result, runs)
	for i := 0; i < runs; i++ {
		dir, _ := seedFolder(t, fmt.Sprintf("run %d", i))
		if err := os.WriteFile(filepath.Join(dir, "id.txt"), []byte(fmt.Sprintf("run-%d", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		tag := fmt.Sprintf("run-%d", i)
		removeImages(t, env.registry+"/"+repo+":"+tag)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = scratchPush(t, env.password, nil, append(pushArgs(repo, tag), "-q", "--cmd", "./app", dir)...)
		}()
	}
	wg.Wait()
	reg := registryClient{t}
	for i, res := range results {
		tag := fmt.Sprintf("run-%d", i)
		if res.code != 0 {
			t.Errorf("%s: exit %d: %s", tag, res.code, res.stderr)
			continue
		}
		m, digest := reg.manifest(repo, tag)
		if !strings.HasSuffix(strings.TrimSpace(res.stdout), ":"+tag+"@"+digest) {
			t.Errorf("%s: printed %q, registry holds %s", tag, res.stdout, digest)
		}
		if got := layerFile(t, reg.blob(repo, m.Layers[0].Digest.String()), "id.txt"); got != tag {
			t.Errorf("%s: the image's id.txt says %q", tag, got)
		}
	}
}

// layerFile returns one file's content from a gzipped layer.
func layerFile(t *testing.T, blob []byte, name string) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s not in the layer: %v", name, err)
		}
		if h.Name == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}
