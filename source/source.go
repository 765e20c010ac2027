// Package source finds where an image's files come from: the repository's
// URL and the commit, from a CI system's variables or from the git
// checkout that holds the folder, for the OCI's source and revision labels
// (org.opencontainers.image.source and .revision), which GHCR links a
// package to its repository by and Renovate reads. A URL never keeps the
// user name or password some remotes carry.
package source

import (
	"context"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
)

// Info is what was found; empty fields were not.
type Info struct {
	URL, Revision string
	// From says what told: the CI variables or the checkout.
	From string
	// LocalOrigin is the checkout's origin remote when it is a local path
	// (a clone of a clone), which names no source a label could give.
	LocalOrigin string
}

// Detect asks the CI variables first (GitHub Actions, GitLab CI, wercker),
// then git about the checkout holding dir. lookup reads a variable (as
// os.LookupEnv does). No CI and no checkout, or no git on PATH, give an
// empty Info, not an error: the labels are then left out.
func Detect(ctx context.Context, dir string, lookup func(string) (string, bool)) Info {
	get := func(k string) string {
		if lookup == nil {
			return ""
		}
		v, _ := lookup(k)
		return strings.TrimSpace(v)
	}
	switch {
	case get("GITHUB_REPOSITORY") != "" && get("GITHUB_SHA") != "":
		server := get("GITHUB_SERVER_URL")
		if server == "" {
			server = "https://github.com"
		}
		return Info{URL: CleanURL(strings.TrimSuffix(server, "/") + "/" + get("GITHUB_REPOSITORY")), Revision: get("GITHUB_SHA"), From: "GITHUB_* variables"}
	case get("CI_PROJECT_URL") != "" && get("CI_COMMIT_SHA") != "":
		return Info{URL: CleanURL(get("CI_PROJECT_URL")), Revision: get("CI_COMMIT_SHA"), From: "GitLab's CI_* variables"}
	case get("WERCKER_GIT_REPOSITORY") != "" && get("WERCKER_GIT_COMMIT") != "":
		domain := get("WERCKER_GIT_DOMAIN")
		if domain == "" {
			domain = "github.com"
		}
		return Info{URL: CleanURL("https://" + domain + "/" + get("WERCKER_GIT_OWNER") + "/" + get("WERCKER_GIT_REPOSITORY")), Revision: get("WERCKER_GIT_COMMIT"), From: "WERCKER_GIT_* variables"}
	}
	return fromGit(ctx, dir)
}

// fromGit asks git for the commit checked out where dir is, and the URL
// of its origin remote.
func fromGit(ctx context.Context, dir string) Info {
	git := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...).Output()
		return strings.TrimSpace(string(out)), err
	}
	rev, err := git("rev-parse", "--verify", "-q", "HEAD")
	if err != nil || !commitID.MatchString(rev) {
		return Info{}
	}
	top, _ := git("rev-parse", "--show-toplevel")
	info := Info{Revision: rev, From: "the git checkout " + top}
	if remote, err := git("remote", "get-url", "origin"); err == nil {
		info.URL = CleanURL(remote)
		if info.URL == "" && (strings.HasPrefix(remote, "/") || strings.HasPrefix(remote, ".") || strings.HasPrefix(remote, "file://")) {
			info.LocalOrigin = remote
		}
	}
	return info
}

var commitID = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// scpLike is git's user@host:path form of an ssh URL.
var scpLike = regexp.MustCompile(`^(?:[^@/]+@)?([^:/]+):(.+)$`)

// CleanURL is a repository URL fit for a label: https for git's ssh forms,
// no user name or password, no .git suffix; "" for what is not a URL.
func CleanURL(raw string) string {
	raw = strings.TrimSpace(raw)
	if !strings.Contains(raw, "://") {
		m := scpLike.FindStringSubmatch(raw)
		if m == nil {
			return ""
		}
		raw = "https://" + m[1] + "/" + strings.TrimPrefix(m[2], "/")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	switch u.Scheme {
	case "ssh", "git", "git+ssh":
		u.Scheme = "https"
		u.Host = u.Hostname() // an ssh port means nothing over https
	case "http", "https":
	default:
		return ""
	}
	u.User = nil
	u.RawQuery, u.Fragment = "", ""
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), ".git")
	return u.String()
}
