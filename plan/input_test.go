package plan

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/field"
)

// input is a folder with ./app and a push to r.example/team/app.
func input(t *testing.T) Input {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app"), []byte("a program"), 0o755); err != nil {
		t.Fatal(err)
	}
	return Input{Dir: dir, Cmd: "./app", Repository: "r.example/team/app", Push: true}
}

// Every mistake is reported about the field that holds it, so that the
// command line can name the flag, variable or wercker.yml key.
func TestInputErrorsNameTheField(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	notDir := filepath.Join(t.TempDir(), "file")
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	readOnly := "/proc" // a folder no one, root included, makes files in
	existing := filepath.Join(t.TempDir(), "image.tar")
	if err := os.WriteFile(existing, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		edit  func(*Input)
		field string
		want  string
	}{
		{"no folder", func(in *Input) { in.Dir = filepath.Join(in.Dir, "nope") }, "Dir", "no such folder"},
		{"folder is a file", func(in *Input) { in.Dir = notDir }, "Dir", "is not a folder"},
		{"empty folder", func(in *Input) { in.Dir = t.TempDir() }, "Dir", "the folder is empty"},
		{"bad builder", func(in *Input) { in.Builder = "kaniko" }, "Builder", `"kaniko": use auto, buildkit or classic`},
		{"builder made moot", func(in *Input) { in.Builder, in.Reproducible = "classic", true }, "Builder", "does not apply with Reproducible"},
		{"bad push way", func(in *Input) { in.PushVia = "registry" }, "PushVia", `"registry": give daemon`},
		{"direct without a push", func(in *Input) { in.PushVia, in.Push = "direct", false }, "PushVia", "direct pushes, but Push says not to push"},
		{"builder with direct", func(in *Input) { in.PushVia, in.Builder = "direct", "buildkit" }, "Builder", "does not apply with PushVia direct"},
		{"no layers", func(in *Input) { in.MaxLayers, in.MaxLayersExact = 0, true }, "MaxLayers", "give 1 or more"},
		{"bad sbom", func(in *Input) { in.SBOM = "cyclonedx" }, "SBOM", `"cyclonedx": give spdx`},
		{"mirror without a push", func(in *Input) { in.Mirrors, in.Push = []string{"r.example/other"}, false }, "Mirrors", "a second repository is pushed to: drop it, or push"},
		{"mirror twice", func(in *Input) { in.Mirrors = []string{"r.example/other r.example/team/app"} }, "Mirrors", "r.example/team/app is given twice"},
		{"bad mirror", func(in *Input) { in.Mirrors = []string{"Other/App"} }, "Repository", "must be lowercase"},
		{"image refs without a push", func(in *Input) { in.ImageRefsFile, in.Push = filepath.Join(t.TempDir(), "refs"), false }, "ImageRefsFile", "nothing is"},
		{"bad source info", func(in *Input) { in.SourceInfo = "maybe" }, "SourceInfo", `"maybe": give auto`},
		{"annotation without =", func(in *Input) { in.Annotations = []string{"note"} }, "Annotations", `"note" has no "="`},
		{"negative retries", func(in *Input) { in.Retries = -1 }, "Retries", "give 0 or more"},
		{"bad command", func(in *Input) { in.Cmd = `./app "x` }, "Cmd", "splitting"},
		{"bad entrypoint", func(in *Input) { in.Entrypoint = `["x",1]` }, "Entrypoint", "invalid JSON array"},
		{"program missing", func(in *Input) { in.Cmd = "./nope" }, "Cmd", "is not in the folder"},
		{"no command", func(in *Input) { in.Cmd = "" }, "Cmd", "missing, and so is Entrypoint"},
		{"bad port", func(in *Input) { in.Ports = []string{"80", "http"} }, "Ports", `port "http"`},
		{"env without =", func(in *Input) { in.Env = []string{"A"} }, "Env", `"A" has no "="`},
		{"newline in a label", func(in *Input) { in.Labels = []string{"a=1\n2"} }, "Labels", "control character"},
		{"workdir through a file", func(in *Input) { in.Workdir = "/app/x" }, "Workdir", "is a file or link"},
		{"bad stop signal", func(in *Input) { in.StopSignal = "SIGNOPE" }, "StopSignal", "unknown signal"},
		{"empty volume", func(in *Input) { in.Volumes = []string{""} }, "Volumes", "empty path"},
		{"bad nonroot", func(in *Input) { in.NonRoot = "app" }, "NonRoot", "give NAME:UID"},
		{"nonroot and user", func(in *Input) { in.NonRoot, in.User = "app:1000", "1" }, "User", "conflicts with NonRoot"},
		{"missing CA bundle", func(in *Input) { in.CACerts = notDir + ".pem" }, "CACerts", "does not exist"},
		{"not zoneinfo", func(in *Input) { in.TZData = t.TempDir() }, "TZData", "no UTC in it"},
		{"bad platform", func(in *Input) { in.Platforms = []string{"arm64"} }, "Platforms", "give linux/ARCH"},
		{"bad epoch", func(in *Input) { in.SourceDateEpoch = "yesterday" }, "SourceDateEpoch", "not a count of seconds"},
		{"epoch after 9999", func(in *Input) { in.SourceDateEpoch = "253402300800" }, "SourceDateEpoch", "after the year 9999"},
		{"platform without a platform", func(in *Input) { in.Platforms, in.Dir = []string{"=" + in.Dir}, "" }, "Platforms", "names no platform"},
		{"newline in an annotation", func(in *Input) { in.PushVia, in.Annotations = "direct", []string{"a=1\n2"} }, "Annotations", "control character"},
		{"annotation not UTF-8", func(in *Input) { in.PushVia, in.Annotations = "direct", []string{"a=\xff"} }, "Annotations", "not valid UTF-8"},
		{"mirror without a host beside a registry", func(in *Input) { in.Registry, in.Mirrors = "r.example", []string{"other/app"} }, "Mirrors", "would go to Docker Hub"},
		{"registry with credentials", func(in *Input) { in.Registry = "https://bob:hunter22@r.example/x" }, "Registry", "user name or password"},
		{"no repository", func(in *Input) { in.Repository = "" }, "Repository", "required to push"},
		{"tags without a repository", func(in *Input) {
			in.Repository, in.Push, in.Tags = "", false, []string{"v1"}
		}, "Tags", "v1 given without a repository"},
		{"registry disagrees", func(in *Input) { in.Registry = "quay.io" }, "Repository", "but Registry is quay.io"},
		{"registry with a path", func(in *Input) { in.Registry = "quay.io/team" }, "Registry", "put \"team\" in Repository"},
		{"bad tag", func(in *Input) { in.Tags = []string{"v1:x"} }, "Tags", "not a valid tag"},
		{"empty tags", func(in *Input) { in.Tags = []string{" , "} }, "Tags", "empty"},
		{"digest file without a push", func(in *Input) { in.Push, in.DigestFile = false, filepath.Join(in.Dir, "d") }, "DigestFile", "write the image ID with IIDFile instead"},
		{"result file in no folder", func(in *Input) { in.IIDFile = filepath.Join(in.Dir, "no", "iid") }, "IIDFile", "does not exist: create it first"},
		{"result file is a folder", func(in *Input) { in.MetadataFile = in.Dir }, "MetadataFile", "is a folder"},
		{"result file is a fifo", func(in *Input) { in.IIDFile = fifo }, "IIDFile", "not a regular file (a named pipe)"},
		{"result file in a read-only folder", func(in *Input) { in.MetadataFile = filepath.Join(readOnly, "m.json") }, "MetadataFile", "cannot be written"},
		{"archive exists", func(in *Input) { in.Outputs = []string{"docker-archive:" + existing} }, "Outputs", "exists: give a new file name"},
		{"archive in a read-only folder", func(in *Input) { in.Outputs = []string{"docker-archive:" + filepath.Join(readOnly, "image.tar")} }, "Outputs", "cannot be written"},
		{"layout in a read-only folder", func(in *Input) { in.Outputs = []string{"oci-layout:" + filepath.Join(readOnly, "layout")} }, "Outputs", "cannot be written"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := input(t)
			c.edit(&in)
			_, err := in.Plan(context.Background())
			fe := field.Of(err)
			if fe == nil || fe.Field != c.field || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one about %s containing %q", err, c.field, c.want)
			}
		})
	}
}

