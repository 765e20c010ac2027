package redact

import (
	"bytes"
	"strings"
	"testing"
)

func TestRedactor(t *testing.T) {
	var r Redactor
	var buf bytes.Buffer
	w := r.Writer(&buf)
	r.Add("abc") // too short to redact without garbling output
	r.Add("s3cr3t-value")
	if _, err := w.Write([]byte("error: bad s3cr3t-value for abc\n")); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "error: bad [redacted] for abc\n" {
		t.Errorf("got %q", got)
	}
	if got := r.Clean("s3cr3t-value s3cr3t-value"); got != "[redacted] [redacted]" {
		t.Errorf("Clean left %q", got)
	}
}

// A registry that echoes the credentials back gets them redacted in every
// encoding it may use.
func TestRedactorEncodings(t *testing.T) {
	var r Redactor
	const user, password = "alice", `p"a&s<s>w	ord`
	r.AddCredentials(user, password)
	for _, echoed := range []string{
		password,
		`p\"a\u0026s\u003cs\u003ew\tord`, // json.Marshal
		`p\"a&s<s>w\tord`,                // JSON without HTML escaping
		"p%22a%26s%3Cs%3Ew%09ord",        // URL-encoded
		"p\"a&s<s>w ord",                 // whitespace collapsed
		"YWxpY2U6cCJhJnM8cz53CW9yZA==",   // base64 of user:password
		"YWxpY2U6cCJhJnM8cz53CW9yZA",     // without padding
	} {
		line := "error from registry: credentials " + echoed + " refused"
		if got := r.Clean(line); strings.Contains(got, echoed) || !strings.Contains(got, "[redacted]") {
			t.Errorf("%q cleaned to %q", line, got)
		}
	}
	if got := r.Clean("alice pushed 3 layers"); got != "alice pushed 3 layers" {
		t.Errorf("the user name alone is no secret: %q", got)
	}
}
