package sbom

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/scratchpush/scratchpush/builder"
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
	in := Input{
		Name:    "registry.example/team/app",
		Parts:   []Part{{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, Files: catalog}},
		Created: time.Unix(1700000000, 0),
		Tool:    "scratch-push test",
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
	in := Input{Name: "app", Parts: []Part{{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"}, Files: files}}, Tool: "test"}
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
