// Package sbom describes an image made of a folder as an SPDX 2.3 JSON
// document: a scratch image holds only the folder and the essentials
// scratch-push adds, so the document can be exact. Each Go program in it
// says what it is made of (debug/buildinfo: its module, every dependency
// with version and go.sum hash, the Go version, the build settings); the
// CA bundle and time zone data added are named with their digest and
// version; every file is listed with its SHA-1 (which SPDX 2.3 requires)
// and SHA-256. The document is made with the SPDX project's own Go library
// (spdx/tools-golang), which keeps it valid as the schema says, and depends
// only on the files and the inputs: the same image gives the same bytes.
package sbom

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"

	"github.com/scratchpush/scratchpush/builder"
)

// MediaType is the SPDX JSON document's, and the artifact type of the
// referrer that carries it.
const MediaType = "application/spdx+json"

// Part is one platform's image: the files it holds, as its layers were
// written (builder.Catalog), so that the document describes the bytes
// sent, whatever the folder is (a link to a folder) or becomes.
type Part struct {
	Platform ocispec.Platform
	Files    builder.Catalog
}

// Input is what the document describes.
type Input struct {
	// Name is the image's repository, as a user names it.
	Name string
	// Parts are its platforms' images: one, or one per platform of an
	// index.
	Parts []Part
	// Created is when the image was made (SOURCE_DATE_EPOCH when set).
	Created time.Time
	// Tool names the program making the document, e.g. scratch-push v1.2.
	Tool string
}

// Documents are what SPDX makes: one for the whole image, and for an
// image of several platforms one for each, in the order of Input.Parts.
type Documents struct {
	Whole []byte
	Parts [][]byte
}

// SPDX makes the documents, reading every file once.
func SPDX(ctx context.Context, in Input) (Documents, error) {
	var out Documents
	whole := newDoc(in)
	for _, p := range in.Parts {
		d := newDoc(in)
		d.Packages[0].PackageComment = "a FROM-scratch image made by scratch-push, for " + builder.PlatformString(&p.Platform)
		if err := d.addFiles(ctx, p.Files, builder.PlatformString(&p.Platform)); err != nil {
			return Documents{}, err
		}
		whole.Packages = append(whole.Packages, d.Packages[1:]...)
		whole.Files = append(whole.Files, d.Files...)
		whole.Relationships = append(whole.Relationships, d.Relationships[1:]...)
		if len(in.Parts) > 1 {
			b, err := d.finish(in.Name)
			if err != nil {
				return Documents{}, err
			}
			out.Parts = append(out.Parts, b)
		}
	}
	var err error
	out.Whole, err = whole.finish(in.Name)
	return out, err
}

// newDoc is a document describing the image, as yet empty.
func newDoc(in Input) *doc {
	d := &doc{ids: map[string]int{}}
	d.Document = spdx.Document{
		SPDXVersion:    spdx.Version,
		DataLicense:    spdx.DataLicense,
		SPDXIdentifier: "DOCUMENT",
		DocumentName:   in.Name,
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: in.Tool}},
			Created:  in.Created.UTC().Format(time.RFC3339),
		},
	}
	var platforms []string
	for _, p := range in.Parts {
		platforms = append(platforms, builder.PlatformString(&p.Platform))
	}
	d.Packages = []*spdx.Package{{
		PackageName:             in.Name,
		PackageSPDXIdentifier:   "Image",
		PackageDownloadLocation: "NOASSERTION",
		PrimaryPackagePurpose:   "CONTAINER",
		PackageComment:          "a FROM-scratch image made by scratch-push, for " + strings.Join(platforms, ", "),
	}}
	d.relate("DOCUMENT", "Image", common.TypeRelationshipDescribe)
	return d
}

// finish names the document and writes it. The namespace must be unique
// to the document: it ends in the digest of everything else in it.
func (d *doc) finish(name string) ([]byte, error) {
	var body bytes.Buffer
	if err := spdxjson.Write(&d.Document, &body); err != nil {
		return nil, fmt.Errorf("writing the SBOM: %w", err)
	}
	sum := sha256.Sum256(body.Bytes())
	d.DocumentNamespace = "https://spdx.org/spdxdocs/scratch-push/" + idSafe.ReplaceAllString(name, "-") + "-" + hex.EncodeToString(sum[:])
	body.Reset()
	if err := spdxjson.Write(&d.Document, &body); err != nil {
		return nil, fmt.Errorf("writing the SBOM: %w", err)
	}
	return body.Bytes(), nil
}

type doc struct {
	spdx.Document
	ids map[string]int // how often an ID's stem was taken
}

// idSafe is what an SPDX ID may not hold.
var idSafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// id is a new SPDX ID made of parts, unique in the document.
func (d *doc) id(parts ...string) common.ElementID {
	stem := idSafe.ReplaceAllString(strings.Join(parts, "-"), "-")
	d.ids[stem]++
	if n := d.ids[stem]; n > 1 {
		stem = fmt.Sprintf("%s-%d", stem, n)
	}
	return common.ElementID(stem)
}

func (d *doc) relate(a, b common.ElementID, kind string) {
	d.Relationships = append(d.Relationships, &spdx.Relationship{
		RefA: common.DocElementID{ElementRefID: a}, RefB: common.DocElementID{ElementRefID: b}, Relationship: kind,
	})
}

