package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/wercker"
)

// werckerFlags maps the step's keys (internal/docker-scratch-push takes
// internal/docker-push's) to the flags that do the same.
var werckerFlags = map[string]string{
	"username":    "username",
	"repository":  "repository",
	"tag":         "tag",
	"registry":    "registry",
	"cmd":         "cmd",
	"entrypoint":  "entrypoint",
	"ports":       "ports",
	"volumes":     "volume",
	"working-dir": "workdir",
	"user":        "user",
	"env":         "env",
	"labels":      "label",
	"stopsignal":  "stop-signal",
}

// werckerIgnored are keys that change nothing for scratch-push, and why.
var werckerIgnored = map[string]string{
	"email":        "registries have not used an e-mail address to log in since Docker 17.06",
	"disable-sync": "scratch-push reads the environment directly; there is no pipeline environment to sync",
}

// werckerRefused are keys that cannot apply, and why.
var werckerRefused = map[string]string{
	"message": "a layer comment belongs to a container commit, and scratch-push builds the image from the folder instead: remove it",
}

// applyWercker reads the step from the wercker.yml at path and sets every
// flag the command line left unset from its keys: a flag given on the
// command line replaces the key (all of a list key's values).
// The folder defaults to $WERCKER_OUTPUT_DIR, as in a wercker pipeline.
func applyWercker(s *streams, flags *pflag.FlagSet, o *options, path, pipeline string, args []string) ([]string, error) {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, usagef("--wercker-yml %q: no such file", path)
	case err != nil:
		return nil, usagef("--wercker-yml %q: %s", path, osReason(err))
	}
	step, err := wercker.Find(data, pipeline, os.LookupEnv)
	if err != nil {
		return nil, usagef("%s: %w", path, err)
	}
	for _, name := range step.Unset {
		warn(s, fmt.Sprintf("%s: $%s is not set, so it expands to nothing", path, name))
	}
	values := map[string][]string{} // by flag, in file order
	var order []string
	for _, k := range step.Keys {
		if why, ok := werckerRefused[k.Name]; ok || strings.HasPrefix(k.Name, "aws-") || strings.HasPrefix(k.Name, "azure-") {
			if !ok {
				why = "registry-specific logins are not supported: log in with docker login or give --username and --password-stdin"
			}
			return nil, usagef("%s line %d: %s: %s", path, k.Line, k.Name, why)
		}
		if why, ok := werckerIgnored[k.Name]; ok {
			warn(s, fmt.Sprintf("%s line %d: %s is ignored: %s", path, k.Line, k.Name, why))
			continue
		}
		if k.Name == "password" {
			if !flags.Changed("password") && !o.passwordStdin && os.Getenv("SCRATCH_PUSH_PASSWORD") == "" {
				o.password, o.passwordFromFile = strings.Join(k.Values, ""), true
				s.redact.add(o.password)
			}
			continue
		}
		flag, vs, err := keyFlag(k)
		switch {
		case err != nil:
			return nil, usagef("%s line %d: %s: %w", path, k.Line, k.Name, err)
		case flag == "":
			warn(s, fmt.Sprintf("%s line %d: unknown key %q in the %s step: ignored", path, k.Line, k.Name, wercker.StepName))
			continue
		}
		if _, seen := values[flag]; !seen {
			order = append(order, flag)
		}
		values[flag] = append(values[flag], vs...)
	}
	for _, flag := range order {
		if flags.Changed(flag) {
			continue // the command line wins
		}
		for _, v := range values[flag] {
			if err := flags.Set(flag, v); err != nil {
				return nil, usagef("%s: %s: %w", path, flag, err)
			}
		}
	}
	o.werckerStep = fmt.Sprintf("running the %s step of pipeline %s (%s line %d)", wercker.StepName, step.Pipeline, path, step.Line)
	if len(args) == 0 {
		dir := os.Getenv("WERCKER_OUTPUT_DIR")
		if dir == "" {
			return nil, usagef("no folder given and WERCKER_OUTPUT_DIR is not set: give the folder, e.g. scratch-push --wercker-yml %s ./out", path)
		}
		args = []string{dir}
	}
	return args, nil
}

// keyFlag says which flag a key sets and with what; no flag for a key
// it does not know.
func keyFlag(k wercker.Key) (string, []string, error) {
	if k.Name == "author" {
		return "label", []string{"org.opencontainers.image.authors=" + strings.Join(k.Values, ", ")}, nil
	}
	flag, ok := werckerFlags[k.Name]
	if !ok {
		return "", nil, nil
	}
	values, err := keyValues(k)
	return flag, values, err
}

// keyValues turns a key into flag values. cmd and entrypoint stay one value
// (a YAML list becomes a JSON array); env and labels split into items as
// wercker did, from a list, a JSON array or shell-like words; volumes split
// on commas and spaces; the rest pass whole, as their flags take lists.
func keyValues(k wercker.Key) ([]string, error) {
	switch k.Name {
	case "cmd", "entrypoint":
		if !k.List {
			return k.Values, nil
		}
		b, err := json.Marshal(k.Values)
		return []string{string(b)}, err
	case "env", "labels":
		if k.List {
			return k.Values, nil
		}
		var out []string
		for _, v := range k.Values {
			words, err := builder.ParseCommand(v)
			if err != nil {
				return nil, err
			}
			out = append(out, words...)
		}
		return out, nil
	case "volumes":
		var out []string
		for _, v := range k.Values {
			out = append(out, builder.SplitList(v)...)
		}
		return out, nil
	}
	return k.Values, nil
}
