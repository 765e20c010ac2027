package push

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scratchpush/scratchpush/daemon/daemontest"
	"github.com/scratchpush/scratchpush/plan"
	"github.com/scratchpush/scratchpush/registry/registrytest"
	"github.com/scratchpush/scratchpush/sign"
	"github.com/scratchpush/scratchpush/target"
)

// signingKey is cosign generate-key-pair's key in sign's test data.
func signingKey(t *testing.T) *sign.Key {
	t.Helper()
	key, err := sign.LoadKey(context.Background(), filepath.Join("..", "sign", "testdata", "cosign.key"), nil,
		func() ([]byte, error) { return []byte("scratch-push-test"), nil })
	must(t, err)
	return key
}

// A run with a key signs the pushed manifest (cosign's .sig image) and
// attests its provenance and SBOM (.att); a registry that refuses them
// leaves the image pushed, the tag in the result, and says so.
func TestRunSigned(t *testing.T) {
	key := signingKey(t)
	for _, refuse := range []bool{false, true} {
		reg := registrytest.New(t)
		if refuse {
			reg.Before(func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, ".sig") {
					http.Error(w, `{"errors":[{"code":"DENIED","message":"no signatures here"}]}`, http.StatusForbidden)
					return true
				}
				return false
			})
		}
		p := directPlan(t, reg.Host(), folder(t, "signed"))
		p.Key, p.Provenance = key, true
		res, err := Run(context.Background(), daemontest.New().Engine, p)
		if len(res.Tags) != 1 || res.Tags[0].Digest == "" {
			t.Fatalf("refuse %v: tags %+v, %v", refuse, res.Tags, err)
		}
		d := res.Tags[0].Digest
		if refuse {
			if err == nil || !strings.Contains(err.Error(), "the image is pushed, but its signatures and attestations could not be put beside it") {
				t.Errorf("a refused signature gave %v", err)
			}
			continue
		}
		must(t, err)
		if len(res.Signatures) != 1 || len(res.Attestations) != 2 || len(res.Provenance) != 0 {
			t.Fatalf("signatures %+v, attestations %+v, provenance referrers %+v", res.Signatures, res.Attestations, res.Provenance)
		}
		// The same image pushed again keeps what it has: this key's
		// signature and attestations are there, nothing is signed again.
		again, err := Run(context.Background(), daemontest.New().Engine, p)
		must(t, err)
		if again.Tags[0].Digest != d || again.Signatures[0].Digest != res.Signatures[0].Digest || again.Attestations[0].Digest != res.Attestations[0].Digest {
			t.Errorf("pushed again: %+v, signatures %+v, attestations %+v", again.Tags, again.Signatures, again.Attestations)
		}
		for suffix, want := range map[string]struct {
			mediaType string
			layers    int
		}{".sig": {sign.SimpleSigningType, 1}, ".att": {sign.DSSEType, 2}} {
			img, err := get(t, reg.Host()+"/team/app:sha256-"+strings.TrimPrefix(d, "sha256:")+suffix).Image()
			must(t, err)
			m, err := img.Manifest()
			must(t, err)
			if len(m.Layers) != want.layers {
				t.Errorf("%s: %d layers after two runs, want %d", suffix, len(m.Layers), want.layers)
			}
			for _, l := range m.Layers {
				if string(l.MediaType) != want.mediaType {
					t.Errorf("%s: a layer of %s", suffix, l.MediaType)
				}
			}
		}
	}
}

// A mirror gets the signatures and attestations under cosign's tags, and
// the provenance among its referrers, beside the image.
func TestRunSignedMirror(t *testing.T) {
	reg, mirror := registrytest.New(t), registrytest.New(t)
	p := directPlan(t, reg.Host(), folder(t, "signed mirror"))
	p.Key, p.Provenance = signingKey(t), true
	m, err := target.Parse(mirror.Host(), "copy/app", []string{"v1"})
	must(t, err)
	p.Mirrors = append(p.Mirrors, plan.Mirror{Target: m})
	res, err := Run(context.Background(), daemontest.New().Engine, p)
	must(t, err)
	d := strings.TrimPrefix(res.Tags[0].Digest, "sha256:")
	for _, suffix := range []string{".sig", ".att"} {
		want := get(t, reg.Host()+"/team/app:sha256-"+d+suffix).Digest
		if got := get(t, mirror.Host()+"/copy/app:sha256-"+d+suffix).Digest; got != want {
			t.Errorf("the mirror's %s names %s, the first registry's %s", suffix, got, want)
		}
	}
}
