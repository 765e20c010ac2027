package integration

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
)

var digestLine = regexp.MustCompile(`^(\S+):([\w][\w.-]*)@(sha256:[0-9a-f]{64})$`)

// The wercker step's own example: a static Go binary and two JSON files,
// cmd ./app, port 5000, a commit id as tag, a registry with a user name and
// password.
func TestSeedExample(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	reg := registryClient{t}
	dir, payload := seedFolder(t, "hello from the seed example")
	repo := uniqueRepo(t, "seed")
	commit := randomHex(t, 20)
	ref := env.registry + "/" + repo + ":" + commit
	removeImages(t, ref)

	res := scratchPush(t, env.password+"\n", nil, append(pushArgs(repo, commit), "--cmd", "./app", "--ports", "5000", dir)...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	m := digestLine.FindStringSubmatch(strings.TrimSuffix(res.stdout, "\n"))
	if m == nil || strings.Count(res.stdout, "\n") != 1 {
		t.Fatalf("stdout %q, want one REPOSITORY:TAG@sha256:... line", res.stdout)
	}
	if m[1] != env.registry+"/"+repo || m[2] != commit {
		t.Errorf("stdout names %s:%s, want %s:%s", m[1], m[2], env.registry+"/"+repo, commit)
	}

	manifest, digest := reg.manifest(repo, commit)
	if digest != m[3] {
		t.Errorf("registry holds %s for the tag, scratch-push printed %s", digest, m[3])
	}
	img := reg.config(repo, manifest)
	if !reflect.DeepEqual(img.Config.Cmd, []string{"./app"}) {
		t.Errorf("Cmd = %q, want [./app]", img.Config.Cmd)
	}
	if len(img.Config.Entrypoint) != 0 {
		t.Errorf("Entrypoint = %q, want none", img.Config.Entrypoint)
	}
	if ports := keys(img.Config.ExposedPorts); !reflect.DeepEqual(ports, []string{"5000/tcp"}) {
		t.Errorf("ExposedPorts = %q, want [5000/tcp]", ports)
	}
	if img.OS != "linux" || img.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s, want linux/%s", img.OS, img.Architecture, runtime.GOARCH)
	}
	if len(manifest.Layers) != 1 {
		t.Fatalf("%d layers, want 1", len(manifest.Layers))
	}
	entries, names := layerEntries(t, reg.blob(repo, manifest.Layers[0].Digest.String()))
	sort.Strings(names)
	if want := []string{"app", "cities-controller.json", "cities-service.json"}; !reflect.DeepEqual(names, want) {
		t.Errorf("layer holds %q, want %q", names, want)
	}
	if e := entries["app"]; e.Mode&0o777 != 0o755 || e.Uid != 0 || e.Gid != 0 {
		t.Errorf("app in layer: mode %o owner %d:%d, want 755 0:0", e.Mode, e.Uid, e.Gid)
	}
	size := manifest.Config.Size
	for _, l := range manifest.Layers {
		size += l.Size
	}
	if limit := payload + payload/100; size > limit {
		t.Errorf("image is %d bytes (config + layers), more than the payload %d + 1%%", size, payload)
	}
	t.Logf("payload %d bytes, image %d bytes in the registry", payload, size)

	// Run what the registry holds, not what the daemon kept: drop the local
	// image, pull it with registry credentials, run it.
	docker(t, nil, "rmi", ref)
	login := loggedInConfig(t)
	docker(t, login, "pull", "-q", ref)
	out := docker(t, nil, "run", "--rm", ref)
	if !strings.HasPrefix(out, "hello from the seed example\nargs: [\"./app\"]\n") {
		t.Errorf("docker run printed %q", out)
	}
}

func TestWrongPassword(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir, _ := seedFolder(t, "never pushed")
	repo := uniqueRepo(t, "wrongpw")
	removeImages(t, env.registry+"/"+repo+":v1")
	const wrong = "Wr0ng-Pa55word-d1stinctive"

	for _, how := range []struct {
		name  string
		stdin string
		env   []string
		args  []string
	}{
		{"stdin", wrong + "\n", nil, pushArgs(repo, "v1")},
		{"environment", "", []string{"SCRATCH_PUSH_USERNAME=" + env.username, "SCRATCH_PUSH_PASSWORD=" + wrong},
			[]string{"--registry", env.registry, "--repository", repo, "--tag", "v1"}},
		{"flag", "", nil, []string{"--registry", env.registry, "--repository", repo, "--tag", "v1", "--username", env.username, "--password", wrong}},
	} {
		t.Run(how.name, func(t *testing.T) {
			res := scratchPush(t, how.stdin, how.env, append(how.args, "--cmd", "./app", dir)...)
			if res.code != 1 {
				t.Errorf("exit %d, want 1", res.code)
			}
			if !strings.Contains(res.stderr, "authentication failed") {
				t.Errorf("stderr does not say authentication failed: %s", res.stderr)
			}
			if strings.Contains(res.stdout+res.stderr, wrong) {
				t.Errorf("the password appears in the output")
			}
			if res.stdout != "" {
				t.Errorf("stdout %q, want nothing", res.stdout)
			}
		})
	}
	if status := (registryClient{t}).tagsStatus(repo); status != http.StatusNotFound {
		t.Errorf("registry answers %d for the repository's tags, want 404: something was pushed", status)
	}
}

