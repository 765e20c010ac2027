// Command bench times scratch-push, by default and with --push direct,
// against plain `docker build` (classic builder, FROM scratch, COPY . /) +
// `docker push` on the same daemon, and against crane (`tar | crane
// append`, then `crane mutate --cmd`, no daemon), all to the same registry,
// in one run, and prints wall-time ratios and scratch-push's peak RSS.
// crane is built by the bench from the go-containerregistry version go.mod
// names. `make bench` runs it after scripts/dev-env; docs/benchmarks.md
// holds its results. It is a benchmark, never a test: nothing here asserts a time.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	tool, registry, username, password string
	crane                              string // the crane binary the bench built
	pairs                              int
	workloads                          string
	dockerConfig                       string
	reuseDir                           string // scratch-push's records of built folders
	touchedLarge                       bool
}

func main() {
	var c config
	flag.StringVar(&c.tool, "tool", "bin/scratch-push", "the scratch-push binary")
	flag.IntVar(&c.pairs, "pairs", 3, "timed pairs per workload and mode (the median is reported)")
	flag.StringVar(&c.workloads, "workloads", "typical,medium,large", "which workloads to run: small, typical, medium, large")
	flag.BoolVar(&c.touchedLarge, "touched-large", false, "run the touched mode on the large workload too (a minute more)")
	flag.Parse()
	start := time.Now()
	defer func() {
		fmt.Fprintf(os.Stderr, "\nbench: %s in all; of that, generating folders %s, flushing the page cache %s, cleaning the daemon %s\n",
			time.Since(start).Round(time.Second), generating.Round(time.Second), settling.Round(time.Second), cleaning.Round(time.Second))
	}()
	if err := run(context.Background(), c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	tmp, err := os.MkdirTemp("", "scratchpush-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Mkdir(filepath.Join(tmp, "registry"), 0o700); err != nil {
		return err
	}
	reg, err := startRegistry(ctx, filepath.Join(tmp, "registry"))
	if err != nil {
		return err
	}
	defer reg.stop()
	c.registry, c.username, c.password = reg.addr, reg.username, reg.password
	c.reuseDir = filepath.Join(tmp, "reuse")
	c.dockerConfig = filepath.Join(tmp, "docker-config")
	login := exec.CommandContext(ctx, "docker", "login", "--username", c.username, "--password-stdin", c.registry)
	login.Env = append(os.Environ(), "DOCKER_CONFIG="+c.dockerConfig)
	login.Stdin = strings.NewReader(c.password)
	if out, err := login.CombinedOutput(); err != nil {
		return fmt.Errorf("docker login: %v: %s", err, out)
	}
	c.crane = filepath.Join(tmp, "crane")
	build := exec.CommandContext(ctx, "go", "build", "-o", c.crane, "github.com/google/go-containerregistry/cmd/crane")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building crane: %v: %s", err, out)
	}
	dockerfile := filepath.Join(tmp, "Dockerfile")
	if err := os.WriteFile(dockerfile, []byte("FROM scratch\nCOPY . /\nCMD [\"./app\"]\n"), 0o644); err != nil {
		return err
	}
	version, _ := exec.Command("docker", "version", "--format", "{{.Server.Version}}").Output()
	fmt.Printf("daemon %s; %d rounds per row, rotating which goes first; times are medians\n\n", strings.TrimSpace(string(version)), c.pairs)
	fmt.Printf("ours: the default (--push daemon); direct: --push direct. Ratios are ours/docker, ours/crane, direct/docker, direct/crane\n")
	fmt.Printf("%-8s %-7s %8s %8s %8s %8s %7s %7s %7s %7s %8s   %s\n", "workload", "mode", "docker", "crane", "ours", "direct", "o/dock", "o/crane", "d/dock", "d/crane", "RSS o/d", "each round (docker/crane/ours/direct)")

	var fs syscall.Statfs_t
	if err := syscall.Statfs(tmp, &fs); err == nil && int64(fs.Bavail)*fs.Bsize < 30<<30 {
		return fmt.Errorf("the bench needs 30 GiB free on %s; prune docker images (docker image prune -a, docker builder prune -a) first", tmp)
	}
	defer cleanDaemon(ctx)
	for _, w := range workloads {
		if !strings.Contains(c.workloads, w.name) {
			continue
		}
		cleanDaemon(ctx)
		for _, mode := range []string{"cold", "warm", "touched"} {
			if mode == "touched" && !w.touched && !c.touchedLarge {
				continue
			}
			row, err := compare(ctx, c, tmp, dockerfile, w, mode)
			if err != nil {
				return fmt.Errorf("%s %s: %w", w.name, mode, err)
			}
			fmt.Println(row)
		}
	}

	// The build phase alone (--no-push), new content each run: BuildKit
	// through the build endpoint against --reproducible through the load
	// endpoint, each with its default layers (BuildKit: up to 4, weighed
	// against the daemon's processors; --reproducible: one).
	if strings.Contains(c.workloads, "medium") {
		row, err := buildPhase(ctx, c, tmp, workloads[slices.IndexFunc(workloads, func(w workload) bool { return w.name == "medium" })])
		if err != nil {
			return err
		}
		fmt.Printf("\nbuild phase only (--no-push), cold, default layers\n%-8s %10s %13s %8s %9s\n%s\n", "workload", "buildkit", "reproducible", "speedup", "our RSS", row)
	}
	return nil
}

