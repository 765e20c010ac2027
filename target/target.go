// Package target names where an image goes as docker push names it: a
// registry host, a repository and its tags, from the user's registry,
// repository and tags. It parses references; it speaks to nothing. Its
// errors name the input (field.Error): Registry, Repository or Tags.
package target

import (
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/distribution/reference"

	"github.com/scratchpush/scratchpush/field"
)

// Target is where an image goes: one repository and its tags, normalised the
// way docker push names them.
type Target struct {
	Repository reference.Named
	Tags       []reference.NamedTagged
	// Scheme is the one the registry was written with: "https" (HTTPS
	// only), "http" (plain HTTP allowed), or "" (none written).
	Scheme string
}

// Host is the registry host the target is pushed to ("docker.io" for
// Docker Hub).
func (t Target) Host() string { return reference.Domain(t.Repository) }

// Parse builds a Target from the user's registry, repository and tags. registry may be a URL (https://quay.io) or a host (quay.io);
// a repository without a registry host gets that host in front; without a
// registry, names go to Docker Hub as with docker push (user/app,
// docker.io/user/app). The repository must not carry a tag or digest: tags
// come from tags, which must not be empty.
func Parse(registry, repository string, tags []string) (Target, error) {
	host, err := NormalizeRegistry(registry)
	if err != nil {
		return Target{}, err
	}
	repo := strings.TrimSpace(repository)
	if repo == "" {
		return Target{}, field.Errorf("Repository", "empty: name the repository to push to, e.g. quay.io/team/app")
	}
	if strings.IndexFunc(repo, func(r rune) bool { return r < ' ' || r == 0x7f || r == utf8.RuneError }) >= 0 {
		return Target{}, field.Errorf("Repository", "%q holds a control character or invalid UTF-8: use lowercase letters, digits, '.', '_', '-' and '/'", repository)
	}
	if scheme, rest, ok := strings.Cut(repo, "://"); ok {
		host, _, _ := strings.Cut(rest, "/")
		return Target{}, field.Errorf("Repository", "%q: a repository names no scheme: give %s, and %s %s://%s if the scheme matters", repository, rest, field.Ref("Registry"), scheme, host)
	}
	if own, rest, ok := splitHost(repo); ok {
		if host != "" && canonicalHost(own) != host {
			return Target{}, field.Errorf("Repository", "%q names registry %s but %s is %s: drop one or make them agree", repository, own, field.Ref("Registry"), host)
		}
		repo = canonicalHost(own) + "/" + rest
	} else if host != "" {
		repo = host + "/" + repo
	}
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return Target{}, field.Errorf("Repository", "%q: %w", repository, err)
	}
	if _, ok := named.(reference.Tagged); ok {
		return Target{}, field.Errorf("Repository", "%q holds a tag: give the tag with %s", repository, field.Ref("Tags"))
	}
	if _, ok := named.(reference.Digested); ok {
		return Target{}, field.Errorf("Repository", "%q holds a digest: a push is named by tags, give them with %s", repository, field.Ref("Tags"))
	}
	if len(tags) == 0 {
		return Target{}, field.Errorf("Tags", "no tag given")
	}
	t := Target{Repository: named, Scheme: Scheme(registry)}
	seen := map[string]bool{}
	for _, tag := range tags {
		if seen[tag] {
			continue
		}
		seen[tag] = true
		tagged, err := reference.WithTag(named, tag)
		if err != nil {
			if name, after, ok := strings.Cut(tag, ":"); ok && after != "" && name != "" {
				return Target{}, field.Errorf("Tags", "%q is not a valid tag: a tag is what follows the colon: give %s %s, and the name in %s", tag, field.Ref("Tags"), after, field.Ref("Repository"))
			}
			return Target{}, field.Errorf("Tags", "%q is not a valid tag: use up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'", tag)
		}
		t.Tags = append(t.Tags, tagged)
	}
	return t, nil
}

// Scheme is the scheme a registry value was written with, lowercase: https,
// http, or "" for none.
func Scheme(registry string) string {
	scheme, _, found := strings.Cut(strings.TrimSpace(registry), "://")
	if !found {
		return ""
	}
	return strings.ToLower(scheme)
}

// NormalizeRegistry turns a registry value into a host name: the scheme
// and a trailing /v1/ or /v2/ are dropped, Docker Hub's many names become
// docker.io. "" stays "".
func NormalizeRegistry(registry string) (string, error) {
	r := strings.TrimSpace(registry)
	if r == "" {
		return "", nil
	}
	if strings.Contains(r, "@") {
		// Never echoed: the value holds a password.
		return "", field.Errorf("Registry", "has a user name or password in it: give the host alone (e.g. https://registry.example), and the credentials with %s and %s", field.Ref("Username"), field.Ref("Password"))
	}
	if strings.Contains(r, "://") {
		u, err := url.Parse(r)
		if err != nil || u.Host == "" {
			return "", field.Errorf("Registry", "%q: not a host or URL: give e.g. quay.io or https://quay.io", registry)
		}
		if u.Scheme != "https" && u.Scheme != "http" {
			return "", field.Errorf("Registry", "%q: scheme %q: use https:// or just the host", registry, u.Scheme)
		}
		if p := strings.Trim(u.Path, "/"); p != "" && p != "v1" && p != "v2" {
			return "", field.Errorf("Registry", "%q has a path: give the host only and put %q in %s", registry, p, field.Ref("Repository"))
		}
		r = u.Host
	} else if h, rest, ok := strings.Cut(strings.TrimSuffix(r, "/"), "/"); ok {
		if rest != "v1" && rest != "v2" {
			return "", field.Errorf("Registry", "%q has a path: give the host only and put %q in %s", registry, rest, field.Ref("Repository"))
		}
		r = h
	}
	host := canonicalHost(strings.ToLower(r))
	if _, err := reference.ParseNormalizedNamed(host + "/x"); err != nil {
		return "", field.Errorf("Registry", "%q: not a valid registry host", registry)
	}
	return host, nil
}

// NamesHost says repo begins with a registry host (quay.io/team/app,
// localhost:5000/app), by docker's rule; without one it goes to Docker Hub.
func NamesHost(repo string) bool {
	_, _, ok := splitHost(strings.TrimSpace(repo))
	return ok
}

// splitHost splits off the first path component when it names a registry,
// by docker's rule: it contains "." or ":", or is "localhost".
func splitHost(repo string) (host, rest string, ok bool) {
	first, rest, found := strings.Cut(repo, "/")
	if !found {
		return "", repo, false
	}
	if strings.ContainsAny(first, ".:") || first == "localhost" {
		return strings.ToLower(first), rest, true
	}
	return "", repo, false
}

func canonicalHost(h string) string {
	switch h {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return "docker.io"
	}
	return h
}
