package builder

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/docker/go-connections/nat"
	"github.com/kballard/go-shellquote"
	"github.com/moby/sys/signal"
)

// ParseCommand reads a --cmd or --entrypoint value: a JSON array of strings
// (`["./app","--port","5000"]`), or a shell-like string split into words with
// POSIX quoting (`./app --name "my app"`). Nothing is expanded: there is no
// shell in a scratch image to expand it later either.
func ParseCommand(s string) ([]string, error) {
	trimmed := strings.TrimSpace(s)
	if trimmed == "" {
		return nil, errors.New("empty command")
	}
	var words []string
	if strings.HasPrefix(trimmed, "[") {
		if err := json.Unmarshal([]byte(trimmed), &words); err != nil {
			return nil, fmt.Errorf("invalid JSON array (want [\"prog\", \"arg\", ...]): %w", err)
		}
	} else {
		var err error
		words, err = shellquote.Split(s)
		if err != nil {
			return nil, fmt.Errorf("splitting %q into words: %s", s, strings.ToLower(err.Error()))
		}
	}
	if len(words) == 0 {
		return nil, errors.New("empty command")
	}
	if words[0] == "" {
		return nil, errors.New("the program name is empty")
	}
	return words, nil
}

// ShellSyntax is the first word of a command split by ParseCommand that a
// shell would have taken as its own syntax (&&, |, ;, >, $VAR, `…`), which
// here goes to the program as a plain argument: no shell runs the command
// in a scratch image. "" when there is none.
func ShellSyntax(words []string) string {
	for _, w := range words[min(1, len(words)):] {
		switch {
		case slices.Contains([]string{"&&", "||", "|", ";", "&", ">", ">>", "<", "2>", "2>&1", "|&"}, w),
			strings.HasPrefix(w, "$") && len(w) > 1, strings.Contains(w, "$("), strings.Contains(w, "`"):
			return w
		}
	}
	return ""
}

// Port is one EXPOSE item: a port, or a range First-Last, and its protocol.
type Port struct {
	First, Last int
	Proto       string // tcp, udp or sctp
}

// String is the item as EXPOSE and the Engine API write it: "5000/tcp",
// "7000-7002/udp".
func (p Port) String() string {
	if p.First == p.Last {
		return fmt.Sprintf("%d/%s", p.First, p.Proto)
	}
	return fmt.Sprintf("%d-%d/%s", p.First, p.Last, p.Proto)
}

// ParsePorts reads EXPOSE specs. Each value may be a list separated by
// commas or spaces; each item is PORT, PORT/PROTO, or a range
// START-END[/PROTO] with PROTO tcp (the default), udp or sctp. Host bindings
// ("8080:80") are refused: an image only declares the ports it listens on.
// The result is sorted (by protocol, then port) and free of duplicates.
func ParsePorts(values []string) ([]Port, error) {
	seen := map[Port]bool{}
	var out []Port
	for _, v := range values {
		for _, item := range SplitList(v) {
			p, err := parsePort(item)
			if err != nil {
				return nil, fmt.Errorf("port %q: %w", item, err)
			}
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Proto != b.Proto {
			return a.Proto < b.Proto
		}
		if a.First != b.First {
			return a.First < b.First
		}
		return a.Last < b.Last
	})
	return out, nil
}

func parsePort(item string) (Port, error) {
	if strings.Contains(item, ":") {
		return Port{}, errors.New("host bindings are not part of an image; give the container port only, e.g. 5000 or 5000/udp")
	}
	proto, rng := nat.SplitProtoPort(item)
	proto = strings.ToLower(proto)
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return Port{}, fmt.Errorf("unknown protocol %q: use tcp, udp or sctp", proto)
	}
	start, end, err := nat.ParsePortRangeToInt(rng)
	if err != nil || rng == "" || strings.HasPrefix(rng, "+") || end < start {
		return Port{}, errors.New("want a port number 1-65535 or a range like 7000-7002")
	}
	if start == 0 {
		return Port{}, errors.New("port 0 cannot be exposed: use 1-65535")
	}
	return Port{First: start, Last: end, Proto: proto}, nil
}

// ExpandPorts lists each port of the ranges, in order: the image config
// names each port, and Docker expands a range in EXPOSE itself but Podman's
// builder keeps "7000-7002/tcp" as one key.
func ExpandPorts(ports []Port) []string {
	var out []string
	for _, p := range ports {
		for n := p.First; n <= p.Last; n++ {
			out = append(out, Port{n, n, p.Proto}.String())
		}
	}
	return out
}

// ParseKeyValue splits KEY=VALUE at the first "=": the value may hold more.
func ParseKeyValue(s string) (KeyValue, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return KeyValue{}, fmt.Errorf("%q has no \"=\": want KEY=VALUE", s)
	}
	if k == "" {
		return KeyValue{}, fmt.Errorf("%q has an empty key: want KEY=VALUE", s)
	}
	return KeyValue{Key: k, Value: v}, nil
}

// CheckStopSignal accepts what docker's STOPSIGNAL accepts (SIGTERM, TERM,
// 15, SIGRTMIN+3) so that a typo fails before the build, not during it.
func CheckStopSignal(s string) error {
	if _, err := signal.ParseSignal(s); err != nil {
		return fmt.Errorf("unknown signal %q: use a name like SIGTERM or a number", s)
	}
	return nil
}

// SplitList splits a flag value that may hold a comma or space separated
// list, as wercker's tag and ports keys do ("v1 latest", "5000,5001").
func SplitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n'
	})
}
