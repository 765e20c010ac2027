package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// choice is a flag that takes one of a fixed set of values. A value
// outside the set is refused as the flag is parsed, naming the set, before
// it could be mistaken for anything else: the folder it took as its value
// (--push out) would otherwise be missed as a folder.
type choice struct {
	value  *string
	values []string
}

// choiceVar defines a flag of fs whose value is one of values.
func choiceVar(fs *pflag.FlagSet, p *string, name, def, usage string, values ...string) {
	*p = def
	fs.Var(&choice{p, values}, name, usage)
}

func (c *choice) String() string { return *c.value }
func (c *choice) Type() string   { return "string" }

func (c *choice) Set(v string) error {
	if slices.Contains(c.values, v) {
		*c.value = v
		return nil
	}
	msg := "give " + orList(c.values)
	if isFolder(v) {
		msg += fmt.Sprintf("; %s is a folder: give the flag its value, then the folder last", v)
	}
	return errors.New(msg)
}

// orList is "a, b or c".
func orList(values []string) string {
	if len(values) < 2 {
		return strings.Join(values, "")
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}

func isFolder(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// noFolder says that no folder was named, and, when a flag given took a
// folder as its value (--context out, with out meant as the folder), says
// which.
func noFolder(fs *pflag.FlagSet) error {
	var took string
	fs.Visit(func(f *pflag.Flag) {
		if took != "" || f.Value.Type() == "bool" {
			return
		}
		v := f.Value.String()
		if s, ok := f.Value.(pflag.SliceValue); ok {
			all := s.GetSlice()
			if len(all) == 0 {
				return
			}
			v = all[len(all)-1]
		}
		if isFolder(v) {
			took = fmt.Sprintf("--%s took %q as its value; if %s is the folder, give --%s its own value first, then the folder", f.Name, v, v, f.Name)
		}
	})
	if took != "" {
		return usagef("no folder given: %s", took)
	}
	return usagef("no folder given: name the folder of build output last (scratch-push [flags] DIR), or give --platform PLATFORM=DIR for each platform: see scratch-push --help")
}

// reflexes are flags of docker, ko and crane that users type out of habit,
// and what says the same here.
var reflexes = map[string]string{
	"t":                  "docker build -t NAME:TAG is --repository NAME --tag TAG here",
	"p":                  "ports are exposed with --ports (no host binding: docker run -p binds them)",
	"port":               "did you mean --ports?",
	"publish":            "ports are exposed with --ports (no host binding: docker run -p binds them)",
	"expose":             "did you mean --ports?",
	"e":                  "did you mean --env?",
	"l":                  "did you mean --label?",
	"u":                  "did you mean --user?",
	"w":                  "did you mean --workdir?",
	"f":                  "no Dockerfile is read: scratch-push writes one from --cmd, --ports, --env, --label and the rest",
	"file":               "no Dockerfile is read: scratch-push writes one from --cmd, --ports, --env, --label and the rest",
	"image":              "did you mean --repository (and --tag)?",
	"name":               "did you mean --repository (and --tag)?",
	"repo":               "did you mean --repository?",
	"insecure":           "a loopback registry is spoken to in plain HTTP already; for another, write --registry http://HOST",
	"insecure-registry":  "a loopback registry is spoken to in plain HTTP already; for another, write --registry http://HOST",
	"allow-insecure-tls": "a loopback registry is spoken to in plain HTTP already; for another, write --registry http://HOST",
	"load":               "the image always lands in the daemon; --no-push keeps it there alone",
	"local":              "--no-push builds into the daemon alone",
}

// flagError makes a flag parsing error say what to type instead: the
// flag a docker, ko or crane habit means here, or the nearest flag name.
func flagError(c *cobra.Command, err error) error {
	msg := err.Error()
	var name string
	if rest, ok := strings.CutPrefix(msg, "unknown flag: --"); ok {
		name, _, _ = strings.Cut(rest, "=")
	} else if rest, ok := strings.CutPrefix(msg, "unknown shorthand flag: '"); ok {
		name, _, _ = strings.Cut(rest, "'")
	}
	if name != "" {
		if hint, ok := reflexes[name]; ok {
			return usagef("%s: %s", msg, hint)
		}
		if near := nearestFlag(c.Flags(), name); near != "" {
			return usagef("%s: did you mean --%s?", msg, near)
		}
	}
	return usagef("%v: see %s --help", err, c.CommandPath())
}

// nearestFlag is the flag of fs whose name is name's plural or singular,
// or at most two edits from it; "" when none or several are.
func nearestFlag(fs *pflag.FlagSet, name string) string {
	var best string
	bestDist := 3
	ties := 0
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		d := editDistance(name, f.Name)
		if f.Name == name+"s" || name == f.Name+"s" {
			d = 0
		}
		switch {
		case d < bestDist:
			best, bestDist, ties = f.Name, d, 0
		case d == bestDist:
			ties++
		}
	})
	if ties > 0 || len(name) < 3 {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
