package wercker

import (
	"testing"
)

// FuzzFind feeds Find arbitrary files and environments: it never panics, a
// step is always in the pipeline asked for, every key has its line, and the
// variables it reports unset are sorted, unique and truly unset.
func FuzzFind(f *testing.F) {
	f.Add("deploy:\n  steps:\n    - internal/docker-scratch-push:\n        cmd: ./app $X\n        env: [\"A=$$1\"]\n", "", "X", "1")
	f.Add("build:\n  - internal/docker-scratch-push\n", "build", "", "")
	f.Add("deploy: {steps: [{internal/docker-scratch-push: {tag: '${T}'}}]}", "deploy", "T", "v1")
	f.Add("a: &x [1]\nb: *x\n", "", "", "")
	f.Fuzz(func(t *testing.T, data, pipeline, name, value string) {
		step, err := Find([]byte(data), pipeline, func(k string) (string, bool) {
			if k == name {
				return value, true
			}
			return "", false
		})
		if err != nil {
			return
		}
		if step.Pipeline == "" || (pipeline != "" && step.Pipeline != pipeline) {
			t.Errorf("step found in pipeline %q, asked for %q", step.Pipeline, pipeline)
		}
		for i, u := range step.Unset {
			if u == name || (i > 0 && step.Unset[i-1] >= u) {
				t.Errorf("unset variables %q: not sorted and unique, or %q is set", step.Unset, name)
			}
		}
		for _, k := range step.Keys {
			if k.Line < 1 || (!k.List && len(k.Values) > 1) {
				t.Errorf("key %+v: no line, or a plain value that became several", k)
			}
		}
	})
}
