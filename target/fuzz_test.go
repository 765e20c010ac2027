package target

import (
	"strings"
	"testing"
)

// FuzzParseTarget: no input panics, and what it accepts names itself again:
// parsing the normalised repository and tags gives the same target.
func FuzzParseTarget(f *testing.F) {
	for _, s := range [][3]string{
		{"https://quay.io", "quay.io/wercker/app", "abc"},
		{"", "user/app", "v1"},
		{"", "app", "latest"},
		{"127.0.0.1:5000", "demo/app", "x"},
		{"https://index.docker.io/v1/", "user/app", "v1"},
		{"quay.io", "gcr.io/x/app", "a"},
		{"", "User/App", "a"},
		{"", "user/app:v1", "a"},
		{"", "user/app", "Bad:tag"},
		{"ftp://x", "a", "b"},
		{"", "localhost:5000/a/b/c", "x"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, registry, repository, tag string) {
		target, err := Parse(registry, repository, []string{tag})
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("a multi-line error: %q", err)
			}
			return
		}
		if len(target.Tags) != 1 || target.Tags[0].Tag() != tag {
			t.Fatalf("tags %v for %q", target.Tags, tag)
		}
		again, err := Parse("", target.Repository.String(), []string{tag})
		if err != nil || again.Tags[0].String() != target.Tags[0].String() || again.Host() != target.Host() {
			t.Fatalf("%q %q %q gave %s, which parses again as %v, %v", registry, repository, tag, target.Tags[0], again.Tags, err)
		}
	})
}
