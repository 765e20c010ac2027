package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A daemon reached over TCP with TLS, as DOCKER_HOST, DOCKER_TLS_VERIFY and
// DOCKER_CERT_PATH say for the docker CLI: a second dockerd on a loopback
// port, with certificates the test makes. A client that does not trust the
// daemon's certificate is refused before anything is sent. It is a dockerd
// in the Podman run too: Podman 4.3's service offers no TLS.
func TestTLSDaemon(t *testing.T) {
	requireEnv(t)
	certs := t.TempDir()
	ca, caKey := makeCert(t, certs, "ca", nil, nil)
	makeCert(t, certs, "server", ca, caKey)
	makeCert(t, certs, "cert", ca, caKey) // the client's, as docker names it
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	clientEnv := []string{"DOCKER_HOST=tcp://" + addr, "DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=" + certs}
	startDockerdWith(t, []string{"-H", "tcp://" + addr, "--tlsverify",
		"--tlscacert", filepath.Join(certs, "ca.pem"), "--tlscert", filepath.Join(certs, "server.pem"), "--tlskey", filepath.Join(certs, "server-key.pem")}, clientEnv)

	dir, _ := seedFolder(t, "over TLS")
	repo := uniqueRepo(t, "tls")
	res := scratchPush(t, env.password, clientEnv, append(pushArgs(repo, "v1"), "--cmd", "./app", dir)...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	pushedDigest(t, res, repo, "v1")
	if got := strings.TrimSpace(docker(t, clientEnv, "image", "inspect", "--format", "{{.Id}}", env.registry+"/"+repo+":v1")); !strings.HasPrefix(got, "sha256:") {
		t.Errorf("the TLS daemon does not hold the image: %q", got)
	}
	version := scratchPush(t, "", clientEnv, "version")
	if !strings.Contains(version.stdout, "at tcp://"+addr) {
		t.Errorf("version does not name the TLS daemon:\n%s", version.stdout)
	}

	// The same daemon as a docker CLI context, chosen with --context or
	// DOCKER_CONTEXT, its TLS material in the docker CLI's store.
	cfgDir := t.TempDir()
	docker(t, []string{"DOCKER_CONFIG=" + cfgDir}, "context", "create", "spd-tls", "--docker",
		fmt.Sprintf("host=tcp://%s,ca=%s,cert=%s,key=%s", addr, filepath.Join(certs, "ca.pem"), filepath.Join(certs, "cert.pem"), filepath.Join(certs, "key.pem")))
	for _, c := range []struct {
		tag  string
		args []string
		env  []string
	}{
		{"flag", []string{"--context", "spd-tls"}, nil},
		{"variable", nil, []string{"DOCKER_CONTEXT=spd-tls"}},
	} {
		env := append([]string{"DOCKER_CONFIG=" + cfgDir, "DOCKER_HOST="}, c.env...)
		res := scratchPush(t, "", env, append(c.args, "--no-push", "--repository", repo, "--tag", c.tag, "--cmd", "./app", dir)...)
		if res.code != 0 {
			t.Errorf("context by %s: exit %d: %s", c.tag, res.code, res.stderr)
			continue
		}
		docker(t, clientEnv, "image", "inspect", repo+":"+c.tag) // on the TLS daemon
	}
	res = scratchPush(t, "", []string{"DOCKER_CONFIG=" + cfgDir}, "--context", "nope", "--no-push", "--repository", repo, "--cmd", "./app", dir)
	if res.code != 2 || !strings.Contains(res.stderr, `docker context "nope"`) {
		t.Errorf("unknown context: exit %d, stderr %q", res.code, res.stderr)
	}

	// A client that trusts another CA.
	other := t.TempDir()
	otherCA, otherKey := makeCert(t, other, "ca", nil, nil)
	makeCert(t, other, "cert", otherCA, otherKey)
	res = scratchPush(t, "", []string{"DOCKER_HOST=tcp://" + addr, "DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=" + other}, "--no-push", "--repository", repo, "--tag", "untrusted", "--cmd", "./app", dir)
	if res.code != 1 || !strings.Contains(res.stderr, "certificate signed by unknown authority") || strings.Count(strings.TrimSpace(res.stderr), "\n") > 0 {
		t.Errorf("untrusted daemon: exit %d, stderr %q", res.code, res.stderr)
	}
}

// makeCert writes NAME.pem and its key, named as DOCKER_CERT_PATH wants
// them (ca.pem; cert.pem with key.pem) or NAME-key.pem: a CA when parent is
// nil, else a certificate for 127.0.0.1 that parent signs, good for server
// and client alike.
func makeCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "scratch-push test " + name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
		parent, parentKey = tmpl, key
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	must(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	must(t, err)
	keyName := name + "-key.pem"
	if name == "cert" || name == "ca" {
		keyName = map[string]string{"cert": "key.pem", "ca": "ca-key.pem"}[name]
	}
	must(t, os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, keyName), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	return cert, key
}
