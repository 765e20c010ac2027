package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A daemon reached as DOCKER_HOST=ssh://user@host, through docker's
// connection helper: a real sshd on a loopback port, with keys the test
// makes, whose `docker system dial-stdio` reaches the daemon under test
// (sshd hands the session this test's DOCKER_HOST, when it has one).
func TestSSHDaemon(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	sshd := "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		t.Fatalf("the ssh:// test needs sshd (openssh-server, which scripts/dev-env installs): %v", err)
	}
	dir := t.TempDir()
	for _, key := range []string{"host", "client"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, key)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "client.pub"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close()
	setEnv := ""
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		setEnv = "SetEnv DOCKER_HOST=" + h
	}
	must(t, os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(fmt.Sprintf(`ListenAddress 127.0.0.1
Port %d
HostKey %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile %s
%s
`, addr.Port, filepath.Join(dir, "host"), filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "sshd.pid"), setEnv)), 0o600))
	must(t, os.MkdirAll("/run/sshd", 0o755)) // sshd's privilege separation folder
	cmd := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	var log lockedBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr.String()); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not listen on %s:\n%s", addr, log.String())
		}
	}

	// docker's connection helper runs `ssh` from PATH: this one is the real
	// client with the test's key and no known_hosts to consult.
	bin := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "ssh_config"), []byte(fmt.Sprintf("Host *\n  IdentityFile %s\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n", filepath.Join(dir, "client"))), 0o600))
	must(t, os.WriteFile(filepath.Join(bin, "ssh"), []byte(fmt.Sprintf("#!/bin/sh\nexec /usr/bin/ssh -F %s \"$@\"\n", filepath.Join(dir, "ssh_config"))), 0o755))
	sshEnv := []string{"PATH=" + bin + ":" + os.Getenv("PATH"), fmt.Sprintf("DOCKER_HOST=ssh://root@127.0.0.1:%d", addr.Port)}

	folder, _ := seedFolder(t, "over ssh")
	repo := uniqueRepo(t, "ssh")
	removeImages(t, env.registry+"/"+repo+":v1")
	res := scratchPush(t, env.password, sshEnv, append(pushArgs(repo, "v1"), "--cmd", "./app", folder)...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s\nsshd:\n%s", res.code, res.stderr, log.String())
	}
	pushedDigest(t, res, repo, "v1")
	if out := scratchPush(t, "", sshEnv, "version"); strings.Contains(out.stdout, "Podman") != onPodman() {
		t.Errorf("the daemon reached over ssh is not the one under test (%s):\n%s", engine, out.stdout)
	}
	if !strings.Contains(log.String(), "Accepted publickey for root") {
		t.Errorf("the run did not go through sshd:\n%s", log.String())
	}
}
