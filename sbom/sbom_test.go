package sbom

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/sbom/sbomtest"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The document names the Go program by its build info and every file by
// its checksums, the CA bundle added by its digest, and the same input
// gives the same bytes.
func TestSPDX(t *testing.T) {
	dir, ess := t.TempDir(), t.TempDir()
	self, err := os.ReadFile(os.Args[0]) // a Go program with build info: this test
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "app"), self, 0o755))
	must(t, os.MkdirAll(filepath.Join(dir, "conf"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "conf", "a.json"), []byte(`{}`), 0o644))
	must(t, os.Symlink("app", filepath.Join(dir, "link")))
	must(t, os.MkdirAll(filepath.Join(ess, "etc/ssl/certs"), 0o755))
	must(t, os.WriteFile(filepath.Join(ess, "etc/ssl/certs/ca-certificates.crt"), []byte("bundle"), 0o644))
	catalog, err := builder.CatalogOf(context.Background(), dir, builder.Layout{Essentials: ess})
	must(t, err)
	repo, err := reference.ParseNormalizedNamed("registry.example/team/app")
	must(t, err)
	in := Input{
		Repository: repo,
		Parts:      []Part{{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, Files: catalog}},
		Created:    time.Unix(1700000000, 0),
		Tool:       "scratch-push test",
	}
	docs, err := SPDX(context.Background(), in)
	must(t, err)
	again, err := SPDX(context.Background(), in)
	must(t, err)
	b := docs.Whole
	if string(b) != string(again.Whole) || docs.Parts != nil {
		t.Error("the same input made two documents")
	}
	var doc struct {
		SPDXVersion       string `json:"spdxVersion"`
		DocumentNamespace string `json:"documentNamespace"`
		CreationInfo      struct {
			Created  string   `json:"created"`
			Creators []string `json:"creators"`
		} `json:"creationInfo"`
		Packages []struct {
			Name, VersionInfo, Comment, SPDXID string
			ExternalRefs                       []struct{ ReferenceLocator string }
			Checksums                          []struct{ Algorithm, ChecksumValue string }
		} `json:"packages"`
		Files []struct {
			FileName  string
			Checksums []struct{ Algorithm, ChecksumValue string }
		} `json:"files"`
		Relationships []struct{ SpdxElementId, RelatedSpdxElement, RelationshipType string } `json:"relationships"`
	}
	must(t, json.Unmarshal(b, &doc))
	if doc.SPDXVersion != "SPDX-2.3" || doc.CreationInfo.Created != "2023-11-14T22:13:20Z" || len(doc.CreationInfo.Creators) != 1 || doc.CreationInfo.Creators[0] != "Tool: scratch-push test" {
		t.Errorf("version %s, creation %+v", doc.SPDXVersion, doc.CreationInfo)
	}
	if !strings.HasPrefix(doc.DocumentNamespace, "https://spdx.org/spdxdocs/scratch-push/registry.example-team-app-") {
		t.Errorf("namespace %s", doc.DocumentNamespace)
	}
	purls := map[string]string{}
	for _, p := range doc.Packages {
		for _, r := range p.ExternalRefs {
			purls[p.Name] = r.ReferenceLocator
		}
	}
	// A test binary's build info names no dependencies; the integration
	// tests read those of scratch-push's own.
	if !strings.HasPrefix(purls["stdlib"], "pkg:golang/stdlib@1.") || purls["github.com/scratchpush/scratchpush"] != "pkg:golang/github.com/scratchpush/scratchpush" {
		t.Errorf("package URLs %v, want the standard library and this module", purls)
	}
	sum := sha256.Sum256(self)
	files := map[string]string{}
	for _, f := range doc.Files {
		for _, c := range f.Checksums {
			if c.Algorithm == "SHA256" {
				files[f.FileName] = c.ChecksumValue
			}
		}
		if len(f.Checksums) != 2 {
			t.Errorf("%s has checksums %v, want SHA1 and SHA256", f.FileName, f.Checksums)
		}
	}
	if len(files) != 3 || files["./app"] != hex.EncodeToString(sum[:]) || files["./conf/a.json"] == "" || files["./etc/ssl/certs/ca-certificates.crt"] == "" {
		t.Errorf("files %v, want app, conf/a.json and the CA bundle (a link is no file)", files)
	}
	found := false
	for _, p := range doc.Packages {
		if p.Name == "ca-certificates" && len(p.Checksums) == 1 {
			found = true
		}
	}
	if !found {
		t.Error("no ca-certificates package with its digest")
	}
	describes := 0
	for _, r := range doc.Relationships {
		if r.RelationshipType == "DESCRIBES" && r.SpdxElementId == "SPDXRef-DOCUMENT" && r.RelatedSpdxElement == "SPDXRef-Image" {
			describes++
		}
	}
	if describes != 1 {
		t.Errorf("relationships %+v, want the document to describe the image", doc.Relationships)
	}
}

