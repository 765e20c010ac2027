package main

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// usageWidth is what --help fits in: a terminal's classic 80 columns.
const usageWidth = 80

// flagColumn is where descriptions start; a flag whose name and value run
// past it has its description on the lines below.
const flagColumn = 30

// wrapUsage makes cmd's help fit in usageWidth columns: cobra's usage, with
// flags listed by flagUsages rather than pflag's one line each, whose column
// widens to the longest flag (--ca-certs string[="/etc/ssl/…"]). It is Go,
// not a cobra template: a template brings in text/template, whose
// reflection keeps every method in the binary (4 MB and 2.5 MiB of RSS).
func wrapUsage(cmd *cobra.Command) {
	cmd.SetUsageFunc(func(c *cobra.Command) error {
		var b strings.Builder
		b.WriteString("Usage:")
		if c.Runnable() {
			fmt.Fprintf(&b, "\n  %s", c.UseLine())
		}
		subs := c.HasAvailableSubCommands()
		if subs {
			fmt.Fprintf(&b, "\n  %s [command]", c.CommandPath())
		}
		if c.HasExample() {
			fmt.Fprintf(&b, "\n\nExamples:\n%s", c.Example)
		}
		if subs {
			b.WriteString("\n\nAvailable Commands:")
			for _, sub := range c.Commands() {
				if sub.IsAvailableCommand() || sub.Name() == "help" {
					fmt.Fprintf(&b, "\n  %-*s %s", sub.NamePadding(), sub.Name(), sub.Short)
				}
			}
		}
		if c.HasAvailableLocalFlags() {
			fmt.Fprintf(&b, "\n\nFlags:\n%s", strings.TrimRight(flagUsages(c.LocalFlags()), " \n"))
		}
		if c.HasAvailableInheritedFlags() {
			fmt.Fprintf(&b, "\n\nGlobal Flags:\n%s", strings.TrimRight(flagUsages(c.InheritedFlags()), " \n"))
		}
		if subs {
			fmt.Fprintf(&b, "\n\nUse \"%s [command] --help\" for more information about a command.", c.CommandPath())
		}
		b.WriteString("\n")
		_, err := io.WriteString(c.OutOrStderr(), b.String())
		return err
	})
}

// flagUsages lists fs's flags in usageWidth columns: the name and value
// (-q, --quiet; --repository string; --ca-certs[=FILE]), then the
// description and default, wrapped at word boundaries.
func flagUsages(fs *pflag.FlagSet) string {
	var b strings.Builder
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		varname, usage := pflag.UnquoteUsage(f)
		name := "      --" + f.Name
		if f.Shorthand != "" {
			name = "  -" + f.Shorthand + ", --" + f.Name
		}
		switch {
		case f.NoOptDefVal != "" && varname != "" && f.Value.Type() != "bool":
			name += "[=" + varname + "]"
		case varname != "":
			name += " " + varname
		}
		if d := f.DefValue; d != "" && d != "false" && d != "0" && d != "[]" {
			usage += fmt.Sprintf(" (default %s)", d)
		}
		b.WriteString(name)
		if utf8.RuneCountInString(name) >= flagColumn-1 {
			b.WriteString("\n" + strings.Repeat(" ", flagColumn))
		} else {
			b.WriteString(strings.Repeat(" ", flagColumn-len(name)))
		}
		b.WriteString(wrap(usage, usageWidth-flagColumn, strings.Repeat(" ", flagColumn)))
		b.WriteString("\n")
	})
	return b.String()
}

// wrap breaks text into lines of at most width columns at spaces (a longer
// word stands alone), each after the first starting with indent.
func wrap(text string, width int, indent string) string {
	var b strings.Builder
	n := 0
	for _, w := range strings.Fields(text) {
		switch {
		case n == 0:
		case n+1+utf8.RuneCountInString(w) > width:
			b.WriteString("\n" + indent)
			n = 0
		default:
			b.WriteString(" ")
			n++
		}
		b.WriteString(w)
		n += utf8.RuneCountInString(w)
	}
	return b.String()
}