// A good input becomes complete options: values parsed once, defaults
// applied, credentials taken from the docker config, old result files
// removed.
func TestInputOptions(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfg)
	auth := base64.StdEncoding.EncodeToString([]byte("bob:pw-from-config"))
	if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"auths":{"r.example":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	in := input(t)
	in.Ports = []string{"7000-7001,53/udp", "7000-7001"}
	in.Env = []string{"A=1=2"}
	in.Tags = []string{"v1 latest"}
	in.Reproducible, in.SourceDateEpoch = true, "1700000000"
	in.IIDFile = filepath.Join(t.TempDir(), "iid")
	if err := os.WriteFile(in.IIDFile, []byte("sha256:old"), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := in.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []builder.Port{{First: 7000, Last: 7001, Proto: "tcp"}, {First: 53, Last: 53, Proto: "udp"}}
	if len(o.Spec.Ports) != 2 || o.Spec.Ports[0] != want[0] || o.Spec.Ports[1] != want[1] {
		t.Errorf("ports %v, want %v", o.Spec.Ports, want)
	}
	if len(o.Spec.Env) != 1 || o.Spec.Env[0] != (builder.KeyValue{Key: "A", Value: "1=2"}) {
		t.Errorf("env %v", o.Spec.Env)
	}
	if len(o.Target.Tags) != 2 || o.Target.Tags[1].String() != "r.example/team/app:latest" {
		t.Errorf("tags %v, want v1 and latest", o.Target.Tags)
	}
	if o.MaxLayers != 1 || o.MaxLayersExact || !o.Layout.ModTime.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("max layers %d (exact %t), mtime %v; want one layer, stamped 1700000000", o.MaxLayers, o.MaxLayersExact, o.Layout.ModTime)
	}
	if o.Credentials.Username != "bob" || o.Credentials.Password != "pw-from-config" {
		t.Errorf("credentials for %q, want bob's from the docker config", o.Credentials.Username)
	}
	if _, err := os.Stat(in.IIDFile); !os.IsNotExist(err) {
		t.Errorf("the old iid file is still there (%v)", err)
	}
	in.Reproducible = false
	if o, err = in.Plan(context.Background()); err != nil || o.MaxLayers != builder.MaxLayers {
		t.Errorf("max layers %d, %v; want %d when built by the daemon", o.MaxLayers, err, builder.MaxLayers)
	}
}

// A tag that names a release becomes the version label; v1 does not.
func TestVersionLabel(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	for tags, want := range map[string]string{"latest v1.2.3 v1.2.4": "v1.2.3", "v1 latest": "", "2.0.0-rc.1": "2.0.0-rc.1", "main-abc123": ""} {
		in := input(t)
		in.Tags = []string{tags}
		o, err := in.Plan(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, l := range o.Spec.Labels {
			if l.Key == "org.opencontainers.image.version" {
				got = l.Value
			}
		}
		if got != want || o.Layout.Annotations["org.opencontainers.image.version"] != want {
			t.Errorf("tags %q: version label %q, annotation %q; want %q", tags, got, o.Layout.Annotations["org.opencontainers.image.version"], want)
		}
	}
}
