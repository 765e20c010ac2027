package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/distribution/reference"
	"github.com/scratchpush/scratchpush/auth"
)

// fakeRegistry is a fake: the /v2/ endpoint of a registry and, for the
// bearer flow, its token service, both in one loopback server, as Docker
// Hub, GHCR and quay answer them. No real token service runs here; the
// integration suite checks the basic flow against the real registry.
func fakeCheckRegistry(t *testing.T, bearer bool) (host string, tokenScopes *[]string) {
	t.Helper()
	var scopes []string
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		good := ok && user == "bob" && pass == "right"
		switch {
		case r.URL.Path == "/token" && bearer:
			scopes = append(scopes, r.URL.Query()["scope"]...)
			if !good {
				http.Error(w, `{"details":"incorrect username or password"}`, http.StatusUnauthorized)
				return
			}
			fmt.Fprint(w, `{"token":"t0k3n"}`)
		case r.URL.Path == "/v2/" && bearer:
			if r.Header.Get("Authorization") == "Bearer t0k3n" {
				return
			}
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="fake"`, srv.URL+"/token"))
			w.WriteHeader(http.StatusUnauthorized)
		case r.URL.Path == "/v2/":
			if good {
				return
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="fake"`)
			w.WriteHeader(http.StatusUnauthorized)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), &scopes
}

func TestCheck(t *testing.T) {
	for _, bearer := range []bool{false, true} {
		for _, c := range []struct {
			pass string
			want error
		}{{"right", nil}, {"wrong", auth.ErrAuth}} {
			name := fmt.Sprintf("bearer=%t/%s", bearer, c.pass)
			host, scopes := fakeCheckRegistry(t, bearer)
			err := New(auth.Credentials{Username: "bob", Password: c.pass}).Check(context.Background(), named(t, host+"/team/app"))
			if !errors.Is(err, c.want) || (err == nil) != (c.want == nil) {
				t.Errorf("%s: error %v, want %v", name, err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), c.pass) {
				t.Errorf("%s: the error shows the password: %v", name, err)
			}
			if bearer && (len(*scopes) == 0 || (*scopes)[0] != "repository:team/app:push,pull") {
				t.Errorf("%s: token asked for scopes %q, want push and pull on team/app", name, *scopes)
			}
		}
	}
}

func TestCheckUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	host := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	err := New(auth.Credentials{Username: "bob", Password: "right"}).Check(context.Background(), named(t, host+"/team/app"))
	if !errors.Is(err, auth.ErrUnchecked) || errors.Is(err, auth.ErrAuth) {
		t.Errorf("a closed port: error %v, want ErrUnchecked", err)
	}
}

func named(t *testing.T, s string) reference.Named {
	t.Helper()
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Without credentials: a registry that gives anyone a token, as Docker Hub
// does, takes it at /v2/ but refuses the push's HEAD: that is a refusal,
// not a yes; a registry that asks for nothing takes none.
func TestCheckWithoutCredentials(t *testing.T) {
	for _, open := range []bool{false, true} {
		var srv *httptest.Server
		srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case open && r.URL.Path == "/v2/":
			case open:
				http.NotFound(w, r)
			case r.URL.Path == "/token":
				fmt.Fprint(w, `{"token":"anonymous"}`) // pull only
			case r.Header.Get("Authorization") != "Bearer anonymous":
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="fake"`, srv.URL+"/token"))
				w.WriteHeader(http.StatusUnauthorized)
			case r.URL.Path == "/v2/":
			default: // no push scope in the token
				w.WriteHeader(http.StatusUnauthorized)
			}
		}))
		t.Cleanup(srv.Close)
		tagged, err := reference.WithTag(named(t, strings.TrimPrefix(srv.URL, "http://")+"/team/app"), "v1")
		if err != nil {
			t.Fatal(err)
		}
		err = New(auth.Credentials{}).Check(context.Background(), tagged)
		if open != (err == nil) || (!open && !errors.Is(err, auth.ErrAuth)) {
			t.Errorf("open registry %v: error %v", open, err)
		}
	}
}
