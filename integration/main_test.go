// Package integration runs scratch-push against a real Docker daemon and a
// real Distribution registry with htpasswd authentication, as scripts/dev-env
// sets them up, and reads every result back independently: from the
// registry's HTTP API and with docker run.
//
// The daemon is the one DOCKER_HOST names. `make test` runs the suite three
// times: against Debian's Docker 20.10 (the classic image store), against
// Docker 29 with the containerd image store (SCRATCHPUSH_TEST_DAEMON=
// docker-containerd) and against Podman's Docker-compatible service
// (SCRATCHPUSH_TEST_DAEMON=podman); the suite checks that the daemon is the
// one named. The few places where an engine answers otherwise ask onPodman
// or onContainerdStore, and docs/engines.md lists them.
//
// Under CI=true a missing daemon or registry fails the run; elsewhere the
// tests skip with a note saying how to set the machine up.
package integration

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var (
	toolPath string // the scratch-push binary under test
	appPath  string // a static Go program for the images
	env      testEnv
	skipWhy  string
	engine   string // "docker", "docker-containerd" or "podman": what answers at DOCKER_HOST
)

type testEnv struct {
	registry, username, password string
	// podmanConfig holds the containers.conf and registries.conf that
	// scripts/dev-env starts Podman's service with.
	podmanConfig string
	// docker29Bin holds the dockerd and runc of the Docker 29 line that
	// scripts/dev-env built, for a second containerd-store daemon.
	docker29Bin string
	// oras is the OCI artifact client the tests read referrers with.
	oras string
	// syft is the SBOM tool the tests compare our SBOMs with.
	syft string
	// cosign verifies the signatures and attestations pushed.
	cosign string
}

// onPodman reports whether the daemon under test is Podman's service.
func onPodman() bool { return engine == "podman" }

// onContainerdStore reports whether the daemon under test is a Docker that
// keeps images in containerd's image store, where an image's ID is its
// manifest's or index's digest.
func onContainerdStore() bool { return engine == "docker-containerd" }

func TestMain(m *testing.M) {
	os.Exit(setup(m))
}

func setup(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "scratchpush-it")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	defer os.RemoveAll(emptyDockerConfig)
	defer os.RemoveAll(reuseRecords)
	if err := os.Chmod(tmp, 0o755); err != nil { // some cases run as nobody
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	if skipWhy = loadEnv(); skipWhy == "" {
		out, err := exec.Command("docker", "version", "--format", "{{range .Server.Components}}{{.Name}} {{.Version}};{{end}}").CombinedOutput()
		switch {
		case err != nil:
			skipWhy = fmt.Sprintf("no Docker daemon answers (docker version: %v: %s)", err, strings.TrimSpace(string(out)))
		case strings.Contains(string(out), "Podman"):
			engine = "podman"
		default:
			engine = "docker"
			info, err := exec.Command("docker", "info", "--format", "{{range .DriverStatus}}{{index . 0}}={{index . 1}};{{end}}").CombinedOutput()
			if err != nil {
				skipWhy = fmt.Sprintf("docker info: %v: %s", err, strings.TrimSpace(string(info)))
			} else if strings.Contains(string(info), "driver-type=io.containerd.snapshotter.v1") {
				engine = "docker-containerd"
			}
		}
		if want := os.Getenv("SCRATCHPUSH_TEST_DAEMON"); want != "" && engine != "" && want != engine {
			fmt.Fprintf(os.Stderr, "integration: SCRATCHPUSH_TEST_DAEMON=%s, but the daemon at DOCKER_HOST=%s is %s (%s)\n", want, os.Getenv("DOCKER_HOST"), engine, strings.TrimSpace(string(out)))
			return 1
		}
	}
	if skipWhy != "" {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "integration: %s; under CI=true this is a failure: .ci/run must run scripts/dev-env first\n", skipWhy)
			return 1
		}
		return m.Run() // every test skips, saying why
	}

	toolPath = filepath.Join(tmp, "scratch-push")
	appPath = filepath.Join(tmp, "app")
	builds := []*exec.Cmd{
		exec.Command("go", "build", "-o", toolPath, "../cmd/scratch-push"),
		exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", appPath, "./testdata/app"),
	}
	builds[1].Env = append(os.Environ(), "CGO_ENABLED=0")
	for _, b := range builds {
		if out, err := b.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "integration: %s: %v\n%s", strings.Join(b.Args, " "), err, out)
			return 1
		}
	}
	return m.Run()
}

// loadEnv takes the registry address and credentials from the environment,
// or else from the file scripts/dev-env writes. It returns why not, or "".
func loadEnv() string {
	env = testEnv{
		registry: os.Getenv("SCRATCHPUSH_TEST_REGISTRY"),
		username: os.Getenv("SCRATCHPUSH_TEST_USERNAME"),
		password: os.Getenv("SCRATCHPUSH_TEST_PASSWORD"),

		podmanConfig: os.Getenv("SCRATCHPUSH_TEST_PODMAN_CONFIG"),
		docker29Bin:  os.Getenv("SCRATCHPUSH_TEST_DOCKER29_BIN"),
		oras:         os.Getenv("SCRATCHPUSH_TEST_ORAS"),
		syft:         os.Getenv("SCRATCHPUSH_TEST_SYFT"),
		cosign:       os.Getenv("SCRATCHPUSH_TEST_COSIGN"),
	}
	if env.registry != "" {
		return ""
	}
	dir := os.Getenv("SCRATCHPUSH_ENV_DIR")
	if dir == "" {
		dir = "/var/tmp/scratchpush-env"
	}
	f, err := os.Open(filepath.Join(dir, "env"))
	if err != nil {
		return fmt.Sprintf("no test registry configured (%v); run scripts/dev-env, or make test", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "SCRATCHPUSH_TEST_REGISTRY":
			env.registry = v
		case "SCRATCHPUSH_TEST_USERNAME":
			env.username = v
		case "SCRATCHPUSH_TEST_PASSWORD":
			env.password = v
		case "SCRATCHPUSH_TEST_PODMAN_CONFIG":
			env.podmanConfig = v
		case "SCRATCHPUSH_TEST_DOCKER29_BIN":
			env.docker29Bin = v
		case "SCRATCHPUSH_TEST_ORAS":
			env.oras = v
		case "SCRATCHPUSH_TEST_SYFT":
			env.syft = v
		case "SCRATCHPUSH_TEST_COSIGN":
			env.cosign = v
		}
	}
	if env.registry == "" {
		return "the dev-env file names no registry; run scripts/dev-env"
	}
	return ""
}

func requireEnv(t *testing.T) {
	t.Helper()
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
}