// A folder given as a link to a folder is described as the image holds
// it; a program changed after it was sent is refused, not described as it
// is now.
func TestSPDXOfWhatWasSent(t *testing.T) {
	real := t.TempDir()
	self, err := os.ReadFile(os.Args[0])
	must(t, err)
	must(t, os.WriteFile(filepath.Join(real, "app"), self, 0o755))
	link := filepath.Join(t.TempDir(), "out")
	must(t, os.Symlink(real, link))
	files, err := builder.CatalogOf(context.Background(), link, builder.Layout{})
	must(t, err)
	in := Input{Parts: []Part{{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, Files: files}}, Tool: "test"}
	docs, err := SPDX(context.Background(), in)
	must(t, err)
	var doc struct{ Files []struct{ FileName string } }
	must(t, json.Unmarshal(docs.Whole, &doc))
	if len(doc.Files) != 1 || doc.Files[0].FileName != "./app" {
		t.Errorf("a folder given through a link: files %+v, want ./app", doc.Files)
	}
	must(t, os.WriteFile(filepath.Join(real, "app"), append(self, 0), 0o755))
	if _, err := SPDX(context.Background(), in); err == nil || !strings.Contains(err.Error(), "changed after it was sent") {
		t.Errorf("a program changed after it was sent gave %v", err)
	}
}

