// Package wercker finds the internal/docker-scratch-push step in a
// wercker.yml, so that a pipeline's step runs unchanged: its keys, in file
// order, with $VAR and ${VAR} expanded from the environment as wercker did.
// Settings says what each key sets, by the name of the plan.Input field it
// gives; which flag that is stays the command's business.
package wercker

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// StepName is the step scratch-push stands in for.
const StepName = "internal/docker-scratch-push"

// Step is the step as found: where, and its keys.
type Step struct {
	Pipeline string
	Line     int
	Keys     []Key
	// Unset names the variables the keys use that the environment lacks;
	// each expanded to nothing, as in wercker.
	Unset []string
}

// Key is one key of the step. A scalar gives one value; a YAML list gives
// one per item (env: ["A=1", "B=2"]).
type Key struct {
	Name   string
	Values []string
	List   bool
	Line   int
}

// Find parses a wercker.yml and returns the internal/docker-scratch-push
// step of pipeline, or of the one pipeline that has it when pipeline is
// empty. A pipeline is a mapping whose steps and after-steps lists hold the
// steps, or a list of steps itself. lookup reads the environment.
func Find(data []byte, pipeline string, lookup func(string) (string, bool)) (Step, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Step{}, fmt.Errorf("not valid YAML: %w", err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return Step{}, errors.New("not a wercker.yml: the top level is not a mapping of pipelines")
	}
	var found []Step
	var pipelines, others []string
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		name, value := top.Content[i].Value, top.Content[i+1]
		steps := pipelineSteps(value)
		if steps == nil {
			continue
		}
		pipelines = append(pipelines, name)
		if pipeline != "" && name != pipeline {
			continue
		}
		for _, s := range steps {
			step, key, ok := stepOf(s)
			switch {
			case !ok:
			case key == StepName:
				st, err := readStep(name, s.Line, step, lookup)
				if err != nil {
					return Step{}, err
				}
				found = append(found, st)
			case key == "internal/docker-push":
				others = append(others, fmt.Sprintf("%s (line %d)", name, s.Line))
			}
		}
	}
	switch {
	case pipeline != "" && !contains(pipelines, pipeline):
		return Step{}, fmt.Errorf("no pipeline %q: the file has %s", pipeline, list(pipelines))
	case len(found) == 0 && len(others) > 0:
		return Step{}, fmt.Errorf("no %s step, only internal/docker-push in %s, which pushes the pipeline's container: scratch-push makes an image of a folder; name the step %s", StepName, strings.Join(others, ", "), StepName)
	case len(found) == 0 && pipeline != "":
		return Step{}, fmt.Errorf("pipeline %q has no %s step", pipeline, StepName)
	case len(found) == 0:
		return Step{}, fmt.Errorf("no %s step in any pipeline (%s)", StepName, list(pipelines))
	case len(found) > 1:
		var where []string
		for _, f := range found {
			where = append(where, fmt.Sprintf("%s (line %d)", f.Pipeline, f.Line))
		}
		if pipeline != "" {
			return Step{}, fmt.Errorf("pipeline %q has %d %s steps (%s): scratch-push runs one", pipeline, len(found), StepName, strings.Join(where, ", "))
		}
		return Step{}, fmt.Errorf("%d %s steps, in %s: choose one with --pipeline", len(found), StepName, strings.Join(where, ", "))
	}
	return found[0], nil
}

// pipelineSteps returns a pipeline's steps and after-steps, or nil when the
// value is no pipeline (box, services, ...).
func pipelineSteps(n *yaml.Node) []*yaml.Node {
	switch n.Kind {
	case yaml.SequenceNode:
		return n.Content
	case yaml.MappingNode:
		var steps []*yaml.Node
		isPipeline := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i].Value; (k == "steps" || k == "after-steps") && n.Content[i+1].Kind == yaml.SequenceNode {
				steps = append(steps, n.Content[i+1].Content...)
				isPipeline = true
			}
		}
		if isPipeline && steps == nil {
			return []*yaml.Node{}
		}
		return steps
	}
	return nil
}

// stepOf splits a step entry: "- name" or "- name: {keys}".
func stepOf(n *yaml.Node) (keys *yaml.Node, name string, ok bool) {
	switch {
	case n.Kind == yaml.ScalarNode:
		return nil, n.Value, true
	case n.Kind == yaml.MappingNode && len(n.Content) == 2:
		return n.Content[1], n.Content[0].Value, true
	}
	return nil, "", false
}

func readStep(pipeline string, line int, keys *yaml.Node, lookup func(string) (string, bool)) (Step, error) {
	st := Step{Pipeline: pipeline, Line: line}
	if keys == nil || keys.Tag == "!!null" {
		return st, nil
	}
	if keys.Kind != yaml.MappingNode {
		return st, fmt.Errorf("line %d: the %s step's settings are not a mapping of keys", keys.Line, StepName)
	}
	unset := map[string]bool{}
	expand := func(s string) string {
		return os.Expand(s, func(name string) string {
			if name == "$" { // $$ is a literal $
				return "$"
			}
			v, ok := lookup(name)
			if !ok {
				unset[name] = true
			}
			return v
		})
	}
	for i := 0; i+1 < len(keys.Content); i += 2 {
		k, v := keys.Content[i], keys.Content[i+1]
		key := Key{Name: k.Value, Line: k.Line}
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag != "!!null" {
				key.Values = []string{expand(v.Value)}
			}
		case yaml.SequenceNode:
			key.List = true
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode {
					return st, fmt.Errorf("line %d: %s: a list item is not a plain value", item.Line, k.Value)
				}
				key.Values = append(key.Values, expand(item.Value))
			}
		default:
			return st, fmt.Errorf("line %d: %s: give a value or a list of values", v.Line, k.Value)
		}
		st.Keys = append(st.Keys, key)
	}
	for name := range unset {
		st.Unset = append(st.Unset, name)
	}
	sort.Strings(st.Unset)
	return st, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func list(names []string) string {
	if len(names) == 0 {
		return "no pipelines"
	}
	return "pipelines " + strings.Join(names, ", ")
}
