package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// registry is a Distribution registry of the bench's own: the same program
// and authentication as scripts/dev-env's, with storage in a folder that
// goes when the bench ends, so that each run starts from an empty registry
// and gigabytes of bench layers never pile up on the disk.
type registry struct {
	addr, username, password string
	cmd                      *exec.Cmd
}

func startRegistry(ctx context.Context, dir string) (*registry, error) {
	r := &registry{username: "bench", password: randomHex(16)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.addr = ln.Addr().String()
	ln.Close()
	htpasswd, err := exec.CommandContext(ctx, "htpasswd", "-Bbn", r.username, r.password).Output()
	if err != nil {
		return nil, fmt.Errorf("htpasswd (apache2-utils, installed by scripts/dev-env): %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), htpasswd, 0o600); err != nil {
		return nil, err
	}
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
  secret: %s
auth:
  htpasswd:
    realm: scratchpush-bench
    path: %s
`, filepath.Join(dir, "data"), r.addr, randomHex(16), filepath.Join(dir, "htpasswd"))
	if err := os.WriteFile(filepath.Join(dir, "registry.yml"), []byte(config), 0o600); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	r.cmd = exec.Command("docker-registry", "serve", filepath.Join(dir, "registry.yml"))
	r.cmd.Stdout, r.cmd.Stderr = log, log
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("docker-registry (installed by scripts/dev-env): %w", err)
	}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if res, err := http.Get("http://" + r.addr + "/v2/"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusUnauthorized {
				return r, nil
			}
		}
	}
	r.stop()
	out, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
	return nil, fmt.Errorf("the bench's registry did not come up on %s: %s", r.addr, strings.TrimSpace(string(out)))
}

func (r *registry) stop() {
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
