package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// --metadata-file, --iidfile and --digest-file tell the next job what the
// registry and the daemon now hold; a failed run leaves none of them, not
// even an earlier run's.
func TestResultFiles(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir, _ := seedFolder(t, "results")
	repo := uniqueRepo(t, "results")
	out := t.TempDir()
	md, iid, dg := filepath.Join(out, "metadata.json"), filepath.Join(out, "iid"), filepath.Join(out, "digest")
	stale := func() {
		for _, p := range []string{md, iid, dg} {
			must(t, os.WriteFile(p, []byte("stale"), 0o644))
		}
	}
	files := []string{"--metadata-file", md, "--iidfile", iid, "--digest-file", dg}
	removeImages(t, env.registry+"/"+repo+":v1", env.registry+"/"+repo+":v2")

	stale()
	res := scratchPush(t, env.password, nil, append(append(pushArgs(repo, "v1", "v2"), files...), "--cmd", "./app", dir)...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	reg := registryClient{t}
	m, digest := reg.manifest(repo, "v1")
	cfg := reg.config(repo, m)
	read := func(p string) string {
		b, err := os.ReadFile(p)
		must(t, err)
		return string(b)
	}
	id := strings.TrimSpace(docker(t, nil, "image", "inspect", "--format", "{{.Id}}", env.registry+"/"+repo+":v1"))
	if got := read(iid); got != id {
		t.Errorf("--iidfile holds %q, the daemon has %q", got, id)
	}
	if onContainerdStore() && id != digest {
		// There an image is named by what it pushes: its manifest (or index).
		t.Errorf("on the containerd store the image ID is %s, the pushed digest %s", id, digest)
	}
	if got := read(dg); got != digest {
		t.Errorf("--digest-file holds %q, the registry has %q", got, digest)
	}
	var meta struct {
		ImageID string `json:"imageID"`
		Tags    []struct {
			Reference, Digest, Pinned string
		} `json:"tags"`
		Layers   []string `json:"layers"`
		Size     int64    `json:"size"`
		Platform string   `json:"platform"`
		Reused   bool     `json:"reused"`
		Daemon   struct {
			Version    string `json:"version"`
			APIVersion string `json:"apiVersion"`
		} `json:"daemon"`
	}
	if err := json.Unmarshal([]byte(read(md)), &meta); err != nil {
		t.Fatalf("--metadata-file is not JSON: %v", err)
	}
	var layers []string
	for _, d := range cfg.RootFS.DiffIDs {
		layers = append(layers, d.String())
	}
	name := env.registry + "/" + repo
	version := strings.TrimSpace(docker(t, nil, "version", "--format", "{{.Server.Version}}"))
	switch {
	case meta.ImageID != id:
		t.Errorf("imageID %q, want %q", meta.ImageID, id)
	case len(meta.Tags) != 2 || meta.Tags[0].Reference != name+":v1" || meta.Tags[1].Reference != name+":v2":
		t.Errorf("tags %+v, want %s:v1 and :v2", meta.Tags, name)
	case meta.Tags[0].Digest != digest || meta.Tags[0].Pinned != name+"@"+digest:
		t.Errorf("tag v1 %+v, want digest %s", meta.Tags[0], digest)
	case !reflect.DeepEqual(meta.Layers, layers):
		t.Errorf("layers %q, the pushed config has %q", meta.Layers, layers)
	case meta.Size < 2<<20 || meta.Platform != cfg.OS+"/"+cfg.Architecture || meta.Reused:
		t.Errorf("size %d, platform %q, reused %t; want about the app's size, %s/%s, false", meta.Size, meta.Platform, meta.Reused, cfg.OS, cfg.Architecture)
	case meta.Daemon.Version != version || meta.Daemon.APIVersion == "":
		t.Errorf("daemon %+v, want version %s", meta.Daemon, version)
	}

	stale()
	res = scratchPush(t, "not-the-password", nil, append(append(pushArgs(repo, "v3"), files...), "--cmd", "./app", dir)...)
	if res.code != 1 {
		t.Fatalf("wrong password: exit %d: %s", res.code, res.stderr)
	}
	for _, p := range []string{md, iid, dg} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("a failed run left %s (%v)", filepath.Base(p), err)
		}
	}
}