func TestNoPush(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir, _ := seedFolder(t, "local only")
	repo := uniqueRepo(t, "local")
	refs := []string{repo + ":a", repo + ":b", repo + ":c"}
	removeImages(t, refs...)

	res := scratchPush(t, "", nil, "--no-push", "--repository", repo, "--tag", "a b", "--tag", "c", "--cmd", "./app", dir)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	id := strings.TrimSpace(res.stdout)
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(id) {
		t.Fatalf("stdout %q, want the image ID", res.stdout)
	}
	for _, ref := range refs {
		if got := strings.TrimSpace(docker(t, nil, "image", "inspect", "--format", "{{.Id}}", ref)); got != id {
			t.Errorf("%s is %s, want %s", ref, got, id)
		}
	}
	// Every image, filtered here: Podman's service lists other
	// repositories' images too for "docker images REPOSITORY".
	var tags []string
	for _, ref := range strings.Fields(listImages(t, "--format", "{{.Repository}}:{{.Tag}}")) {
		if strings.HasPrefix(ref, repo+":") {
			tags = append(tags, ref)
		}
	}
	if sort.Strings(tags); !reflect.DeepEqual(tags, refs) {
		t.Errorf("the daemon lists %q for %s, want the three tags", tags, repo)
	}
	if out := docker(t, nil, "run", "--rm", refs[0]); !strings.HasPrefix(out, "local only\n") {
		t.Errorf("docker run printed %q", out)
	}
}

// --allow-no-command makes the base image it names: no command and no
// entrypoint in its config, and docker run of it alone refused.
func TestBaseImageWithoutCommand(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir, _ := seedFolder(t, "a base")
	ref := uniqueRepo(t, "base") + ":v1"
	removeImages(t, ref)
	if res := scratchPush(t, "", nil, "-q", "--no-push", "--allow-no-command", "--repository", strings.TrimSuffix(ref, ":v1"), "--tag", "v1", dir); res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	if got := strings.TrimSpace(docker(t, nil, "image", "inspect", "--format", "cmd={{json .Config.Cmd}} entrypoint={{json .Config.Entrypoint}}", ref)); got != "cmd=null entrypoint=null" && got != "cmd=[] entrypoint=[]" {
		t.Errorf("the base image's config has %s", got)
	}
	if out, err := dockerErr(nil, "run", "--rm", ref); err == nil {
		t.Errorf("docker run of a base image without a command started: %s", out)
	}
}

// Every image setting, with values that a naive Dockerfile would mangle,
// read back from the config the registry serves and seen by the program.
func TestImageConfig(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	reg := registryClient{t}
	dir, _ := seedFolder(t, "configured")
	repo := uniqueRepo(t, "config")
	removeImages(t, env.registry+"/"+repo+":v1")
	tricky := `$HOME ${PATH} "double" 'single' back\slash \" tab	end ✓`

	res := scratchPush(t, env.password, nil, append(pushArgs(repo, "v1"),
		"--entrypoint", `["/app"]`,
		"--cmd", `--env "two words" '$NOT_EXPANDED'`,
		"--env", "PLAIN=1",
		"--env", "EQUALS=a=b=c",
		"--env", "TRICKY="+tricky,
		"--label", "org.example.url=http://x/?a=b&c=d",
		"--label", "org.example.tricky="+tricky,
		"--workdir", "/srv/app",
		"--user", "1000:1000",
		"--volume", "/data",
		"--volume", "/var/my cache",
		"--stop-signal", "SIGINT",
		"--ports", "7000-7002",
		"--ports", "53/udp,5000",
		dir)...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	m, _ := reg.manifest(repo, "v1")
	c := reg.config(repo, m).Config
	checks := []struct {
		what      string
		got, want any
	}{
		{"Entrypoint", c.Entrypoint, []string{"/app"}},
		{"Cmd", c.Cmd, []string{"--env", "two words", "$NOT_EXPANDED"}},
		{"Env", c.Env, []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PLAIN=1", "EQUALS=a=b=c", "TRICKY=" + tricky}},
		{"Labels", ownLabels(c.Labels), map[string]string{"org.example.url": "http://x/?a=b&c=d", "org.example.tricky": tricky}},
		{"WorkingDir", c.WorkingDir, "/srv/app"},
		{"User", c.User, "1000:1000"},
		{"Volumes", keys(c.Volumes), []string{"/data", "/var/my cache"}},
		{"StopSignal", c.StopSignal, "SIGINT"},
		{"ExposedPorts", keys(c.ExposedPorts), []string{"5000/tcp", "53/udp", "7000/tcp", "7001/tcp", "7002/tcp"}},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.what, ch.got, ch.want)
		}
	}
	if len(m.Layers) != 1 {
		t.Errorf("%d layers, want 1: the working directory must not cost a layer", len(m.Layers))
	}

	out := docker(t, nil, "run", "--rm", env.registry+"/"+repo+":v1")
	for _, want := range []string{
		`args: ["/app","--env","two words","$NOT_EXPANDED"]`,
		"cwd: /srv/app",
		"uid: 1000 gid: 1000",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("docker run output lacks %q:\n%s", want, out)
		}
	}
	// The program prints its environment as "env: A=1|B=2"; the daemon adds
	// variables of its own (HOSTNAME, and container=podman on Podman).
	_, envLine, _ := strings.Cut(out, "\nenv: ")
	envLine, _, _ = strings.Cut(envLine, "\n")
	if !slices.Contains(strings.Split(envLine, "|"), "TRICKY="+tricky) {
		t.Errorf("docker run output lacks TRICKY=%s in its environment:\n%s", tricky, out)
	}
}

