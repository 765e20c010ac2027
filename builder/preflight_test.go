package builder

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPreflight(t *testing.T) {
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{"app": 0o755, "bin/tool": 0o755, "srv/run": 0o700, "data.txt": 0o644} {
		p := filepath.Join(dir, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte("x"), mode))
	}
	must(t, os.Symlink("/bin/tool", filepath.Join(dir, "linked")))
	must(t, os.Symlink("/etc/passwd", filepath.Join(dir, "host-escape")))
	must(t, os.Symlink("../../../../app", filepath.Join(dir, "up-and-back")))

	cases := []struct {
		name string
		spec Spec
		err  string
	}{
		{"relative", Spec{Cmd: []string{"./app"}}, ""},
		{"absolute", Spec{Cmd: []string{"/app", "--x"}}, ""},
		{"bare name on PATH", Spec{Cmd: []string{"tool"}, Env: []KeyValue{{"PATH", "/bin"}}}, ""},
		{"bare name on default PATH", Spec{Cmd: []string{"tool"}}, ""},
		{"relative to workdir", Spec{Cmd: []string{"./run"}, Workdir: "/srv"}, ""},
		{"absolute with a workdir", Spec{Cmd: []string{"/app"}, Workdir: "/srv"}, ""},
		{"relative PATH entry", Spec{Cmd: []string{"run"}, Workdir: "/srv", Env: []KeyValue{{"PATH", "."}}}, ""},
		{"entrypoint wins", Spec{Entrypoint: []string{"/app"}, Cmd: []string{"not-a-program"}}, ""},
		{"link inside the folder", Spec{Cmd: []string{"/linked"}}, ""},
		{"link climbing out stays inside", Spec{Cmd: []string{"/up-and-back"}}, ""},
		{"no command", Spec{}, ""},
		{"missing", Spec{Cmd: []string{"./nope"}}, `--cmd: "./nope" is not in the folder (the image would look for /nope)`},
		{"missing entrypoint", Spec{Entrypoint: []string{"/usr/bin/env"}}, "--entrypoint"},
		{"bare name not on PATH", Spec{Cmd: []string{"app"}}, "in any PATH directory"},
		{"not executable", Spec{Cmd: []string{"./data.txt"}}, "is not executable: chmod +x"},
		{"a folder", Spec{Cmd: []string{"/bin"}}, "is a folder"},
		{"link to the host is not followed", Spec{Cmd: []string{"/host-escape"}}, "is not in the folder"},
		{"through a file", Spec{Cmd: []string{"/app/x"}}, "is not in the folder"},
		{"workdir through a file", Spec{Workdir: "/data.txt/sub"}, `"/data.txt" in the folder is a file`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Preflight(context.Background(), dir, c.spec)
			if c.err == "" {
				if err != nil {
					t.Errorf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("error = %v, want %q", err, c.err)
			}
		})
	}
}
