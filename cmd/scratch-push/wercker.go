package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/pflag"

	"github.com/scratchpush/scratchpush/wercker"
)

// applyWercker reads the step from the --wercker-yml file and sets every
// flag the command line left unset from its keys: a flag given on the
// command line replaces the key (all of a list key's values). Each flag set
// remembers the key and line in o.origins. The folder defaults to
// $WERCKER_OUTPUT_DIR, as in a wercker pipeline, unless platform keys
// name the folders.
func applyWercker(s *streams, flags *pflag.FlagSet, o *options, args []string) ([]string, error) {
	path := o.werckerYML
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, usagef("--wercker-yml %q: no such file", path)
	case err != nil:
		return nil, usagef("--wercker-yml: %w", err)
	}
	step, err := wercker.Find(data, o.pipeline, os.LookupEnv)
	if err != nil {
		return nil, usagef("%s: %w", path, err)
	}
	for _, name := range step.Unset {
		warn(s, fmt.Sprintf("%s: $%s is not set, so it expands to nothing", path, name))
	}
	settings, notices, err := step.Settings()
	if err != nil {
		return nil, usagef("%s %w", path, err)
	}
	for _, n := range notices {
		warn(s, fmt.Sprintf("%s line %d: %s", path, n.Line, n.Why))
	}
	values := map[string][]string{} // by flag, in file order
	var order []string
	from := map[string]string{} // by flag, the first key that gives it
	for _, set := range settings {
		if set.Field == "Password" {
			if !flags.Changed("password") && !o.passwordStdin && os.Getenv("SCRATCH_PUSH_PASSWORD") == "" {
				o.in.Credentials.Password, o.passwordFromFile = set.Values[0], true
				s.redact.Add(o.in.Credentials.Password)
			}
			continue
		}
		flag := inputFlags[set.Field]
		if _, seen := values[flag]; !seen {
			order = append(order, flag)
			from[flag] = fmt.Sprintf("%s line %d: %s", path, set.Line, set.Key)
		}
		values[flag] = append(values[flag], set.Values...)
	}
	for _, flag := range order {
		if flags.Changed(flag) {
			continue // the command line wins
		}
		for _, v := range values[flag] {
			if err := flags.Set(flag, v); err != nil {
				return nil, usagef("%s: %w", from[flag], err)
			}
		}
		o.origins[flag] = from[flag]
	}
	o.werckerStep = fmt.Sprintf("running the %s step of pipeline %s (%s line %d)", wercker.StepName, step.Pipeline, path, step.Line)
	if len(args) == 0 && !platformFolders(o.in.Platforms) {
		dir := os.Getenv("WERCKER_OUTPUT_DIR")
		if dir == "" {
			return nil, usagef("no folder given and WERCKER_OUTPUT_DIR is not set: give the folder, e.g. scratch-push --wercker-yml %s ./out", path)
		}
		args, o.dirFrom = []string{dir}, "WERCKER_OUTPUT_DIR"
	}
	return args, nil
}
