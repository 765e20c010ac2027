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
	"crypto/sha1"
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
	"unicode/utf8"

	"github.com/distribution/reference"
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
	// Repository is where the image goes, nil when it is only written to
	// files: it names the image and its supplier (the registry namespace).
	Repository reference.Named
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
	var all builder.Catalog
	for _, p := range in.Parts {
		all = append(all, p.Files...)
		d := newDoc(in)
		d.Packages[0].PackageComment = "a FROM-scratch image made by scratch-push, for " + builder.PlatformString(&p.Platform)
		d.Packages[0].PackageVersion = filesVersion(p.Files)
		if err := d.addFiles(ctx, p.Files, builder.PlatformString(&p.Platform)); err != nil {
			return Documents{}, err
		}
		whole.Packages = append(whole.Packages, d.Packages[1:]...)
		whole.Files = append(whole.Files, d.Files...)
		whole.Relationships = append(whole.Relationships, d.Relationships[1:]...)
		if len(in.Parts) > 1 {
			b, err := d.finish()
			if err != nil {
				return Documents{}, err
			}
			out.Parts = append(out.Parts, b)
		}
	}
	whole.Packages[0].PackageVersion = filesVersion(all)
	var err error
	out.Whole, err = whole.finish()
	return out, err
}

// newDoc is a document describing the image, as yet empty.
func newDoc(in Input) *doc {
	name := "image"
	if in.Repository != nil {
		name = reference.FamiliarName(in.Repository)
	}
	d := &doc{ids: map[string]int{}}
	d.Document = spdx.Document{
		SPDXVersion:    spdx.Version,
		DataLicense:    spdx.DataLicense,
		SPDXIdentifier: "DOCUMENT",
		DocumentName:   name,
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
		PackageName:             name,
		PackageSPDXIdentifier:   "Image",
		PackageSupplier:         imageSupplier(in.Repository),
		PackageDownloadLocation: "NOASSERTION",
		PrimaryPackagePurpose:   "CONTAINER",
		FilesAnalyzed:           true,
		PackageComment:          "a FROM-scratch image made by scratch-push, for " + strings.Join(platforms, ", "),
	}}
	d.relate("DOCUMENT", "Image", common.TypeRelationshipDescribe)
	return d
}

// filesVersion is an image's version: the digest of the files it holds
// (each one's path and SHA-256), which names that content, as a tag,
// which moves, and the manifest's digest, not known before the SBOM that
// refers to it is made, could not: the same image keeps the same document
// whatever it is tagged.
func filesVersion(files builder.Catalog) string {
	sum := files.Digest()
	return "sha256:" + hex.EncodeToString(sum[:])
}

// finish names the document and writes it. The namespace must be unique
// to the document: it ends in the digest of everything else in it.
func (d *doc) finish() ([]byte, error) {
	d.verify()
	var body bytes.Buffer
	if err := spdxjson.Write(&d.Document, &body); err != nil {
		return nil, fmt.Errorf("writing the SBOM: %w", err)
	}
	sum := sha256.Sum256(body.Bytes())
	d.DocumentNamespace = "https://spdx.org/spdxdocs/scratch-push/" + idSafe.ReplaceAllString(d.DocumentName, "-") + "-" + hex.EncodeToString(sum[:])
	body.Reset()
	if err := spdxjson.Write(&d.Document, &body); err != nil {
		return nil, fmt.Errorf("writing the SBOM: %w", err)
	}
	return body.Bytes(), nil
}

type doc struct {
	spdx.Document
	ids map[string]int // how often an ID's stem was taken
	// essentials are the packages of what scratch-push added, by name
	// (ca-certificates, tzdata), for the platform being described.
	essentials map[string]*spdx.Package
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
	d.essentials = map[string]*spdx.Package{}
	for _, file := range ordered {
		if err := ctx.Err(); err != nil {
			return err
		}
		f := &spdx.File{
			FileName:           fileName(file.Path),
			FileSPDXIdentifier: d.id("File", platform, file.Path),
			Checksums:          []common.Checksum{{Algorithm: common.SHA1, Value: file.SHA1}, {Algorithm: common.SHA256, Value: file.SHA256}},
			FileCopyrightText:  "NOASSERTION",
			LicenseConcluded:   "NOASSERTION",
			FileTypes:          []string{"OTHER"},
		}
		if !utf8.ValidString(file.Path) {
			f.FileComment = notUTF8
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
			d.addEssential(file, platform, f.FileSPDXIdentifier)
		}
	}
	return nil
}

