package integration

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startSecondDaemon starts a second daemon of the kind under test, for the
// tests that compare two: a dockerd, or a Podman service.
func startSecondDaemon(t *testing.T) string {
	t.Helper()
	if onPodman() {
		return startPodman(t)
	}
	return startDockerd(t)
}

// startDockerd starts a second Docker daemon of the version under test for
// one test, on its own socket, data and exec roots and bridge, and stops it
// when the test ends. It returns the DOCKER_HOST setting.
func startDockerd(t *testing.T) string {
	t.Helper()
	env := startDockerdWith(t, nil, nil)
	return env[0]
}

// startDockerdWith is startDockerd with more dockerd flags. clientEnv, when
// given, is the client environment that reaches it (DOCKER_HOST and the TLS
// settings for a -H tcp:// among the flags), else its socket's DOCKER_HOST;
// it returns that environment once the daemon answers through it.
func startDockerdWith(t *testing.T, extraArgs []string, clientEnv []string) []string {
	t.Helper()
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		t.Fatalf("a second daemon needs dockerd: %v", err)
	}
	if onContainerdStore() {
		// The Docker 29 that scripts/dev-env built, as it starts it: the
		// containerd image store, runc 1.5, no userland proxy.
		if env.docker29Bin == "" {
			t.Fatal("a second containerd-store daemon needs SCRATCHPUSH_TEST_DOCKER29_BIN: run scripts/dev-env --docker29")
		}
		dockerd = filepath.Join(env.docker29Bin, "dockerd")
		extraArgs = append([]string{"--feature", "containerd-snapshotter=true", "--add-runtime", "runc-1.5=" + filepath.Join(env.docker29Bin, "runc"),
			"--default-runtime", "runc-1.5", "--userland-proxy=false", "--ip6tables=false"}, extraArgs...)
	}
	dir := daemonDir(t, "d2")
	sock := filepath.Join(dir, "docker.sock")
	// A bridge of its own: with --bridge=none, dockerd deletes docker0, the
	// first daemon's bridge, and breaks docker run there.
	bridge := "spd-" + randomHex(t, 3)
	if out, err := exec.Command("ip", "link", "add", "name", bridge, "type", "bridge").CombinedOutput(); err != nil {
		t.Fatalf("making a bridge for the second daemon: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", bridge).Run() })
	args := []string{
		"--data-root", filepath.Join(dir, "root"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "docker.pid"), "-H", "unix://" + sock,
		"--bridge", bridge, "--iptables=false", "--ip-masq=false",
	}
	env := append([]string{"DOCKER_HOST=unix://" + sock}, clientEnv...)
	if len(clientEnv) > 0 {
		env = clientEnv // the caller's DOCKER_HOST and TLS settings
	}
	return runDaemon(t, dir, exec.Command(dockerd, append(args, extraArgs...)...), env)
}

// startPodman starts a second Podman service of the installed version for
// one test, with storage and state of its own and the configuration
// scripts/dev-env gave the first, and stops it when the test ends. It
// returns the DOCKER_HOST setting.
func startPodman(t *testing.T) string {
	t.Helper()
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Fatalf("a second daemon needs podman: %v", err)
	}
	dir := daemonDir(t, "p2")
	sock := filepath.Join(dir, "podman.sock")
	cmd := exec.Command(podman, "--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"), "--tmpdir", filepath.Join(dir, "tmp"),
		"system", "service", "--time=0", "unix://"+sock)
	cmd.Env = os.Environ()
	if env.podmanConfig != "" {
		cmd.Env = append(cmd.Env, "CONTAINERS_CONF="+filepath.Join(env.podmanConfig, "containers.conf"),
			"CONTAINERS_REGISTRIES_CONF="+filepath.Join(env.podmanConfig, "registries.conf"))
	}
	return runDaemon(t, dir, cmd, []string{"DOCKER_HOST=unix://" + sock})[0]
}

// daemonDir makes a folder for a second daemon's files, removed at the end
// of the test with anything the daemon left mounted in it. Its path is
// short: unix socket paths must be.
func daemonDir(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, m := range mountsUnder(dir) {
			syscall.Unmount(m, syscall.MNT_DETACH)
		}
		os.RemoveAll(dir)
	})
	return dir
}

// mountsUnder lists the mount points below dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			out = append(out, fields[4])
		}
	}
	slices.Reverse(out)
	return out
}

// runDaemon starts cmd, a daemon logging to dir/daemon.log, stops it when
// the test ends, and returns clientEnv once the daemon answers through it.
func runDaemon(t *testing.T, dir string, cmd *exec.Cmd, clientEnv []string) []string {
	t.Helper()
	logPath := filepath.Join(dir, "daemon.log")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		log.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for ctx.Err() == nil {
		if _, err := dockerErr(clientEnv, "version", "--format", "{{.Server.Version}}"); err == nil {
			return clientEnv
		}
		time.Sleep(300 * time.Millisecond)
	}
	b, _ := os.ReadFile(logPath)
	t.Fatalf("%s did not come up:\n%s", filepath.Base(cmd.Path), b)
	return nil
}
