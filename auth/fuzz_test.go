package auth

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzHeaderRoundTrip: any credentials survive the header as the daemon
// decodes it, in base64url, and their String never shows the secret.
func FuzzHeaderRoundTrip(f *testing.F) {
	f.Add("user", "p@ss:w/rd+=", "", "quay.io")
	f.Add("", "", "", "docker.io")
	f.Add("me", "", "identity-token", "127.0.0.1:5000")
	f.Add("\"quoted\"", "\\back\\slash\n", "", "r.example")
	f.Add("ünï", "✓密码", "", "index.docker.io")
	f.Fuzz(func(t *testing.T, user, password, token, host string) {
		if !utf8.ValidString(user) || !utf8.ValidString(password) || !utf8.ValidString(token) || !utf8.ValidString(host) {
			return // JSON carries text; docker's own header is JSON too
		}
		in := Credentials{Username: user, Password: password, IdentityToken: token}
		h, err := Header(in, host)
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(h, "+/") {
			t.Fatalf("header %q is not base64url", h)
		}
		out, addr, err := DecodeHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if in.Empty() {
			if !out.Empty() || addr != "" {
				t.Fatalf("empty credentials came back as %#v for %q", out, addr)
			}
			return
		}
		if out != in || addr != ServerAddress(host) {
			t.Fatalf("round trip: %#v for %q, want %#v for %q", out, addr, in, ServerAddress(host))
		}
		// String depends on the user name alone: the secret cannot show.
		if (password != "" || token != "") && in.String() != (Credentials{Username: user, Password: "x"}).String() {
			t.Fatalf("String depends on the secret: %s", in)
		}
	})
}