func buildPhase(ctx context.Context, c config, tmp string, w workload) (string, error) {
	var bk, rp []time.Duration
	var rss int64
	env := []string{"SCRATCH_PUSH_CACHE_DIR=" + c.reuseDir}
	for i := 0; i < c.pairs; i++ {
		a, b := filepath.Join(tmp, w.name+"-bk"), filepath.Join(tmp, w.name+"-rp")
		if _, err := generate(a, w); err != nil {
			return "", err
		}
		if err := linkTree(a, b); err != nil {
			return "", err
		}
		common := []string{"-q", "--no-push", "--repository", "bench/phase", "--tag", w.name, "--cmd", "./app"}
		var x, y timing
		err := runRound(i, func() (err error) {
			x, err = timed(ctx, env, "", c.tool, append(append(common, "--builder", "buildkit"), a)...)
			return err
		}, func() (err error) {
			y, err = timed(ctx, env, "", c.tool, append(append(common, "--reproducible"), b)...)
			return err
		})
		if err != nil {
			return "", err
		}
		bk, rp = append(bk, x.wall), append(rp, y.wall)
		rss = max(rss, x.maxRSS, y.maxRSS)
		os.RemoveAll(a)
		os.RemoveAll(b)
	}
	return fmt.Sprintf("%-8s %9.2fs %12.2fs %7.2fx %6.1fMiB", w.name, median(bk).Seconds(), median(rp).Seconds(), median(bk).Seconds()/median(rp).Seconds(), float64(rss)/1024), nil
}

type timing struct {
	wall   time.Duration
	maxRSS int64 // KiB
}

// compare times rounds of docker, crane and ours on w, rotating which goes
// first. Cold rounds get new content each; warm rounds run again on the
// last cold round's folders, which each side has built and pushed already;
// touched rounds do too, after giving every entry a new mtime (and so a new
// ctime).
func compare(ctx context.Context, c config, tmp, dockerfile string, w workload, mode string) (string, error) {
	var dockerTimes, craneTimes, ourTimes, directTimes []time.Duration
	var rss, directRSS []int64
	var rounds []string
	dDir, cDir, oDir, xDir := filepath.Join(tmp, w.name+"-docker"), filepath.Join(tmp, w.name+"-crane"), filepath.Join(tmp, w.name+"-ours"), filepath.Join(tmp, w.name+"-direct")
	var size int64
	for i := 0; i < c.pairs; i++ {
		if mode == "cold" {
			for _, d := range []string{dDir, cDir, oDir, xDir} {
				os.RemoveAll(d)
			}
			var err error
			if size, err = generate(dDir, w); err != nil {
				return "", err
			}
			for _, d := range []string{cDir, oDir, xDir} {
				if err := linkTree(dDir, d); err != nil {
					return "", err
				}
			}
		} else {
			size, _ = dirSize(dDir)
		}
		if mode == "touched" {
			// The same bytes with new times, as a fresh checkout of the
			// same commit has: scratch-push sends the folder again.
			touch(dDir, cDir, oDir, xDir)
		}
		tag := fmt.Sprintf("%s-%d", mode, i)
		var d, k, o, x timing
		err := runRound(i, func() (err error) {
			d, err = dockerRun(ctx, c, dockerfile, dDir, "bench/"+w.name+"-docker", tag)
			return err
		}, func() (err error) {
			k, err = craneRun(ctx, c, cDir, "bench/"+w.name+"-crane", tag)
			return err
		}, func() (err error) {
			o, err = ourRun(ctx, c, oDir, "bench/"+w.name+"-ours", tag)
			return err
		}, func() (err error) {
			x, err = ourRun(ctx, c, xDir, "bench/"+w.name+"-direct", tag, "--push", "direct")
			return err
		})
		if err != nil {
			return "", err
		}
		dockerTimes = append(dockerTimes, d.wall)
		craneTimes = append(craneTimes, k.wall)
		ourTimes = append(ourTimes, o.wall)
		directTimes = append(directTimes, x.wall)
		rss = append(rss, o.maxRSS)
		directRSS = append(directRSS, x.maxRSS)
		rounds = append(rounds, fmt.Sprintf("%.2f/%.2f/%.2f/%.2f", d.wall.Seconds(), k.wall.Seconds(), o.wall.Seconds(), x.wall.Seconds()))
	}
	md, mk, mo, mx := median(dockerTimes), median(craneTimes), median(ourTimes), median(directTimes)
	return fmt.Sprintf("%-8s %-7s %7.2fs %7.2fs %7.2fs %7.2fs %7.2f %7.2f %7.2f %7.2f %3.0f/%-3.0fMiB  %s  (%s)", w.name, mode, md.Seconds(), mk.Seconds(), mo.Seconds(), mx.Seconds(),
		mo.Seconds()/md.Seconds(), mo.Seconds()/mk.Seconds(), mx.Seconds()/md.Seconds(), mx.Seconds()/mk.Seconds(),
		float64(slices.Max(rss))/1024, float64(slices.Max(directRSS))/1024, strings.Join(rounds, " "), humanSize(size)), nil
}

