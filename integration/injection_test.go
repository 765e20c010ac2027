package integration

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Values built to break out of a Dockerfile land in the image config exactly
// as given, and add no instruction.
func TestInjection(t *testing.T) {
	requireEnv(t)
	t.Parallel()
	dir, _ := seedFolder(t, "injection")
	repo := uniqueRepo(t, "inject")
	ref := repo + ":v1"
	removeImages(t, ref)
	breakout := `x" && RUN touch /pwned && echo "`
	cmd := []string{"\"; RUN touch /pwned #", "$(id)", "`id`", `\`, "line\nbreak", `"]`, "${HOME}"}
	entrypoint := []string{"/app", `] RUN ["x"`}
	env := map[string]string{"BREAK": breakout, "DOLLAR": "$PATH ${HOME:-x}", "BS": `\`, "BS2": `\\"`, "Q": `'`}
	labels := map[string]string{`l" evil \"1`: `") LABEL evil=1 #`, "multi": "=a=b="}
	workdir := `/w "quoted" $HOME \back`
	user := `u" ; RUN x`
	volume := `/v "x" $y \z`

	cmdJSON, _ := json.Marshal(cmd)
	epJSON, _ := json.Marshal(entrypoint)
	args := []string{"-q", "--no-push", "--repository", repo, "--tag", "v1", "--cmd", string(cmdJSON), "--entrypoint", string(epJSON),
		"--workdir", workdir, "--user", user, "--volume", volume, "--stop-signal", "SIGRTMIN+3"}
	for k, v := range env {
		args = append(args, "--env", k+"="+v)
	}
	for k, v := range labels {
		args = append(args, "--label", k+"="+v)
	}
	res := scratchPush(t, "", nil, append(append(args, buildEndpoint()...), dir)...)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	var inspect []struct{ Config ocispec.ImageConfig }
	if err := json.Unmarshal([]byte(docker(t, nil, "image", "inspect", ref)), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("inspect: %v", err)
	}
	c := inspect[0].Config
	gotEnv := map[string]string{}
	for _, kv := range c.Env {
		k, v, _ := strings.Cut(kv, "=")
		gotEnv[k] = v
	}
	delete(gotEnv, "PATH")
	checks := []struct {
		what      string
		got, want any
	}{
		{"Cmd", c.Cmd, cmd},
		{"Entrypoint", c.Entrypoint, entrypoint},
		{"Env", gotEnv, env},
		{"Labels", ownLabels(c.Labels), labels},
		{"WorkingDir", c.WorkingDir, workdir},
		{"User", c.User, user},
		{"Volumes", keys(c.Volumes), []string{volume}},
		{"StopSignal", c.StopSignal, "SIGRTMIN+3"},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.what, ch.got, ch.want)
		}
	}
	history := docker(t, nil, "history", "--no-trunc", "--format", "{{.CreatedBy}}", ref)
	for _, line := range strings.Split(strings.TrimSpace(history), "\n") {
		// A RUN step reads "RUN ..." (BuildKit) or "/bin/sh -c ..." without
		// "#(nop)" (the classic builder).
		if strings.HasPrefix(line, "RUN ") || strings.HasPrefix(line, "/bin/sh -c") && !strings.Contains(line, "#(nop)") {
			t.Errorf("a RUN step made it into the image: %s", line)
		}
	}
	if n := len(strings.Split(strings.TrimSpace(history), "\n")); n != 9 {
		t.Errorf("%d history entries, want 9 (COPY, ENV, LABEL, WORKDIR, USER, VOLUME, STOPSIGNAL, ENTRYPOINT, CMD):\n%s", n, history)
	}
}
