// Package auth turns registry credentials into the X-Registry-Auth header of
// the Engine API, and finds them the way docker push does when the user gave
// none.
//
// Credentials never leave this package in readable form except inside the
// header: their String and GoString hide the secret, so a stray %v in a log
// line or an error cannot leak it.
package auth

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/moby/moby/api/types/registry"
)

// DockerHubServerAddress is the address the daemon and the docker config
// use for Docker Hub, for historical reasons.
const DockerHubServerAddress = "https://index.docker.io/v1/"

// Credentials for one registry. IdentityToken, when set (docker login with an
// OAuth flow), is used instead of the password.
type Credentials struct {
	Username      string
	Password      string
	IdentityToken string
}

// Empty reports whether there is nothing to send: an anonymous push.
func (c Credentials) Empty() bool {
	return c.Username == "" && c.Password == "" && c.IdentityToken == ""
}

// String hides the secret: credentials end up in %v more easily than one thinks.
func (c Credentials) String() string {
	secret := "none"
	if c.Password != "" || c.IdentityToken != "" {
		secret = "hidden"
	}
	return fmt.Sprintf("user %q, secret %s", c.Username, secret)
}

// GoString hides the secret from %#v as well.
func (c Credentials) GoString() string { return "auth.Credentials{" + c.String() + "}" }

// ServerAddress is the address credentials are filed under for a registry
// host: Docker Hub's historical index address, or the host itself.
func ServerAddress(host string) string {
	switch host {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return DockerHubServerAddress
	}
	return host
}

// Header encodes credentials for the registry at host as the X-Registry-Auth
// header value: JSON in base64 URL encoding (RFC 4648 section 5), which is
// what the daemon decodes. Empty credentials still give a valid header ("{}"
// encoded): older daemons reject a push without one.
func Header(c Credentials, host string) (string, error) {
	cfg := registry.AuthConfig{}
	if !c.Empty() {
		cfg = registry.AuthConfig{
			Username:      c.Username,
			Password:      c.Password,
			IdentityToken: c.IdentityToken,
			ServerAddress: ServerAddress(host),
		}
	}
	buf, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("encoding registry credentials: %w", err)
	}
	return base64.URLEncoding.EncodeToString(buf), nil
}

// DecodeHeader reverses Header, as the daemon does. It returns the
// credentials and the server address they are for.
func DecodeHeader(h string) (Credentials, string, error) {
	buf, err := base64.URLEncoding.DecodeString(h)
	if err != nil {
		return Credentials{}, "", fmt.Errorf("decoding registry auth header: not base64url: %w", err)
	}
	var cfg registry.AuthConfig
	if err := json.Unmarshal(buf, &cfg); err != nil {
		return Credentials{}, "", fmt.Errorf("decoding registry auth header: not JSON: %w", err)
	}
	return Credentials{Username: cfg.Username, Password: cfg.Password, IdentityToken: cfg.IdentityToken}, cfg.ServerAddress, nil
}
