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

	"github.com/scratchpush/scratchpush/field"
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

// Dockerfile renders spec, which must have passed Check, as a FROM-scratch
// Dockerfile copying the essentials, when the layout has them, then the
// folder as the layout's layers (see Layout.LayerDir and Layout.Splits).
// Values pass through the Dockerfile parser and its variable expansion
// unchanged: words are double-quoted with \, " and $ escaped, CMD and
// ENTRYPOINT use the exec (JSON) form. The one limit left is the parser's
// line length, refused with an error naming the input.
func Dockerfile(spec Spec, layout Layout) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("FROM scratch\n")
	if layout.Essentials != "" {
		fmt.Fprintf(&b, "COPY %s/ /\n", EssentialsDir)
	}
	for i := 0; i < layout.Layers(); i++ {
		fmt.Fprintf(&b, "COPY %s/ /\n", layout.LayerDir(i))
	}
	writePairs(&b, "ENV", spec.Env)
	writePairs(&b, "LABEL", spec.Labels)
	if words := ExpandPorts(spec.Ports); len(words) > 0 {
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
		fmt.Fprintf(&b, "WORKDIR %s\n", quote(NormalizeWorkdir(spec.Workdir)))
	}
	if spec.User != "" {
		fmt.Fprintf(&b, "USER %s\n", quote(spec.User))
	}
	if len(spec.Volumes) > 0 {
		// VOLUME expands variables even in its JSON form, so each element is
		// a quoted word inside a JSON string.
		words := make([]string, len(spec.Volumes))
		for i, v := range spec.Volumes {
			words[i] = quote(v)
		}
		writeJSON(&b, "VOLUME", words)
	}
	if spec.StopSignal != "" {
		fmt.Fprintf(&b, "STOPSIGNAL %s\n", quote(spec.StopSignal))
	}
	if len(spec.Entrypoint) > 0 {
		writeJSON(&b, "ENTRYPOINT", spec.Entrypoint)
	}
	if len(spec.Cmd) > 0 {
		writeJSON(&b, "CMD", spec.Cmd)
	}
	for _, line := range strings.SplitAfter(b.String(), "\n") {
		if len(line) > maxLine {
			instruction := strings.Fields(line)[0]
			return nil, field.Errorf(instructionField[instruction], "the %s instruction is %d bytes; the Dockerfile parser takes at most %d per line: shorten the values", instruction, len(line), maxLine)
		}
	}
	return b.Bytes(), nil
}

// instructionField is the input each instruction carries.
var instructionField = map[string]string{
	"ENV": "Env", "LABEL": "Labels", "EXPOSE": "Ports", "WORKDIR": "Workdir", "USER": "User",
	"VOLUME": "Volumes", "STOPSIGNAL": "StopSignal", "ENTRYPOINT": "Entrypoint", "CMD": "Cmd",
}

// Check refuses a value that no image config or Dockerfile can carry
// exactly: an empty or "="-holding key, a control character that would
// end a Dockerfile line, invalid UTF-8, a NUL in an argument, an empty
// program name or volume, a signal the daemon does not know. Each error
// names the input.
func (s Spec) Check() error {
	for _, in := range []struct {
		name  string
		pairs []KeyValue
	}{{"Env", s.Env}, {"Labels", s.Labels}} {
		for _, kv := range in.pairs {
			switch {
			case kv.Key == "":
				return field.Errorf(in.name, "empty key: want KEY=VALUE")
			case strings.Contains(kv.Key, "="):
				return field.Errorf(in.name, "%q: a key cannot contain \"=\"", kv.Key)
			}
			if err := checkWord(kv.Key); err != nil {
				return field.Errorf(in.name, "key %q: %w", kv.Key, err)
			}
			if err := checkWord(kv.Value); err != nil {
				return field.Errorf(in.name, "%s: %w", kv.Key, err)
			}
		}
	}
	for _, w := range []struct{ name, value string }{{"Workdir", s.Workdir}, {"User", s.User}, {"StopSignal", s.StopSignal}} {
		if err := checkWord(w.value); err != nil {
			return field.Wrap(w.name, err)
		}
	}
	if s.StopSignal != "" {
		if err := CheckStopSignal(s.StopSignal); err != nil {
			return field.Wrap("StopSignal", err)
		}
	}
	for _, v := range s.Volumes {
		if v == "" {
			return field.Errorf("Volumes", "empty path")
		}
		if err := checkWord(v); err != nil {
			return field.Wrap("Volumes", err)
		}
	}
	for _, c := range []struct {
		name string
		argv []string
	}{{"Entrypoint", s.Entrypoint}, {"Cmd", s.Cmd}} {
		if err := checkCommand(c.argv); err != nil {
			return field.Wrap(c.name, err)
		}
	}
	return nil
}

func checkCommand(argv []string) error {
	if len(argv) > 0 && argv[0] == "" {
		return errors.New("the program name is empty")
	}
	for _, a := range argv {
		if !utf8.ValidString(a) {
			return fmt.Errorf("%q is not valid UTF-8", a)
		}
		if strings.ContainsRune(a, 0) {
			return errors.New("an argument contains a NUL byte, which no program argument can hold")
		}
	}
	return nil
}

// NormalizeWorkdir returns the working directory as the image config will
// hold it: absolute and clean, the way docker build's WORKDIR resolves it.
func NormalizeWorkdir(dir string) string {
	if dir == "" {
		return ""
	}
	return path.Clean("/" + dir)
}

func writePairs(b *bytes.Buffer, instruction string, pairs []KeyValue) {
	if len(pairs) == 0 {
		return
	}
	words := make([]string, 0, len(pairs))
	for _, kv := range pairs {
		words = append(words, quote(kv.Key)+"="+quote(kv.Value))
	}
	fmt.Fprintf(b, "%s %s\n", instruction, strings.Join(words, " "))
}

func writeJSON(b *bytes.Buffer, instruction string, words []string) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(words)                             // strings always encode
	fmt.Fprintf(b, "%s %s", instruction, buf.Bytes()) // Encode ends with "\n"
}

// checkWord refuses what quote cannot carry: invalid UTF-8, and control
// characters other than tab, since a newline would end the instruction.
func checkWord(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%q is not valid UTF-8", s)
	}
	for _, r := range s {
		if r != '\t' && (unicode.IsControl(r) || r == '\u2028' || r == '\u2029') {
			return fmt.Errorf("%q holds control character %U, which a Dockerfile cannot carry: remove it", s, r)
		}
	}
	return nil
}

// quote makes s, which passed checkWord, one double-quoted Dockerfile word
// that the parser and its shell-like expansion turn back into exactly s.
// Inside double quotes the Dockerfile lexer treats \", \$ and \\ as escapes
// and everything else, spaces and single quotes included, literally.
func quote(s string) string {
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
	return b.String()
}
