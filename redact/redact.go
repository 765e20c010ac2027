// Package redact keeps secrets out of what a program writes: a last line of
// defence, so that no password reaches stderr or a log even when a daemon or
// registry echoes it in an error. Only what is written through a Redactor's
// writer is changed; results on stdout, built from names and digests, are
// never passed through it and never altered.
package redact

import (
	"io"
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
	secrets []string
}

// Add makes secret one to redact from now on.
func (r *Redactor) Add(secret string) {
	if len(secret) < MinSecret {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = append(r.secrets, secret)
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
