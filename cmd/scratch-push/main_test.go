package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"

	"github.com/scratchpush/scratchpush/display"
)

// runCLI runs the command in-process against a daemon address where nothing
// listens, so a case that wrongly reaches the daemon fails with status 1.
func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-daemon.sock"))
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

func folder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app"), []byte("bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("bin"), 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestUsageErrors(t *testing.T) {
	dir := folder(t)
	file := filepath.Join(dir, "app")
	empty := t.TempDir()
	push := []string{"--repository", "127.0.0.1:5000/a/b", "--username", "u", "--password-stdin"}
	yml := filepath.Join(t.TempDir(), "wercker.yml")
	step := "deploy:\n  steps:\n    - internal/docker-scratch-push:\n        cmd: ./app\n        working-dir: /app\n"
	if err := os.WriteFile(yml, []byte(step), 0o644); err != nil {
		t.Fatal(err)
	}
	platformYML := filepath.Join(t.TempDir(), "wercker.yml")
	step = "deploy:\n  steps:\n    - internal/docker-scratch-push:\n        cmd: ./app\n        platform: linux/arm64=" + filepath.Join(dir, "nope") + " linux/amd64=" + dir + "\n"
	if err := os.WriteFile(platformYML, []byte(step), 0o644); err != nil {
		t.Fatal(err)
	}
	withFifo := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(withFifo, "pipe"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		// One rule: what was given is refused before anything is built,
		// the folder's contents as much as the flags: exit 2.
		{"fifo in the folder", []string{"--no-push", "--allow-no-command", withFifo}, nil, "named pipe"},
		{"no folder", []string{"--no-push"}, nil, "no folder given: name the folder of build output last"},
		{"two folders", []string{"--no-push", dir, dir}, nil, "2 folders given"},
		// A flag that takes a value swallows the folder: the error names
		// the flag, not the count of folders.
		{"choice flag took the folder", []string{"--repository", "newcomer/app", "--cmd", "./app", "--push", dir}, nil, `invalid argument "` + dir + `" for "--push" flag: give daemon or direct; ` + dir + " is a folder"},
		{"choice flag's bad value", []string{"--no-push", "--builder", "kaniko", dir}, nil, `"--builder" flag: give auto, buildkit or classic`},
		{"bad progress mode", []string{"--no-push", "--progress", "fancy", dir}, nil, `invalid argument "fancy" for "--progress" flag: give auto, tty, plain, json or quiet`},
		{"free flag took the folder", []string{"--repository", "newcomer/app", "--cmd", "./app", "--context", dir}, nil, `no folder given: --context took "` + dir + `" as its value`},
		{"choice flag from its variable", []string{"--no-push", dir}, map[string]string{"SCRATCH_PUSH_SBOM": "cyclonedx"}, `SCRATCH_PUSH_SBOM="cyclonedx": invalid argument "cyclonedx" for "--sbom" flag: give spdx or none`},
		// Habits from docker, ko and crane.
		{"docker's -t", []string{"-t", "app:v1", dir}, nil, "docker build -t NAME:TAG is --repository NAME --tag TAG here"},
		{"--port", []string{"--port", "5000", dir}, nil, "unknown flag: --port: did you mean --ports?"},
		{"a plural", []string{"--tags", "v1", dir}, nil, "unknown flag: --tags: did you mean --tag?"},
		{"a typo", []string{"--repositry", "app", dir}, nil, "did you mean --repository?"},
		{"--insecure", []string{"--insecure", dir}, nil, "for another, write --registry http://HOST"},
		{"repository with a scheme", []string{"--no-push", "--repository", "https://quay.io/team/app", dir}, nil, `--repository: "https://quay.io/team/app": a repository names no scheme: give quay.io/team/app, and --registry https://quay.io if the scheme matters`},
		{"name:tag as the tag", []string{"--no-push", "--repository", "app", "--tag", "app:v1", dir}, nil, `--tag: "app:v1" is not a valid tag: a tag is what follows the colon: give --tag v1, and the name in --repository`},
		{"unknown flag", []string{"--frobnicate", dir}, nil, "unknown flag: --frobnicate"},
		{"missing folder", []string{"--no-push", filepath.Join(dir, "nope")}, nil, "no such folder"},
		{"folder is a file", []string{"--no-push", file}, nil, "is not a folder"},
		{"empty folder", []string{"--no-push", empty}, nil, "the folder is empty"},
		{"no repository", []string{dir}, nil, "--repository: required to push"},
		{"bad port", []string{"--no-push", "--ports", "5000,abc", dir}, nil, `--ports: port "abc"`},
		{"port zero", []string{"--no-push", "--ports", "0", dir}, nil, "port 0"},
		{"bad proto", []string{"--no-push", "--ports", "5000/sctpx", dir}, nil, "unknown protocol"},
		{"reversed range", []string{"--no-push", "--ports", "9-3", dir}, nil, `port "9-3"`},
		{"unbalanced cmd", []string{"--no-push", "--cmd", `./app "x`, dir}, nil, "--cmd: splitting"},
		{"bad json cmd", []string{"--no-push", "--cmd", `["./app",1]`, dir}, nil, "--cmd: invalid JSON array"},
		{"bad entrypoint", []string{"--no-push", "--entrypoint", `'x`, dir}, nil, "--entrypoint"},
		{"env without =", []string{"--no-push", "--env", "FOO", dir}, nil, `--env: "FOO" has no "="`},
		{"label without key", []string{"--no-push", "--label", "=x", dir}, nil, "--label"},
		{"newline in env", []string{"--no-push", "--env", "A=1\nRUN x", dir}, nil, `--env: A: "1\nRUN x" holds control character U+000A`},
		{"bad stop signal", []string{"--no-push", "--stop-signal", "SIGFOO", dir}, nil, "--stop-signal"},
		{"upper-case repository", []string{"--no-push", "--repository", "User/App", dir}, nil, "must be lowercase"},
		{"repository with tag", []string{"--no-push", "--repository", "user/app:v1", dir}, nil, "holds a tag"},
		{"bad tag", []string{"--no-push", "--repository", "user/app", "--tag", "v1:x", dir}, nil, `--tag: "v1:x" is not a valid tag`},
		{"long tag", []string{"--no-push", "--repository", "user/app", "--tag", strings.Repeat("x", 129), dir}, nil, "not a valid tag"},
		{"empty tag", []string{"--no-push", "--repository", "user/app", "--tag", " , ", dir}, nil, "--tag: empty"},
		{"conflicting password flags", append(push, "--password", "pw", dir), nil, "--password and --password-stdin conflict"},
		{"username without password", []string{"--repository", "r.io/a", "--username", "u", dir}, nil, "without a password"},
		{"password without username", []string{"--repository", "r.io/a", dir}, map[string]string{"SCRATCH_PUSH_PASSWORD": "pw123456"}, "without a user name"},
		{"empty stdin password", append(push, dir), nil, "stdin was empty"},
		{"registry with path", []string{"--no-push", "--registry", "quay.io/team", "--repository", "app", dir}, nil, `--registry: "quay.io/team" has a path: give the host only and put "team" in --repository`},
		{"bad SOURCE_DATE_EPOCH", []string{"--no-push", dir}, map[string]string{"SOURCE_DATE_EPOCH": "yesterday"}, "SOURCE_DATE_EPOCH"},
		{"flag variable not a number", []string{"--no-push", dir}, map[string]string{"SCRATCH_PUSH_MAX_LAYERS": "many"}, `SCRATCH_PUSH_MAX_LAYERS="many"`},
		{"flag variable checked like the flag", []string{"--no-push", dir}, map[string]string{"SCRATCH_PUSH_MAX_LAYERS": "0"}, "SCRATCH_PUSH_MAX_LAYERS: 0: give 1 or more"},
		{"repository from its variable", []string{"--no-push", dir}, map[string]string{"SCRATCH_PUSH_REPOSITORY": "User/App"}, "must be lowercase"},
		{"digest file without push", []string{"--no-push", "--digest-file", filepath.Join(dir, "d"), dir}, nil, "--digest-file: there is no digest without a push: write the image ID with --iidfile instead"},
		{"result file in a missing folder", []string{"--no-push", "--iidfile", filepath.Join(dir, "nope", "iid"), dir}, nil, `the folder "` + filepath.Join(dir, "nope") + `" does not exist`},
		{"result file is a folder", []string{"--no-push", "--metadata-file", empty, dir}, nil, "is a folder"},
		{"pipeline without file", []string{"--no-push", "--pipeline", "deploy", dir}, nil, "--pipeline chooses a pipeline of --wercker-yml"},
		{"nonroot as root", []string{"--no-push", "--nonroot=root:0", dir}, nil, "0 is root"},
		{"nonroot without uid", []string{"--no-push", "--nonroot=app", dir}, nil, "give NAME:UID"},
		{"nonroot cannot run the program", []string{"--no-push", "--nonroot", "--cmd", "./secret", dir}, nil, "--nonroot: /secret is not executable by others (mode 0700)"},
		{"nonroot and user", []string{"--no-push", "--nonroot", "--user", "1000", dir}, nil, `--user: "1000" conflicts with --nonroot`},
		{"missing CA bundle", []string{"--no-push", "--ca-certs=" + filepath.Join(dir, "nope.pem"), dir}, nil, "nope.pem does not exist"},
		{"CA bundle without certificates", []string{"--no-push", "--ca-certs=" + file, dir}, nil, "holds no PEM certificate"},
		{"not a zoneinfo folder", []string{"--no-push", "--tzdata=" + empty, dir}, nil, "is not a zoneinfo folder"},
		{"bad platform", []string{"--no-push", "--platform", "arm64", dir}, nil, "--platform: \"arm64\": give linux/ARCH"},
		{"no command", []string{"--no-push", dir}, nil, "--cmd: missing, and so is --entrypoint: the image could not start"},
		{"unknown flag names --help", []string{"--frobnicate", dir}, nil, "see scratch-push --help"},
		{"workdir from a variable", []string{"--no-push", "--cmd", "./app", dir}, map[string]string{"SCRATCH_PUSH_WORKDIR": "/app"}, `SCRATCH_PUSH_WORKDIR: "/app": "/app" in the folder is a file or link, not a directory`},
		{"workdir from wercker.yml", []string{"--no-push", "--wercker-yml", yml, dir}, nil, yml + ` line 5: working-dir: "/app": "/app" in the folder is a file or link, not a directory`},
		{"a flag beats wercker.yml", []string{"--no-push", "--wercker-yml", yml, "--workdir", "/app/x", dir}, nil, `--workdir: "/app/x": "/app" in the folder is a file`},
		{"folder from WERCKER_OUTPUT_DIR", []string{"--no-push", "--wercker-yml", yml}, map[string]string{"WERCKER_OUTPUT_DIR": empty}, "WERCKER_OUTPUT_DIR: " + strconv.Quote(empty) + ": the folder is empty"},
		{"platform folders from a variable", []string{"--no-push", "--cmd", "./app"}, map[string]string{"SCRATCH_PUSH_PLATFORM": "linux/arm64=" + filepath.Join(dir, "nope") + " linux/amd64=" + dir}, "SCRATCH_PUSH_PLATFORM: linux/arm64=" + filepath.Join(dir, "nope") + `: folder "` + filepath.Join(dir, "nope") + `": no such folder`},
		{"platform folders and DIR", []string{"--no-push", "--cmd", "./app", "--platform", "linux/amd64=" + dir, "--platform", "linux/arm64=" + dir, dir}, nil, "with PLATFORM=DIR the folders come from --platform; drop DIR"},
		{"platform folders from wercker.yml", []string{"--no-push", "--wercker-yml", platformYML}, map[string]string{"WERCKER_OUTPUT_DIR": dir}, platformYML + " line 5: platform: linux/arm64=" + filepath.Join(dir, "nope") + ": folder"},
		{"missing wercker.yml", []string{"--wercker-yml", filepath.Join(dir, "wercker.yml")}, nil, "wercker.yml\": no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("SCRATCH_PUSH_USERNAME", "")
			t.Setenv("SCRATCH_PUSH_PASSWORD", "")
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			stdout, stderr, code := runCLI(t, "", c.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr: %s", code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "scratch-push: ") || !strings.Contains(lines[0], c.want) {
				t.Errorf("stderr %q, want one line containing %q", stderr, c.want)
			}
		})
	}
}

