package builder

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ContextRoot is the folder of the build context that holds the user's files.
// Keeping them apart from the generated Dockerfile lets a user's own
// Dockerfile or .dockerignore travel as an ordinary file, and keeps the
// generated Dockerfile out of the image.
const ContextRoot = "rootfs"

// DockerfileName is the generated Dockerfile's name in the build context.
const DockerfileName = "Dockerfile"

// maxLine stays under the 64 KiB line limit of the Dockerfile parser.
const maxLine = 60 << 10

// portsPerLine bounds the ports on one line of EXPOSE, which goes on with
// "\" on the next: a wide range expands to more ports than maxLine holds.
const portsPerLine = 64

// Dockerfile renders spec as a FROM-scratch Dockerfile copying the
// essentials, when the layout has them, then the folder as the layout's
// layers (see Layout.LayerDir and Layout.Splits). Values pass through
// the Dockerfile parser and its variable expansion unchanged: words are
// double-quoted with \, " and $ escaped, CMD and ENTRYPOINT use the exec
// (JSON) form. A value that no Dockerfile can carry exactly (a newline in an
// ENV value, invalid UTF-8) is refused with an error naming the option.
func Dockerfile(spec Spec, layout Layout) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("FROM scratch\n")
	if layout.Essentials != "" {
		fmt.Fprintf(&b, "COPY %s/ /\n", EssentialsDir)
	}
	for i := 0; i < layout.Layers(); i++ {
		fmt.Fprintf(&b, "COPY %s/ /\n", layout.LayerDir(i))
	}

	if err := writePairs(&b, "ENV", "--env", spec.Env); err != nil {
		return nil, err
	}
	if err := writePairs(&b, "LABEL", "--label", spec.Labels); err != nil {
		return nil, err
	}
	if len(spec.Ports) > 0 {
		ports, err := ParsePorts(spec.Ports)
		if err != nil {
			return nil, fmt.Errorf("--ports: %w", err)
		}
		words := ExpandPorts(ports)
		b.WriteString("EXPOSE")
		for i, w := range words {
			if i > 0 && i%portsPerLine == 0 {
				b.WriteString(" \\\n ")
			}
			b.WriteString(" " + w)
		}
		b.WriteString("\n")
	}
	if spec.Workdir != "" {
		wd, err := quote(NormalizeWorkdir(spec.Workdir))
		if err != nil {
			return nil, fmt.Errorf("--workdir: %w", err)
		}
		fmt.Fprintf(&b, "WORKDIR %s\n", wd)
	}
	if spec.User != "" {
		u, err := quote(spec.User)
		if err != nil {
			return nil, fmt.Errorf("--user: %w", err)
		}
		fmt.Fprintf(&b, "USER %s\n", u)
	}
	if len(spec.Volumes) > 0 {
		// VOLUME expands variables even in its JSON form, so each element is
		// a quoted word inside a JSON string.
		words := make([]string, len(spec.Volumes))
		for i, v := range spec.Volumes {
			if v == "" {
				return nil, errors.New("--volume: empty path")
			}
			q, err := quote(v)
			if err != nil {
				return nil, fmt.Errorf("--volume %q: %w", v, err)
			}
			words[i] = q
		}
		if err := writeJSON(&b, "VOLUME", "--volume", words); err != nil {
			return nil, err
		}
	}
	if spec.StopSignal != "" {
		if err := CheckStopSignal(spec.StopSignal); err != nil {
			return nil, fmt.Errorf("--stop-signal: %w", err)
		}
		s, err := quote(spec.StopSignal)
		if err != nil {
			return nil, fmt.Errorf("--stop-signal: %w", err)
		}
		fmt.Fprintf(&b, "STOPSIGNAL %s\n", s)
	}
	if err := writeCommand(&b, "ENTRYPOINT", "--entrypoint", spec.Entrypoint); err != nil {
		return nil, err
	}
	if err := writeCommand(&b, "CMD", "--cmd", spec.Cmd); err != nil {
		return nil, err
	}
	for _, line := range strings.SplitAfter(b.String(), "\n") {
		if len(line) > maxLine {
			return nil, fmt.Errorf("%s instruction is %d bytes; the Dockerfile parser takes at most %d per line: shorten the values", strings.Fields(line)[0], len(line), maxLine)
		}
	}
	return b.Bytes(), nil
}

// NormalizeWorkdir returns the working directory as the image config will
// hold it: absolute and clean, the way docker build's WORKDIR resolves it.
func NormalizeWorkdir(dir string) string {
	if dir == "" {
		return ""
	}
	return path.Clean("/" + dir)
}

func writePairs(b *bytes.Buffer, instruction, flag string, pairs []KeyValue) error {
	if len(pairs) == 0 {
		return nil
	}
	words := make([]string, 0, len(pairs))
	for _, kv := range pairs {
		if kv.Key == "" {
			return fmt.Errorf("%s: empty key: want KEY=VALUE", flag)
		}
		if strings.Contains(kv.Key, "=") {
			return fmt.Errorf("%s %q: a key cannot contain \"=\"", flag, kv.Key)
		}
		k, err := quote(kv.Key)
		if err != nil {
			return fmt.Errorf("%s key %q: %w", flag, kv.Key, err)
		}
		v, err := quote(kv.Value)
		if err != nil {
			return fmt.Errorf("%s %s: %w", flag, kv.Key, err)
		}
		words = append(words, k+"="+v)
	}
	fmt.Fprintf(b, "%s %s\n", instruction, strings.Join(words, " "))
	return nil
}

func writeCommand(b *bytes.Buffer, instruction, flag string, argv []string) error {
	if len(argv) == 0 {
		return nil
	}
	if argv[0] == "" {
		return fmt.Errorf("%s: the program name is empty", flag)
	}
	for _, a := range argv {
		if !utf8.ValidString(a) {
			return fmt.Errorf("%s: %q is not valid UTF-8", flag, a)
		}
		if strings.ContainsRune(a, 0) {
			return fmt.Errorf("%s: an argument contains a NUL byte, which no program argument can hold", flag)
		}
	}
	return writeJSON(b, instruction, flag, argv)
}

func writeJSON(b *bytes.Buffer, instruction, flag string, words []string) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(words); err != nil {
		return fmt.Errorf("%s: encoding %v: %w", flag, words, err)
	}
	fmt.Fprintf(b, "%s %s", instruction, buf.Bytes()) // Encode ends with "\n"
	return nil
}

// quote makes s one double-quoted Dockerfile word that the parser and its
// shell-like expansion turn back into exactly s. Inside double quotes the
// Dockerfile lexer treats \", \$ and \\ as escapes and everything else,
// spaces and single quotes included, literally. Control characters other
// than tab cannot be carried: a newline would end the instruction.
func quote(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%q is not valid UTF-8", s)
	}
	for _, r := range s {
		if r != '\t' && (unicode.IsControl(r) || r == '\u2028' || r == '\u2029') {
			return "", fmt.Errorf("%q holds control character %U, which a Dockerfile cannot carry: remove it", s, r)
		}
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '\\', '"', '$':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String(), nil
}
