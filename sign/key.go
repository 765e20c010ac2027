// Package sign signs what scratch-push pushes as cosign signs it with a key,
// offline: a cosign key pair's private key (cosign's encrypted format),
// the simple-signing payload cosign verify reads, and DSSE envelopes of
// in-toto statements for cosign verify-attestation. No transparency log or
// certificate authority is asked; a keyless signer (Fulcio's certificate,
// Rekor's entry) would be another Signer giving the same layers their
// certificate and bundle annotations.
//
// The key's encryption is go-securesystemslib's (scrypt and NaCl's
// secretbox), the library cosign itself decrypts its keys with; DSSE's
// envelope and pre-authentication encoding come from the same module.
// cosign's own packages, or sigstore/sigstore's, would bring their
// transparency-log, certificate and KMS clients for a few dozen lines.
package sign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha256" // the hashes a key signs with
	_ "crypto/sha512"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
)

// The PEM block types of a cosign private key: cosign generate-key-pair
// writes the first since v1.x, the second before.
const (
	sigstoreKeyType = "ENCRYPTED SIGSTORE PRIVATE KEY"
	cosignKeyType   = "ENCRYPTED COSIGN PRIVATE KEY"
)

// ErrPassword marks a key its password does not open.
var ErrPassword = errors.New("the password does not open the key")

// ErrKey marks what is not a cosign private key scratch-push can sign with.
var ErrKey = errors.New("not a cosign private key")

// Key signs: a cosign private key, opened.
type Key struct {
	signer crypto.Signer
	// hash is what the payload is hashed with before it is signed: the
	// one sigstore's default verifier for such a key expects (SHA-256,
	// SHA-384 for P-384, SHA-512 for P-521).
	hash crypto.Hash
}

// Password gives the password of an encrypted key, asked only when one is
// read: COSIGN_PASSWORD, or a prompt on a terminal.
type Password func() ([]byte, error)

// LoadKey reads the private key ref names: a file, or env://VAR for a
// variable holding the key itself (as cosign takes it); lookup reads
// variables. The key is decrypted with password's.
func LoadKey(ctx context.Context, ref string, lookup func(string) (string, bool), password Password) (*Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var pemBytes []byte
	if name, ok := strings.CutPrefix(ref, "env://"); ok {
		v, set := lookup(name)
		if !set || v == "" {
			return nil, fmt.Errorf("%s: $%s is not set", ref, name)
		}
		pemBytes = []byte(v)
	} else {
		b, err := os.ReadFile(ref)
		if err != nil {
			return nil, fmt.Errorf("reading the key: %w", err)
		}
		pemBytes = b
	}
	return parseKey(pemBytes, password)
}

// parseKey opens a cosign private key: a PEM block of cosign's types,
// holding go-securesystemslib's encrypted PKCS #8 key.
func parseKey(pemBytes []byte, password Password) (*Key, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block (cosign generate-key-pair writes cosign.key)", ErrKey)
	}
	if block.Type != sigstoreKeyType && block.Type != cosignKeyType {
		return nil, fmt.Errorf("%w: a PEM block of type %q, where cosign's is %q (cosign import-key-pair turns a PEM key into one)", ErrKey, block.Type, sigstoreKeyType)
	}
	pw, err := password()
	if err != nil {
		return nil, err
	}
	der, err := encrypted.Decrypt(block.Bytes, pw)
	switch {
	case err != nil && strings.Contains(err.Error(), "decryption failed"):
		return nil, ErrPassword
	case err != nil:
		return nil, fmt.Errorf("%w: its encrypted body: %v", ErrKey, err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: the decrypted key: %v", ErrKey, err)
	}
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve.Params().BitSize {
		case 384:
			return &Key{signer: k, hash: crypto.SHA384}, nil
		case 521:
			return &Key{signer: k, hash: crypto.SHA512}, nil
		}
		return &Key{signer: k, hash: crypto.SHA256}, nil
	case *rsa.PrivateKey:
		return &Key{signer: k, hash: crypto.SHA256}, nil
	}
	return nil, fmt.Errorf("%w: a %T key; scratch-push signs with ECDSA (cosign's default) and RSA keys", ErrKey, priv)
}

// Sign signs payload as cosign does with such a key: its digest (see
// Key.hash), ECDSA (ASN.1) or RSA PKCS #1 v1.5.
func (k *Key) Sign(payload []byte) ([]byte, error) {
	h := k.hash.New()
	h.Write(payload)
	sig, err := k.signer.Sign(rand.Reader, h.Sum(nil), k.hash)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return sig, nil
}

// Public is the key's public half, as cosign.pub holds it (PEM, PKIX).
func (k *Key) Public() ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k.signer.Public())
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
