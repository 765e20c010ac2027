package integration

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Bad input: every case must exit with the right status and one line that
// names the input and says what to fix, and must leave the registry and the
// local tags exactly as they were.
func TestBadInput(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	reg := registryClient{t}
	good, _ := seedFolder(t, "bad input baseline")
	repo := uniqueRepo(t, "bad")
	stable := env.registry + "/" + repo + ":stable"
	removeImages(t, stable)

	// The baseline every case must leave untouched: stable, pushed and tagged.
	if res := scratchPush(t, env.password, nil, append(pushArgs(repo, "stable"), "--cmd", "./app", good)...); res.code != 0 {
		t.Fatalf("baseline push: exit %d: %s", res.code, res.stderr)
	}
	_, stableDigest := reg.manifest(repo, "stable")
	stableID := strings.TrimSpace(docker(t, nil, "image", "inspect", "--format", "{{.Id}}", stable))

	file := filepath.Join(good, "cities-service.json")
	empty := t.TempDir()
	special := func(kind string) string {
		dir, err := os.MkdirTemp("", "sp") // short: unix socket paths are limited
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		p := filepath.Join(dir, "special")
		switch kind {
		case "socket":
			l, err := net.Listen("unix", p)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
		case "fifo":
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		case "device":
			if err := syscall.Mknod(p, syscall.S_IFCHR|0o666, 0x103); err != nil {
				t.Skipf("cannot make a device node: %v", err)
			}
		}
		return dir
	}
	// Folders that the unprivileged user nobody can reach but not read
	// entirely: root reads everything, so these cases run as nobody.
	unreadable := func(what string) string {
		dir, err := os.MkdirTemp("", "unreadable")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		os.Chmod(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "app"), []byte("x"), 0o755)
		switch what {
		case "file":
			os.WriteFile(filepath.Join(dir, "secret.key"), []byte("k"), 0o600)
		case "folder":
			os.Mkdir(filepath.Join(dir, "private"), 0o700)
		}
		return dir
	}
	withFile := func(name string, mode os.FileMode) string {
		dir, _ := seedFolder(t, "variant")
		if err := os.WriteFile(filepath.Join(dir, name), []byte("data"), mode); err != nil {
			t.Fatal(err)
		}
		return dir
	}

	push := func(extra ...string) []string {
		return append(append(pushArgs(repo, "stable"), "--cmd", "./app"), extra...)
	}
	local := func(extra ...string) []string {
		return append([]string{"--no-push", "--repository", env.registry + "/" + repo, "--tag", "stable", "--cmd", "./app"}, extra...)
	}
	fifo := filepath.Join(t.TempDir(), "iid")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(t.TempDir(), "image.tar")
	if err := os.WriteFile(existing, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		args   []string
		stdin  string
		env    []string
		nobody bool
		code   int
		want   []string // all must be in the one error line
	}{
		{name: "missing folder", args: local(filepath.Join(good, "nope")), code: 2, want: []string{"nope", "no such folder"}},
		{name: "folder is a file", args: local(file), code: 2, want: []string{"cities-service.json", "is not a folder"}},
		{name: "empty folder", args: local(empty), code: 2, want: []string{empty, "empty"}},
		{name: "no folder", args: local(), code: 2, want: []string{"no folder given", "last"}},
		{name: "two folders", args: local(good, good), code: 2, want: []string{"2 folders given", "name one folder"}},
		{name: "unknown flag", args: local("--frobnicate", good), code: 2, want: []string{"--frobnicate"}},
		{name: "folder with a leading dash, no --", args: local("-dir"), code: 2, want: []string{"-dir"}},
		{name: "password twice", args: push("--password", "x", good), code: 2, want: []string{"--password and --password-stdin"}},
		{name: "port abc", args: local("--ports", "abc", good), code: 2, want: []string{`--ports: port "abc"`, "1-65535"}},
		{name: "port 0", args: local("--ports", "0", good), code: 2, want: []string{`port "0"`, "1-65535"}},
		{name: "port 70000", args: local("--ports", "70000", good), code: 2, want: []string{`port "70000"`, "1-65535"}},
		{name: "port sctpx", args: local("--ports", "5000/sctpx", good), code: 2, want: []string{`"5000/sctpx"`, "tcp, udp or sctp"}},
		{name: "port range backwards", args: local("--ports", "9-3", good), code: 2, want: []string{`port "9-3"`, "range"}},
		{name: "port with host binding", args: local("--ports", "8080:80", good), code: 2, want: []string{`"8080:80"`, "container port only"}},
		{name: "upper-case repository", args: []string{"--no-push", "--repository", "it/UPPER", good}, code: 2, want: []string{`"it/UPPER"`, "lowercase"}},
		{name: "repository with a tag", args: []string{"--no-push", "--repository", repo + ":v1", good}, code: 2, want: []string{"holds a tag", "--tag"}},
		{name: "repository too long", args: []string{"--no-push", "--repository", "it/" + strings.Repeat("a", 260), good}, code: 2, want: []string{"--repository", "255"}},
		{name: "tag with a colon", args: []string{"--no-push", "--repository", repo, "--tag", "v1:x", good}, code: 2, want: []string{`--tag: "v1:x" is not a valid tag`, "what follows the colon"}},
		{name: "tag of 129 characters", args: []string{"--no-push", "--repository", repo, "--tag", strings.Repeat("t", 129), good}, code: 2, want: []string{"up to 128"}},
		{name: "tag with a leading dash", args: []string{"--no-push", "--repository", repo, "--tag=-x", good}, code: 2, want: []string{`--tag: "-x" is not a valid tag`}},
		{name: "cmd with an open quote", args: []string{"--no-push", "--cmd", `./app "x`, good}, code: 2, want: []string{"--cmd", "unterminated double-quoted"}},
		{name: "cmd JSON with a number", args: []string{"--no-push", "--cmd", `["./app", 1]`, good}, code: 2, want: []string{"--cmd", "invalid JSON array"}},
		{name: "cmd JSON unclosed", args: []string{"--no-push", "--cmd", `["./app"`, good}, code: 2, want: []string{"--cmd", "invalid JSON array"}},
		{name: "env without =", args: local("--env", "DEBUG", good), code: 2, want: []string{`--env: "DEBUG"`, "KEY=VALUE"}},
		{name: "label without key", args: local("--label", "=x", good), code: 2, want: []string{"--label", "empty key"}},
		{name: "env value with a newline", args: local("--env", "A=1\nRUN rm -rf /", good), code: 2, want: []string{"--env: A: ", "control character"}},
		{name: "cmd not in the folder", args: []string{"--no-push", "--cmd", "./server", good}, code: 2, want: []string{`--cmd: "./server" is not in the folder`}},
		{name: "entrypoint not executable", args: []string{"--no-push", "--entrypoint", "/cities-service.json", good}, code: 2, want: []string{"--entrypoint", "not executable", "chmod +x"}},
		{name: "workdir through a file", args: local("--workdir", "/cities-service.json/x", good), code: 2, want: []string{"--workdir", "is a file"}},
		{name: "bad stop signal", args: local("--stop-signal", "SIGFOO", good), code: 2, want: []string{"--stop-signal", "SIGFOO"}},
		{name: "registry with a path", args: []string{"--registry", "quay.io/team", "--repository", "app", good}, code: 2, want: []string{"--registry", "has a path"}},
		{name: "repository and registry disagree", args: []string{"--registry", "quay.io", "--repository", "gcr.io/x/app", good}, code: 2, want: []string{"gcr.io", "quay.io", "agree"}},
		{name: "user without password", args: []string{"--repository", repo, "--registry", env.registry, "--username", "u", "--cmd", "./app", good}, code: 2, want: []string{"--username", "--password-stdin"}},
		{name: "empty password on stdin", args: push(good), stdin: "\n", code: 2, want: []string{"--password-stdin", "empty"}},
		{name: "negative retries", args: local("--retries", "-1", good), code: 2, want: []string{"--retries: -1: give 0 or more"}},
		{name: "negative timeout", args: local("--timeout", "-5s", good), code: 2, want: []string{"--timeout -5s"}},
		{name: "bad SOURCE_DATE_EPOCH", args: local(good), env: []string{"SOURCE_DATE_EPOCH=yesterday"}, code: 2, want: []string{"SOURCE_DATE_EPOCH", "yesterday"}},
		{name: "socket in the folder", args: []string{"--no-push", "--allow-no-command", special("socket")}, code: 2, want: []string{"special", "socket", "remove it"}},
		{name: "fifo in the folder", args: []string{"--no-push", "--allow-no-command", special("fifo")}, code: 2, want: []string{"special", "named pipe", "remove it"}},
		{name: "device in the folder", args: []string{"--no-push", "--allow-no-command", special("device")}, code: 2, want: []string{"special", "device", "remove it"}},
		{name: "unreadable file", args: []string{"--no-push", "--allow-no-command", unreadable("file")}, nobody: true, code: 2, want: []string{"secret.key", "cannot read", "permission denied"}},
		{name: "unreadable folder", args: []string{"--no-push", "--allow-no-command", unreadable("folder")}, nobody: true, code: 2, want: []string{"private", "permission denied"}},
		{name: "no command", args: []string{"--no-push", "--repository", repo, "--tag", "stable", good}, code: 2, want: []string{"--cmd: missing, and so is --entrypoint", "--allow-no-command"}},
		{name: "wrong password", args: push(good), stdin: "wrong-password", code: 1, want: []string{"authentication failed", "check the user name and password"}},
		{name: "platform without a platform", args: []string{"--no-push", "--repository", repo, "--tag", "stable", "--cmd", "./app", "--platform", "=" + good}, code: 2, want: []string{"--platform", "names no platform"}},
		{name: "annotation with a newline", args: []string{"--no-push", "--repository", repo, "--tag", "stable", "--cmd", "./app", "--annotation", "a=1\nb=2", good}, code: 2, want: []string{"--annotation", "control character"}},
		{name: "SOURCE_DATE_EPOCH past 9999", args: local(good), env: []string{"SOURCE_DATE_EPOCH=253402300800"}, code: 2, want: []string{"SOURCE_DATE_EPOCH", "after the year 9999"}},
		{name: "registry with a password in it", args: []string{"--registry", "https://bob:hunter22@" + env.registry + "/x", "--repository", "app", "--cmd", "./app", good}, code: 2, want: []string{"--registry", "user name or password", "--password-stdin"}},
		{name: "mirror without a host beside --registry", args: push("--repository", "other/app", good), stdin: env.password, code: 2, want: []string{"--repository", "would go to Docker Hub"}},
		{name: "https:// to a plain-HTTP registry, pushed from here", args: []string{"--registry", "https://" + env.registry, "--repository", repo, "--tag", "stable", "--username", env.username, "--password-stdin", "--push", "direct", "--cmd", "./app", good},
			stdin: env.password, code: 1, want: []string{"--registry", "was written with https://", "write http://"}},
		{name: "tag without a repository", args: []string{"--no-push", "--tag", "v1", "--output", "oci-layout:" + filepath.Join(t.TempDir(), "out"), "--cmd", "./app", good}, code: 2, want: []string{"--tag", "v1 given without a repository", "--repository"}},
		{name: "docker archive over a file", args: local("--output", "docker-archive:"+existing, good), code: 2, want: []string{"--output", "exists"}},
		{name: "iidfile is a fifo", args: local("--iidfile", fifo, good), code: 2, want: []string{"--iidfile", "named pipe"}},
		{name: "folder the user may not enter", args: []string{"--no-push", withFile("locked", 0)}, nobody: true, code: 2, want: []string{"folder", "permission denied"}},
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"-q"}, c.args...)
			var res result
			if c.nobody {
				res = scratchPushAsNobody(t, c.stdin, c.env, args...)
			} else {
				res = scratchPush(t, c.stdin, c.env, args...)
			}
			if res.code != c.code {
				t.Errorf("exit %d, want %d", res.code, c.code)
			}
			if res.stdout != "" {
				t.Errorf("stdout %q, want nothing", res.stdout)
			}
			line := strings.TrimSuffix(res.stderr, "\n")
			if strings.Contains(line, "\n") || !strings.HasPrefix(line, "scratch-push: ") {
				t.Errorf("stderr is not one error line: %q", res.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(line, w) {
					t.Errorf("error %q does not contain %q", line, w)
				}
			}
			if strings.Contains(res.stderr, "hunter22") {
				t.Errorf("the error shows a password: %q", res.stderr)
			}
		})
	}

	// Nothing pushed, no tag moved.
	if _, d := reg.manifest(repo, "stable"); d != stableDigest {
		t.Errorf("the registry's stable moved from %s to %s", stableDigest, d)
	}
	if id := strings.TrimSpace(docker(t, nil, "image", "inspect", "--format", "{{.Id}}", stable)); id != stableID {
		t.Errorf("the local stable moved from %s to %s", stableID, id)
	}
	if tags := reg.tags(repo); fmt.Sprint(tags) != "[stable]" {
		t.Errorf("the registry's tags are %q, want only stable", tags)
	}
}

