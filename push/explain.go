package push

import (
	"errors"
	"fmt"

	"github.com/distribution/reference"
	"github.com/scratchpush/scratchpush/auth"
	"github.com/scratchpush/scratchpush/daemon"
	"github.com/scratchpush/scratchpush/field"
)

// explainRegistry says what to check when the daemon could not use the
// registry: the credentials it refused, or the plain HTTP it got where it
// expected HTTPS.
func explainRegistry(err error, o run) error {
	if daemon.PlainHTTP(err) {
		return plainHTTPAdvice(err, o.Target.Host(), o.daemon.Podman)
	}
	who := "these credentials" // an identity token names no user
	if o.Credentials.Username != "" {
		who = fmt.Sprintf("user %q", o.Credentials.Username)
	}
	if errors.Is(err, auth.ErrDenied) {
		return fmt.Errorf("%w: check that %s may push to %s", err, who, reference.FamiliarName(o.Target.Repository))
	}
	if !errors.Is(err, auth.ErrAuth) {
		return err
	}
	if o.Credentials.Empty() {
		return field.Wrap("Credentials", fmt.Errorf("%w: no credentials were found for %s, and the registry wants some: give %s with %s (or SCRATCH_PUSH_USERNAME and SCRATCH_PUSH_PASSWORD), or run %s first", err, o.Target.Host(), field.Ref("Username"), field.Ref("Password"), dockerLogin(o.Target.Host())))
	}
	return field.Wrap("Credentials", fmt.Errorf("%w: check the user name and password for %s (%s was refused)", err, o.Target.Host(), who))
}

// dockerLogin is the command that files credentials for host where
// scratch-push finds them: docker login, and the host but for Docker Hub.
func dockerLogin(host string) string {
	if auth.ServerAddress(host) == auth.DockerHubServerAddress {
		return "docker login"
	}
	return "docker login " + host
}

// plainHTTPAdvice says how to let the daemon use a plain-HTTP registry:
// Docker and Podman keep the list of such registries in their own
// configuration, read when they start.
func plainHTTPAdvice(err error, host string, podman bool) error {
	if podman {
		return fmt.Errorf("%w: Podman expects HTTPS of %s; if it serves plain HTTP, mark it insecure in registries.conf ([[registry]] location = %q, insecure = true) and restart podman system service", err, host, host)
	}
	return fmt.Errorf("%w: the daemon expects HTTPS of %s; if it serves plain HTTP, add it to \"insecure-registries\" in the daemon's daemon.json and restart the daemon", err, host)
}
