package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// --reproducible on two daemons of the same version, for the same folder,
// options and SOURCE_DATE_EPOCH: the same image ID and the same pushed
// manifest digest, with --no-cache too; on the containerd store that image
// ID is the manifest's digest; and, in the Podman run, the same image ID on
// Docker.
func TestReproducibleAcrossDaemons(t *testing.T) {
	requireEnv(t)
	second := startSecondDaemon(t)
	dir, _ := seedFolder(t, "reproducible")
	if err := os.MkdirAll(filepath.Join(dir, "etc", "app"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "app", "conf.json"), []byte("{}"), 0o640); err != nil {
		t.Fatal(err)
	}
	repo := uniqueRepo(t, "repro")
	epoch := []string{"SOURCE_DATE_EPOCH=1700000000"}
	opts := []string{"--cmd", "/app", "--ports", "5000", "--env", "MODE=prod", "--label", "org.example=1", "--workdir", "/srv"}
	removeImages(t, env.registry+"/"+repo+":first")

	first := scratchPush(t, env.password, epoch, append(append(pushArgs(repo, "first"), opts...), dir)...)
	other := scratchPush(t, env.password, append(epoch, second), append(append(pushArgs(repo, "second"), opts...), dir)...)
	if first.code != 0 || other.code != 0 {
		t.Fatalf("exit %d and %d", first.code, other.code)
	}
	reg := registryClient{t}
	_, d1 := reg.manifest(repo, "first")
	_, d2 := reg.manifest(repo, "second")
	if d1 != d2 {
		t.Errorf("the two daemons pushed manifests %s and %s", d1, d2)
	}
	id1 := strings.TrimSpace(docker(t, nil, "image", "inspect", "--format", "{{.Id}}", env.registry+"/"+repo+":first"))
	id2 := strings.TrimSpace(docker(t, []string{second}, "image", "inspect", "--format", "{{.Id}}", env.registry+"/"+repo+":second"))
	if id1 != id2 {
		t.Errorf("image IDs %s and %s", id1, id2)
	}
	// Again with --no-cache, on the first daemon: the same manifest.
	again := scratchPush(t, env.password, epoch, append(append(pushArgs(repo, "again"), append(opts, "--no-cache")...), dir)...)
	if _, d3 := reg.manifest(repo, "again"); again.code != 0 || d3 != d1 {
		t.Errorf("--no-cache: exit %d, manifest %s, want %s", again.code, d3, d1)
	}
	if onContainerdStore() && id1 != d1 {
		// That store names an image by its manifest, which it pushes as
		// it was loaded: the one made here.
		t.Errorf("on the containerd store the image ID is %s, the pushed manifest %s", id1, d1)
	}
	if onPodman() {
		// Docker gives the same image ID (the config's digest), though not
		// the same manifest: the two compress layers differently. make test
		// has Docker at its usual socket during the Podman run.
		onDocker := "DOCKER_HOST=unix:///var/run/docker.sock"
		res := scratchPush(t, "", append([]string{onDocker}, epoch...), append(append([]string{"-q", "--no-push", "--repository", repo, "--tag", "docker"}, opts...), dir)...)
		t.Cleanup(func() { dockerErr([]string{onDocker}, "rmi", repo+":docker") })
		if id := strings.TrimSpace(res.stdout); res.code != 0 || id != id1 {
			t.Errorf("Docker at /var/run/docker.sock: exit %d, image ID %q; Podman's is %s", res.code, id, id1)
		}
	}
	// The program runs from /srv, where its config file is not: it greets
	// with its default.
	if out := docker(t, nil, "run", "--rm", env.registry+"/"+repo+":first"); !strings.HasPrefix(out, "hello from scratch\n") || !strings.Contains(out, "cwd: /srv\n") {
		t.Errorf("docker run printed %q", out)
	}
}

// The build endpoint (BuildKit and classic) and --reproducible give the same
// image config for the same options: one table, three ways, side by side.
func TestPathsAgreeOnConfig(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	cases := []struct {
		name string
		args []string
	}{
		{"command only", []string{"--cmd", "./app"}},
		{"everything", []string{"--entrypoint", "/app", "--cmd", `--env "a b"`, "--env", "A=1", "--env", "B=x=y", "--label", "l1=v", "--label", "l2=$HOME",
			"--ports", "7000-7002", "--ports", "53/udp", "--user", "1000:1000", "--volume", "/data", "--stop-signal", "SIGINT"}},
		{"working directory", []string{"--cmd", "/app", "--workdir", "srv/app/"}},
		{"PATH and a key given twice", []string{"--cmd", "/app", "--env", "PATH=/bin", "--env", "K=1", "--env", "K=2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// A folder of its own: Docker 29's classic builder on the
			// containerd store fails ("content digest …: not found") when
			// another test removes an image of the same layer mid-build.
			dir, _ := seedFolder(t, "agree: "+c.name)
			var configs []ocispec.Image
			ways := [][]string{{"--builder", "buildkit"}, {"--builder", "classic"}, {"--reproducible"}}
			for i, way := range ways {
				repo := uniqueRepo(t, "agree")
				removeImages(t, repo+":v1")
				res := scratchPush(t, "", nil, append(append(append([]string{"-q", "--no-push", "--repository", repo, "--tag", "v1"}, way...), c.args...), dir)...)
				if res.code != 0 {
					t.Fatalf("%v: exit %d: %s", way, res.code, res.stderr)
				}
				var img []ocispec.Image
				if err := json.Unmarshal([]byte(docker(t, nil, "image", "inspect", repo+":v1")), &img); err != nil || len(img) != 1 {
					t.Fatalf("inspect: %v", err)
				}
				configs = append(configs, normalized(img[0]))
				if i > 0 && !reflect.DeepEqual(configs[i], configs[0]) {
					t.Errorf("%v gives\n%+v\n%v gives\n%+v", ways[0], configs[0], way, configs[i])
				}
			}
		})
	}
}

// normalized keeps what a container sees of an image config. An unset
// working directory reads "" from the classic builder and "/" from BuildKit:
// both mean /. Podman reads an empty list where Docker reads none.
func normalized(img ocispec.Image) ocispec.Image {
	c := img.Config
	if c.WorkingDir == "" {
		c.WorkingDir = "/"
	}
	if len(c.Entrypoint) == 0 {
		c.Entrypoint = nil
	}
	if len(c.ExposedPorts) == 0 {
		c.ExposedPorts = nil
	}
	if len(c.Volumes) == 0 {
		c.Volumes = nil
	}
	c.ArgsEscaped = false //nolint:staticcheck // Windows-only, set by BuildKit alone
	sort.Strings(c.Env[1:])
	c.Labels = ownLabels(c.Labels)
	return ocispec.Image{Platform: ocispec.Platform{OS: img.OS, Architecture: img.Architecture}, Config: c}
}
