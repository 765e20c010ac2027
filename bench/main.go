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
	links                              string
	docker29                           string // DOCKER_HOST of a Docker 29 daemon whose default run is timed too
	dockerConfig                       string
	reuseDir                           string // scratch-push's records of built folders
	touchedLarge                       bool
}

func main() {
	var c config
	flag.StringVar(&c.tool, "tool", "bin/scratch-push", "the scratch-push binary")
	flag.IntVar(&c.pairs, "pairs", 3, "timed rounds per workload and mode (the median is reported)")
	flag.StringVar(&c.workloads, "workloads", "typical,medium,large", "which workloads to run: small, typical, medium, large, oras, dockerd")
	flag.StringVar(&c.links, "link", "loopback", "the links to the registry to run across, comma-separated: loopback, "+profileNames())
	flag.StringVar(&c.docker29, "docker29", "", "the DOCKER_HOST of a Docker 29 daemon (containerd image store) whose default run is timed too")
	flag.BoolVar(&c.touchedLarge, "touched-large", false, "run the touched mode on the large workload too (a minute more)")
	serve := flag.String("serve-link", "", "only serve a link, -link's first, in front of this registry address (HOST:PORT), until interrupted: to push across it by hand")
	flag.Parse()
	if *serve != "" {
		if err := serveLink(c.links, *serve); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
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
	links, err := pickLinks(c.links)
	if err != nil {
		return err
	}
	var chosen []workload
	for _, w := range workloads {
		if slices.Contains(strings.Split(c.workloads, ","), w.name) {
			chosen = append(chosen, w)
		}
	}
	if err := buildPrograms(ctx, chosen); err != nil {
		return err
	}
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
	c.username, c.password = reg.username, reg.password
	c.reuseDir = filepath.Join(tmp, "reuse")
	c.dockerConfig = filepath.Join(tmp, "docker-config")
	// The docker CLI finds buildx, which runs `docker build` on BuildKit,
	// among its config's plugins.
	if err := os.MkdirAll(filepath.Join(c.dockerConfig, "cli-plugins"), 0o700); err != nil {
		return err
	}
	if err := copyFile(filepath.Join(c.dockerConfig, "cli-plugins", "docker-buildx"), programPath("buildx")); err != nil {
		return fmt.Errorf("putting buildx among the docker CLI's plugins: %w", err)
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
	sides := sidesOf(&c, dockerfile)
	version, _ := exec.Command("docker", "version", "--format", "{{.Server.Version}}").Output()
	fmt.Printf("daemon %s; %d rounds per row, rotating which goes first; times are medians\n", strings.TrimSpace(string(version)), c.pairs)
	fmt.Printf("ours: the default (--push daemon); direct: --push direct")
	if c.docker29 != "" {
		fmt.Printf("; ours29: the default on Docker 29 (%s, containerd image store)", c.docker29)
	}
	fmt.Printf("; buildkit: docker build on BuildKit (buildx) + docker push. Ratios: each of ours against each peer\n")

	var fs syscall.Statfs_t
	if err := syscall.Statfs(tmp, &fs); err == nil && int64(fs.Bavail)*fs.Bsize < 30<<30 {
		return fmt.Errorf("the bench needs 30 GiB free on %s; prune docker images (docker image prune -a, docker builder prune -a) first", tmp)
	}
	defer cleanDaemons(ctx, c)
	for _, l := range links {
		var ln *link
		c.registry = reg.addr
		if l.bps > 0 {
			if ln, err = startLink(l, reg.addr); err != nil {
				return err
			}
			c.registry = ln.Addr
		}
		err := runLink(ctx, c, l, tmp, dockerfile, sides, chosen)
		if ln != nil {
			ln.stop()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// runLink runs every chosen workload across l.
func runLink(ctx context.Context, c config, l linkProfile, tmp, dockerfile string, sides []side, chosen []workload) error {
	login := exec.CommandContext(ctx, "docker", "login", "--username", c.username, "--password-stdin", c.registry)
	login.Env = append(os.Environ(), "DOCKER_CONFIG="+c.dockerConfig)
	login.Stdin = strings.NewReader(c.password)
	if out, err := login.CombinedOutput(); err != nil {
		return fmt.Errorf("docker login: %v: %s", err, out)
	}
	fmt.Printf("\nacross %s\n", l)
	header := fmt.Sprintf("%-8s %-7s", "workload", "mode")
	for _, s := range sides {
		header += fmt.Sprintf(" %7s", s.name)
	}
	for _, s := range sides {
		for _, p := range sides {
			if !s.peer && p.peer {
				header += fmt.Sprintf(" %9s", s.short+"/"+p.short)
			}
		}
	}
	fmt.Printf("%s %9s   each round (%s)\n", header, "peak RSS", strings.Join(names(sides), "/"))
	for _, w := range chosen {
		cleanDaemons(ctx, c)
		for _, mode := range []string{"cold", "warm", "touched"} {
			if mode == "touched" && !w.touched && !c.touchedLarge {
				continue
			}
			row, err := compare(ctx, c, tmp, sides, w, mode)
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
	if i := slices.IndexFunc(chosen, func(w workload) bool { return w.name == "medium" }); i >= 0 && l.bps == 0 {
		row, err := buildPhase(ctx, c, tmp, chosen[i])
		if err != nil {
			return err
		}
		fmt.Printf("\nbuild phase only (--no-push), cold, default layers\n%-8s %10s %13s %8s %9s\n%s\n", "workload", "buildkit", "reproducible", "speedup", "our RSS", row)
	}
	return nil
}

// side is one way of pushing a folder the bench times: the peers first
// (docker with the classic builder, docker on BuildKit, crane), then ours.
type side struct {
	name, short string
	run         func(ctx context.Context, dir, repo, tag string) (timing, error)
	// peer marks a peer's side, which each of ours is measured against.
	peer bool
}

// sidesOf reads c when the sides run: its registry is the link's.
func sidesOf(c *config, dockerfile string) []side {
	sides := []side{
		{"docker", "dock", func(ctx context.Context, dir, repo, tag string) (timing, error) {
			return dockerRun(ctx, *c, false, dockerfile, dir, repo, tag)
		}, true},
		{"buildkit", "bk", func(ctx context.Context, dir, repo, tag string) (timing, error) {
			return dockerRun(ctx, *c, true, dockerfile, dir, repo, tag)
		}, true},
		{"crane", "crane", func(ctx context.Context, dir, repo, tag string) (timing, error) {
			return craneRun(ctx, *c, dir, repo, tag)
		}, true},
		{"ours", "o", func(ctx context.Context, dir, repo, tag string) (timing, error) {
			return ourRun(ctx, *c, nil, dir, repo, tag)
		}, false},
		{"direct", "x", func(ctx context.Context, dir, repo, tag string) (timing, error) {
			return ourRun(ctx, *c, nil, dir, repo, tag, "--push", "direct")
		}, false},
	}
	if c.docker29 != "" {
		sides = append(sides, side{"ours29", "29", func(ctx context.Context, dir, repo, tag string) (timing, error) {
			return ourRun(ctx, *c, []string{"DOCKER_HOST=" + c.docker29, "SCRATCH_PUSH_CACHE_DIR=" + c.reuseDir + "-29"}, dir, repo, tag)
		}, false})
	}
	return sides
}

func names(sides []side) []string {
	var n []string
	for _, s := range sides {
		n = append(n, s.name)
	}
	return n
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

// compare times rounds of every side on w, rotating which goes first.
// Cold rounds get new content each; warm rounds run again on the last cold
// round's folders, which each side has built and pushed already; touched
// rounds do too, after giving every entry a new mtime (and so a new
// ctime).
func compare(ctx context.Context, c config, tmp string, sides []side, w workload, mode string) (string, error) {
	times := make([][]time.Duration, len(sides))
	var rss int64
	var rounds []string
	dirs := make([]string, len(sides))
	for i, s := range sides {
		dirs[i] = filepath.Join(tmp, w.name+"-"+s.name)
	}
	var size int64
	for i := 0; i < c.pairs; i++ {
		if mode == "cold" {
			for _, d := range dirs {
				os.RemoveAll(d)
			}
			var err error
			if size, err = generate(dirs[0], w); err != nil {
				return "", err
			}
			generated := time.Now()
			for _, d := range dirs[1:] {
				if err := linkTree(dirs[0], d); err != nil {
					return "", err
				}
			}
			// Written a moment ago, as a CI job's build output is: past the
			// second within which scratch-push does not trust a folder's
			// stat data (an entry changed in the same clock tick as the scan
			// could change again unseen), so that warm rounds measure the
			// reuse, not the first run's distrust of a folder just written.
			time.Sleep(time.Until(generated.Add(1100 * time.Millisecond)))
		} else {
			size, _ = dirSize(dirs[0])
		}
		if mode == "touched" {
			// The same bytes with new times, as a fresh checkout of the
			// same commit has: scratch-push sends the folder again.
			touch(dirs...)
		}
		tag := fmt.Sprintf("%s-%d", mode, i)
		got := make([]timing, len(sides))
		var runs []func() error
		for j, s := range sides {
			runs = append(runs, func() (err error) {
				got[j], err = s.run(ctx, dirs[j], "bench/"+w.name+"-"+s.name, tag)
				return err
			})
		}
		if err := runRound(i, runs...); err != nil {
			return "", err
		}
		var each []string
		for j := range sides {
			times[j] = append(times[j], got[j].wall)
			each = append(each, fmt.Sprintf("%.2f", got[j].wall.Seconds()))
			if j >= 2 {
				rss = max(rss, got[j].maxRSS)
			}
		}
		rounds = append(rounds, strings.Join(each, "/"))
	}
	row := fmt.Sprintf("%-8s %-7s", w.name, mode)
	medians := make([]float64, len(sides))
	for j := range sides {
		medians[j] = median(times[j]).Seconds()
		row += fmt.Sprintf(" %6.2fs", medians[j])
	}
	for j, s := range sides {
		for k, p := range sides {
			if !s.peer && p.peer {
				row += fmt.Sprintf(" %9.2f", medians[j]/medians[k])
			}
		}
	}
	return fmt.Sprintf("%s %6.0fMiB  %s  (%s)", row, float64(rss)/1024, strings.Join(rounds, " "), humanSize(size)), nil
}

// cleanDaemons drops the images earlier runs left (the bench's tags and
// dangling images) and the daemons' build cache, so that a run of the
// bench does not fill the disk: a 1 GiB workload leaves gigabytes in
// BuildKit's cache. Other tagged images stay; the registry keeps its
// blobs.
func cleanDaemons(ctx context.Context, c config) {
	defer spent(&cleaning, time.Now())
	hosts := []string{os.Getenv("DOCKER_HOST")}
	if c.docker29 != "" {
		hosts = append(hosts, c.docker29)
	}
	for _, h := range hosts {
		docker := func(args ...string) *exec.Cmd {
			cmd := exec.CommandContext(ctx, "docker", args...)
			if h != "" {
				cmd.Env = append(os.Environ(), "DOCKER_HOST="+h)
			}
			return cmd
		}
		out, _ := docker("images", "-q", "--filter", "reference=*/bench/*").Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			_ = docker(append([]string{"rmi", "-f"}, ids...)...).Run()
		}
		_ = docker("image", "prune", "-f").Run()
		_ = docker("builder", "prune", "-af").Run()
	}
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

// dockerRun is docker build + docker push: with the classic builder, which
// docker has deprecated, or with BuildKit (buildx, its default driver: the
// daemon's own BuildKit), as docker build runs by default since 23.0.
func dockerRun(ctx context.Context, c config, buildkit bool, dockerfile, dir, repo, tag string) (timing, error) {
	ref := c.registry + "/" + repo + ":" + tag
	env := []string{"DOCKER_BUILDKIT=0", "DOCKER_CONFIG=" + c.dockerConfig}
	if buildkit {
		env[0] = "DOCKER_BUILDKIT=1"
	}
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

// ourRun runs scratch-push with env (by default, the run's records in
// c.reuseDir).
func ourRun(ctx context.Context, c config, env []string, dir, repo, tag string, extra ...string) (timing, error) {
	args := append([]string{"-q", "--registry", c.registry, "--repository", repo, "--tag", tag,
		"--username", c.username, "--password-stdin", "--cmd", "./app"}, extra...)
	if env == nil {
		env = []string{"SCRATCH_PUSH_CACHE_DIR=" + c.reuseDir}
	}
	return timed(ctx, env, c.password, c.tool, append(args, dir)...)
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
