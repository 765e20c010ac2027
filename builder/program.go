package builder

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/scratchpush/scratchpush/field"
)

// Program is what Preflight learnt about the program the image runs.
type Program struct {
	// Path is where the image finds it.
	Path string
	// Arch is the architecture an ELF program is built for, in Go's and
	// the OCI's names (amd64, arm64, ...); empty for anything else.
	Arch string
	// Variant is the ARM variant the OCI names (v7 for 32-bit ARM).
	Variant string
	// Mode is the program file's mode, which the image keeps; its owner
	// there is root.
	Mode fs.FileMode
}

// ErrDynamic is the class of a program that needs a dynamic loader the
// folder lacks.
var ErrDynamic = errors.New("dynamically linked")

// inspectProgram reads the head of the program at host (image path p) for
// what makes a scratch image fail at its first start: an ELF program that
// asks for a loader (PT_INTERP) or a script whose #! interpreter the folder
// does not hold. "exec format error" and "no such file or directory" come
// from these. A loader or interpreter the folder does hold is fine.
func inspectProgram(root, host, p, input string, mode fs.FileMode, allowDynamic bool) (Program, error) {
	prog := Program{Path: p, Mode: mode}
	f, err := os.Open(host)
	if err != nil {
		return prog, field.Errorf(input, "reading %q in the folder: %w", p, unwrapPathError(err))
	}
	defer f.Close()
	head := make([]byte, 256)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return prog, field.Errorf(input, "reading %q in the folder: %w", p, err)
	}
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("#!")):
		line, _, _ := bytes.Cut(head[2:], []byte("\n"))
		fields := strings.Fields(string(line))
		if len(fields) == 0 {
			return prog, field.Errorf(input, "%q starts with #! but names no interpreter", p)
		}
		if !inFolder(root, fields[0]) {
			return prog, field.Errorf(input, "%q is a script for %s, which the folder does not hold and a scratch image lacks: build a static program, or put the interpreter in the folder", p, fields[0])
		}
		return prog, nil
	case !bytes.HasPrefix(head, []byte(elf.ELFMAG)):
		return prog, nil // not ours to judge: the kernel will say
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return prog, field.Errorf(input, "%q looks like an ELF program but cannot be read as one: %w", p, err)
	}
	prog.Arch, prog.Variant = elfArch(ef)
	for _, ph := range ef.Progs {
		if ph.Type != elf.PT_INTERP {
			continue
		}
		interp, err := io.ReadAll(io.LimitReader(ph.Open(), 4096))
		if err != nil {
			return prog, field.Errorf(input, "reading %q's loader: %w", p, err)
		}
		loader := strings.TrimRight(string(interp), "\x00")
		if allowDynamic || inFolder(root, loader) {
			return prog, nil
		}
		return prog, field.Errorf(input, "%q is %w: it needs the loader %s and shared libraries, which a scratch image lacks, so it would not start (\"no such file or directory\"): build it statically, e.g. CGO_ENABLED=0 go build, or put the loader and libraries in the folder, or give %s", p, ErrDynamic, loader, field.Ref("AllowDynamic"))
	}
	return prog, nil
}

// inFolder reports whether image path p exists in the folder at root,
// links resolved inside it.
func inFolder(root, p string) bool {
	host, err := securejoin.SecureJoin(root, path.Clean("/"+p))
	if err != nil {
		return false
	}
	_, err = os.Stat(host)
	return err == nil || !(errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR))
}

// elfArch names an ELF file's architecture as GOARCH and the OCI do.
func elfArch(f *elf.File) (arch, variant string) {
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", ""
	case elf.EM_386:
		return "386", ""
	case elf.EM_AARCH64:
		return "arm64", ""
	case elf.EM_ARM:
		return "arm", "v7"
	case elf.EM_PPC64:
		if f.ByteOrder == binary.LittleEndian {
			return "ppc64le", ""
		}
		return "ppc64", ""
	case elf.EM_S390:
		return "s390x", ""
	case elf.EM_RISCV:
		return "riscv64", ""
	case elf.EM_MIPS:
		if f.Class == elf.ELFCLASS64 {
			if f.ByteOrder == binary.LittleEndian {
				return "mips64le", ""
			}
			return "mips64", ""
		}
		if f.ByteOrder == binary.LittleEndian {
			return "mipsle", ""
		}
		return "mips", ""
	case elf.EM_LOONGARCH:
		return "loong64", ""
	}
	return strings.ToLower(strings.TrimPrefix(f.Machine.String(), "EM_")), ""
}
