package builder

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// everyVariable makes the oracle expand any $NAME to a marker, so a value
// whose $ escaped its quoting shows up changed.
type everyVariable struct{}

func (everyVariable) Get(string) (string, bool) { return "<EXPANDED>", true }
func (everyVariable) Keys() []string            { return nil }

// carriable reports whether a Dockerfile can carry s in a quoted word.
func carriable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r != '\t' && (unicode.IsControl(r) || r == '\u2028' || r == '\u2029') {
			return false
		}
	}
	return true
}

// FuzzDockerfile checks the encoder against the real Dockerfile parser
// (BuildKit's, which the daemon vendors): every value either comes back
// exactly after parsing and variable expansion, or is refused — and values
// a Dockerfile can carry are never refused.
func FuzzDockerfile(f *testing.F) {
	f.Add("KEY", "value", "/srv/app", "1000:1000", "/data", "--port 5000")
	f.Add("A", `$HOME ${PATH} "q" 'q' \ \\ \" \$`, "/w d", "u$x", "/v\"", `a"b`)
	f.Add("K", "trailing\\", "rel/dir/", "name", "/vol ume", "line\nbreak")
	f.Add("K", "x\ny", "/", "", "", "")
	f.Add("", "v", "", "", "", "")
	f.Add("K=V", "v", "", "", "", "")
	f.Add("K", "\xff", "", "", "", "\x00")
	f.Add("#K", "# not a comment", "/#", "#", "#", "#")
	f.Add("ESCAPE", "` backtick `", "/`", "`", "`", "`")
	f.Fuzz(func(t *testing.T, key, value, workdir, user, volume, arg string) {
		spec := Spec{
			Entrypoint: []string{"/app", arg},
			Cmd:        []string{arg, value},
			Env:        []KeyValue{{key, value}, {"SECOND", value}},
			Labels:     []KeyValue{{key, value}},
			Workdir:    workdir,
			User:       user,
			StopSignal: "SIGTERM",
		}
		if volume != "" {
			spec.Volumes = []string{volume, "/fixed"}
		}
		df, err := render(spec)
		if err != nil {
			mustRefuse := !carriable(key) || !carriable(value) || !carriable(workdir) || !carriable(user) || !carriable(volume) ||
				key == "" || arg == "" || strings.Contains(key, "=") || strings.ContainsRune(arg, 0) || strings.ContainsRune(value, 0) ||
				!utf8.ValidString(arg) || strings.Contains(err.Error(), "per line")
			if !mustRefuse {
				t.Fatalf("refused a value a Dockerfile can carry: %v", err)
			}
			return
		}
		ast, err := parser.Parse(bytes.NewReader(df))
		if err != nil {
			t.Fatalf("the parser rejects our Dockerfile: %v\n%s", err, df)
		}
		stages, _, err := instructions.Parse(ast.AST, nil)
		if err != nil || len(stages) != 1 {
			t.Fatalf("instructions: %v (%d stages)\n%s", err, len(stages), df)
		}
		lex := shell.NewLex('\\')
		expand := func(w string) (string, error) {
			s, _, err := lex.ProcessWord(w, everyVariable{})
			return s, err
		}
		var got Spec
		got.Ports = spec.Ports
		for _, c := range stages[0].Commands {
			if e, ok := c.(instructions.SupportsSingleWordExpansion); ok {
				if err := e.Expand(expand); err != nil {
					t.Fatalf("expanding %v: %v\n%s", c, err, df)
				}
			}
			switch c := c.(type) {
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					got.Env = append(got.Env, KeyValue{kv.Key, kv.Value})
				}
			case *instructions.LabelCommand:
				for _, kv := range c.Labels {
					got.Labels = append(got.Labels, KeyValue{kv.Key, kv.Value})
				}
			case *instructions.WorkdirCommand:
				got.Workdir = c.Path
			case *instructions.UserCommand:
				got.User = c.User
			case *instructions.VolumeCommand:
				got.Volumes = c.Volumes
			case *instructions.StopSignalCommand:
				got.StopSignal = c.Signal
			case *instructions.EntrypointCommand:
				if c.PrependShell {
					t.Fatalf("ENTRYPOINT in shell form:\n%s", df)
				}
				got.Entrypoint = c.CmdLine
			case *instructions.CmdCommand:
				if c.PrependShell {
					t.Fatalf("CMD in shell form:\n%s", df)
				}
				got.Cmd = c.CmdLine
			case *instructions.CopyCommand:
			default:
				t.Fatalf("unexpected instruction %T:\n%s", c, df)
			}
		}
		want := spec
		want.Workdir = NormalizeWorkdir(spec.Workdir)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("values changed on the way through the parser:\n got %#v\nwant %#v\n%s", got, want, df)
		}
	})
}

// FuzzParseCommand: no input panics; a JSON array of strings comes back
// as it is; the words of a shell-like string survive quoting and splitting
// again.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"./app", `./app --name "my app" 'x y'`, `["./app","--port","5000"]`, `["a",1]`, `./app "open`, `a\ b`, "[", " ", `["\u0000"]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := ParseCommand(s)
		if err != nil {
			return
		}
		if len(words) == 0 || words[0] == "" {
			t.Fatalf("ParseCommand(%q) = %q without an error", s, words)
		}
		var arr []string
		if strings.HasPrefix(strings.TrimSpace(s), "[") {
			if json.Unmarshal([]byte(strings.TrimSpace(s)), &arr) == nil && !reflect.DeepEqual(arr, words) {
				t.Fatalf("JSON %q gave %q", s, words)
			}
			return
		}
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
		again, err := ParseCommand(strings.Join(quoted, " "))
		if err != nil || !reflect.DeepEqual(again, words) {
			t.Fatalf("%q: words %q, requoted and split again %q, %v", s, words, again, err)
		}
	})
}

var portSpec = regexp.MustCompile(`^([1-9][0-9]*)(-[1-9][0-9]*)?/(tcp|udp|sctp)$`)

// FuzzParsePorts: no input panics; what it accepts is normalised, and
// normalising again changes nothing.
func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{"5000", "5000/tcp", "53/udp", "7000-7002", "80,443 53/udp", "0", "70000", "5000/sctpx", "9-3", "8080:80", "+80", "-1", "1-65535/SCTP"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ports, err := ParsePorts([]string{s})
		if err != nil {
			return
		}
		var items []string
		for _, p := range ports {
			if !portSpec.MatchString(p.String()) {
				t.Fatalf("%q gave %q", s, p)
			}
			items = append(items, p.String())
		}
		again, err := ParsePorts(items)
		if err != nil || !reflect.DeepEqual(again, ports) {
			t.Fatalf("%q: %q, then %q, %v", s, ports, again, err)
		}
	})
}
