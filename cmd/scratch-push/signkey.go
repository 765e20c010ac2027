package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/moby/term"

	"github.com/scratchpush/scratchpush/sign"
)

// signPassword gives the --sign-key's password as cosign takes it:
// COSIGN_PASSWORD when set (empty is a password too), else typed on the
// terminal, unechoed, when stdin is one and carries no registry password;
// else it says how to give it. The password joins the redacted secrets.
func signPassword(s *streams, o options) sign.Password {
	return func() ([]byte, error) {
		if pw, ok := os.LookupEnv("COSIGN_PASSWORD"); ok {
			s.redact.Add(pw)
			return []byte(pw), nil
		}
		in, ok := s.in.(*os.File)
		if !ok || o.passwordStdin || !term.IsTerminal(in.Fd()) {
			return nil, fmt.Errorf("the key is encrypted and COSIGN_PASSWORD is not set, with no terminal to ask on: set COSIGN_PASSWORD (as cosign reads it)")
		}
		state, err := term.SaveState(in.Fd())
		if err != nil {
			return nil, fmt.Errorf("asking for the key's password: %w", err)
		}
		defer term.RestoreTerminal(in.Fd(), state)
		if err := term.DisableEcho(in.Fd(), state); err != nil {
			return nil, fmt.Errorf("asking for the key's password: %w", err)
		}
		fmt.Fprint(s.err, "Enter password for private key: ")
		line, err := bufio.NewReader(in).ReadString('\n')
		fmt.Fprintln(s.err)
		if err != nil && line == "" {
			return nil, fmt.Errorf("reading the key's password: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		s.redact.Add(pw)
		return []byte(pw), nil
	}
}