func TestNoDaemon(t *testing.T) {
	stdout, stderr, code := runCLI(t, "", "--no-push", "--allow-no-command", folder(t))
	if code != 1 || stdout != "" || !strings.Contains(stderr, "no Docker daemon answers at unix://") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestPasswordFlagWarnsAndNeverShows(t *testing.T) {
	const pw = "very-distinctive-pw-7731"
	_, stderr, code := runCLI(t, "", "--repository", "127.0.0.1:1/a", "--username", "u", "--password", pw, "--ports", "bad", folder(t))
	if code != 2 {
		t.Errorf("exit %d", code)
	}
	if !strings.Contains(stderr, "prefer --password-stdin or SCRATCH_PUSH_PASSWORD") {
		t.Errorf("no warning about --password: %q", stderr)
	}
	if strings.Contains(stderr, pw) {
		t.Errorf("password in stderr: %q", stderr)
	}
}

func TestHelp(t *testing.T) {
	stdout, _, code := runCLI(t, "", "--help")
	if code != 0 || !strings.Contains(stdout, "scratch-push [flags] DIR") || !strings.Contains(stdout, "--password-stdin") {
		t.Errorf("exit %d, help %q", code, stdout)
	}
}

// --version answers without a daemon, as docker, ko and crane do.
func TestVersionFlag(t *testing.T) {
	stdout, stderr, code := runCLI(t, "", "--version")
	if code != 0 || !strings.HasPrefix(stdout, "scratch-push version ") || strings.Count(stdout, "\n") != 1 || stderr != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestVersion(t *testing.T) {
	stdout, stderr, code := runCLI(t, "", "version")
	for _, want := range []string{"scratch-push:  ", "go:            go1.", "engine API:    up to 1.", "daemon:        none\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("version output lacks %q:\n%s", want, stdout)
		}
	}
	// No daemon is a failure, as with docker version: exit 1 and why.
	if code != 1 || !strings.HasPrefix(stderr, "scratch-push: no Docker daemon answers") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestCompletion(t *testing.T) {
	stdout, _, code := runCLI(t, "", "completion", "bash")
	if code != 0 || !strings.Contains(stdout, "__start_scratch-push") {
		t.Errorf("exit %d, completion script %.200q", code, stdout)
	}
	// A shell cobra cannot write for is a usage error, not help and 0.
	stdout, stderr, code := runCLI(t, "", "completion", "tcsh")
	if code != 2 || stdout != "" || !strings.Contains(stderr, `"tcsh"`) || !strings.Contains(stderr, "bash, zsh, fish or powershell") {
		t.Errorf("completion tcsh: exit %d, stdout %.80q, stderr %q", code, stdout, stderr)
	}
	// The flags with a fixed set of values offer them.
	for flag, want := range map[string]string{"progress": "plain", "builder": "buildkit"} {
		stdout, _, code = runCLI(t, "", "__complete", "--"+flag, "")
		if code != 0 || !strings.Contains(stdout, want+"\n") || strings.Contains(stdout, "app\n") {
			t.Errorf("completing --%s: exit %d, %q; want %s among the values and no files", flag, code, stdout, want)
		}
	}
}

// --help fits in 80 columns, descriptions wrapped under their flags, and
// the flags whose value is optional show its name.
func TestHelpFitsEightyColumns(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"version", "--help"}} {
		stdout, _, code := runCLI(t, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		for _, line := range strings.Split(stdout, "\n") {
			if n := utf8.RuneCountInString(line); n > usageWidth {
				t.Errorf("%v: a line of %d columns: %q", args, n, line)
			}
		}
		if args[0] == "--help" {
			for _, want := range []string{"\n      --ca-certs[=FILE]", "\n      --nonroot[=NAME:UID]", "\n  -q, --quiet ", "(default 4)"} {
				if !strings.Contains(stdout, want) {
					t.Errorf("--help lacks %q", want)
				}
			}
		}
	}
}

func TestChooseProgress(t *testing.T) {
	for _, c := range []struct {
		progress string
		given    bool
		quiet    bool
		terminal bool
		want     string
		err      string
		term     string // TERM
	}{
		{display.Auto, false, false, true, display.TTY, "", "xterm"},
		{display.Auto, false, false, true, display.Plain, "", "dumb"},
		{display.Auto, false, false, false, display.Plain, "", "xterm"},
		{display.Auto, false, true, true, display.Quiet, "", "xterm"},
		{display.JSON, true, false, true, display.JSON, "", "xterm"},
		{display.JSON, true, true, false, "", "-q and --progress=json conflict", "xterm"},
	} {
		t.Setenv("TERM", c.term)
		o := options{progress: c.progress, quiet: c.quiet}
		err := chooseProgress(&streams{errTerminal: c.terminal}, c.given, &o)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%+v: error %v, want %q", c, err, c.err)
		case c.err == "" && (err != nil || o.progress != c.want):
			t.Errorf("%+v: mode %q, error %v; want %q", c, o.progress, err, c.want)
		}
	}
}

