package target

import (
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	cases := []struct {
		registry, repository string
		tags                 []string
		want                 []string
		host                 string
		err                  string
	}{
		{"https://quay.io", "quay.io/wercker/app", []string{"abc"}, []string{"quay.io/wercker/app:abc"}, "quay.io", ""},
		{"quay.io", "wercker/app", []string{"abc"}, []string{"quay.io/wercker/app:abc"}, "quay.io", ""},
		{"https://quay.io/", "wercker/app", []string{"a", "b", "a"}, []string{"quay.io/wercker/app:a", "quay.io/wercker/app:b"}, "quay.io", ""},
		{"", "user/app", []string{"v1"}, []string{"docker.io/user/app:v1"}, "docker.io", ""},
		{"", "app", []string{"v1"}, []string{"docker.io/library/app:v1"}, "docker.io", ""},
		{"", "docker.io/user/app", []string{"v1"}, []string{"docker.io/user/app:v1"}, "docker.io", ""},
		{"https://index.docker.io/v1/", "user/app", []string{"v1"}, []string{"docker.io/user/app:v1"}, "docker.io", ""},
		{"docker.io", "index.docker.io/user/app", []string{"v1"}, []string{"docker.io/user/app:v1"}, "docker.io", ""},
		{"http://127.0.0.1:5000", "demo/app", []string{"x"}, []string{"127.0.0.1:5000/demo/app:x"}, "127.0.0.1:5000", ""},
		{"", "localhost/app", []string{"x"}, []string{"localhost/app:x"}, "localhost", ""},
		{"", "localhost:5000/a/b/c", []string{"x"}, []string{"localhost:5000/a/b/c:x"}, "localhost:5000", ""},
		{"QUAY.IO", "wercker/app", []string{"abc"}, []string{"quay.io/wercker/app:abc"}, "quay.io", ""},

		{"quay.io", "gcr.io/x/app", []string{"a"}, nil, "", "Repository: \"gcr.io/x/app\" names registry gcr.io but Registry is quay.io"},
		{"", "", []string{"a"}, nil, "", "Repository: empty"},
		{"", "user/App", []string{"a"}, nil, "", "must be lowercase"},
		{"", "user/app:v1", []string{"a"}, nil, "", "holds a tag"},
		{"", "user/app@sha256:" + strings.Repeat("a", 64), []string{"a"}, nil, "", "holds a digest"},
		{"", "user/app", []string{"Bad:tag"}, nil, "", `Tags: "Bad:tag"`},
		{"", "user/app", []string{".dot"}, nil, "", `Tags: ".dot"`},
		{"", "user/app", []string{strings.Repeat("t", 129)}, nil, "", "not a valid tag"},
		{"", "user/app", nil, nil, "", "no tag"},
		{"quay.io/wercker", "app", []string{"a"}, nil, "", "has a path"},
		{"https://quay.io/wercker", "app", []string{"a"}, nil, "", "has a path"},
		{"ftp://quay.io", "app", []string{"a"}, nil, "", `scheme "ftp"`},
		{"not a host", "app", []string{"a"}, nil, "", "not a valid registry host"},
	}
	for _, c := range cases {
		got, err := Parse(c.registry, c.repository, c.tags)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Parse(%q, %q, %q) error = %v, want %q", c.registry, c.repository, c.tags, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q, %q, %q): %v", c.registry, c.repository, c.tags, err)
			continue
		}
		var refs []string
		for _, r := range got.Tags {
			refs = append(refs, r.String())
		}
		if strings.Join(refs, " ") != strings.Join(c.want, " ") || got.Host() != c.host {
			t.Errorf("Parse(%q, %q, %q) = %q on %s, want %q on %s", c.registry, c.repository, c.tags, refs, got.Host(), c.want, c.host)
		}
	}
}

// A registry written with credentials in it is refused without echoing
// them, with the path or without.
func TestRegistryWithCredentials(t *testing.T) {
	for _, r := range []string{"https://bob:hunter22@r.example/x", "https://bob:hunter22@r.example", "bob:hunter22@r.example"} {
		_, err := Parse(r, "team/app", []string{"v1"})
		if err == nil || strings.Contains(err.Error(), "hunter22") || !strings.Contains(err.Error(), "user name or password") {
			t.Errorf("%s: %v", r, err)
		}
	}
	if NamesHost("team/app") || !NamesHost("r.example/team/app") || !NamesHost("localhost:5000/app") {
		t.Error("NamesHost tells hosts wrongly")
	}
}
