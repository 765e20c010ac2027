package builder

import (
	"bytes"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

func TestDockerfileGolden(t *testing.T) {
	spec := Spec{
		Entrypoint: []string{"/app", "--log", "json"},
		Cmd:        []string{"serve", "--port", "5000"},
		Ports:      []Port{{5000, 5000, "tcp"}, {7000, 7002, "tcp"}, {53, 53, "udp"}},
		Env:        []KeyValue{{"PATH", "/bin"}, {"GREETING", `say "hi" for $5 \o/`}},
		Labels:     []KeyValue{{"org.example.query", "a=b&c=d"}},
		Workdir:    "srv/app/",
		User:       "1000:1000",
		Volumes:    []string{"/data", "/var/my cache"},
		StopSignal: "SIGINT",
	}
	got, err := Dockerfile(spec, Layout{})
	if err != nil {
		t.Fatal(err)
	}
	want := `FROM scratch
COPY rootfs/ /
ENV "PATH"="/bin" "GREETING"="say \"hi\" for \$5 \\o/"
LABEL "org.example.query"="a=b&c=d"
EXPOSE 5000/tcp 7000/tcp 7001/tcp 7002/tcp 53/udp
WORKDIR "/srv/app"
USER "1000:1000"
VOLUME ["\"/data\"","\"/var/my cache\""]
STOPSIGNAL "SIGINT"
ENTRYPOINT ["/app","--log","json"]
CMD ["serve","--port","5000"]
`
	if string(got) != want {
		t.Errorf("Dockerfile:\n%s\nwant:\n%s", got, want)
	}
}

func TestDockerfileMinimal(t *testing.T) {
	got, err := Dockerfile(Spec{Cmd: []string{"./app"}}, Layout{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "FROM scratch\nCOPY rootfs/ /\nCMD [\"./app\"]\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// Values a Dockerfile can carry are encoded so that none of them can start a
// new instruction: the output always has exactly one line per instruction.
func TestDockerfileValuesCannotAddInstructions(t *testing.T) {
	nasty := []string{
		`"; RUN echo pwned`, `\`, `\\`, `$HOME`, `${HOME}`, `'`, `"`, "tab\there",
		`x" && CMD ["evil"]`, "unicode ✓ \u00a0", `\"`, `\$`, `$`, `#`, ` leading and trailing `,
	}
	for _, v := range nasty {
		spec := Spec{
			Cmd:        []string{v},
			Entrypoint: []string{"/app", v},
			Env:        []KeyValue{{"K", v}},
			Labels:     []KeyValue{{"l" + v, v}},
			Workdir:    "/w" + v,
			User:       "u" + v,
			Volumes:    []string{"/v" + v},
			StopSignal: "SIGTERM",
		}
		got, err := render(spec)
		if err != nil {
			t.Errorf("%q: %v", v, err)
			continue
		}
		lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
		if len(lines) != 10 {
			t.Errorf("%q: %d lines, want 10:\n%s", v, len(lines), got)
		}
		for _, l := range lines {
			if strings.HasSuffix(l, `\`) {
				t.Errorf("%q: line ends in an escape, which would continue it: %s", v, l)
			}
		}
	}
}

func TestDockerfileRefuses(t *testing.T) {
	cases := []struct {
		name string
		spec Spec
		want string
	}{
		{"newline in env", Spec{Env: []KeyValue{{"K", "a\nRUN x"}}}, "Env: K: "},
		{"carriage return in label", Spec{Labels: []KeyValue{{"k", "a\rb"}}}, "Labels: k: "},
		{"newline in workdir", Spec{Workdir: "/a\nb"}, "Workdir: "},
		{"newline in user", Spec{User: "a\nb"}, "User: "},
		{"newline in volume", Spec{Volumes: []string{"/a\nb"}}, "Volumes: "},
		{"empty volume", Spec{Volumes: []string{""}}, "Volumes: empty path"},
		{"bad stop signal", Spec{StopSignal: "SIGNOPE"}, "StopSignal: "},
		{"equals in env key", Spec{Env: []KeyValue{{"A=B", "c"}}}, "cannot contain"},
		{"empty env key", Spec{Env: []KeyValue{{"", "c"}}}, "empty key"},
		{"invalid utf-8", Spec{Env: []KeyValue{{"K", "\xff"}}}, "not valid UTF-8"},
		{"NUL in cmd", Spec{Cmd: []string{"a\x00b"}}, "NUL"},
		{"empty program", Spec{Entrypoint: []string{""}}, "Entrypoint: the program name is empty"},
		{"huge value", Spec{Env: []KeyValue{{"K", strings.Repeat("x", 70<<10)}}}, "Env: the ENV instruction is"},
		{"huge command", Spec{Cmd: []string{"./app", strings.Repeat("x", 70<<10)}}, "Cmd: the CMD instruction is"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := render(c.spec)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

// render checks spec and renders it, as a run does.
func render(spec Spec) ([]byte, error) {
	if err := spec.Check(); err != nil {
		return nil, err
	}
	return Dockerfile(spec, Layout{})
}

func TestNewlineInCommandIsCarried(t *testing.T) {
	got, err := Dockerfile(Spec{Cmd: []string{"/app", "line1\nline2"}}, Layout{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), `CMD ["/app","line1\nline2"]`) {
		t.Errorf("got %s", got)
	}
}

func TestQuote(t *testing.T) {
	cases := map[string]string{
		``:         `""`,
		`plain`:    `"plain"`,
		`a b`:      `"a b"`,
		`it's`:     `"it's"`,
		`"q"`:      `"\"q\""`,
		`$HOME`:    `"\$HOME"`,
		`C:\dir\`:  `"C:\\dir\\"`,
		"tab\tkey": "\"tab\tkey\"",
	}
	for in, want := range cases {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizeWorkdir(t *testing.T) {
	for in, want := range map[string]string{"": "", "/": "/", "srv": "/srv", "/srv/app/": "/srv/app", "/a/../b": "/b", "a//b": "/a/b"} {
		if got := NormalizeWorkdir(in); got != want {
			t.Errorf("NormalizeWorkdir(%q) = %q, want %q", in, got, want)
		}
	}
}

// A wide range is written over several lines, each far below the 64 KiB a
// Dockerfile parser reads at once, and BuildKit's parser finds every port.
func TestDockerfileWidePortRange(t *testing.T) {
	got, err := Dockerfile(Spec{Ports: []Port{{1, 65535, "tcp"}, {53, 53, "udp"}}}, Layout{})
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(got), "\n") {
		if len(l) > 4096 {
			t.Fatalf("line %d is %d bytes", i, len(l))
		}
	}
	ast, err := parser.Parse(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	stages, _, err := instructions.Parse(ast.AST, nil)
	if err != nil || len(stages) != 1 {
		t.Fatalf("instructions: %v", err)
	}
	var ports []string
	for _, c := range stages[0].Commands {
		if e, ok := c.(*instructions.ExposeCommand); ok {
			ports = append(ports, e.Ports...)
		}
	}
	seen := map[string]bool{}
	for _, p := range ports {
		seen[p] = true
	}
	if len(ports) != 65536 || len(seen) != 65536 || !seen["1/tcp"] || !seen["65535/tcp"] || !seen["53/udp"] {
		t.Errorf("BuildKit's parser finds %d ports, %d different; want 1/tcp to 65535/tcp and 53/udp", len(ports), len(seen))
	}
}
