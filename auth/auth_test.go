package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHeader(t *testing.T) {
	cases := []struct {
		name  string
		creds Credentials
		host  string
		want  map[string]string
	}{
		{"quay", Credentials{Username: "robot", Password: "s3cret"}, "quay.io",
			map[string]string{"username": "robot", "password": "s3cret", "serveraddress": "quay.io"}},
		{"docker hub", Credentials{Username: "me", Password: "pw"}, "docker.io",
			map[string]string{"username": "me", "password": "pw", "serveraddress": "https://index.docker.io/v1/"}},
		{"identity token", Credentials{Username: "me", IdentityToken: "tok"}, "127.0.0.1:5000",
			map[string]string{"username": "me", "identitytoken": "tok", "serveraddress": "127.0.0.1:5000"}},
		{"anonymous", Credentials{}, "quay.io", map[string]string{}},
		// Chosen so that standard base64 would hold '+' and '/'.
		{"url alphabet", Credentials{Username: "u", Password: "~~~???>>>"}, "r.io",
			map[string]string{"username": "u", "password": "~~~???>>>", "serveraddress": "r.io"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, err := Header(c.creds, c.host)
			if err != nil {
				t.Fatal(err)
			}
			if strings.ContainsAny(h, "+/") {
				t.Errorf("header %q uses the standard base64 alphabet; the daemon decodes base64url", h)
			}
			raw, err := base64.URLEncoding.DecodeString(h)
			if err != nil {
				t.Fatalf("header is not base64url: %v", err)
			}
			var got map[string]string
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("header is not a JSON object: %v (%s)", err, raw)
			}
			if c.name == "url alphabet" && !strings.ContainsAny(base64.StdEncoding.EncodeToString(raw), "+/") {
				t.Fatal("this case must give '+' or '/' in standard base64 to test the alphabet")
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("header JSON = %v, want %v", got, c.want)
			}
		})
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	in := Credentials{Username: "user@example.com", Password: `p"a\ss'w0rd$ with spaces`}
	h, err := Header(in, "quay.io")
	if err != nil {
		t.Fatal(err)
	}
	out, addr, err := DecodeHeader(h)
	if err != nil || out != in || addr != "quay.io" {
		t.Errorf("DecodeHeader = %v, %q, %v; want %v for quay.io", out, addr, err, in)
	}
	if _, _, err := DecodeHeader("%%%"); err == nil {
		t.Error("DecodeHeader accepted garbage")
	}
}

func TestCredentialsHideSecrets(t *testing.T) {
	c := Credentials{Username: "me", Password: "hunter2-secret", IdentityToken: "tok-secret"}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), fmt.Errorf("wrapped: %v", c).Error()} {
		if strings.Contains(s, "secret") && !strings.Contains(s, "secret hidden") {
			t.Errorf("secret shown: %s", s)
		}
		if strings.Contains(s, "hunter2") || strings.Contains(s, "tok-") {
			t.Errorf("secret shown: %s", s)
		}
	}
}

func TestFromDockerConfig(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_AUTH_CONFIG", "")
	auth := func(u, p string) string { return base64.StdEncoding.EncodeToString([]byte(u + ":" + p)) }
	cfg := fmt.Sprintf(`{"auths": {
		"https://index.docker.io/v1/": {"auth": %q},
		"127.0.0.1:5000": {"auth": %q},
		"https://quay.io": {"auth": %q}
	}}`, auth("hubuser", "hubpass"), auth("local", "localpass"), auth("quayuser", "quaypass"))
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]Credentials{
		"docker.io":      {Username: "hubuser", Password: "hubpass"},
		"127.0.0.1:5000": {Username: "local", Password: "localpass"},
		"quay.io":        {Username: "quayuser", Password: "quaypass"},
		"gcr.io":         {},
	}
	for host, want := range cases {
		got, err := FromDockerConfig(context.Background(), dir, host)
		if err != nil || got != want {
			t.Errorf("FromDockerConfig(%s) = %v, %v; want %v", host, got, err, want)
		}
	}

	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := FromDockerConfig(context.Background(), dir, "quay.io"); err == nil || !strings.Contains(err.Error(), "reading docker config") {
		t.Errorf("malformed config: error = %v", err)
	}
}

func TestFromDockerConfigCredentialHelper(t *testing.T) {
	dir := t.TempDir()
	bin := t.TempDir()
	// A stand-in credential helper speaking the docker-credential-helpers
	// protocol: "get" reads the server address on stdin.
	helper := "#!/bin/sh\nread server\necho \"{\\\"ServerURL\\\":\\\"$server\\\",\\\"Username\\\":\\\"helped\\\",\\\"Secret\\\":\\\"from-helper\\\"}\"\n"
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-fake"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("DOCKER_AUTH_CONFIG", "")
	cfg := `{"auths": {}, "credHelpers": {"registry.example": "fake"}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := FromDockerConfig(context.Background(), dir, "registry.example")
	if err != nil || got != (Credentials{Username: "helped", Password: "from-helper"}) {
		t.Errorf("FromDockerConfig = %v, %v", got, err)
	}
}
