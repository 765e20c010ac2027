package main

import (
	"reflect"
	"testing"

	"github.com/scratchpush/scratchpush/plan"
)

// notFlags are the fields of plan.Input that no flag of its own gives: an
// error about one is named without a flag.
var notFlags = map[string]string{
	"Dir":             "the argument, or WERCKER_OUTPUT_DIR",
	"SourceDateEpoch": "SOURCE_DATE_EPOCH",
	"MaxLayersExact":  "set by --max-layers",
	"LookupEnv":       "the environment",
	"Tool":            "this program's version",
	"Credentials":     "--username, --password, --password-stdin or the docker config",
	"CacheDir":        "SCRATCH_PUSH_CACHE_DIR",
	"SignPassword":    "COSIGN_PASSWORD, or the terminal",
}

// Every field of plan.Input is named by a flag in inputFlags, or said
// above to have none: a new field without either would be reported by its
// Go name.
func TestInputFlagsCoverInput(t *testing.T) {
	typ := reflect.TypeOf(plan.Input{})
	fields := map[string]bool{}
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		fields[name] = true
		_, flag := inputFlags[name]
		_, other := notFlags[name]
		switch {
		case flag && other:
			t.Errorf("plan.Input.%s is in inputFlags and in notFlags: keep one", name)
		case !flag && !other:
			t.Errorf("plan.Input.%s has no flag in inputFlags: add it there, or to notFlags with what gives it", name)
		}
	}
	for name := range inputFlags {
		if !fields[name] && name != "Username" && name != "Password" {
			t.Errorf("inputFlags names %s, which plan.Input has not", name)
		}
	}
	for name := range notFlags {
		if !fields[name] {
			t.Errorf("notFlags names %s, which plan.Input has not", name)
		}
	}
}
