package sign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
)

// cosignKey writes a key as cosign generate-key-pair does (its
// marshalKeyPair): PKCS #8, encrypted with go-securesystemslib under pw,
// in a PEM block of cosign's type.
func cosignKey(t *testing.T, pw string) (path string, pub *ecdsa.PublicKey) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	must(t, err)
	enc, err := encrypted.Encrypt(der, []byte(pw))
	must(t, err)
	path = filepath.Join(t.TempDir(), "cosign.key")
	must(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: sigstoreKeyType, Bytes: enc}), 0o600))
	return path, &priv.PublicKey
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func password(pw string) Password { return func() ([]byte, error) { return []byte(pw), nil } }

func noEnv(string) (string, bool) { return "", false }

func TestLoadKey(t *testing.T) {
	ctx := context.Background()
	path, pub := cosignKey(t, "s3cret")
	key, err := LoadKey(ctx, path, noEnv, password("s3cret"))
	must(t, err)
	sig, err := key.Sign([]byte("payload"))
	must(t, err)
	sum := sha256.Sum256([]byte("payload"))
	if !ecdsa.VerifyASN1(pub, sum[:], sig) {
		t.Error("the signature does not verify with the public key")
	}
	pemPub, err := key.Public()
	must(t, err)
	if !strings.HasPrefix(string(pemPub), "-----BEGIN PUBLIC KEY-----") {
		t.Errorf("public key %q", pemPub)
	}

	// The key itself in a variable, as cosign's env:// takes it.
	b, err := os.ReadFile(path)
	must(t, err)
	env := func(k string) (string, bool) { return string(b), k == "SIGN_KEY" }
	if _, err := LoadKey(ctx, "env://SIGN_KEY", env, password("s3cret")); err != nil {
		t.Errorf("env://: %v", err)
	}

	plain := filepath.Join(t.TempDir(), "plain.pem")
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	must(t, os.WriteFile(plain, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	for _, c := range []struct {
		name, ref, pw string
		want          error
		text          string
	}{
		{"wrong password", path, "guess", ErrPassword, "does not open"},
		{"not PEM", filepath.Join("testdata", "not-a-key"), "", ErrKey, "no PEM block"},
		{"a plain PEM key", plain, "", ErrKey, `"PRIVATE KEY"`},
		{"missing file", filepath.Join(t.TempDir(), "nope.key"), "", nil, "no such file"},
		{"unset variable", "env://NOPE", "", nil, "$NOPE is not set"},
	} {
		_, err := LoadKey(ctx, c.ref, noEnv, password(c.pw))
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: error %v, want %v containing %q", c.name, err, c.want, c.text)
		}
		if err != nil && c.pw != "" && strings.Contains(err.Error(), c.pw) {
			t.Errorf("%s: the error shows the password", c.name)
		}
	}
}

// The signature's payload is cosign's simple signing claim of the digest,
// its signature in the layer's annotation.
func TestSignature(t *testing.T) {
	path, pub := cosignKey(t, "pw")
	key, err := LoadKey(context.Background(), path, noEnv, password("pw"))
	must(t, err)
	d := digest.FromString("manifest")
	l, err := key.Signature("ghcr.io/team/app", d)
	must(t, err)
	var p simpleSigning
	must(t, json.Unmarshal(l.Blob, &p))
	if p.Critical.Image.DockerManifestDigest != d.String() || p.Critical.Identity.DockerReference != "ghcr.io/team/app" || p.Critical.Type != "cosign container image signature" {
		t.Errorf("payload %s", l.Blob)
	}
	sig, err := base64.StdEncoding.DecodeString(l.Annotations[SignatureKey])
	must(t, err)
	sum := sha256.Sum256(l.Blob)
	if l.MediaType != SimpleSigningType || !ecdsa.VerifyASN1(pub, sum[:], sig) {
		t.Errorf("layer %s does not verify", l.MediaType)
	}
}

// An attestation is a DSSE envelope of the statement that DSSE's own
// verifier accepts with the public key.
func TestAttestation(t *testing.T) {
	path, pub := cosignKey(t, "pw")
	key, err := LoadKey(context.Background(), path, noEnv, password("pw"))
	must(t, err)
	statement := []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)
	l, err := key.Attestation(context.Background(), statement, "https://slsa.dev/provenance/v1")
	must(t, err)
	if l.MediaType != DSSEType || l.Annotations[PredicateTypeKey] != "https://slsa.dev/provenance/v1" {
		t.Errorf("layer %s %v", l.MediaType, l.Annotations)
	}
	var env dsse.Envelope
	must(t, json.Unmarshal(l.Blob, &env))
	v, err := dsse.NewEnvelopeVerifier(verifier{pub})
	must(t, err)
	_, got, err := v.VerifyAndDecode(context.Background(), &env)
	if err != nil || string(got) != string(statement) || env.PayloadType != InTotoPayloadType {
		t.Errorf("envelope %s: %v", l.Blob, err)
	}
}

type verifier struct{ pub *ecdsa.PublicKey }

func (v verifier) Verify(_ context.Context, data, sig []byte) error {
	sum := sha256.Sum256(data)
	if !ecdsa.VerifyASN1(v.pub, sum[:], sig) {
		return errors.New("bad signature")
	}
	return nil
}
func (verifier) KeyID() (string, error)     { return "", nil }
func (v verifier) Public() crypto.PublicKey { return v.pub }

// A key cosign generate-key-pair wrote (cosign v2.6.2, password
// "scratch-push-test") opens, and its public half is cosign.pub's.
func TestCosignGeneratedKey(t *testing.T) {
	key, err := LoadKey(context.Background(), filepath.Join("testdata", "cosign.key"), noEnv, password("scratch-push-test"))
	must(t, err)
	pub, err := key.Public()
	must(t, err)
	want, err := os.ReadFile(filepath.Join("testdata", "cosign.pub"))
	must(t, err)
	if strings.TrimSpace(string(pub)) != strings.TrimSpace(string(want)) {
		t.Errorf("public key\n%s\nwant cosign.pub\n%s", pub, want)
	}
}

// A key knows its own signatures and attestations, and no other's, nor
// one of another subject or statement.
func TestSignsAndAttests(t *testing.T) {
	ctx := context.Background()
	pathA, _ := cosignKey(t, "a")
	pathB, _ := cosignKey(t, "b")
	a, err := LoadKey(ctx, pathA, noEnv, password("a"))
	must(t, err)
	b, err := LoadKey(ctx, pathB, noEnv, password("b"))
	must(t, err)
	d := digest.FromString("manifest")
	sig, err := a.Signature("ghcr.io/team/app", d)
	must(t, err)
	if !a.Signs(sig, d) || b.Signs(sig, d) || a.Signs(sig, digest.FromString("other")) {
		t.Error("Signs: own, other key, other subject")
	}
	tampered := sig
	tampered.Annotations = map[string]string{SignatureKey: base64.StdEncoding.EncodeToString([]byte("forged"))}
	if a.Signs(tampered, d) {
		t.Error("a forged signature was taken")
	}
	statement := []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)
	att, err := a.Attestation(ctx, statement, "https://slsa.dev/provenance/v1")
	must(t, err)
	if !a.Attests(att, statement) || b.Attests(att, statement) || a.Attests(att, []byte(`{}`)) {
		t.Error("Attests: own, other key, other statement")
	}
}
