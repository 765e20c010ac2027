package redact

import (
	"bytes"
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