// With --progress json every line on stderr is a JSON object, the warnings
// and the final error too (as the daemon's own streams end with an
// errorDetail), so that a reader of JSON lines never meets plain text.
func TestJSONProgressErrors(t *testing.T) {
	dir := folder(t)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"missing folder", []string{"--progress", "json", "--no-push", filepath.Join(dir, "nope")}, "no such folder"},
		{"unknown flag after the mode", []string{"--progress=json", "--frobnicate", dir}, "unknown flag: --frobnicate"},
		{"a warning, then the error", []string{"--progress", "json", "--repository", "127.0.0.1:1/a", "--username", "u", "--password", "pw-7731", "--ports", "bad", dir}, `--ports: port "bad"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, "", c.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			for _, l := range lines {
				if !json.Valid([]byte(l)) {
					t.Errorf("a line that is not JSON: %q", l)
				}
			}
			var last struct {
				Detail struct{ Message string } `json:"errorDetail"`
				Error  string
			}
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || !strings.Contains(last.Detail.Message, c.want) || last.Error != last.Detail.Message {
				t.Errorf("last line %q, want an errorDetail containing %q", lines[len(lines)-1], c.want)
			}
		})
	}
}

// A --cmd written for a shell says that none runs it; a JSON array, which
// says exactly what the program gets, does not.
func TestShellSyntaxWarns(t *testing.T) {
	dir := folder(t)
	_, stderr, _ := runCLI(t, "", "--no-push", "--cmd", "./app && echo hi", dir)
	if !strings.Contains(stderr, `warning: --cmd: "&&" goes to ./app as a plain argument: no shell runs the command`) {
		t.Errorf("no warning: %q", stderr)
	}
	_, stderr, _ = runCLI(t, "", "--no-push", "--cmd", `["./app","&&"]`, dir)
	if strings.Contains(stderr, "warning") {
		t.Errorf("a JSON array warned: %q", stderr)
	}
}

// A --sign-key that cannot sign is refused before anything is built, exit
// 2, the password never shown: a wrong password, a file that is no cosign
// key, no COSIGN_PASSWORD and no terminal, a key without a push.
func TestSignKeyRefused(t *testing.T) {
	dir := folder(t)
	key := filepath.Join("..", "..", "sign", "testdata", "cosign.key") // cosign generate-key-pair's, password "scratch-push-test"
	push := []string{"--repository", "127.0.0.1:1/a", "--username", "u", "--password-stdin", "--cmd", "./app"}
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"wrong password", append(push, "--sign-key", key, dir), map[string]string{"COSIGN_PASSWORD": "guess-7731"}, "--sign-key: the password does not open the key"},
		{"not a cosign key", append(push, "--sign-key", filepath.Join(dir, "app"), dir), map[string]string{"COSIGN_PASSWORD": "x"}, "--sign-key: not a cosign private key: no PEM block"},
		{"no password, no terminal", append(push, "--sign-key", key, dir), nil, "COSIGN_PASSWORD is not set, with no terminal to ask on"},
		{"missing key", append(push, "--sign-key", filepath.Join(dir, "nope.key"), dir), nil, "--sign-key: reading the key"},
		{"key without a push", []string{"--no-push", "--cmd", "./app", "--sign-key", key, dir}, nil, "--sign-key: signs what is pushed"},
		{"bad provenance", []string{"--no-push", "--cmd", "./app", "--provenance", "intoto", dir}, nil, `"--provenance" flag: give slsa or none`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("COSIGN_PASSWORD", "")
			os.Unsetenv("COSIGN_PASSWORD")
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			stdout, stderr, code := runCLI(t, "registry-password", c.args...)
			if code != 2 || stdout != "" || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, stdout, stderr, c.want)
			}
			if strings.Contains(stderr, "guess-7731") {
				t.Errorf("the password shows: %q", stderr)
			}
		})
	}
}
