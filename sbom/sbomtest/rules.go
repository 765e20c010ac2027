// Package sbomtest checks an SPDX 2.3 JSON document by the rules of the
// SPDX 2.3 specification that its JSON schema does not catch (the ones
// the SPDX project's own validator, pyspdxtools, applies) and by the NTIA
// minimum elements of an SBOM, so that unit and integration tests judge
// the documents by the standards, not by what scratch-push meant to write.
package sbomtest

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/package-url/packageurl-go"
)

// Document is an SPDX 2.3 JSON document, as far as the rules read it.
type Document struct {
	SPDXVersion       string `json:"spdxVersion"`
	DataLicense       string `json:"dataLicense"`
	SPDXID            string `json:"SPDXID"`
	Name              string `json:"name"`
	DocumentNamespace string `json:"documentNamespace"`
	CreationInfo      struct {
		Created  string   `json:"created"`
		Creators []string `json:"creators"`
	} `json:"creationInfo"`
	Packages      []Package `json:"packages"`
	Files         []File    `json:"files"`
	Relationships []struct {
		SPDXElementID      string `json:"spdxElementId"`
		RelatedSPDXElement string `json:"relatedSpdxElement"`
		RelationshipType   string `json:"relationshipType"`
	} `json:"relationships"`
}

// Package is an SPDX package.
type Package struct {
	Name             string `json:"name"`
	SPDXID           string `json:"SPDXID"`
	VersionInfo      string `json:"versionInfo"`
	Supplier         string `json:"supplier"`
	DownloadLocation string `json:"downloadLocation"`
	FilesAnalyzed    *bool  `json:"filesAnalyzed"`
	VerificationCode *struct {
		Value string `json:"packageVerificationCodeValue"`
	} `json:"packageVerificationCode"`
	HasFiles     []string `json:"hasFiles"`
	ExternalRefs []struct {
		Category string `json:"referenceCategory"`
		Type     string `json:"referenceType"`
		Locator  string `json:"referenceLocator"`
	} `json:"externalRefs"`
}

// PURL is the package's package URL, "" if none.
func (p Package) PURL() string {
	for _, r := range p.ExternalRefs {
		if r.Type == "purl" {
			return r.Locator
		}
	}
	return ""
}

// File is an SPDX file.
type File struct {
	FileName  string `json:"fileName"`
	SPDXID    string `json:"SPDXID"`
	Comment   string `json:"comment"`
	Checksums []struct {
		Algorithm string `json:"algorithm"`
		Value     string `json:"checksumValue"`
	} `json:"checksums"`
}

var (
	spdxID   = regexp.MustCompile(`^SPDXRef-[A-Za-z0-9.-]+$`)
	sha1Hex  = regexp.MustCompile(`^[0-9a-f]{40}$`)
	supplier = regexp.MustCompile(`^(NOASSERTION|(Person|Organization): \S.*)$`)
	creator  = regexp.MustCompile(`^(Person|Organization|Tool): \S.*$`)
)

// sameVersionPart says two purls agree from their version on, byte for
// byte. Before it they may differ in case: packageurl-go lowercases a
// golang purl's namespace and name when it parses one, but Go module paths
// are case-sensitive (the Go proxy escapes capitals), so syft and we keep
// the path's case.
func sameVersionPart(a, b string) bool {
	_, va, _ := strings.Cut(a, "@")
	_, vb, _ := strings.Cut(b, "@")
	return va == vb
}

