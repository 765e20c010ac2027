package wercker

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/scratchpush/scratchpush/builder"
)

// Setting is what one key of the step gives the run: the field of
// plan.Input it sets (Workdir for working-dir; Password for the password,
// which belongs to the credentials) and its values as that field's flag
// takes them, one flag value each.
type Setting struct {
	Field  string
	Values []string
	// Key and Line say where it came from, for errors about the value.
	Key  string
	Line int
}

// Notice is a key that changes nothing, and why.
type Notice struct {
	Key  string
	Line int
	Why  string
}

// keyFields maps the step's keys (internal/docker-scratch-push takes
// internal/docker-push's) to the fields they set.
var keyFields = map[string]string{
	"username":    "Username",
	"password":    "Password",
	"repository":  "Repository",
	"tag":         "Tags",
	"registry":    "Registry",
	"cmd":         "Cmd",
	"entrypoint":  "Entrypoint",
	"ports":       "Ports",
	"volumes":     "Volumes",
	"working-dir": "Workdir",
	"user":        "User",
	"env":         "Env",
	"labels":      "Labels",
	"author":      "Labels",
	"stopsignal":  "StopSignal",
	// Not wercker's: scratch-push's --platform, for a multi-platform
	// image's PLATFORM=DIR pairs.
	"platform": "Platforms",
}

// ignored are keys that change nothing for scratch-push, and why.
var ignored = map[string]string{
	"email":        "registries have not used an e-mail address to log in since Docker 17.06",
	"disable-sync": "scratch-push reads the environment directly; there is no pipeline environment to sync",
}

// refused are keys that cannot apply, and why.
var refused = map[string]string{
	"message": "a layer comment belongs to a container commit, and scratch-push builds the image from the folder instead: remove it",
}

// Settings reads what the step's keys set, in file order. A key that
// cannot apply (message, aws-*, azure-*) or a value that cannot be split
// is an error naming its line; keys that change nothing or are unknown
// come back as notices.
func (s Step) Settings() ([]Setting, []Notice, error) {
	var settings []Setting
	var notices []Notice
	for _, k := range s.Keys {
		why, no := refused[k.Name]
		if strings.HasPrefix(k.Name, "aws-") || strings.HasPrefix(k.Name, "azure-") {
			why, no = "registry-specific logins are not supported: log in with docker login or give --username and --password-stdin", true
		}
		if no {
			return nil, nil, fmt.Errorf("line %d: %s: %s", k.Line, k.Name, why)
		}
		if why, ok := ignored[k.Name]; ok {
			notices = append(notices, Notice{k.Name, k.Line, k.Name + " is ignored: " + why})
			continue
		}
		name, ok := keyFields[k.Name]
		if !ok {
			notices = append(notices, Notice{k.Name, k.Line, fmt.Sprintf("unknown key %q in the %s step: ignored", k.Name, StepName)})
			continue
		}
		values, err := keyValues(k)
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %s: %w", k.Line, k.Name, err)
		}
		settings = append(settings, Setting{Field: name, Values: values, Key: k.Name, Line: k.Line})
	}
	return settings, notices, nil
}

// keyValues turns a key into flag values. cmd and entrypoint stay one value
// (a YAML list becomes a JSON array); env and labels split into items as
// wercker did, from a list, a JSON array or shell-like words; volumes split
// on commas and spaces; author becomes the OCI authors label; the password
// is one string; the rest pass whole, as their flags take lists.
func keyValues(k Key) ([]string, error) {
	switch k.Name {
	case "author":
		return []string{"org.opencontainers.image.authors=" + strings.Join(k.Values, ", ")}, nil
	case "password":
		return []string{strings.Join(k.Values, "")}, nil
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
