package wercker

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

// The seed's example, as the wercker docs give it.
func TestFindSeedExample(t *testing.T) {
	data, err := os.ReadFile("testdata/seed-wercker.yml")
	if err != nil {
		t.Fatal(err)
	}
	step, err := Find(data, "", env(map[string]string{"QUAY_USERNAME": "u", "QUAY_PASSWORD": "p", "WERCKER_GIT_COMMIT": "abc123"}))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, k := range step.Keys {
		got[k.Name] = k.Values
	}
	want := map[string][]string{
		"username":   {"u"},
		"password":   {"p"},
		"cmd":        {"./app"},
		"tag":        {"abc123"},
		"ports":      {"5000"},
		"repository": {"quay.io/wercker/wercker-kubernetes-quay"},
		"registry":   {"https://quay.io"},
	}
	if step.Pipeline != "deploy" || !reflect.DeepEqual(got, want) || len(step.Unset) != 0 {
		t.Errorf("pipeline %q, keys %v, unset %v; want deploy, %v", step.Pipeline, got, step.Unset, want)
	}
	if step.Keys[0].Name != "username" || step.Line != 24 {
		t.Errorf("keys out of file order or wrong line: first %q, step line %d", step.Keys[0].Name, step.Line)
	}
}

func TestFindExpansionAndLists(t *testing.T) {
	data := `
deploy:
  steps:
    - script:
        code: echo hi
    - internal/docker-scratch-push:
        cmd: ./app --name "${NAME}" --price $$5
        env: ["A=$A", "B=2"]
        labels: a=1 b="two words"
        tag: $MISSING-x
        empty:
`
	step, err := Find([]byte(data), "", env(map[string]string{"NAME": "my app", "A": "1"}))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Key{}
	for _, k := range step.Keys {
		k.Line = 0
		got[k.Name] = k
	}
	want := map[string]Key{
		"cmd":    {Name: "cmd", Values: []string{`./app --name "my app" --price $5`}},
		"env":    {Name: "env", Values: []string{"A=1", "B=2"}, List: true},
		"labels": {Name: "labels", Values: []string{`a=1 b="two words"`}},
		"tag":    {Name: "tag", Values: []string{"-x"}},
		"empty":  {Name: "empty"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("keys\n%v\nwant\n%v", got, want)
	}
	if !reflect.DeepEqual(step.Unset, []string{"MISSING"}) {
		t.Errorf("unset %v, want [MISSING]", step.Unset)
	}
}

func TestFindChoosesPipeline(t *testing.T) {
	data := `
box: golang
build:
  steps:
    - script:
        code: go build
deploy:
  steps:
    - internal/docker-scratch-push:
        tag: deploy
release:
  after-steps:
    - internal/docker-scratch-push:
        tag: release
dev:
  - internal/docker-scratch-push
`
	for _, c := range []struct {
		pipeline, wantTag, wantErr string
	}{
		{"", "", "3 internal/docker-scratch-push steps, in deploy (line 9), release (line 13), dev (line 16): choose one with --pipeline"},
		{"deploy", "deploy", ""},
		{"release", "release", ""},
		{"dev", "", ""},
		{"build", "", `pipeline "build" has no internal/docker-scratch-push step`},
		{"prod", "", `no pipeline "prod": the file has pipelines build, deploy, release, dev`},
	} {
		step, err := Find([]byte(data), c.pipeline, env(nil))
		switch {
		case c.wantErr != "":
			if err == nil || err.Error() != c.wantErr {
				t.Errorf("%q: error %v, want %q", c.pipeline, err, c.wantErr)
			}
		case err != nil:
			t.Errorf("%q: %v", c.pipeline, err)
		case c.wantTag == "" && len(step.Keys) != 0:
			t.Errorf("%q: keys %v, want none", c.pipeline, step.Keys)
		case c.wantTag != "" && (len(step.Keys) != 1 || step.Keys[0].Values[0] != c.wantTag):
			t.Errorf("%q: keys %v, want tag %s", c.pipeline, step.Keys, c.wantTag)
		}
	}
}

func TestFindRefuses(t *testing.T) {
	for _, c := range []struct{ name, data, want string }{
		{"not YAML", "deploy: [", "not valid YAML"},
		{"not a mapping", "- a\n- b\n", "top level is not a mapping"},
		{"only docker-push", "deploy:\n  steps:\n    - internal/docker-push:\n        tag: x\n", "only internal/docker-push in deploy (line 3)"},
		{"no step", "build:\n  steps:\n    - script:\n        code: x\n", "no internal/docker-scratch-push step in any pipeline (pipelines build)"},
		{"settings not a mapping", "deploy:\n  steps:\n    - internal/docker-scratch-push: [a]\n", "settings are not a mapping"},
		{"nested value", "deploy:\n  steps:\n    - internal/docker-scratch-push:\n        env: {A: 1}\n", "env: give a value or a list of values"},
		{"nested list item", "deploy:\n  steps:\n    - internal/docker-scratch-push:\n        env: [[A]]\n", "a list item is not a plain value"},
	} {
		_, err := Find([]byte(c.data), "", env(nil))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
	}
}
