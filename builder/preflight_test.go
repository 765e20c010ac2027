package builder

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
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
		{"missing", Spec{Cmd: []string{"./nope"}}, `Cmd: "./nope" is not in the folder (the image would look for /nope)`},
		{"missing entrypoint", Spec{Entrypoint: []string{"/usr/bin/env"}}, "Entrypoint: "},
		{"bare name not on PATH", Spec{Cmd: []string{"app"}}, "in any PATH directory"},
		{"not executable", Spec{Cmd: []string{"./data.txt"}}, "is not executable: chmod +x"},
		{"a folder", Spec{Cmd: []string{"/bin"}}, "is a folder"},
		{"link to the host is not followed", Spec{Cmd: []string{"/host-escape"}}, "is not in the folder"},
		{"through a file", Spec{Cmd: []string{"/app/x"}}, "is not in the folder"},
		{"workdir through a file", Spec{Workdir: "/data.txt/sub"}, `"/data.txt" in the folder is a file`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Preflight(context.Background(), dir, c.spec, false)
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

// fakeELF is the head of an ELF program for machine m, with a PT_INTERP
// naming interp when it is not empty: enough for debug/elf, and for the
// kernel to say what it would need.
func fakeELF(t *testing.T, m elf.Machine, interp string) []byte {
	t.Helper()
	var b bytes.Buffer
	h := elf.Header64{Type: uint16(elf.ET_EXEC), Machine: uint16(m), Version: 1, Phoff: 64, Ehsize: 64, Phentsize: 56, Shentsize: 64}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS], h.Ident[elf.EI_DATA], h.Ident[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	if interp != "" {
		h.Phnum = 1
	}
	must(t, binary.Write(&b, binary.LittleEndian, h))
	if interp != "" {
		n := uint64(len(interp) + 1)
		must(t, binary.Write(&b, binary.LittleEndian, elf.Prog64{Type: uint32(elf.PT_INTERP), Flags: uint32(elf.PF_R), Off: 64 + 56, Filesz: n, Memsz: n, Align: 1}))
		b.WriteString(interp + "\x00")
	}
	return b.Bytes()
}

// A program a scratch image cannot start is refused before anything is
// built, and an ELF program's architecture is read.
func TestPreflightProgram(t *testing.T) {
	const loader = "/lib64/ld-linux-x86-64.so.2"
	cases := []struct {
		name         string
		files        map[string][]byte
		allowDynamic bool
		arch, err    string
	}{
		{"static amd64", map[string][]byte{"app": fakeELF(t, elf.EM_X86_64, "")}, false, "amd64", ""},
		{"static arm64", map[string][]byte{"app": fakeELF(t, elf.EM_AARCH64, "")}, false, "arm64", ""},
		{"dynamic", map[string][]byte{"app": fakeELF(t, elf.EM_X86_64, loader)}, false, "", "is dynamically linked: it needs the loader " + loader},
		{"dynamic, allowed", map[string][]byte{"app": fakeELF(t, elf.EM_X86_64, loader)}, true, "amd64", ""},
		{"dynamic, loader in the folder", map[string][]byte{"app": fakeELF(t, elf.EM_X86_64, loader), loader[1:]: []byte("ld")}, false, "amd64", ""},
		{"script for a missing shell", map[string][]byte{"app": []byte("#!/bin/sh\necho hi\n")}, false, "", "is a script for /bin/sh, which the folder does not hold"},
		{"script for a shell in the folder", map[string][]byte{"app": []byte("#! /bin/sh -e\n"), "bin/sh": fakeELF(t, elf.EM_X86_64, "")}, false, "", ""},
		{"neither", map[string][]byte{"app": []byte("MZ")}, false, "", ""},
		{"truncated ELF", map[string][]byte{"app": []byte("\x7fELF\x02")}, false, "", "cannot be read as one"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range c.files {
				p := filepath.Join(dir, name)
				must(t, os.MkdirAll(filepath.Dir(p), 0o755))
				must(t, os.WriteFile(p, body, 0o755))
			}
			prog, err := Preflight(context.Background(), dir, Spec{Cmd: []string{"./app"}}, c.allowDynamic)
			switch {
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Errorf("error = %v, want %q", err, c.err)
			case c.err == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case c.err == "" && prog.Arch != c.arch:
				t.Errorf("arch %q, want %q", prog.Arch, c.arch)
			}
		})
	}
}

// A folder named with .. from where the command runs (cd dirs &&
// scratch-push ../dirs/basic) resolves the program inside it.
func TestPreflightRelativeFolderWithDotDot(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "dirs", "basic")
	must(t, os.MkdirAll(dir, 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "app"), []byte("x"), 0o755))
	t.Chdir(filepath.Join(base, "dirs"))
	if _, err := Preflight(context.Background(), "../dirs/basic", Spec{Cmd: []string{"./app"}}, true); err != nil {
		t.Errorf("../dirs/basic: %v", err)
	}
	if _, err := Preflight(context.Background(), "../dirs/basic", Spec{Cmd: []string{"./missing"}}, true); err == nil || strings.Contains(err.Error(), "..") && strings.Contains(err.Error(), "SecureJoin") {
		t.Errorf("a missing program in ../dirs/basic: %v", err)
	}
}
