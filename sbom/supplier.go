package sbom

import (
	"strings"

	"github.com/distribution/reference"
	"github.com/package-url/packageurl-go"
	"github.com/spdx/tools-golang/spdx/v2/common"
)

// noAssertion is SPDX's word for "not known here": allowed for a supplier
// (SPDX 2.3 §7.5), and accepted by the NTIA minimum elements, which ask
// that the field be there.
var noAssertion = &common.Supplier{Supplier: "NOASSERTION"}

func organization(name string) *common.Supplier {
	return &common.Supplier{Supplier: name, SupplierType: "Organization"}
}

// forges are the hosts whose module paths name their owner first:
// github.com/OWNER/repo.
var forges = map[string]bool{
	"github.com": true, "gitlab.com": true, "bitbucket.org": true, "codeberg.org": true,
	"gitee.com": true, "git.sr.ht": true,
}

// moduleSupplier is who publishes a Go module, as its path says: the
// owner on a forge (github.com/OWNER), the Go project for the standard
// library and golang.org/x, gopkg.in's GitHub owner, else the domain
// that serves the module (a vanity path names its owner's domain). A
// path with no domain (a local module) says nothing: NOASSERTION.
func moduleSupplier(path string) *common.Supplier {
	if path == "stdlib" || path == "golang.org" || strings.HasPrefix(path, "golang.org/x/") {
		return organization("The Go Authors (golang.org)")
	}
	parts := strings.Split(path, "/")
	host := parts[0]
	if !strings.Contains(host, ".") {
		return noAssertion
	}
	switch {
	case forges[host] && len(parts) > 1:
		return organization(host + "/" + parts[1])
	case host == "gopkg.in" && len(parts) == 2: // gopkg.in/yaml.v3 is github.com/go-yaml/yaml
		name, _, _ := strings.Cut(parts[1], ".")
		return organization("github.com/go-" + name)
	case host == "gopkg.in" && len(parts) > 2: // gopkg.in/user/pkg.v1 is github.com/user/pkg
		return organization("github.com/" + parts[1])
	}
	return organization(host)
}

// imageSupplier is who distributes the image: the registry namespace
// its repository is in (quay.io/team for quay.io/team/app; the registry
// for a repository at its top level). An image with no repository (only
// written to files) says nothing: NOASSERTION.
func imageSupplier(repo reference.Named) *common.Supplier {
	if repo == nil {
		return noAssertion
	}
	path := reference.Path(repo)
	if i := strings.LastIndex(path, "/"); i >= 0 {
		return organization(reference.Domain(repo) + "/" + path[:i])
	}
	return organization(reference.Domain(repo))
}

// goPURL is a Go module's package URL as the purl spec writes it
// (github.com/package-url/purl-spec, type golang): the path's last
// element is the name, the rest the namespace, each percent-encoded, so
// v1.0.0+incompatible is v1.0.0%2Bincompatible. The library is the purl
// project's own, as syft uses its fork of it.
func goPURL(path, version string) string {
	namespace, name := "", path
	if i := strings.LastIndex(path, "/"); i >= 0 {
		namespace, name = path[:i], path[i+1:]
	}
	return packageurl.NewPackageURL(packageurl.TypeGolang, namespace, name, version, nil, "").ToString()
}
