package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// startDockerd starts a second Docker daemon of the installed version for
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
	dir, err := os.MkdirTemp("", "d2") // unix socket paths must be short
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "docker.sock")
	// A bridge of its own: with --bridge=none, dockerd deletes docker0, the
	// first daemon's bridge, and breaks docker run there.
	bridge := "spd-" + randomHex(t, 3)
	if out, err := exec.Command("ip", "link", "add", "name", bridge, "type", "bridge").CombinedOutput(); err != nil {
		t.Fatalf("making a bridge for the second daemon: %v: %s", err, out)
	}
	log, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{
		"--data-root", filepath.Join(dir, "root"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "docker.pid"), "-H", "unix://" + sock,
		"--bridge", bridge, "--iptables=false", "--ip-masq=false",
	}
	cmd := exec.Command(dockerd, append(args, extraArgs...)...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	env := append([]string{"DOCKER_HOST=unix://" + sock}, clientEnv...)
	if len(clientEnv) > 0 {
		env = clientEnv // the caller's DOCKER_HOST and TLS settings
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
		os.RemoveAll(dir)
		exec.Command("ip", "link", "del", bridge).Run()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if _, err := dockerErr(env, "version", "--format", "{{.Server.Version}}"); err == nil {
			return env
		}
		time.Sleep(300 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
	t.Fatalf("the second dockerd did not come up:\n%s", b)
	return nil
}
