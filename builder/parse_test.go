package builder

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		err  string
	}{
		{in: "./app", want: []string{"./app"}},
		{in: "./app --port 5000", want: []string{"./app", "--port", "5000"}},
		{in: `./app --name "my app" 'single $quoted'`, want: []string{"./app", "--name", "my app", "single $quoted"}},
		{in: `./app a\ b "x\"y"`, want: []string{"./app", "a b", `x"y`}},
		{in: `./app $HOME; rm -rf /`, want: []string{"./app", "$HOME;", "rm", "-rf", "/"}},
		{in: `["./app","--port","5000"]`, want: []string{"./app", "--port", "5000"}},
		{in: ` [ "/app", "a b" ] `, want: []string{"/app", "a b"}},
		{in: `["/app","line\nbreak"]`, want: []string{"/app", "line\nbreak"}},
		{in: ``, err: "empty command"},
		{in: `   `, err: "empty command"},
		{in: `[]`, err: "empty command"},
		{in: `./app "unbalanced`, err: "unterminated double-quoted string"},
		{in: `./app 'unbalanced`, err: "unterminated single-quoted string"},
		{in: `./app \`, err: "unterminated backslash-escape"},
		{in: `["./app", 5000]`, err: "invalid JSON array"},
		{in: `["./app"`, err: "invalid JSON array"},
		{in: `[""]`, err: "program name is empty"},
	}
	for _, c := range cases {
		got, err := ParseCommand(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseCommand(%q) error = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseCommand(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestParsePorts(t *testing.T) {
	cases := []struct {
		in   []string
		want []string
		err  string
	}{
		{in: []string{"5000"}, want: []string{"5000/tcp"}},
		{in: []string{"5000/tcp"}, want: []string{"5000/tcp"}},
		{in: []string{"53/udp"}, want: []string{"53/udp"}},
		{in: []string{"53/UDP"}, want: []string{"53/udp"}},
		{in: []string{"7000-7002"}, want: []string{"7000-7002/tcp"}},
		{in: []string{"9-9"}, want: []string{"9/tcp"}},
		{in: []string{"80, 443 53/udp", "80/tcp"}, want: []string{"80/tcp", "443/tcp", "53/udp"}},
		{in: []string{"132/sctp"}, want: []string{"132/sctp"}},
		{in: []string{"65535"}, want: []string{"65535/tcp"}},
		{in: nil, want: nil},
		{in: []string{"abc"}, err: `port "abc"`},
		{in: []string{"0"}, err: "port 0"},
		{in: []string{"70000"}, err: `port "70000"`},
		{in: []string{"-1"}, err: `port "-1"`},
		{in: []string{"+80"}, err: `port "+80"`},
		{in: []string{"5000/sctpx"}, err: `unknown protocol "sctpx"`},
		{in: []string{"9-3"}, err: `port "9-3"`},
		{in: []string{"8080:80"}, err: "host bindings"},
		{in: []string{"/tcp"}, err: `port "/tcp"`},
	}
	for _, c := range cases {
		ports, err := ParsePorts(c.in)
		var got []string
		for _, p := range ports {
			got = append(got, p.String())
		}
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParsePorts(%q) error = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParsePorts(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestParseKeyValue(t *testing.T) {
	cases := []struct {
		in   string
		want KeyValue
		err  string
	}{
		{in: "A=1", want: KeyValue{"A", "1"}},
		{in: "URL=http://x/?a=b&c=d", want: KeyValue{"URL", "http://x/?a=b&c=d"}},
		{in: "EMPTY=", want: KeyValue{"EMPTY", ""}},
		{in: "NOEQUALS", err: `has no "="`},
		{in: "=value", err: "empty key"},
	}
	for _, c := range cases {
		got, err := ParseKeyValue(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseKeyValue(%q) error = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseKeyValue(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

func TestSplitList(t *testing.T) {
	got := SplitList(" v1, latest  abc123\t,")
	if want := []string{"v1", "latest", "abc123"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestCheckStopSignal(t *testing.T) {
	for _, ok := range []string{"SIGTERM", "TERM", "sigint", "9", "SIGRTMIN+3"} {
		if err := CheckStopSignal(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"SIGNOPE", "0", "", "KILL ME"} {
		if err := CheckStopSignal(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestShellSyntax(t *testing.T) {
	for _, c := range []struct {
		cmd  string
		want string
	}{
		{"./app --port 5000", ""},
		{"./app && echo hi", "&&"},
		{"./app | tee log", "|"},
		{"./app > out.log", ">"},
		{"./app --port $PORT", "$PORT"},
		{"./app --at $(date)", "$(date)"},
		{`./app "a && b"`, ""}, // quoted: one argument, as meant
		{"./app --price $", ""},
		{"$HOME/app", ""}, // the program's own name is looked up as written
	} {
		words, err := ParseCommand(c.cmd)
		if err != nil {
			t.Fatal(err)
		}
		if got := ShellSyntax(words); got != c.want {
			t.Errorf("%q: %q, want %q", c.cmd, got, c.want)
		}
	}
}