// notUTF8 says how fileName writes a name that is not UTF-8.
const notUTF8 = "the file's name is not UTF-8, which SPDX documents are: each byte of it that is not part of a UTF-8 character, and each %, is written as %XX (its hex value); the image holds the name's bytes as they are"

// fileName is a file's SPDX name: its path in the image from "./". A
// name that is not UTF-8 is written as notUTF8 says, so that it can be
// told apart from any other and turned back into its bytes.
func fileName(path string) string {
	if utf8.ValidString(path) {
		return "." + path
	}
	var b strings.Builder
	b.WriteString(".")
	for len(path) > 0 {
		r, n := utf8.DecodeRuneInString(path)
		switch {
		case r == utf8.RuneError && n == 1, r == '%':
			fmt.Fprintf(&b, "%%%02X", path[0])
		default:
			b.WriteString(path[:n])
		}
		path = path[n:]
	}
	return b.String()
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
// Versions are spelled as Go and syft spell them: go1.26.8 for the
// standard library, a module's own version else; a main module built
// outside version control is "(devel)", and one built from a checkout Go
// did not stamp gets the pseudo-version of its revision, as syft gives it.
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
	revision, at := "", ""
	for _, s := range bi.Settings {
		switch s.Key {
		case "-ldflags":
			continue // -X can set any value at build time, a token too
		case "vcs.revision":
			revision = s.Value
		case "vcs.time":
			at = s.Value
		}
		settings = append(settings, s.Key+"="+s.Value)
	}
	if version == "" || version == "(devel)" {
		version = pseudoVersion(revision, at)
	}
	main := d.goPackage(platform, mainPath, version, "")
	main.PackageComment = "Go program " + bi.Path + " built with " + bi.GoVersion + "; build settings: " + strings.Join(settings, " ")
	d.relate(file, main.PackageSPDXIdentifier, common.TypeRelationshipGeneratedFrom)
	d.relate("Image", main.PackageSPDXIdentifier, common.TypeRelationshipContains)
	goVersion, _, _ := strings.Cut(bi.GoVersion, " ") // go1.26.8 X:nodwarf5 names experiments after a space
	std := d.goPackage(platform, "stdlib", goVersion, "")
	d.relate(main.PackageSPDXIdentifier, std.PackageSPDXIdentifier, common.TypeRelationshipDependsOn)
	for _, dep := range bi.Deps {
		if dep.Replace != nil {
			dep = dep.Replace
		}
		p := d.goPackage(platform, dep.Path, dep.Version, dep.Sum)
		d.relate(main.PackageSPDXIdentifier, p.PackageSPDXIdentifier, common.TypeRelationshipDependsOn)
	}
}

// pseudoVersion is the Go pseudo-version of a revision committed at
// (RFC 3339), v0.0.0-YYYYMMDDhhmmss-abcdefabcdef (go.dev/ref/mod#pseudo-versions),
// or "(devel)" without both.
func pseudoVersion(revision, at string) string {
	t, err := time.Parse(time.RFC3339, at)
	if revision == "" || err != nil {
		return "(devel)"
	}
	return "v0.0.0-" + t.UTC().Format("20060102150405") + "-" + revision[:min(12, len(revision))]
}