// cleanDaemon drops the images earlier runs left (the bench's tags and
// dangling images) and the daemon's build cache, so that a run of the bench
// does not fill the disk: a 1 GiB workload leaves gigabytes in BuildKit's
// cache. Other tagged images stay; the registry keeps its blobs.
func cleanDaemon(ctx context.Context) {
	defer spent(&cleaning, time.Now())
	out, _ := exec.CommandContext(ctx, "docker", "images", "-q", "--filter", "reference=*/bench/*").Output()
	if ids := strings.Fields(string(out)); len(ids) > 0 {
		_ = exec.CommandContext(ctx, "docker", append([]string{"rmi", "-f"}, ids...)...).Run()
	}
	_ = exec.CommandContext(ctx, "docker", "image", "prune", "-f").Run()
	_ = exec.CommandContext(ctx, "docker", "builder", "prune", "-af").Run()
}

// runRound runs the i-th round, each run after settle, starting at run i
// (modulo their number), so that no side always goes first.
func runRound(i int, runs ...func() error) error {
	for j := range runs {
		settle()
		if err := runs[(i+j)%len(runs)](); err != nil {
			return err
		}
	}
	return nil
}

// settle flushes dirty pages so that no run pays for the writes of the one
// before it.
func settle() {
	defer spent(&settling, time.Now())
	syscall.Sync()
}

func touch(dirs ...string) {
	now := time.Now()
	for _, dir := range dirs {
		_ = filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
			if err == nil {
				err = os.Chtimes(p, now, now)
			}
			return err
		})
	}
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return err
	})
	return n, err
}

func dockerRun(ctx context.Context, c config, dockerfile, dir, repo, tag string) (timing, error) {
	ref := c.registry + "/" + repo + ":" + tag
	env := []string{"DOCKER_BUILDKIT=0", "DOCKER_CONFIG=" + c.dockerConfig}
	start := time.Now()
	if _, err := timed(ctx, env, "", "docker", "build", "-q", "-f", dockerfile, "-t", ref, dir); err != nil {
		return timing{}, err
	}
	if _, err := timed(ctx, env, "", "docker", "push", "-q", ref); err != nil {
		return timing{}, err
	}
	return timing{wall: time.Since(start)}, nil
}

// craneRun pushes dir as crane users do: the folder tarred into crane
// append on an empty base (crane compresses and uploads the layer, then the
// config and manifest), then crane mutate to set the command, which pushes
// a new config and manifest.
func craneRun(ctx context.Context, c config, dir, repo, tag string) (timing, error) {
	ref := c.registry + "/" + repo + ":" + tag
	script := `set -eo pipefail; tar -C "$1" -cf - . | "$2" append -f - -t "$3" >/dev/null; "$2" mutate "$3" --cmd ./app -t "$3" >/dev/null`
	return timed(ctx, []string{"DOCKER_CONFIG=" + c.dockerConfig}, "", "bash", "-c", script, "bash", dir, c.crane, ref)
}

func ourRun(ctx context.Context, c config, dir, repo, tag string, extra ...string) (timing, error) {
	args := append([]string{"-q", "--registry", c.registry, "--repository", repo, "--tag", tag,
		"--username", c.username, "--password-stdin", "--cmd", "./app"}, extra...)
	return timed(ctx, []string{"SCRATCH_PUSH_CACHE_DIR=" + c.reuseDir}, c.password, c.tool, append(args, dir)...)
}

// timed runs a command and returns its wall time and peak RSS, which
// /usr/bin/time measures: the rusage Go's os/exec returns is no good for
// it, as the child starts out sharing this process's memory (vfork) and the
// kernel counts this process's high-water mark as the child's own.
func timed(ctx context.Context, env []string, stdin string, name string, args ...string) (timing, error) {
	rssFile, err := os.CreateTemp("", "bench-rss")
	if err != nil {
		return timing{}, err
	}
	rssFile.Close()
	defer os.Remove(rssFile.Name())
	cmd := exec.CommandContext(ctx, "/usr/bin/time", append([]string{"-f", "%M", "-o", rssFile.Name(), name}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var errOut strings.Builder
	cmd.Stderr = &errOut
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return timing{}, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, errOut.String())
	}
	t := timing{wall: time.Since(start)}
	out, err := os.ReadFile(rssFile.Name())
	if err != nil {
		return t, err
	}
	fields := strings.Fields(string(out))
	if len(fields) == 0 {
		return t, fmt.Errorf("/usr/bin/time wrote no peak RSS: %q", out)
	}
	if t.maxRSS, err = strconv.ParseInt(fields[len(fields)-1], 10, 64); err != nil {
		return t, fmt.Errorf("/usr/bin/time: %w", err)
	}
	return t, nil
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func humanSize(n int64) string { return fmt.Sprintf("%.0f MB", float64(n)/1e6) }