// The folder's own Dockerfile and .dockerignore are ordinary files, links
// stay links (never followed), hard links stay linked, modes survive, and
// nothing of the build context's layout shows in the image.
func TestFolderLayoutInImage(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	reg := registryClient{t}
	dir, _ := seedFolder(t, "layout")
	for name, body := range map[string]string{"Dockerfile": "FROM busybox\nRUN false\n", ".dockerignore": "*\n", "etc/conf/deep.txt": "deep"} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"to-passwd": "/etc/passwd", "dangling": "nowhere/at/all", "up": "../../outside"} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(dir, "app"), filepath.Join(dir, "app2")); err != nil {
		t.Fatal(err)
	}
	repo := uniqueRepo(t, "layout")
	removeImages(t, env.registry+"/"+repo+":v1")
	res := scratchPush(t, env.password, nil, append(pushArgs(repo, "v1"), "--cmd", "./app", dir)...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	m, _ := reg.manifest(repo, "v1")
	entries, names := layerEntries(t, reg.blob(repo, m.Layers[0].Digest.String()))
	sort.Strings(names)
	want := []string{".dockerignore", "Dockerfile", "app", "app2", "cities-controller.json", "cities-service.json", "dangling", "etc", "etc/conf", "etc/conf/deep.txt", "to-passwd", "up"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("layer holds %q, want %q", names, want)
	}
	expect := map[string]layerEntry{
		"Dockerfile":        {Type: '0', Mode: 0o640, Size: int64(len("FROM busybox\nRUN false\n"))},
		"etc/conf":          {Type: '5', Mode: 0o750},
		"etc/conf/deep.txt": {Type: '0', Mode: 0o640, Size: 4},
		"to-passwd":         {Type: '2', Mode: 0o777, Linkname: "/etc/passwd"},
		"dangling":          {Type: '2', Mode: 0o777, Linkname: "nowhere/at/all"},
		"up":                {Type: '2', Mode: 0o777, Linkname: "../../outside"},
		"app2":              {Type: '1', Mode: 0o755, Linkname: "app"},
	}
	for name, w := range expect {
		if g := entries[name]; g != w {
			t.Errorf("%s in layer: %+v, want %+v", name, g, w)
		}
	}
}

// Without flags or environment, credentials come from the docker config the
// way docker push finds them; SCRATCH_PUSH_USERNAME/PASSWORD work too.
func TestCredentialSources(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir, _ := seedFolder(t, "creds")
	repo := uniqueRepo(t, "creds")
	removeImages(t, env.registry+"/"+repo+":config", env.registry+"/"+repo+":environment")

	login := loggedInConfig(t) // writes auths for the registry into a fresh config
	res := scratchPush(t, "", login, "--registry", env.registry, "--repository", repo, "--tag", "config", "--cmd", "./app", dir)
	if res.code != 0 {
		t.Errorf("docker config: exit %d: %s", res.code, res.stderr)
	}
	res = scratchPush(t, "", []string{"SCRATCH_PUSH_USERNAME=" + env.username, "SCRATCH_PUSH_PASSWORD=" + env.password},
		"--repository", env.registry+"/"+repo, "--tag", "environment", "--cmd", "./app", dir)
	if res.code != 0 {
		t.Errorf("environment: exit %d: %s", res.code, res.stderr)
	}
	if strings.Contains(res.stderr, env.password) {
		t.Error("the password appears in stderr")
	}
	if tags := (registryClient{t}).tags(repo); fmt.Sprint(tags) != "[config environment]" {
		t.Errorf("registry tags %q, want [config environment]", tags)
	}
}

func keys[V any](m map[string]V) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}