// Every document, of one platform or of each platform of an index and
// their whole, keeps SPDX 2.3's rules and has the NTIA minimum elements:
// the image and the essentials contain their files and carry their
// verification codes, every package has a supplier and a version, and
// package URLs are canonical. A file name that is not UTF-8 is written
// escaped, and its comment tells it apart from the name its escape spells.
func TestSPDXKeepsTheRules(t *testing.T) {
	dir, ess := t.TempDir(), t.TempDir()
	self, err := os.ReadFile(os.Args[0])
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "app"), self, 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "caf\xe9"), []byte("latin-1"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "caf%E9"), []byte("utf-8"), 0o644))
	must(t, os.MkdirAll(filepath.Join(ess, "etc/ssl/certs"), 0o755))
	must(t, os.WriteFile(filepath.Join(ess, "etc/ssl/certs/ca-certificates.crt"), []byte("bundle"), 0o644))
	must(t, os.MkdirAll(filepath.Join(ess, "usr/share/zoneinfo/Europe"), 0o755))
	must(t, os.WriteFile(filepath.Join(ess, "usr/share/zoneinfo/tzdata.zi"), []byte("# version 2025b\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(ess, "usr/share/zoneinfo/UTC"), []byte("TZif"), 0o644))
	must(t, os.WriteFile(filepath.Join(ess, "usr/share/zoneinfo/Europe/Paris"), []byte("TZif2"), 0o644))
	catalog, err := builder.CatalogOf(context.Background(), dir, builder.Layout{Essentials: ess})
	must(t, err)
	repo, err := reference.ParseNormalizedNamed("quay.io/team/app")
	must(t, err)
	amd64, arm64 := ocispec.Platform{OS: "linux", Architecture: "amd64"}, ocispec.Platform{OS: "linux", Architecture: "arm64"}
	for _, in := range []Input{
		{Repository: repo, Parts: []Part{{Platform: amd64, Files: catalog}}},
		{Parts: []Part{{Platform: amd64, Files: catalog}}}, // written to files only: no repository
		{Repository: repo, Parts: []Part{{Platform: amd64, Files: catalog}, {Platform: arm64, Files: catalog}}},
	} {
		in.Tool, in.Created = "scratch-push test", time.Unix(1700000000, 0)
		docs, err := SPDX(context.Background(), in)
		must(t, err)
		for i, b := range append([][]byte{docs.Whole}, docs.Parts...) {
			d, errs := sbomtest.Check(b)
			for _, err := range errs {
				t.Errorf("%d platforms, document %d: %v", len(in.Parts), i, err)
			}
			byName := map[string]sbomtest.Package{}
			for _, p := range d.Packages {
				byName[p.Name] = p
			}
			image := d.Packages[0]
			files := catalog
			if i == 0 && len(in.Parts) > 1 {
				files = append(slices.Clone(catalog), catalog...) // the whole holds every platform's
			}
			sum := files.Digest()
			if image.VersionInfo != "sha256:"+hex.EncodeToString(sum[:]) {
				t.Errorf("image package %+v, want its files' digest as version", image)
			}
			switch {
			case in.Repository != nil && image.Supplier != "Organization: quay.io/team":
				t.Errorf("image package %+v, want supplied by quay.io/team", image)
			case in.Repository == nil && image.Supplier != "NOASSERTION":
				t.Errorf("image package of no repository %+v, want no supplier", image)
			}
			if p := byName["tzdata"]; p.VersionInfo != "2025b" || p.Supplier != "Organization: IANA (tz@iana.org)" {
				t.Errorf("tzdata %+v", p)
			}
			if p := byName["ca-certificates"]; p.VersionInfo != "sha256:"+hex.EncodeToString(sha256Of("bundle")) {
				t.Errorf("ca-certificates %+v, want its digest as version", p)
			}
			if p := byName["stdlib"]; !strings.HasPrefix(p.VersionInfo, "go1.") || p.PURL() != "pkg:golang/stdlib@"+strings.TrimPrefix(p.VersionInfo, "go") {
				t.Errorf("stdlib %+v, want go1.N as Go and syft spell it, and the purl without go", p)
			}
			var escaped, plain int
			for _, f := range d.Files {
				switch {
				case f.FileName == "./caf%E9" && strings.Contains(f.Comment, "not UTF-8"):
					escaped++
				case f.FileName == "./caf%E9":
					plain++
				}
			}
			want := 1
			if i == 0 {
				want = len(in.Parts) // the whole holds every platform's files
			}
			if escaped != want || plain != want {
				t.Errorf("%d files ./caf%%E9 said to be escaped, %d not; want the Latin-1 name told apart from the one spelled so", escaped, plain)
			}
		}
	}
}

func sha256Of(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// A module's supplier comes from its path; its package URL is the purl
// spec's, '+' encoded.
func TestSuppliersAndPURLs(t *testing.T) {
	for _, c := range []struct{ path, supplier string }{
		{"github.com/spf13/cobra", "Organization: github.com/spf13"},
		{"gitlab.com/org/proj/sub", "Organization: gitlab.com/org"},
		{"golang.org/x/sys", "Organization: The Go Authors (golang.org)"},
		{"stdlib", "Organization: The Go Authors (golang.org)"},
		{"gopkg.in/yaml.v3", "Organization: github.com/go-yaml"},
		{"gopkg.in/user/pkg.v1", "Organization: github.com/user"},
		{"oras.land/oras-go/v2", "Organization: oras.land"},
		{"example/app", "NOASSERTION"},
	} {
		b, err := json.Marshal(moduleSupplier(c.path))
		must(t, err)
		if string(b) != `"`+c.supplier+`"` {
			t.Errorf("%s: supplier %s, want %s", c.path, b, c.supplier)
		}
	}
	for _, c := range []struct{ path, version, purl string }{
		{"github.com/docker/docker", "v28.0.0+incompatible", "pkg:golang/github.com/docker/docker@v28.0.0%2Bincompatible"},
		{"github.com/foo/bar/v3", "v3.1.0", "pkg:golang/github.com/foo/bar/v3@v3.1.0"},
		{"app", "", "pkg:golang/app"},
	} {
		if got := goPURL(c.path, c.version); got != c.purl {
			t.Errorf("%s@%s: %s, want %s", c.path, c.version, got, c.purl)
		}
	}
	if v := pseudoVersion("0123456789abcdef0123", "2026-01-02T03:04:05Z"); v != "v0.0.0-20260102030405-0123456789ab" {
		t.Errorf("pseudo-version %s", v)
	}
}