// goPackage adds a Go module (or the standard library) as a package with
// its supplier and package URL; sum is its go.sum hash.
func (d *doc) goPackage(platform, path, version, sum string) *spdx.Package {
	p := &spdx.Package{
		PackageName:             path,
		PackageSPDXIdentifier:   d.id("Package", platform, path),
		PackageDownloadLocation: "NOASSERTION",
		PackageVersion:          version,
		PackageSupplier:         moduleSupplier(path),
	}
	purlVersion := version
	switch {
	case path == "stdlib":
		purlVersion = strings.TrimPrefix(version, "go") // pkg:golang/stdlib@1.26.8
	case version == "(devel)":
		purlVersion = ""
	}
	p.PackageExternalReferences = []*spdx.PackageExternalReference{{Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL, Locator: goPURL(path, purlVersion)}}
	if sum != "" {
		p.PackageComment = "go.sum " + sum
	}
	d.Packages = append(d.Packages, p)
	return p
}

// tzVersion is the version line of tzdata.zi ("# version 2024a").
var tzVersion = regexp.MustCompile(`^# version (\S+)`)

// addEssential puts a file scratch-push added in the package it belongs
// to: the CA bundle (versioned by its digest: a bundle names no version
// of its own) or the time zone data (versioned as tzdata.zi says).
func (d *doc) addEssential(file builder.File, platform string, id common.ElementID) {
	var name string
	switch {
	case file.Path == builder.ImageCACerts:
		name = "ca-certificates"
	case strings.HasPrefix(file.Path, builder.ImageTZData+"/"):
		name = "tzdata"
	default:
		return
	}
	p := d.essentials[name]
	if p == nil {
		p = &spdx.Package{
			PackageName:             name,
			PackageSPDXIdentifier:   d.id("Package", platform, name),
			PackageDownloadLocation: "NOASSERTION",
			FilesAnalyzed:           true,
			PackageSupplier:         noAssertion,
		}
		switch name {
		case "ca-certificates":
			p.PackageComment = "the CA bundle added by scratch-push (--ca-certs), versioned by its SHA-256"
			p.PackageVersion = "sha256:" + file.SHA256
			p.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: file.SHA256}}
		case "tzdata":
			p.PackageComment = "time zone data added by scratch-push (--tzdata), versioned as its tzdata.zi says"
			p.PackageSupplier = organization("IANA (tz@iana.org)")
		}
		d.essentials[name] = p
		d.Packages = append(d.Packages, p)
		d.relate("Image", p.PackageSPDXIdentifier, common.TypeRelationshipContains)
	}
	if file.Path == builder.ImageTZData+"/tzdata.zi" {
		p.PackageVersion = readTZVersion(file.Source)
	}
	d.relate(p.PackageSPDXIdentifier, id, common.TypeRelationshipContains)
}

// readTZVersion is the version tzdata.zi at path names, "" if none.
func readTZVersion(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	head := make([]byte, 64)
	n, _ := io.ReadFull(f, head)
	if m := tzVersion.FindSubmatch(head[:n]); m != nil {
		return string(m[1])
	}
	return ""
}

// verify gives each package whose files are listed (FilesAnalyzed) the
// verification code of the files it CONTAINS (SPDX 2.3 §7.9: the SHA-1
// of their SHA-1s, sorted and joined), and a version to time zone data
// that named none: that code.
func (d *doc) verify() {
	sums := map[common.ElementID]string{}
	for _, f := range d.Files {
		for _, c := range f.Checksums {
			if c.Algorithm == common.SHA1 {
				sums[f.FileSPDXIdentifier] = c.Value
			}
		}
	}
	for _, p := range d.Packages {
		if !p.FilesAnalyzed {
			continue
		}
		var held []string
		for _, r := range d.Relationships {
			if r.Relationship == common.TypeRelationshipContains && r.RefA.ElementRefID == p.PackageSPDXIdentifier {
				if sum, ok := sums[r.RefB.ElementRefID]; ok {
					held = append(held, sum)
				}
			}
		}
		slices.Sort(held)
		code := sha1.Sum([]byte(strings.Join(held, "")))
		p.PackageVerificationCode = &common.PackageVerificationCode{Value: hex.EncodeToString(code[:])}
		if p.PackageVersion == "" {
			p.PackageVersion = "sha1:" + p.PackageVerificationCode.Value
		}
	}
}
