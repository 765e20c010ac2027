package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The workloads: folders generated like a Go service's build output,
// new bytes each round.

// workload describes a generated folder: an app, incompressible bytes and
// small text files.
type workload struct {
	name       string
	random     int64 // bytes of incompressible data, in files of at most 128 MiB
	textFiles  int
	textSize   int
	textFolder int
	touched    bool   // run the touched mode too
	program    string // a real program, built static, as the app (see programs)
}

var workloads = []workload{
	{name: "small", random: 6 << 20, touched: true},
	// A statically built program of a typical size.
	{name: "typical", random: 24 << 20, touched: true},
	{name: "medium", random: 100 << 20, textFiles: 2000, textSize: 50 << 10, textFolder: 40, touched: true},
	// Half incompressible, half text, like the issue's own gigabyte, whose
	// push ran at about 50 MB/s. Touched runs of it take a minute the
	// ten-minute budget lacks; docs/benchmarks.md gives their ratio from
	// -touched-large runs.
	{name: "large", random: 512 << 20, textFiles: 8000, textSize: 64 << 10, textFolder: 80},
	// Real Go programs, compressible as programs are (to about 40%), for
	// the link profiles: a typical one and a big one.
	{name: "oras", program: "oras", touched: true},
	{name: "dockerd", program: "dockerd"},
}

// programs are the real programs the bench builds, static (CGO_ENABLED=0),
// once, into its folder of programs.
var programs = map[string]string{
	"oras":    "oras.land/oras/cmd/oras@v1.3.6",
	"dockerd": "github.com/moby/moby/v2/cmd/dockerd@v2.0.0-beta.24",
	// buildx is no workload: it is the docker CLI's BuildKit client, the
	// plugin `docker build` needs for the buildkit peer.
	"buildx": "github.com/docker/buildx/cmd/buildx@v0.38.2",
}

var seq int

// generate writes a new folder for w; every call gives new content.
func generate(dir string, w workload) (int64, error) {
	defer spent(&generating, time.Now())
	seq++
	rng := rand.New(rand.NewChaCha8([32]byte{byte(seq), byte(seq >> 8), byte(time.Now().UnixNano())}))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	var total int64
	if w.program != "" {
		// The program, and a file that makes the layer new.
		if err := copyFile(filepath.Join(dir, "app"), programPath(w.program)); err != nil {
			return 0, err
		}
		round := []byte(fmt.Sprintf("round %d of the bench started at %v\n", seq, started))
		if err := os.WriteFile(filepath.Join(dir, "round.txt"), round, 0o644); err != nil {
			return 0, err
		}
		return dirSize(dir)
	}
	bw := bufio.NewWriterSize(nil, 1<<20)
	writeFile := func(name string, r io.Reader, n int64, mode os.FileMode) error {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
		if err != nil {
			return err
		}
		bw.Reset(f)
		if _, err := io.CopyN(bw, r, n); err != nil {
			f.Close()
			return err
		}
		if err := bw.Flush(); err != nil {
			f.Close()
			return err
		}
		total += n
		return f.Close()
	}
	left := w.random
	for i := 0; left > 0; i++ {
		n := min(left, 128<<20)
		name := "app"
		if i > 0 {
			name = fmt.Sprintf("data/blob-%02d.bin", i)
		}
		if err := writeFile(name, rngReader{rng}, n, 0o755); err != nil {
			return 0, err
		}
		left -= n
	}
	for _, n := range []string{"cities-service.json", "cities-controller.json"} {
		if err := writeFile(n, strings.NewReader(fmt.Sprintf(`{"seq": %d}`, seq)), int64(len(fmt.Sprintf(`{"seq": %d}`, seq))), 0o644); err != nil {
			return 0, err
		}
	}
	var b []byte
	for i := 0; i < w.textFiles; i++ {
		// Text like logs or config: compressible, as real text files are.
		// Each line reads "%06d <RFC 3339 time>: scratch-push benchmark
		// file %d, run %d, value %d", made without fmt for speed.
		b = b[:0]
		for line := 0; len(b) < w.textSize; line++ {
			b = append(b, linePrefix(line)...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, ", run "...)
			b = strconv.AppendInt(b, int64(seq), 10)
			b = append(b, ", value "...)
			b = strconv.AppendInt(b, int64(rng.IntN(1000)), 10)
			b = append(b, '\n')
		}
		name := fmt.Sprintf("text/%02d/file-%04d.txt", i%w.textFolder, i)
		if err := writeFile(name, bytes.NewReader(b), int64(len(b)), 0o644); err != nil {
			return 0, err
		}
	}
	return total, nil
}

var linePrefixes []string

// linePrefix is the start of a text file's line-th line, the same in every
// file.
func linePrefix(line int) string {
	for len(linePrefixes) <= line {
		n := len(linePrefixes)
		linePrefixes = append(linePrefixes, fmt.Sprintf("%06d %s: scratch-push benchmark file ", n, time.Unix(int64(n), 0).UTC().Format(time.RFC3339)))
	}
	return linePrefixes[line]
}

// linkTree makes dst the same folder as src with hard links: each side of a
// pair gets the same new bytes without writing them twice. Neither tool can
// tell: each meets every inode once, and their layers differ anyway (docker
// keeps the host's owners and mtimes, scratch-push does not).
func linkTree(src, dst string) error {
	defer spent(&generating, time.Now())
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		return os.Link(p, filepath.Join(dst, rel))
	})
}

// Where the bench's own time goes, printed at the end.
var settling, cleaning, generating time.Duration

func spent(total *time.Duration, since time.Time) { *total += time.Since(since) }

type rngReader struct{ r *rand.Rand }

func (r rngReader) Read(p []byte) (int, error) {
	for i := 0; i+8 <= len(p); i += 8 {
		v := r.r.Uint64()
		for j := 0; j < 8; j++ {
			p[i+j] = byte(v >> (8 * j))
		}
	}
	for i := len(p) &^ 7; i < len(p); i++ {
		p[i] = byte(r.r.Uint32())
	}
	return len(p), nil
}

// started tells one run of the bench's program workloads from another's.
var started = time.Now().UnixNano()

// programsDir is where the bench keeps the programs it builds:
// $SCRATCHPUSH_BENCH_PROGRAMS, or a folder in the user's cache.
func programsDir() string {
	if d := os.Getenv("SCRATCHPUSH_BENCH_PROGRAMS"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "scratchpush-bench", "programs")
}

func programPath(name string) string { return filepath.Join(programsDir(), name) }

// buildPrograms builds the programs the chosen workloads use, those not
// built already: `go install` of the pinned version, static, which takes
// minutes for dockerd the first time.
func buildPrograms(ctx context.Context, chosen []workload) error {
	names := []string{"buildx"}
	for _, w := range chosen {
		if w.program != "" {
			names = append(names, w.program)
		}
	}
	for _, name := range names {
		module := programs[name]
		stamp := programPath(name) + ".module"
		if b, err := os.ReadFile(stamp); err == nil && string(b) == module {
			continue
		}
		fmt.Fprintf(os.Stderr, "bench: building %s static (go install %s) into %s\n", name, module, programsDir())
		cmd := exec.CommandContext(ctx, "go", "install", "-trimpath", module)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOBIN="+programsDir(), "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building %s: %v: %s", module, err, out)
		}
		if err := os.WriteFile(stamp, []byte(module), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
