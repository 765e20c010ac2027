package registry

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
)

// Token services on private addresses. go-containerregistry refuses a
// bearer realm on a private or loopback IP literal unless it is the
// registry's own host:port, a guard against a registry sending the client's
// credentials to an internal service; Docker and Podman follow such a
// realm, and docker_auth's usual layout (a registry on 10.0.0.5:5000, its
// token service on 10.0.0.5:5001) needs it. Here a realm on a private or
// loopback address is followed as the daemons follow it, through a path
// on the registry's own host (realmPrefix) that this transport forwards,
// while a link-local one (169.254.169.254, a cloud's instance metadata)
// or an unspecified one stays refused, and a registry spoken to over HTTPS
// never gets its credentials forwarded to a plain-HTTP realm.

// realmPrefix is the path, on the registry's host, that stands for a
// token service on a private address: the realm's URL follows, base64.
const realmPrefix = "/.scratch-push/realm/"

var realmParam = regexp.MustCompile(`(?i)(realm=")([^"]*)(")`)

// realms rewrites such realms in a registry's challenges and forwards the
// token requests made to them.
type realms struct{ inner http.RoundTripper }

func (r realms) RoundTrip(req *http.Request) (*http.Response, error) {
	if rest, ok := strings.CutPrefix(req.URL.Path, realmPrefix); ok {
		return r.forward(req, rest)
	}
	resp, err := r.inner.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	values := resp.Header.Values("Www-Authenticate")
	for i, v := range values {
		values[i] = realmParam.ReplaceAllStringFunc(v, func(m string) string {
			parts := realmParam.FindStringSubmatch(m)
			if !followed(parts[2], req.URL) {
				return m
			}
			return parts[1] + req.URL.Scheme + "://" + req.URL.Host + realmPrefix + base64.RawURLEncoding.EncodeToString([]byte(parts[2])) + parts[3]
		})
	}
	return resp, nil
}

// followed says a realm is one this transport forwards: on a private or
// loopback IP literal other than the registry's own host, and by HTTPS,
// or by plain HTTP when the registry itself is spoken to so.
func followed(realm string, registry *url.URL) bool {
	u, err := url.Parse(realm)
	if err != nil || u.Host == registry.Host || (u.Scheme != "https" && (u.Scheme != "http" || registry.Scheme != "http")) {
		return false
	}
	addr, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		return false // a name: go-containerregistry's own rules apply
	}
	addr = addr.Unmap()
	return (addr.IsPrivate() || addr.IsLoopback()) && !addr.IsLinkLocalUnicast() && !addr.IsUnspecified()
}

// forward sends a token request made to a rewritten realm to the realm,
// with the query go-containerregistry added (service, scope), after
// checking the realm again: the path may have come from anyone.
func (r realms) forward(req *http.Request, encoded string) (*http.Response, error) {
	raw, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil {
		return nil, fmt.Errorf("a token request to %s: not a realm this client made", req.URL.Redacted())
	}
	if !followed(string(raw), req.URL) {
		return nil, fmt.Errorf("the token service %s is not one to send credentials to", raw)
	}
	to, _ := url.Parse(string(raw))
	q := to.Query()
	for k, vs := range req.URL.Query() {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	to.RawQuery = q.Encode()
	out := req.Clone(req.Context())
	out.URL, out.Host = to, ""
	return r.inner.RoundTrip(out)
}
