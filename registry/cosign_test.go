package registry

import (
	"context"
	"testing"

	"github.com/scratchpush/scratchpush/registry/registrytest"
	"github.com/scratchpush/scratchpush/sign"
)

// Signatures go where cosign keeps them, appended as cosign appends: the
// image under sha256-<hex>.sig gains a layer per new signature, read back
// by go-containerregistry; the same one again adds nothing.
func TestAppendCosign(t *testing.T) {
	reg := registrytest.New(t)
	c, named, img := pushPrepared(t, reg, "signed")
	ctx := context.Background()
	first := sign.Layer{MediaType: sign.SimpleSigningType, Blob: []byte(`{"critical":{}}`), Annotations: map[string]string{sign.SignatureKey: "c2ln"}}
	second := sign.Layer{MediaType: sign.SimpleSigningType, Blob: []byte(`{"critical":{}}`), Annotations: map[string]string{sign.SignatureKey: "b3RoZXI="}}
	for i, layers := range [][]sign.Layer{{first}, {second}, {first}} {
		if _, err := c.AppendCosign(ctx, named, img.Made.Manifest, SignatureSuffix, layers, nil); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	desc := readBack(t, reg.Host()+"/team/app:sha256-"+img.Made.Manifest.Encoded()+".sig")
	got, err := desc.Image()
	must(t, err)
	m, err := got.Manifest()
	must(t, err)
	if len(m.Layers) != 2 || m.Layers[0].Annotations[sign.SignatureKey] != "c2ln" || m.Layers[1].Annotations[sign.SignatureKey] != "b3RoZXI=" || string(m.Layers[0].MediaType) != sign.SimpleSigningType {
		t.Errorf("the signature image's layers: %+v", m.Layers)
	}
	cfg, err := got.ConfigFile()
	must(t, err)
	if len(cfg.RootFS.DiffIDs) != 2 {
		t.Errorf("config %+v", cfg.RootFS)
	}
}