// No credentials given and none in the docker config, for a registry that
// wants some: said before anything is built, with how to give them. On
// Podman the daemon pushes with podman login's, if any, so its push is
// left to say so, after the build.
func TestNoCredentialsAnywhere(t *testing.T) {
	requireEnv(t)
	dir, _ := seedFolder(t, "no credentials")
	repo := uniqueRepo(t, "nocreds")
	emptyConfig := t.TempDir()
	for _, via := range []string{"daemon", "direct"} {
		t.Run(via, func(t *testing.T) {
			removeImages(t, env.registry+"/"+repo+":v1")
			before := daemonState(t)
			res := scratchPush(t, "", []string{"DOCKER_CONFIG=" + emptyConfig}, "--repository", env.registry+"/"+repo, "--tag", "v1", "--cmd", "./app", "--push", via, dir)
			if res.code != 1 || res.stdout != "" {
				t.Errorf("exit %d, stdout %q; want 1 and nothing", res.code, res.stdout)
			}
			if onPodman() && via == "daemon" {
				return
			}
			for _, want := range []string{"no credentials were found for " + env.registry, "--username with --password-stdin", "docker login " + env.registry} {
				if !strings.Contains(res.stderr, want) {
					t.Errorf("stderr lacks %q: %s", want, res.stderr)
				}
			}
			if after := daemonState(t); after != before {
				t.Errorf("the daemon holds something new:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	if resp, _ := (registryClient{t}).get("/v2/"+repo+"/manifests/v1", manifestTypes); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the registry answers %d for the tag: pushed anyway", resp.StatusCode)
	}
}
