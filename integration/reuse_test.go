package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An unchanged folder is not sent again: the next run tags and pushes the
// image the last one built, without a build request. Any change to the
// folder (even one that keeps every size and mtime), a removed image,
// --no-cache, or a folder with entries newer than the run builds again.
func TestUnchangedFolderReused(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir, _ := seedFolder(t, "reused")
	extra := []string{"SCRATCH_PUSH_CACHE_DIR=" + t.TempDir()}
	repo := uniqueRepo(t, "reuse")
	reg := registryClient{t}
	ref := func(tag string) string { return env.registry + "/" + repo + ":" + tag }
	settle := func() { time.Sleep(1100 * time.Millisecond) } // past the settle time of a second
	type outcome struct {
		reused bool
		read   bool // reused after reading the files: only their times changed
		digest string
		builds int
		pushes int  // push requests the daemon got
		there  bool // the tag named the image already
		tagged bool // the tag was put from here
	}
	run := func(tag string, flags ...string) outcome {
		t.Helper()
		dp := newDaemonProxy(t, func(p *daemonProxy) { p.record = true })
		removeImages(t, ref(tag))
		args := append(append(pushArgs(repo, tag), flags...), "--cmd", "./app", dir)
		res := scratchPush(t, env.password, append(extra, dp.host()), args...)
		if res.code != 0 {
			t.Fatalf("%s: exit %d: %s", tag, res.code, res.stderr)
		}
		digest := pushedDigest(t, res, repo, tag)
		// An image is made by a build request, or on the containerd store
		// made here and sent to the load endpoint.
		return outcome{strings.Contains(res.stderr, "reusing image"), strings.Contains(res.stderr, "only their times changed"), digest, len(dp.buildRequests()) + dp.requests("/images/load"),
			dp.requests("/push"), strings.Contains(res.stderr, "already: nothing to push"), strings.Contains(res.stderr, ", nothing to push")}
	}
	expect := func(what string, got outcome, reused bool) {
		t.Helper()
		switch {
		case got.reused != reused:
			t.Errorf("%s: reused %t, want %t", what, got.reused, reused)
		case reused && got.builds != 0:
			t.Errorf("%s: said it reused the image but sent %d build or load requests", what, got.builds)
		case !reused && got.builds == 0:
			t.Errorf("%s: sent no build or load request", what)
		}
	}

	settle()
	a := run("a")
	expect("first run", a, false)
	b := run("b")
	expect("unchanged folder", b, true)
	if b.digest != a.digest {
		t.Errorf("unchanged folder: digest %s, first run %s", b.digest, a.digest)
	}
	// A new tag: the registry holds the image as the digest the first run
	// pushed, which the records keep and the registry's manifest proves;
	// the tag is put from here and the daemon pushes nothing.
	if !b.tagged || b.pushes != 0 {
		t.Errorf("unchanged folder, a new tag: the daemon got %d push requests (tagged from here: %v), want none", b.pushes, b.tagged)
	}
	// A record of the pushed digest edited to name another manifest (one
	// the registry holds, of another image) is not believed: the registry's
	// manifest is not the image, and the daemon pushes.
	cacheDir := strings.TrimPrefix(extra[0], "SCRATCH_PUSH_CACHE_DIR=")
	edited, _ := filepath.Glob(filepath.Join(cacheDir, "*", "*.pushed"))
	more, _ := filepath.Glob(filepath.Join(cacheDir, "*.pushed"))
	edited = append(edited, more...)
	if len(edited) == 0 {
		t.Fatalf("no record of a pushed digest in %s", cacheDir)
	}
	other := run("other", "--env", "OTHER=1")
	for _, f := range edited {
		must(t, os.WriteFile(f, []byte(other.digest+"\n"), 0o600))
	}
	lied := run("b2")
	if lied.tagged || lied.pushes == 0 || lied.digest != a.digest {
		t.Errorf("a record edited to name %s: tagged from here %v, %d daemon pushes, digest %s (want %s)", other.digest, lied.tagged, lied.pushes, lied.digest, a.digest)
	}
	// The same tag again: the registry names the image already, asked
	// from here; the daemon pushes nothing.
	again := run("b")
	expect("unchanged folder, the same tag", again, true)
	if !again.there || again.pushes != 0 || again.digest != a.digest {
		t.Errorf("unchanged folder, the same tag: %d push requests to the daemon, said there already %v, digest %s (want %s)", again.pushes, again.there, again.digest, a.digest)
	}

	// Same size, mtime put back: only the change time tells.
	conf := filepath.Join(dir, "cities-service.json")
	fi, err := os.Stat(conf)
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(conf, []byte(`{"Greeting": "REUSED"}`), 0o644))
	must(t, os.Chtimes(conf, fi.ModTime(), fi.ModTime()))
	settle()
	c := run("c")
	expect("file rewritten in place", c, false)
	if c.digest == a.digest {
		t.Errorf("file rewritten in place: pushed the old image %s", c.digest)
	}
	m, _ := reg.manifest(repo, "c")
	if layer := gunzip(t, reg.blob(repo, m.Layers[0].Digest.String())); !strings.Contains(layer, "REUSED") {
		t.Error("file rewritten in place: the pushed layer lacks the new content")
	}
	expect("unchanged again", run("d"), true)

	// The daemon lost the image: built again.
	for _, tag := range []string{"c", "d"} {
		docker(t, nil, "rmi", ref(tag))
	}
	expect("image removed from the daemon", run("e"), false)
	expect("--no-cache", run("f", "--no-cache"), false)
	expect("other options", run("g", "--env", "A=1"), false)

	// An entry stamped after the scan could change again unseen: never
	// recorded by its stat data. Its files are read each time instead, and
	// found to be the image's.
	future := time.Now().Add(time.Hour)
	must(t, os.Chtimes(conf, future, future))
	for _, tag := range []string{"h", "i"} {
		got := run(tag)
		expect("entry newer than the run", got, true)
		if !got.read {
			t.Errorf("entry newer than the run (%s): reused without reading the files", tag)
		}
	}
}

