package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// tokenRegistry is a Distribution registry in token mode, as Docker Hub,
// GHCR and quay are: it answers 401 with a Bearer challenge naming a token
// service, which here runs on another port of the same loopback address
// (docker_auth's usual layout, which go-containerregistry refuses by
// default). The token service knows the suite's user and password, grants
// every scope asked, and counts the tokens it issued.
type tokenRegistry struct {
	host   string // the registry's host:port
	tokens atomic.Int32
}

const tokenService, tokenIssuer = "scratchpush-token-test", "scratchpush-token-issuer"

func startTokenRegistry(t *testing.T) *tokenRegistry {
	t.Helper()
	if _, err := exec.LookPath("docker-registry"); err != nil {
		t.Fatal("no docker-registry: scripts/dev-env installs it")
	}
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: tokenIssuer},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "root.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))

	r := &tokenRegistry{}
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		user, password, ok := req.BasicAuth()
		if !ok || user != env.username || password != env.password {
			w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
			http.Error(w, `{"details":"wrong user name or password"}`, http.StatusUnauthorized)
			return
		}
		var access []map[string]any
		for _, scope := range req.URL.Query()["scope"] {
			parts := strings.Split(scope, ":")
			if len(parts) == 3 {
				access = append(access, map[string]any{"type": parts[0], "name": parts[1], "actions": strings.Split(parts[2], ",")})
			}
		}
		now := time.Now()
		jwt := signJWT(t, key, der, map[string]any{
			"iss": tokenIssuer, "sub": user, "aud": req.URL.Query().Get("service"),
			"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(),
			"jti": randomHex(t, 8), "access": access,
		})
		r.tokens.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"token": jwt, "access_token": jwt, "expires_in": 300, "issued_at": now.UTC().Format(time.RFC3339)})
	}))
	t.Cleanup(tokens.Close)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	r.host = l.Addr().String()
	must(t, l.Close())
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: %s
auth:
  token:
    realm: %s/token
    service: %s
    issuer: %s
    rootcertbundle: %s
`, filepath.Join(dir, "data"), r.host, randomHex(t, 16), tokens.URL, tokenService, tokenIssuer, filepath.Join(dir, "root.pem"))
	must(t, os.WriteFile(filepath.Join(dir, "registry.yml"), []byte(config), 0o644))
	var log strings.Builder
	cmd := exec.Command("docker-registry", "serve", filepath.Join(dir, "registry.yml"))
	cmd.Stdout, cmd.Stderr = &log, &log
	must(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		res, err := http.Get("http://" + r.host + "/v2/")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusUnauthorized && strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer ") {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the token registry did not come up on %s: %v\n%s", r.host, err, log.String())
		}
	}
}

// signJWT signs claims with key (ES256), naming the key's certificate in
// the header (x5c), which the registry checks against its root bundle.
func signJWT(t *testing.T, key *ecdsa.PrivateKey, cert []byte, claims map[string]any) string {
	b64 := base64.RawURLEncoding.EncodeToString
	header, err := json.Marshal(map[string]any{"typ": "JWT", "alg": "ES256", "x5c": []string{base64.StdEncoding.EncodeToString(cert)}})
	must(t, err)
	payload, err := json.Marshal(claims)
	must(t, err)
	signed := b64(header) + "." + b64(payload)
	sum := sha256.Sum256([]byte(signed))
	rr, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	must(t, err)
	sig := make([]byte, 64)
	rr.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + b64(sig)
}

// A registry whose token service is on another port of a loopback (or
// private) address takes a push on every path, with its SBOM, as the
// daemons take it; a wrong password is reported as one, before anything
// is built.
func TestTokenRegistryOnLoopback(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	reg := startTokenRegistry(t)
	dir, _ := seedFolder(t, "token registry")
	for _, via := range []string{"daemon", "direct"} {
		t.Run(via, func(t *testing.T) {
			repo := uniqueRepo(t, "token-"+via)
			ref := reg.host + "/" + repo + ":v1"
			removeImages(t, ref)
			res := scratchPush(t, env.password, nil, "--registry", "http://"+reg.host, "--repository", repo, "--tag", "v1",
				"--username", env.username, "--password-stdin", "--push", via, "--cmd", "./app", dir)
			if res.code != 0 {
				t.Fatalf("exit %d: %s", res.code, res.stderr)
			}
			pinned := strings.TrimSpace(res.stdout)
			if !strings.HasPrefix(pinned, ref+"@sha256:") {
				t.Fatalf("stdout %q, want %s@sha256:…", res.stdout, ref)
			}
			// oras, a client of its own, reads the image, its SBOM and its
			// provenance back through the token service.
			digest := pinned[strings.LastIndex(pinned, "@")+1:]
			if got := strings.TrimSpace(orasRun(t, "resolve", reg.host+"/"+repo+":v1")); got != digest {
				t.Errorf("oras resolves the tag to %q, pushed %s", got, digest)
			}
			var d struct {
				Referrers []struct{ ArtifactType string }
			}
			must(t, json.Unmarshal([]byte(orasRun(t, "discover", "--format", "json", reg.host+"/"+repo+"@"+digest)), &d))
			types := map[string]int{}
			for _, r := range d.Referrers {
				types[r.ArtifactType]++
			}
			if len(d.Referrers) != 2 || types["application/spdx+json"] != 1 || types["application/vnd.in-toto+json"] != 1 {
				t.Errorf("oras finds referrers %+v, want the SBOM and the provenance", d.Referrers)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		const wrong = "Wr0ng-T0ken-Pa55word"
		issued := reg.tokens.Load()
		for _, via := range []string{"daemon", "direct"} {
			res := scratchPush(t, wrong, nil, "--registry", "http://"+reg.host, "--repository", uniqueRepo(t, "token-wrong"),
				"--username", env.username, "--password-stdin", "--push", via, "--progress", "plain", "--cmd", "./app", dir)
			if res.code != 1 || !strings.Contains(res.stderr, "authentication failed") {
				t.Errorf("%s: exit %d, want 1 with \"authentication failed\": %s", via, res.code, res.stderr)
			}
			if strings.Contains(res.stderr, "sending ") || strings.Contains(res.stderr, "copying the folder's files") {
				t.Errorf("%s: built before finding the password wrong:\n%s", via, res.stderr)
			}
			if strings.Contains(res.stdout+res.stderr, wrong) {
				t.Errorf("%s: the password appears in the output", via)
			}
		}
		if got := reg.tokens.Load(); got != issued {
			t.Errorf("the token service issued %d tokens for a wrong password", got-issued)
		}
	})
}
