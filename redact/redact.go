// Package redact keeps secrets out of what a program writes: a last line of
// defence, so that no password reaches stderr or a log even when a daemon,
// registry or token server echoes it in an error, in whatever encoding it
// came back: as typed, JSON-escaped (as --progress json prints the daemon's
// messages), URL-encoded, base64 of user:password (a basic Authorization
// header), or with its whitespace collapsed. Only what is written through
// a Redactor's writer is changed; results on stdout, built from names and
// digests, are never passed through it and never altered.
package redact

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// MinSecret is the length of the shortest secret redacted: shorter strings
// turn up in ordinary output by chance, and replacing them would garble it.
const MinSecret = 4

// Redactor replaces the secrets it was given with "[redacted]". It is safe
// for concurrent use: secrets become known while the run writes.
type Redactor struct {
	mu      sync.Mutex
	secrets []string // longest first, so that a longer form goes whole
}

// Add makes secret, and each form it may be echoed in, one to redact from
// now on.
func (r *Redactor) Add(secret string) {
	if len(secret) < MinSecret {
		return
	}
	r.add(forms(secret)...)
}

// AddCredentials adds the password, and the user name and password as a
// basic Authorization header carries them (base64 of user:password).
func (r *Redactor) AddCredentials(user, password string) {
	r.Add(password)
	if password == "" {
		return
	}
	pair := []byte(user + ":" + password)
	r.add(base64.StdEncoding.EncodeToString(pair), base64.RawStdEncoding.EncodeToString(pair),
		base64.URLEncoding.EncodeToString(pair), base64.RawURLEncoding.EncodeToString(pair))
}

// forms are the ways a secret comes back in text: as is, JSON-escaped
// (with and without HTML escaping), URL-encoded, with whitespace collapsed
// to single spaces, and its base64.
func forms(secret string) []string {
	out := []string{secret}
	for _, html := range []bool{true, false} {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if enc.Encode(secret) == nil {
			s := strings.TrimSuffix(b.String(), "\n")
			out = append(out, s[1:len(s)-1])
		}
	}
	out = append(out, url.QueryEscape(secret), url.PathEscape(secret), strings.Join(strings.Fields(secret), " "),
		base64.StdEncoding.EncodeToString([]byte(secret)), base64.RawStdEncoding.EncodeToString([]byte(secret)))
	return out
}

func (r *Redactor) add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		if len(s) >= MinSecret && !slices.Contains(r.secrets, s) {
			r.secrets = append(r.secrets, s)
		}
	}
	slices.SortStableFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
}

// Clean returns s with every secret replaced.
func (r *Redactor) Clean(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}

// Writer writes to w what it is given, cleaned. A secret is only found
// whole within one Write, so writers through it write a line at a time.
func (r *Redactor) Writer(w io.Writer) io.Writer { return writer{r: r, w: w} }

type writer struct {
	r *Redactor
	w io.Writer
}

func (rw writer) Write(p []byte) (int, error) {
	if _, err := io.WriteString(rw.w, rw.r.Clean(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
