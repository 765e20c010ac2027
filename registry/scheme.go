package registry

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Schemes. A scheme the user wrote is a promise: https:// means HTTPS, and
// never a silent fallback to plain HTTP, which would send the credentials
// in the clear; http:// allows plain HTTP; with none written, plain HTTP
// goes to loopback addresses only (127.0.0.0/8, ::1, localhost), where it
// leaves no machine. go-containerregistry itself falls back to plain HTTP
// for any private address; plainHTTP guards every request against it.

// WithScheme sets the scheme the registry was written with: "https",
// "http" or "" (none).
func WithScheme(scheme string) Option { return func(c *Client) { c.scheme = scheme } }

// ErrPlainHTTP marks a registry that would have been spoken to in plain
// HTTP where the user did not allow it.
var ErrPlainHTTP = fmt.Errorf("plain HTTP not allowed")

// plainHTTP refuses a plain-HTTP request the scheme does not allow.
type plainHTTP struct {
	inner  http.RoundTripper
	scheme string
}

func (p plainHTTP) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !plainAllowed(p.scheme, req.URL.Hostname()) {
		if p.scheme == "https" {
			return nil, fmt.Errorf("%w: %s was written with https://, and a request would have gone to it in plain HTTP: serve HTTPS there, or write http:// if plain HTTP is meant", ErrPlainHTTP, req.URL.Host)
		}
		return nil, fmt.Errorf("%w: %s is not a loopback address, and plain HTTP would carry the credentials across the network: serve HTTPS there, or write the registry as http://%s to allow it", ErrPlainHTTP, req.URL.Host, req.URL.Host)
	}
	return p.inner.RoundTrip(req)
}

// plainAllowed says plain HTTP may go to host under scheme.
func plainAllowed(scheme, host string) bool {
	switch scheme {
	case "https":
		return false
	case "http":
		return true
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && addr.Unmap().IsLoopback()
}

// nameOptions are how a reference to a repository of host is parsed:
// where plain HTTP is allowed (http:// written, or a loopback address
// with no scheme: 127.0.0.2 and localhost too, which go-containerregistry
// would speak HTTPS to), go-containerregistry may use it.
func (c *Client) nameOptions(host string) []name.Option {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if c.scheme != "https" && plainAllowed(c.scheme, h) {
		return []name.Option{name.Insecure}
	}
	return nil
}
