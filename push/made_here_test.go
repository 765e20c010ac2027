package push

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/scratchpush/scratchpush/auth"
	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon"
	"github.com/scratchpush/scratchpush/daemon/daemontest"
	"github.com/scratchpush/scratchpush/plan"
	"github.com/scratchpush/scratchpush/registry"
	"github.com/scratchpush/scratchpush/registry/registrytest"
	"github.com/scratchpush/scratchpush/sbom"
	"github.com/scratchpush/scratchpush/target"
)

// These runs make the image here and push it from here to
// registrytest's in-memory registry, with daemontest's fake daemon as the
// classic store or the containerd store; what the registry holds is read
// back with go-containerregistry's remote, not through this package.

// folder is a folder with a program for arch and a config file.
func folder(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "app"), []byte("#!/bin/true\n"+text), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"text":"`+text+`"}`), 0o644))
	past := time.Now().Add(-time.Hour)
	must(t, os.Chtimes(filepath.Join(dir, "app"), past, past))
	return dir
}

// directPlan pushes dir from here to host/team/app:v1 with an SBOM.
func directPlan(t *testing.T, host, dir string) plan.Plan {
	t.Helper()
	dest, err := target.Parse(host, "team/app", []string{"v1"})
	must(t, err)
	return plan.Plan{
		Dir: dir, Spec: builder.Spec{Cmd: []string{"./app"}},
		Layout:  builder.Layout{ModTime: time.Unix(1700000000, 0), Created: time.Unix(1700000000, 0)},
		Builder: daemon.BuilderAuto, MaxLayers: 1, Target: dest, Push: true, Direct: true, SBOM: true, Tool: "scratch-push test",
		CacheDir: t.TempDir(),
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// get reads ref from a test registry.
func get(t *testing.T, ref string) *remote.Descriptor {
	t.Helper()
	r, err := name.ParseReference(ref)
	must(t, err)
	desc, err := remote.Get(r)
	must(t, err)
	return desc
}

// referrers lists what refers to repo@d in a test registry.
func referrers(t *testing.T, repo string, d string) []v1.Descriptor {
	t.Helper()
	subject, err := name.NewDigest(repo + "@" + d)
	must(t, err)
	idx, err := remote.Referrers(subject)
	must(t, err)
	m, err := idx.IndexManifest()
	must(t, err)
	return m.Manifests
}

// A push from here: the registry gets the image the daemon loaded (the
// same config; on the containerd store the same manifest), the SBOM is
// attached to it, and the result files say so.
func TestRunDirect(t *testing.T) {
	for _, containerd := range []bool{false, true} {
		t.Run(map[bool]string{false: "classic", true: "containerd"}[containerd], func(t *testing.T) {
			reg := registrytest.New(t)
			fake := daemontest.New()
			fake.Containerd = containerd
			p := directPlan(t, reg.Host(), folder(t, "direct"))
			p.Files = plan.Files{Metadata: filepath.Join(t.TempDir(), "metadata.json"), Digest: filepath.Join(t.TempDir(), "digest"), ImageRefs: filepath.Join(t.TempDir(), "refs")}
			time.Sleep(1100 * time.Millisecond) // past the settle time: the folder's ctime is now
			var notes []string
			res, err := Run(context.Background(), fake.Engine, p, WithProgress(func(e daemon.Event) {
				if e.Phase == "note" {
					notes = append(notes, e.Text)
				}
			}))
			must(t, err)
			if len(res.Tags) != 1 || res.Tags[0].Reference != reg.Host()+"/team/app:v1" {
				t.Fatalf("tags %+v", res.Tags)
			}
			pushed := get(t, reg.Host()+"/team/app:v1")
			if pushed.Digest.String() != res.Tags[0].Digest {
				t.Errorf("the registry names v1 %s, the run says %s", pushed.Digest, res.Tags[0].Digest)
			}
			img, err := pushed.Image()
			must(t, err)
			config, err := img.RawConfigFile()
			must(t, err)
			if string(config) != string(fake.Config(res.ImageID)) {
				t.Error("the daemon holds another config than the registry")
			}
			if containerd && res.ImageID != res.Tags[0].Digest {
				t.Errorf("the containerd store names the image %s, the registry %s", res.ImageID, res.Tags[0].Digest)
			}
			if fake.ImageOf(reg.Host()+"/team/app:v1") != res.ImageID || fake.Pushes != 0 {
				t.Errorf("the daemon's tag names %q, %d pushes through the daemon", fake.ImageOf(reg.Host()+"/team/app:v1"), fake.Pushes)
			}
			refs := referrers(t, reg.Host()+"/team/app", res.Tags[0].Digest)
			if len(refs) != 1 || len(res.SBOMs) != 1 || refs[0].Digest.String() != res.SBOMs[0].Digest {
				t.Fatalf("referrers %+v, SBOMs %+v", refs, res.SBOMs)
			}
			doc := sbomDocument(t, reg.Host()+"/team/app@"+res.SBOMs[0].Digest)
			if !strings.Contains(doc, `"spdxVersion": "SPDX-2.3"`) && !strings.Contains(doc, `"spdxVersion":"SPDX-2.3"`) {
				t.Errorf("the SBOM is not SPDX 2.3: %.200s", doc)
			}
			if b, _ := os.ReadFile(p.Files.Digest); string(b) != res.Tags[0].Digest {
				t.Errorf("the digest file holds %q", b)
			}
			if b, _ := os.ReadFile(p.Files.ImageRefs); string(b) != res.Tags[0].Reference+"@"+res.Tags[0].Digest+"\n" {
				t.Errorf("the image refs file holds %q", b)
			}
			var meta struct {
				ImageID string
				SBOMs   []Referrer
				Layers  []string
			}
			b, err := os.ReadFile(p.Files.Metadata)
			must(t, err)
			must(t, json.Unmarshal(b, &meta))
			if meta.ImageID != res.ImageID || len(meta.SBOMs) != 1 || len(meta.Layers) != 1 {
				t.Errorf("metadata %s", b)
			}
			if fake.Described != 1 {
				t.Errorf("the daemon was asked its version %d times, want once", fake.Described)
			}

			// Again, unchanged: reused, the manifest put again, the same SBOM.
			again, err := Run(context.Background(), fake.Engine, p)
			must(t, err)
			if !again.Reused || again.ImageID != res.ImageID || fake.Loads != 1 {
				t.Errorf("again: reused %t, image %s after %d loads; want the first image reused", again.Reused, again.ImageID, fake.Loads)
			}
			if again.Tags[0].Digest != res.Tags[0].Digest || len(again.SBOMs) != 1 || again.SBOMs[0].Digest != res.SBOMs[0].Digest {
				t.Errorf("again: %+v, first %+v", again, res)
			}
		})
	}
}

// sbomDocument is the one blob of the SBOM artifact ref.
func sbomDocument(t *testing.T, ref string) string {
	t.Helper()
	img, err := get(t, ref).Image()
	must(t, err)
	layers, err := img.Layers()
	must(t, err)
	if len(layers) != 1 {
		t.Fatalf("the SBOM artifact has %d blobs", len(layers))
	}
	mt, _ := layers[0].MediaType()
	if string(mt) != sbom.MediaType {
		t.Errorf("the SBOM blob is %s", mt)
	}
	rc, err := layers[0].Compressed()
	must(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	must(t, err)
	return string(b)
}

// Several platforms: the index and each platform's image go up from here,
// each with its SBOM; the classic store loads the daemon's platform, the
// containerd store the index.
func TestRunIndex(t *testing.T) {
	for _, containerd := range []bool{false, true} {
		t.Run(map[bool]string{false: "classic", true: "containerd"}[containerd], func(t *testing.T) {
			reg := registrytest.New(t)
			fake := daemontest.New()
			fake.Containerd, fake.Arch = containerd, "arm64"
			p := directPlan(t, reg.Host(), "")
			p.Direct = false
			p.Platforms = []plan.PlatformDir{
				{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, Dir: folder(t, "amd64")},
				{Platform: ocispec.Platform{OS: "linux", Architecture: "arm64"}, Dir: folder(t, "arm64")},
			}
			layout := filepath.Join(t.TempDir(), "layout")
			p.Outputs = []plan.Output{{Kind: plan.OCILayout, Path: layout}}
			res, err := Run(context.Background(), fake.Engine, p)
			must(t, err)
			ix, err := get(t, reg.Host()+"/team/app:v1").ImageIndex()
			must(t, err)
			m, err := ix.IndexManifest()
			must(t, err)
			if len(m.Manifests) != 2 || len(res.Platforms) != 2 {
				t.Fatalf("the index lists %d manifests, the run %d platforms", len(m.Manifests), len(res.Platforms))
			}
			for i, d := range m.Manifests {
				if d.Digest.String() != res.Platforms[i].Digest || d.Platform.Architecture != strings.TrimPrefix(res.Platforms[i].Platform, "linux/") {
					t.Errorf("platform %d: the index lists %s %s, the run %+v", i, d.Platform, d.Digest, res.Platforms[i])
				}
				if refs := referrers(t, reg.Host()+"/team/app", d.Digest.String()); len(refs) != 1 {
					t.Errorf("%s has %d referrers, want its SBOM", d.Platform, len(refs))
				}
			}
			if refs := referrers(t, reg.Host()+"/team/app", res.Tags[0].Digest); len(refs) != 1 || len(res.SBOMs) != 3 {
				t.Errorf("the index has referrers %+v; the run attached %d SBOMs, want 3", refs, len(res.SBOMs))
			}
			var config ocispec.Image
			if containerd {
				if res.ImageID != res.Tags[0].Digest {
					t.Errorf("the containerd store holds %s, the registry's index is %s", res.ImageID, res.Tags[0].Digest)
				}
			} else if must(t, json.Unmarshal(fake.Config(res.ImageID), &config)); config.Architecture != "arm64" {
				t.Errorf("the classic store got the %s image, want the daemon's arm64", config.Architecture)
			}
			if len(res.Outputs) != 1 || !strings.HasSuffix(res.Outputs[0], "@"+res.Tags[0].Digest) {
				t.Errorf("outputs %v", res.Outputs)
			}
			if _, err := os.Stat(filepath.Join(layout, "index.json")); err != nil {
				t.Errorf("the layout: %v", err)
			}
		})
	}
}

// Files only: no daemon is opened, the files hold the image.
func TestRunFilesOnly(t *testing.T) {
	dir := folder(t, "files")
	out := t.TempDir()
	p := plan.Plan{Dir: dir, Spec: builder.Spec{Cmd: []string{"./app"}}, Layout: builder.Layout{ModTime: time.Unix(1700000000, 0)},
		Builder: daemon.BuilderAuto, MaxLayers: 1, SBOM: true, Tool: "test",
		Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64"},
		Outputs:  []plan.Output{{Kind: plan.OCILayout, Path: filepath.Join(out, "layout")}, {Kind: plan.DockerArchive, Path: filepath.Join(out, "image.tar")}}}
	noDaemon := func(context.Context) (daemon.API, error) { return nil, errors.New("no daemon was to be opened") }
	res, err := Run(context.Background(), noDaemon, p)
	must(t, err)
	if len(res.Outputs) != 2 || res.ImageID != "" || len(res.Tags) != 0 {
		t.Fatalf("result %+v", res)
	}
	var index ocispec.Index
	b, err := os.ReadFile(filepath.Join(out, "layout", "index.json"))
	must(t, err)
	must(t, json.Unmarshal(b, &index))
	if len(index.Manifests) < 2 { // the image and its SBOM
		t.Errorf("index.json lists %d manifests, want the image and its SBOM", len(index.Manifests))
	}
	fake := daemontest.New()
	f, err := os.Open(filepath.Join(out, "image.tar"))
	must(t, err)
	defer f.Close()
	_, err = fake.ImageLoad(context.Background(), f)
	must(t, err)
	var config ocispec.Image
	ids := fake.Images()
	must(t, json.Unmarshal(fake.Config(ids[0]), &config))
	if config.Architecture != "arm64" {
		t.Errorf("the archive's image is for %s", config.Architecture)
	}
}

// Mirrors get the same tags and the SBOM; one that refuses is named, the
// others still get the image.
func TestRunMirrors(t *testing.T) {
	reg, mirror, locked := registrytest.New(t), registrytest.New(t), registrytest.New(t, registrytest.WithBasicAuth())
	fake := daemontest.New()
	p := directPlan(t, reg.Host(), folder(t, "mirrors"))
	for _, host := range []string{locked.Host(), mirror.Host()} {
		m, err := target.Parse(host, "copy/app", []string{"v1"})
		must(t, err)
		p.Mirrors = append(p.Mirrors, plan.Mirror{Target: m})
	}
	res, err := Run(context.Background(), fake.Engine, p)
	if err == nil || !strings.Contains(err.Error(), locked.Host()+"/copy/app") || strings.Contains(err.Error(), mirror.Host()) {
		t.Fatalf("a mirror that refuses gave %v, want it named alone", err)
	}
	if !errors.Is(err, auth.ErrAuth) || !strings.Contains(err.Error(), "docker login "+locked.Host()) || strings.Contains(err.Error(), "HEAD responses") {
		t.Errorf("the refusal is not said in the user's words: %v", err)
	}
	if got := fake.ImageOf(reg.Host() + "/team/app:v1"); got == "" || got != res.ImageID || len(fake.Removed) != 0 {
		t.Errorf("after a mirror failed the first repository's tag names %q (image %s), removed %v; want it kept", got, res.ImageID, fake.Removed)
	}
	want := res.Tags[0].Digest
	if got := get(t, mirror.Host()+"/copy/app:v1").Digest.String(); got != want {
		t.Errorf("the mirror names v1 %s, want %s", got, want)
	}
	if refs := referrers(t, mirror.Host()+"/copy/app", want); len(refs) != 1 {
		t.Errorf("the mirror's image has %d referrers, want its SBOM", len(refs))
	}
	refs := slices.DeleteFunc(slices.Clone(res.Tags), func(tag Tag) bool { return !strings.HasPrefix(tag.Reference, mirror.Host()) })
	if len(refs) != 1 {
		t.Errorf("tags %+v, want the mirror's among them", res.Tags)
	}
}

// A push from here that the registry refuses leaves the daemon as it was.
func TestRunDirectRefused(t *testing.T) {
	reg := registrytest.New(t, registrytest.WithBasicAuth())
	fake := daemontest.New()
	fake.AddImage("sha256:old", reg.Host()+"/team/app:v1")
	p := directPlan(t, reg.Host(), folder(t, "refused"))
	p.Credentials = auth.Credentials{Username: registrytest.User, Password: "wrong"}
	_, err := Run(context.Background(), fake.Engine, p)
	if !errors.Is(err, auth.ErrAuth) {
		t.Fatalf("a wrong password gave %v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("the error shows the password: %v", err)
	}
	if got := fake.ImageOf(reg.Host() + "/team/app:v1"); got != "sha256:old" || len(fake.Images()) != 1 {
		t.Errorf("after the refusal the tag names %q, the daemon holds %v", got, fake.Images())
	}
}

// Annotations need a manifest made here: refused where the daemon makes
// the one it pushes, kept where the containerd store loads ours.
func TestRunAnnotations(t *testing.T) {
	for _, containerd := range []bool{false, true} {
		fake := daemontest.New()
		fake.Containerd = containerd
		p := directPlan(t, "r.example", folder(t, "annotated"))
		p.Direct, p.Push, p.SBOM, p.Reproducible = false, false, false, true
		p.Annotated = true
		p.Layout.Annotations = map[string]string{"org.example.team": "blue"}
		p.Essentials = builder.Essentials{Tmp: true}
		res, err := Run(context.Background(), fake.Engine, p)
		if !containerd {
			var input InputError
			if !errors.As(err, &input) || !strings.Contains(err.Error(), "PushVia") {
				t.Errorf("classic store: annotations gave %v, want them refused naming PushVia", err)
			}
			continue
		}
		must(t, err)
		var config ocispec.Image
		must(t, json.Unmarshal(fake.Config(res.ImageID), &config))
		if len(config.RootFS.DiffIDs) != 2 {
			t.Errorf("the image has %d layers, want the folder's and the essentials' /tmp", len(config.RootFS.DiffIDs))
		}
	}
}

// https:// written for a registry that speaks plain HTTP stops the run
// before anything is made, the credentials never sent.
func TestRunHTTPSPromised(t *testing.T) {
	reg := registrytest.New(t, registrytest.WithBasicAuth())
	fake := daemontest.New()
	p := directPlan(t, "https://"+reg.Host(), folder(t, "https"))
	p.Credentials = auth.Credentials{Username: registrytest.User, Password: registrytest.Password}
	_, err := Run(context.Background(), fake.Engine, p)
	if !errors.Is(err, registry.ErrPlainHTTP) || fake.Loads != 0 {
		t.Errorf("https:// to a plain-HTTP registry: %v after %d loads", err, fake.Loads)
	}
	if n := reg.Count(""); n != 0 {
		t.Errorf("%d requests reached the registry", n)
	}
}
