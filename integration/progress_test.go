package integration

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// --progress=json passes the daemon's messages through as JSON lines, the
// pushed digest among them, for other tools to read; --progress=plain
// stamps every line with the time since the start.
func TestProgressModes(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir, _ := seedFolder(t, "progress")
	repo := uniqueRepo(t, "progress")
	removeImages(t, env.registry+"/"+repo+":json", env.registry+"/"+repo+":plain")

	res := scratchPush(t, env.password, nil, append(pushArgs(repo, "json"), "--progress", "json", "--cmd", "./app", dir)...)
	if res.code != 0 {
		t.Fatalf("json: exit %d: %s", res.code, res.stderr)
	}
	_, digest := registryClient{t}.manifest(repo, "json")
	sawDigest, sawBuild := false, false
	for _, line := range strings.Split(strings.TrimSpace(res.stderr), "\n") {
		var m struct {
			ID, Status, Stream string
			Aux                json.RawMessage
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("json: a stderr line is not JSON: %q", line)
		}
		// Docker 20.10 reports the digest in an aux message and its status
		// line, Docker 29 on the containerd store and Podman only in the
		// status line; the build as BuildKit's trace, or as the classic
		// builder's or Podman's lines ("Step 1/3 : …", "STEP 1/3: …"), or on
		// the containerd store, where the image is made here, the load's.
		var pushed struct{ Digest string }
		if json.Unmarshal(m.Aux, &pushed) == nil && pushed.Digest == digest || strings.HasSuffix(m.Status, "json: digest: "+digest+" size: "+sizeOf(m.Status)) {
			sawDigest = true
		}
		sawBuild = sawBuild || m.ID == "moby.buildkit.trace" && m.Aux != nil || strings.HasPrefix(m.Stream, "Step ") || onPodman() && strings.HasPrefix(m.Stream, "STEP ") || onContainerdStore() && strings.HasPrefix(m.Stream, "Loaded image")
	}
	if !sawDigest || !sawBuild {
		t.Errorf("json: the daemon's build messages (%t) or the push's digest %s (%t) did not come through:\n%s", sawBuild, digest, sawDigest, res.stderr)
	}

	res = scratchPush(t, env.password, nil, append(pushArgs(repo, "plain"), "--progress", "plain", "--no-cache", "--cmd", "./app", dir)...)
	if res.code != 0 {
		t.Fatalf("plain: exit %d: %s", res.code, res.stderr)
	}
	stamp := regexp.MustCompile(`^\[ *\d+\.\ds\] `)
	for _, line := range strings.Split(strings.TrimSpace(res.stderr), "\n") {
		if !stamp.MatchString(line) {
			t.Errorf("plain: a line without a timestamp: %q", line)
		}
	}
	sent := "context: sent " // the build context, or the image made here
	if onContainerdStore() {
		sent = "image: sent "
	}
	if !strings.Contains(res.stderr, sent) {
		t.Errorf("plain: no %q line:\n%s", sent, res.stderr)
	}
	// The build's steps as the user knows them, sizes in docker's units,
	// and the run's whole time at the end.
	lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
	if last := lines[len(lines)-1]; !regexp.MustCompile(`\] finished in \d+\.\ds$`).MatchString(last) {
		t.Errorf("plain: the last line is %q, want the run's time", last)
	}
	for _, hidden := range []string{"[internal]", "copy /context /", "COPY rootfs", "MiB"} {
		if strings.Contains(res.stderr, hidden) {
			t.Errorf("plain: the progress shows %q:\n%s", hidden, res.stderr)
		}
	}
}

// sizeOf is the size at the end of a push's status line ("v1: digest:
// sha256:… size: 479").
func sizeOf(status string) string {
	_, size, _ := strings.Cut(status, " size: ")
	return size
}