// Check parses doc and returns every rule it breaks, none when it keeps
// them all.
func Check(doc []byte) (Document, []error) {
	var d Document
	if !utf8.Valid(doc) {
		return d, []error{fmt.Errorf("the document is not UTF-8")}
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return d, []error{err}
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	// SPDX 2.3 §6: the document's creation information.
	if d.SPDXVersion != "SPDX-2.3" || d.DataLicense != "CC0-1.0" || d.SPDXID != "SPDXRef-DOCUMENT" || d.Name == "" {
		bad("document header: version %q, data license %q, SPDXID %q, name %q", d.SPDXVersion, d.DataLicense, d.SPDXID, d.Name)
	}
	if u, err := url.Parse(d.DocumentNamespace); err != nil || u.Scheme == "" || strings.Contains(d.DocumentNamespace, "#") {
		bad("documentNamespace %q is not a URI without a fragment", d.DocumentNamespace)
	}
	// NTIA: the author of the SBOM data and a timestamp.
	if _, err := time.Parse("2006-01-02T15:04:05Z", d.CreationInfo.Created); err != nil {
		bad("created %q is not YYYY-MM-DDThh:mm:ssZ", d.CreationInfo.Created)
	}
	if len(d.CreationInfo.Creators) == 0 {
		bad("no creators (NTIA: author of the SBOM data)")
	}
	for _, c := range d.CreationInfo.Creators {
		if !creator.MatchString(c) {
			bad("creator %q", c)
		}
	}

	ids := map[string]string{"SPDXRef-DOCUMENT": "document"}
	id := func(kind, v string) {
		if !spdxID.MatchString(v) {
			bad("%s SPDXID %q is not SPDXRef-[A-Za-z0-9.-]+", kind, v)
		}
		if ids[v] != "" {
			bad("SPDXID %q is used twice", v)
		}
		ids[v] = kind
	}
	sha1s := map[string]string{}
	for _, f := range d.Files {
		id("file", f.SPDXID)
		if !strings.HasPrefix(f.FileName, "./") {
			bad("file name %q does not start with ./ (SPDX 2.3 §8.1)", f.FileName)
		}
		for _, c := range f.Checksums {
			if c.Algorithm == "SHA1" && sha1Hex.MatchString(c.Value) {
				sha1s[f.SPDXID] = c.Value
			}
		}
		if sha1s[f.SPDXID] == "" {
			bad("file %s has no SHA1 checksum (SPDX 2.3 §8.4)", f.FileName)
		}
	}
	for _, p := range d.Packages {
		id("package", p.SPDXID)
		// NTIA: supplier, component name, version, unique identifier.
		if p.Name == "" || p.VersionInfo == "" {
			bad("package %s: name %q, version %q (NTIA: every component has both)", p.SPDXID, p.Name, p.VersionInfo)
		}
		if !supplier.MatchString(p.Supplier) {
			bad("package %s (%s): supplier %q (NTIA: every component has one; SPDX 2.3 §7.5 spells it)", p.SPDXID, p.Name, p.Supplier)
		}
		if p.DownloadLocation == "" {
			bad("package %s has no downloadLocation (SPDX 2.3 §7.7)", p.Name)
		}
		if purl := p.PURL(); purl != "" {
			u, err := packageurl.FromString(purl)
			if err != nil {
				bad("package %s: purl %q: %v", p.Name, purl, err)
			} else if canon := u.ToString(); !sameVersionPart(canon, purl) || !strings.EqualFold(canon, purl) {
				bad("package %s: purl %q is not in canonical form %q", p.Name, purl, canon)
			}
		}
	}
	for _, r := range d.Relationships {
		for _, e := range []string{r.SPDXElementID, r.RelatedSPDXElement} {
			if ids[e] == "" && e != "NOASSERTION" && e != "NONE" {
				bad("relationship %s %s %s names no element of the document", r.SPDXElementID, r.RelationshipType, r.RelatedSPDXElement)
			}
		}
	}
	// SPDX 2.3 §7.8 and §7.9: a package whose files were not analysed
	// contains none; one whose files were has the verification code of
	// those it contains.
	for _, p := range d.Packages {
		var held []string
		for _, r := range d.Relationships {
			if r.RelationshipType == "CONTAINS" && r.SPDXElementID == p.SPDXID && ids[r.RelatedSPDXElement] == "file" {
				held = append(held, sha1s[r.RelatedSPDXElement])
			}
			if r.RelationshipType == "CONTAINED_BY" && r.RelatedSPDXElement == p.SPDXID && ids[r.SPDXElementID] == "file" {
				held = append(held, sha1s[r.SPDXElementID])
			}
		}
		analyzed := p.FilesAnalyzed == nil || *p.FilesAnalyzed
		switch {
		case !analyzed && (len(held) > 0 || len(p.HasFiles) > 0):
			bad("package %s (%s) has filesAnalyzed false yet contains %d files (SPDX 2.3 §7.8)", p.SPDXID, p.Name, len(held)+len(p.HasFiles))
		case !analyzed && p.VerificationCode != nil:
			bad("package %s has filesAnalyzed false and a verification code (SPDX 2.3 §7.9)", p.Name)
		case analyzed && p.VerificationCode == nil:
			bad("package %s (%s) has its files analyzed but no packageVerificationCode (SPDX 2.3 §7.9)", p.SPDXID, p.Name)
		case analyzed:
			slices.Sort(held)
			sum := sha1.Sum([]byte(strings.Join(held, "")))
			if want := hex.EncodeToString(sum[:]); p.VerificationCode.Value != want {
				bad("package %s: verification code %s, its %d files give %s", p.Name, p.VerificationCode.Value, len(held), want)
			}
		}
	}
	// NTIA: the relationships: the document describes something.
	describes := false
	for _, r := range d.Relationships {
		describes = describes || (r.RelationshipType == "DESCRIBES" && r.SPDXElementID == "SPDXRef-DOCUMENT")
	}
	if !describes {
		bad("the document DESCRIBES nothing")
	}
	return d, errs
}
