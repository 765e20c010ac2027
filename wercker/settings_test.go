package wercker

import (
	"reflect"
	"strings"
	"testing"
)

func TestSettings(t *testing.T) {
	step := Step{Keys: []Key{
		{Name: "cmd", Values: []string{"./app", "--port 5000"}, List: true, Line: 4},
		{Name: "working-dir", Values: []string{"/srv"}, Line: 5},
		{Name: "env", Values: []string{`A=1 "B=two words"`}, Line: 6},
		{Name: "author", Values: []string{"Ann", "Bo"}, List: true, Line: 7},
		{Name: "volumes", Values: []string{"/a,/b /c"}, Line: 8},
		{Name: "password", Values: []string{"s3cret"}, Line: 9},
		{Name: "email", Values: []string{"a@b"}, Line: 10},
		{Name: "colour", Values: []string{"blue"}, Line: 11},
	}}
	settings, notices, err := step.Settings()
	if err != nil {
		t.Fatal(err)
	}
	want := []Setting{
		{"Cmd", []string{`["./app","--port 5000"]`}, "cmd", 4},
		{"Workdir", []string{"/srv"}, "working-dir", 5},
		{"Env", []string{"A=1", "B=two words"}, "env", 6},
		{"Labels", []string{"org.opencontainers.image.authors=Ann, Bo"}, "author", 7},
		{"Volumes", []string{"/a", "/b", "/c"}, "volumes", 8},
		{"Password", []string{"s3cret"}, "password", 9},
	}
	if !reflect.DeepEqual(settings, want) {
		t.Errorf("settings\n%+v\nwant\n%+v", settings, want)
	}
	if len(notices) != 2 || notices[0].Line != 10 || !strings.Contains(notices[0].Why, "email is ignored") ||
		notices[1].Line != 11 || !strings.Contains(notices[1].Why, `unknown key "colour"`) {
		t.Errorf("notices %+v, want email ignored (line 10) and colour unknown (line 11)", notices)
	}
}

func TestSettingsRefuse(t *testing.T) {
	for _, c := range []struct {
		key  Key
		want string
	}{
		{Key{Name: "message", Values: []string{"x"}, Line: 3}, "line 3: message: a layer comment"},
		{Key{Name: "aws-region", Values: []string{"x"}, Line: 4}, "line 4: aws-region: registry-specific logins"},
		{Key{Name: "env", Values: []string{`A="open`}, Line: 5}, "line 5: env: "},
	} {
		if _, _, err := (Step{Keys: []Key{c.key}}).Settings(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.key.Name, err, c.want)
		}
	}
}