// addFiles lists every regular file of an image, the folder's first,
// then the essentials', and describes the Go programs and essentials among
// them. A program's build info is read from its file, which must still be
// what was sent.
func (d *doc) addFiles(ctx context.Context, files builder.Catalog, platform string) error {
	ordered := slices.Clone(files)
	slices.SortStableFunc(ordered, func(a, b builder.File) int { // the folder's files, then the essentials'
		return cmpBool(a.Essential, b.Essential)
	})
	for _, file := range ordered {
		if err := ctx.Err(); err != nil {
			return err
		}
		f := &spdx.File{
			FileName:           "." + file.Path,
			FileSPDXIdentifier: d.id("File", platform, file.Path),
			Checksums:          []common.Checksum{{Algorithm: common.SHA1, Value: file.SHA1}, {Algorithm: common.SHA256, Value: file.SHA256}},
			FileCopyrightText:  "NOASSERTION",
			LicenseConcluded:   "NOASSERTION",
			FileTypes:          []string{"OTHER"},
		}
		if file.ELF {
			f.FileTypes = []string{"BINARY", "APPLICATION"}
		}
		d.Files = append(d.Files, f)
		d.relate("Image", f.FileSPDXIdentifier, common.TypeRelationshipContains)
		if file.ELF {
			if err := unchanged(file); err != nil {
				return err
			}
			d.addProgram(file.Source, platform, f.FileSPDXIdentifier)
		}
		if file.Essential {
			d.addEssential(file.Source, file.Path, file.SHA256, platform, f.FileSPDXIdentifier)
		}
	}
	return nil
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// unchanged refuses a program whose file is no longer what was sent: its
// build info, read now, would describe another program than the image's.
func unchanged(f builder.File) error {
	fi, err := os.Stat(f.Source)
	if err != nil {
		return fmt.Errorf("reading %s for the SBOM: %w", f.Source, err)
	}
	if fi.Size() != f.Size || !fi.ModTime().Equal(f.ModTime) {
		return fmt.Errorf("%s changed after it was sent (%d bytes, modified %s; sent %d bytes, modified %s): the SBOM would not describe the image; run again once nothing writes to the folder", f.Source, fi.Size(), fi.ModTime().UTC().Format(time.RFC3339Nano), f.Size, f.ModTime.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// addProgram describes a Go program by its build info: its main module,
// the Go standard library it was built with, and each dependency, the
// file GENERATED_FROM the module. A program that is not Go adds nothing.
func (d *doc) addProgram(path, platform string, file common.ElementID) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return
	}
	mainPath, version := bi.Main.Path, bi.Main.Version
	if mainPath == "" {
		mainPath = bi.Path
	}
	var settings []string
	for _, s := range bi.Settings {
		if s.Key == "-ldflags" {
			continue // -X can set any value at build time, a token too
		}
		settings = append(settings, s.Key+"="+s.Value)
	}
	main := d.goPackage(platform, mainPath, version, "")
	main.PackageComment = "Go program " + bi.Path + " built with " + bi.GoVersion + "; build settings: " + strings.Join(settings, " ")
	d.relate(file, main.PackageSPDXIdentifier, common.TypeRelationshipGeneratedFrom)
	d.relate("Image", main.PackageSPDXIdentifier, common.TypeRelationshipContains)
	std := d.goPackage(platform, "stdlib", strings.TrimPrefix(bi.GoVersion, "go"), "")
	d.relate(main.PackageSPDXIdentifier, std.PackageSPDXIdentifier, common.TypeRelationshipDependsOn)
	for _, dep := range bi.Deps {
		if dep.Replace != nil {
			dep = dep.Replace
		}
		p := d.goPackage(platform, dep.Path, dep.Version, dep.Sum)
		d.relate(main.PackageSPDXIdentifier, p.PackageSPDXIdentifier, common.TypeRelationshipDependsOn)
	}
}

// goPackage adds a Go module (or the standard library) as a package with
// its package URL; sum is its go.sum hash.
func (d *doc) goPackage(platform, path, version, sum string) *spdx.Package {
	p := &spdx.Package{
		PackageName:             path,
		PackageSPDXIdentifier:   d.id("Package", platform, path),
		PackageDownloadLocation: "NOASSERTION",
		PackageVersion:          version,
	}
	purl := "pkg:golang/" + path
	if version != "" && version != "(devel)" {
		purl += "@" + version
	}
	p.PackageExternalReferences = []*spdx.PackageExternalReference{{Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL, Locator: purl}}
	if sum != "" {
		p.PackageComment = "go.sum " + sum
	}
	d.Packages = append(d.Packages, p)
	return p
}

// tzVersion is the version line of tzdata.zi ("# version 2024a").
var tzVersion = regexp.MustCompile(`^# version (\S+)`)

// addEssential names the CA bundle and the time zone data scratch-push
// added as packages: the bundle by its digest, tzdata by its version.
func (d *doc) addEssential(path, inImage, sha256sum, platform string, file common.ElementID) {
	var p *spdx.Package
	switch {
	case inImage == "/etc/ssl/certs/ca-certificates.crt":
		p = &spdx.Package{PackageName: "ca-certificates", PackageComment: "the CA bundle added by scratch-push (--ca-certs)",
			PackageChecksums: []common.Checksum{{Algorithm: common.SHA256, Value: sha256sum}}}
	case inImage == "/usr/share/zoneinfo/tzdata.zi":
		head := make([]byte, 64)
		f, err := os.Open(path)
		if err != nil {
			return
		}
		n, _ := io.ReadFull(f, head)
		f.Close()
		m := tzVersion.FindSubmatch(head[:n])
		if m == nil {
			return
		}
		p = &spdx.Package{PackageName: "tzdata", PackageVersion: string(m[1]), PackageComment: "time zone data added by scratch-push (--tzdata)"}
	default:
		return
	}
	p.PackageSPDXIdentifier = d.id("Package", platform, p.PackageName)
	p.PackageDownloadLocation = "NOASSERTION"
	d.Packages = append(d.Packages, p)
	d.relate("Image", p.PackageSPDXIdentifier, common.TypeRelationshipContains)
	d.relate(p.PackageSPDXIdentifier, file, common.TypeRelationshipContains)
}
