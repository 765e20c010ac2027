package sign

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"

	"github.com/opencontainers/go-digest"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// verify says whether sig is the key's signature of payload.
func (k *Key) verify(payload, sig []byte) bool {
	h := k.hash.New()
	h.Write(payload)
	sum := h.Sum(nil)
	switch pub := k.signer.Public().(type) {
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(pub, sum, sig)
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pub, k.hash, sum, sig) == nil
	}
	return false
}

// Signs says whether l, a layer of a .sig image, is this key's signature
// of subject: a simple-signing payload that claims subject, whose
// signature verifies with the key. A run that finds one signs nothing
// again.
func (k *Key) Signs(l Layer, subject digest.Digest) bool {
	if l.MediaType != SimpleSigningType {
		return false
	}
	var p simpleSigning
	if json.Unmarshal(l.Blob, &p) != nil || p.Critical.Image.DockerManifestDigest != subject.String() || p.Critical.Type != simpleSigningClaim {
		return false
	}
	sig, err := base64.StdEncoding.DecodeString(l.Annotations[SignatureKey])
	return err == nil && k.verify(l.Blob, sig)
}

// Attests says whether l, a layer of an .att image, is this key's
// attestation of statement: a DSSE envelope of exactly that statement,
// signed with the key.
func (k *Key) Attests(l Layer, statement []byte) bool {
	if l.MediaType != DSSEType {
		return false
	}
	var env dsse.Envelope
	if json.Unmarshal(l.Blob, &env) != nil || env.PayloadType != InTotoPayloadType {
		return false
	}
	payload, err := env.DecodeB64Payload()
	if err != nil || !bytes.Equal(payload, statement) {
		return false
	}
	pae := dsse.PAE(env.PayloadType, payload)
	for _, s := range env.Signatures {
		if sig, err := base64.StdEncoding.DecodeString(s.Sig); err == nil && k.verify(pae, sig) {
			return true
		}
	}
	return false
}
