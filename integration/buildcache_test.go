package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A run leaves no more behind in the daemon than docker build does. On
// Docker, BuildKit's two copies of the uploaded folder (the upload and its
// unpacking) go after the build; what stays are the records of the COPY
// steps, which hold the image's own layers (on the classic store shared
// with it: 0 B in docker system df) and let a touched folder (same bytes, new times) build from
// the cache. Podman's Buildah keeps no build cache: its image per step is
// the image's parent and goes with it.
//
// Not parallel: the test reads the daemon's whole build cache, which the
// parallel tests' builds would change under it.
func TestBuildCacheTidy(t *testing.T) {
	requireEnv(t)
	var before map[string]cacheRecord
	if !onPodman() {
		before = buildCacheRecords(t)
	}
	imagesBefore := daemonState(t)
	repo := uniqueRepo(t, "cache")
	extra := []string{"SCRATCH_PUSH_CACHE_DIR=" + t.TempDir()}
	var refs []string
	run := func(tag, dir string) string {
		t.Helper()
		args := append(append(pushArgs(repo, tag), buildEndpoint()...), "--progress", "plain", "--cmd", "./app", dir)
		res := scratchPush(t, env.password, extra, args...)
		if res.code != 0 {
			t.Fatalf("%s: exit %d: %s", tag, res.code, res.stderr)
		}
		refs = append(refs, env.registry+"/"+repo+":"+tag)
		return res.stderr
	}
	defer func() { removeImages(t, refs...) }()

	for i, tag := range []string{"one", "two"} {
		dir, _ := seedFolder(t, "cache "+tag)
		must(t, os.WriteFile(filepath.Join(dir, "data"), []byte(strings.Repeat(randomHex(t, 32), 64<<10)), 0o644)) // 4 MiB of its own
		out := run(tag, dir)
		if !onPodman() && !strings.Contains(out, "removed the build's copies of the folder from the daemon's build cache (2 records") {
			t.Errorf("run %d: no word of the build's copies of the folder being removed:\n%s", i, out)
		}

		// Touched: the same bytes with new times still build from the cache.
		later := time.Now().Add(-2 * time.Second)
		entries, err := os.ReadDir(dir)
		must(t, err)
		for _, e := range entries {
			must(t, os.Chtimes(filepath.Join(dir, e.Name()), later, later))
		}
		out = run(tag+"-touched", dir)
		if !cachedCopy(out) {
			t.Errorf("touched folder %d: the COPY step did not come from the cache:\n%s", i, out)
		}
	}

	if onPodman() {
		for _, r := range refs {
			docker(t, nil, "rmi", r)
		}
		if after := daemonState(t); after != imagesBefore {
			t.Errorf("with its images removed, the runs left images or containers behind:\nbefore %s\nafter  %s", imagesBefore, after)
		}
		return
	}
	// What stays is the COPY steps' records, the images' layers, shared
	// with them: never the uploaded context or its unpacking. The
	// containerd store (Docker 29) now and then counts a COPY step's record
	// that its image holds as not shared, which is the daemon's
	// bookkeeping, not a copy of the folder left behind.
	layers := 0
	for _, r := range buildCacheRecords(t) {
		if _, old := before[r.ID]; old {
			continue
		}
		switch {
		case r.Shared == "true":
			layers++
		case onContainerdStore() && strings.Contains(r.Description, "COPY rootfs"):
			t.Logf("the containerd store counts a COPY step's record as not shared: %+v", r)
			layers++
		default:
			t.Errorf("the runs left a build cache record that is not the image's: %+v", r)
		}
	}
	if layers == 0 {
		t.Error("no new build cache record holds the images' layers: did the runs build with BuildKit?")
	}
}

// cachedCopy says a build's COPY step came from the cache: BuildKit's
// "… copying the folder's files CACHED" (its COPY step as shown),
// Buildah's "--> Using cache …".
func cachedCopy(progress string) bool {
	copying := false
	for _, l := range strings.Split(progress, "\n") {
		switch {
		case strings.Contains(l, "copying the folder's files") && strings.HasSuffix(l, " CACHED"):
			return true
		case strings.Contains(l, "copying the folder's files"):
			copying = true
		case copying && strings.Contains(l, "--> Using cache"):
			return true
		}
	}
	return false
}

// cacheRecord is a build cache record as docker system df -v gives it.
type cacheRecord struct {
	ID, Description, Shared, Size string
}

// buildCacheRecords lists the daemon's build cache; IDs are unique, so the
// map is the set of records with their details.
func buildCacheRecords(t *testing.T) map[string]cacheRecord {
	t.Helper()
	var records []cacheRecord
	out := docker(t, nil, "system", "df", "-v", "--format", "{{json .BuildCache}}")
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &records); err != nil {
		t.Fatalf("reading the build cache (%q): %v", out, err)
	}
	m := map[string]cacheRecord{}
	for _, r := range records {
		m[r.ID] = r
	}
	return m
}