// An image record is believed only when it provably names the daemon's
// image: a record whose manifest and config were swapped for another
// image's (what anyone who can write a shared cache folder could do) is
// ignored and the image made again, never pushed under the user's tag; a
// records folder others may write is not used at all.
func TestReuseRecordsDistrusted(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	cache := t.TempDir()
	extra := []string{"SCRATCH_PUSH_CACHE_DIR=" + cache}
	repo := uniqueRepo(t, "distrust")
	push := func(dir, tag string) (digest, stderr string) {
		t.Helper()
		removeImages(t, env.registry+"/"+repo+":"+tag)
		res := scratchPush(t, env.password, extra, append(pushArgs(repo, tag), "--push", "direct", "--cmd", "./app", dir)...)
		if res.code != 0 {
			t.Fatalf("%s: exit %d: %s", tag, res.code, res.stderr)
		}
		return pushedDigest(t, res, repo, tag), res.stderr
	}
	records := func() map[string][]string {
		t.Helper()
		entries, err := os.ReadDir(filepath.Join(cache, "images"))
		must(t, err)
		m := map[string][]string{}
		for _, e := range entries {
			if !strings.Contains(e.Name(), ".") { // the image records, not SBOMs or shapes
				b, err := os.ReadFile(filepath.Join(cache, "images", e.Name()))
				must(t, err)
				m[e.Name()] = strings.Fields(string(b))
			}
		}
		return m
	}
	good, _ := seedFolder(t, "the genuine image")
	evil, _ := seedFolder(t, "the attacker's image")
	time.Sleep(1100 * time.Millisecond) // past the settle time: both get records
	genuine, _ := push(good, "a")
	first := records()
	attacker, _ := push(evil, "evil")
	var goodName string
	var evilLines []string
	for name, lines := range records() {
		if _, ok := first[name]; ok {
			goodName = name
		} else {
			evilLines = lines
		}
	}
	if len(first) != 1 || goodName == "" || len(evilLines) != 3 || len(first[goodName]) != 3 {
		t.Fatalf("records: first %v, then the attacker's %v", first, evilLines)
	}
	if _, stderr := push(good, "again"); !strings.Contains(stderr, "reusing image") {
		t.Fatalf("the unchanged folder's genuine record was not used:\n%s", stderr)
	}

	// The genuine image's ID, the attacker's manifest and config.
	edited := first[goodName][0] + "\n" + evilLines[1] + "\n" + evilLines[2] + "\n"
	must(t, os.WriteFile(filepath.Join(cache, "images", goodName), []byte(edited), 0o600))
	got, stderr := push(good, "b")
	if strings.Contains(stderr, "reusing image") || got == attacker {
		t.Errorf("an edited record was believed: pushed %s (the attacker's is %s, the genuine %s):\n%s", got, attacker, genuine, stderr)
	}
	m, _ := registryClient{t}.manifest(repo, "b")
	if layer := gunzip(t, registryClient{t}.blob(repo, m.Layers[len(m.Layers)-1].Digest.String())); !strings.Contains(layer, "the genuine image") {
		t.Error("the image pushed after the edited record lacks the folder's own file")
	}

	// A records folder that others may write is not used.
	must(t, os.Chmod(filepath.Join(cache, "images"), 0o777))
	if _, stderr := push(good, "c"); !strings.Contains(stderr, "may be written by others") || strings.Contains(stderr, "reusing image") {
		t.Errorf("a records folder anyone may write was used, or not named:\n%s", stderr)
	}
}
