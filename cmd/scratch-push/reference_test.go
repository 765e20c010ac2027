package main

import (
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "write docs/flags.md from the command (make docs)")

// docs/flags.md is the command's own account of its flags: it fails here
// when a flag, its default or its words change without it.
func TestFlagReference(t *testing.T) {
	const path = "../../docs/flags.md"
	got := flagReference(newRootCommand(&streams{redact: &redactor{}}))
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: run make docs", err)
	}
	if string(want) != got {
		t.Errorf("docs/flags.md differs from the command's flags: run make docs and commit it")
	}
}
