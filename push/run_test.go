package push

import (
	"errors"
	"strings"
	"testing"

	"github.com/scratchpush/scratchpush/daemon"
)

// A daemon that found plain HTTP where it expected HTTPS gets advice for
// its own configuration, the error kept.
func TestPlainHTTPAdvice(t *testing.T) {
	cause := errors.New(`pinging container registry localhost:5000: Get "https://localhost:5000/v2/": http: server gave HTTP response to HTTPS client`)
	for _, c := range []struct {
		podman bool
		want   string
	}{
		{false, `add it to "insecure-registries" in the daemon's daemon.json`},
		{true, `registries.conf ([[registry]] location = "localhost:5000", insecure = true) and restart podman system service`},
	} {
		err := plainHTTPAdvice(cause, "localhost:5000", c.podman)
		if !errors.Is(err, cause) || !strings.Contains(err.Error(), c.want) || !daemon.PlainHTTP(cause) {
			t.Errorf("podman %t: %v; want it to wrap the cause and say %q", c.podman, err, c.want)
		}
	}
}
