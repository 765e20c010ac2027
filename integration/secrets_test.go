package integration

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// A hostile registry echoes the credentials it is sent in its errors, in
// every encoding it can think of; in no progress mode, and on neither
// path, does any of them reach stdout or stderr.
func TestSecretsEchoedByARegistry(t *testing.T) {
	requireEnv(t)
	const user = "mallory-victim"
	const password = "pa\"ss&w<o>rd\tsecret-99"
	pair := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	echo := func(r *http.Request) string {
		got := r.Header.Get("Authorization")
		decoded := ""
		if b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(got, "Basic ")); err == nil {
			decoded = string(b)
		}
		return fmt.Sprintf("you sent %q (%s), that is %s, user %s password %s, query %s", got, got, decoded, user, password, url.QueryEscape(password))
	}
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="hostile"`)
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "UNAUTHORIZED", "message": "credentials please"}}})
			return
		}
		if r.URL.Path == "/v2/" { // the login goes through: the push is where it is told off
			w.WriteHeader(http.StatusOK)
			return
		}
		if r.Method == http.MethodHead { // nothing here: the client goes on to upload, and is told off
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "DENIED", "message": echo(r)}}})
	}))
	defer hostile.Close()
	host := strings.TrimPrefix(hostile.URL, "http://")
	dir, _ := seedFolder(t, "secrets")

	forms := []string{password, pair, strings.Join(strings.Fields(password), " "), url.QueryEscape(password)}
	for _, html := range []bool{true, false} {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		_ = enc.Encode(password)
		s := strings.TrimSpace(b.String())
		forms = append(forms, s[1:len(s)-1])
	}
	for _, via := range []string{"daemon", "direct"} {
		for _, progress := range []string{"plain", "json", "tty"} {
			t.Run(via+"/"+progress, func(t *testing.T) {
				res := scratchPush(t, password, nil, "--registry", "http://"+host, "--repository", "it/secrets", "--username", user, "--password-stdin",
					"--push", via, "--progress", progress, "--retries", "1", "--cmd", "./app", dir)
				if res.code == 0 {
					t.Fatalf("a registry that refuses every push: exit 0")
				}
				for _, f := range forms {
					if strings.Contains(res.stderr, f) || strings.Contains(res.stdout, f) {
						t.Errorf("the output holds %q:\n%s%s", f, res.stdout, res.stderr)
					}
				}
			})
		}
	}
}
