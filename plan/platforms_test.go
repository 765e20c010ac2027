package plan

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scratchpush/scratchpush/field"
)

// programFolder is a folder holding ./app, a static ELF program header for
// the machine m: enough for the preflight to read its architecture.
func programFolder(t *testing.T, m elf.Machine) string {
	t.Helper()
	h := elf.Header64{Type: uint16(elf.ET_EXEC), Machine: uint16(m), Version: 1, Ehsize: 64, Phentsize: 56, Shentsize: 64}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS], h.Ident[elf.EI_DATA], h.Ident[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, h); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app"), b.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// PLATFORM=DIR pairs make a multi-platform run, in the order given; one
// pair is an image, as DIR and --platform make it.
func TestPlatformPairs(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	amd, arm := programFolder(t, elf.EM_X86_64), programFolder(t, elf.EM_AARCH64)
	in := Input{Cmd: "./app", Repository: "r.example/team/app", Push: true}

	in.Platforms = []string{"linux/arm64=" + arm, "linux/amd64=" + amd}
	o, err := in.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Platforms) != 2 || o.Platforms[0].Dir != arm || o.Platforms[0].Platform.Architecture != "arm64" || o.Platforms[1].Dir != amd || o.Dir != "" {
		t.Errorf("platforms %+v, dir %q; want arm64 then amd64, and no DIR", o.Platforms, o.Dir)
	}

	in.Platforms = []string{"linux/arm64=" + arm}
	if o, err = in.Plan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(o.Platforms) != 0 || o.Dir != arm || o.Platform == nil || o.Platform.Architecture != "arm64" {
		t.Errorf("one pair: platforms %+v, dir %q, platform %v; want an arm64 image of %s", o.Platforms, o.Dir, o.Platform, arm)
	}

	in.Platforms = []string{"linux/amd64=" + amd + " linux/arm/v7=" + arm}
	_, err = in.Plan(context.Background())
	if fe := field.Of(err); fe == nil || fe.Field != "Platforms" || !strings.Contains(err.Error(), "linux/arm/v7="+arm+": /app there is built for linux/arm64, not arm: build it for arm, or pair the folder with linux/arm64") {
		t.Errorf("a folder for another architecture, in a list: %v", err)
	}
}

func TestPlatformErrors(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	amd, arm := programFolder(t, elf.EM_X86_64), programFolder(t, elf.EM_AARCH64)
	for _, c := range []struct {
		name      string
		dir       string
		platforms []string
		builder   string
		field     string
		want      string
	}{
		{"no folder at all", "", nil, "", "Dir", "missing: give the folder"},
		{"DIR beside pairs", amd, []string{"linux/amd64=" + amd, "linux/arm64=" + arm}, "", "Dir", "with PLATFORM=DIR the folders come from Platforms; drop DIR"},
		{"a platform without a folder", "", []string{"linux/amd64=" + amd, "linux/arm64"}, "", "Platforms", "linux/arm64 has no folder while linux/amd64=" + amd + " has one"},
		{"two platforms, one folder", amd, []string{"linux/amd64", "linux/arm64"}, "", "Platforms", "several platforms need a folder each"},
		{"an empty folder name", "", []string{"linux/amd64="}, "", "Platforms", `"linux/amd64=" names no folder`},
		{"a platform twice", "", []string{"linux/amd64=" + amd, "linux/amd64=" + arm}, "", "Platforms", "linux/amd64 is given twice"},
		{"a bad platform", "", []string{"arm64=" + arm, "linux/amd64=" + amd}, "", "Platforms", `"arm64": give linux/ARCH`},
		{"a missing folder", "", []string{"linux/amd64=" + amd, "linux/arm64=" + arm + "/nope"}, "", "Platforms", "linux/arm64=" + arm + "/nope: folder"},
		{"the wrong program", "", []string{"linux/amd64=" + arm, "linux/arm64=" + amd}, "", "Platforms", "linux/amd64=" + arm + ": /app there is built for linux/arm64, not amd64"},
		{"a builder", "", []string{"linux/amd64=" + amd, "linux/arm64=" + arm}, "buildkit", "Builder", "does not apply to a multi-platform image"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := Input{Dir: c.dir, Platforms: c.platforms, Builder: c.builder, Cmd: "./app", Repository: "r.example/team/app", Push: true}
			_, err := in.Plan(context.Background())
			fe := field.Of(err)
			if fe == nil || fe.Field != c.field || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want %s: ...%s...", err, c.field, c.want)
			}
		})
	}
}
