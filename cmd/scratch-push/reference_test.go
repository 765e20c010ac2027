package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/scratchpush/scratchpush/redact"
)

var update = flag.Bool("update", false, "write docs/flags.md from the command (make docs)")

// docs/flags.md is the command's own account of its flags: it fails here
// when a flag, its default or its words change without it.
func TestFlagReference(t *testing.T) {
	const path = "../../docs/flags.md"
	got := flagReference(newRootCommand(&streams{redact: &redact.Redactor{}}))
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

// flagReference renders docs/flags.md from the command itself, so that the
// reference cannot drift from --help: a test compares the two, and
// `make docs` writes it again.
func flagReference(root *cobra.Command) string {
	var b strings.Builder
	b.WriteString(`# Flag reference

Generated from the command by ` + "`make docs`" + ` (a test fails when this
file and ` + "`scratch-push --help`" + ` disagree). Every flag can also come
from its variable, ` + "`SCRATCH_PUSH_`" + ` and the flag's name in capitals
with ` + "`_`" + ` for ` + "`-`" + `: a flag on the command line beats its
variable, which beats a ` + "`--wercker-yml`" + ` key. For a list flag the
variable gives one value, which may itself be a list where the flag takes
one (` + "`SCRATCH_PUSH_TAG=latest,v1`" + `).

`)
	fmt.Fprintf(&b, "## `%s`\n\n%s\n\n", root.UseLine(), root.Short)
	b.WriteString("| flag | variable | default | meaning |\n|---|---|---|---|\n")
	b.WriteString("| `DIR` (argument) | | `$WERCKER_OUTPUT_DIR` with `--wercker-yml` | the folder whose files make the image; its contents land at `/` |\n")
	flagRows(&b, root.NonInheritedFlags())
	for _, c := range root.Commands() {
		if !c.IsAvailableCommand() || c.Name() == "help" {
			continue
		}
		fmt.Fprintf(&b, "\n## `%s`\n\n%s\n", c.UseLine(), c.Short)
		if c.HasAvailableLocalFlags() {
			b.WriteString("\n| flag | variable | default | meaning |\n|---|---|---|---|\n")
			flagRows(&b, c.LocalFlags())
		}
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				fmt.Fprintf(&b, "\n- `%s`: %s\n", sub.UseLine(), sub.Short)
			}
		}
	}
	return b.String()
}

func flagRows(b *strings.Builder, fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Name == "help" {
			return
		}
		varname, usage := pflag.UnquoteUsage(f)
		name := "--" + f.Name
		if f.Shorthand != "" {
			name = "-" + f.Shorthand + ", " + name
		}
		switch {
		case f.NoOptDefVal != "" && f.Value.Type() != "bool":
			name += "[=" + varname + "]"
		case varname != "":
			name += " " + varname
		}
		def := ""
		if d := f.DefValue; d != "" && d != "false" && d != "0" && d != "[]" {
			def = "`" + d + "`"
		}
		if f.NoOptDefVal != "" && f.Value.Type() != "bool" {
			def = "given alone: `" + f.NoOptDefVal + "`"
		}
		env := "`" + envName(f.Name) + "`"
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", name, env, def, strings.ReplaceAll(usage, "|", `\|`))
	})
}
