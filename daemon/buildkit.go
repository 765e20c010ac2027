package daemon

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// BuildKit reports progress in its build stream as aux messages with the id
// "moby.buildkit.trace": a base64 string holding a protobuf StatusResponse
// (github.com/moby/buildkit/api/services/control). Decoding the few fields
// shown here with protowire keeps BuildKit's gRPC API out of the binary.

// vertex is what a trace says about one build step.
type vertex struct {
	digest, name, err  string
	cached             bool
	started, completed time.Time
}

// vertexStatus is a step's byte or item count ("transferring context").
type vertexStatus struct {
	id, vertex, name string
	current, total   int64
}

type vertexLog struct {
	vertex string
	msg    []byte
}

type statusResponse struct {
	vertexes []vertex
	statuses []vertexStatus
	logs     []vertexLog
}

// traceDecoder turns a build's trace messages into progress events, one line
// when a step starts and one when it ends, as docker's plain progress does.
type traceDecoder struct {
	started, done map[string]bool
	names         map[string]string
	start, end    map[string]time.Time
}

func newTraceDecoder() *traceDecoder {
	return &traceDecoder{started: map[string]bool{}, done: map[string]bool{}, names: map[string]string{}, start: map[string]time.Time{}, end: map[string]time.Time{}}
}

// ran says when, by the daemon's clock, the step named name ran rather
// than came from the cache; ok is false when it did not run to its end.
func (d *traceDecoder) ran(name string) (from, to time.Time, ok bool) {
	for digest, n := range d.names {
		if n == name && !d.start[digest].IsZero() && !d.end[digest].IsZero() {
			return d.start[digest], d.end[digest], true
		}
	}
	return time.Time{}, time.Time{}, false
}

// decode reads one aux payload: a JSON string of base64 protobuf.
func (d *traceDecoder) decode(aux json.RawMessage) ([]Event, error) {
	var b64 string
	if err := json.Unmarshal(aux, &b64); err != nil {
		return nil, fmt.Errorf("BuildKit trace is not a string: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("BuildKit trace is not base64: %w", err)
	}
	var sr statusResponse
	if err := parseStatusResponse(raw, &sr); err != nil {
		return nil, fmt.Errorf("BuildKit trace: %w", err)
	}
	var events []Event
	for _, v := range sr.vertexes {
		if v.name != "" {
			d.names[v.digest] = v.name
		}
		name := d.names[v.digest]
		if !v.started.IsZero() && !d.started[v.digest] {
			d.started[v.digest] = true
			d.start[v.digest] = v.started
			events = append(events, Event{Phase: "build", Text: name})
		}
		if (!v.completed.IsZero() || v.cached) && !d.done[v.digest] {
			d.done[v.digest] = true
			text := name + " DONE"
			switch {
			case v.err != "":
				text = name + " ERROR: " + v.err
			case v.cached:
				text = name + " CACHED"
			case !d.start[v.digest].IsZero():
				d.end[v.digest] = v.completed
				text = fmt.Sprintf("%s DONE %.1fs", name, v.completed.Sub(d.start[v.digest]).Seconds())
			}
			events = append(events, Event{Phase: "build", Text: text})
		}
	}
	for _, s := range sr.statuses {
		events = append(events, Event{Phase: "build", ID: s.id, Text: s.name, Current: s.current, Total: s.total})
	}
	for _, l := range sr.logs {
		for _, line := range strings.Split(strings.TrimRight(string(l.msg), "\n"), "\n") {
			events = append(events, Event{Phase: "build", Text: line})
		}
	}
	return events, nil
}

// fields calls fn for every field of a protobuf message.
func fields(b []byte, fn func(num protowire.Number, typ protowire.Type, b []byte) (int, error)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		m, err := fn(num, typ, b)
		if err != nil {
			return err
		}
		if m < 0 {
			m = protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return protowire.ParseError(m)
			}
		}
		b = b[m:]
	}
	return nil
}

var errWireType = errors.New("unexpected wire type")

// bytesField reads a length-delimited field, handing its bytes to set.
func bytesField(typ protowire.Type, b []byte, set func([]byte) error) (int, error) {
	if typ != protowire.BytesType {
		return 0, errWireType
	}
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return 0, protowire.ParseError(n)
	}
	return n, set(v)
}

func varintField(typ protowire.Type, b []byte, set func(uint64)) (int, error) {
	if typ != protowire.VarintType {
		return 0, errWireType
	}
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, protowire.ParseError(n)
	}
	set(v)
	return n, nil
}

func str(dst *string) func([]byte) error {
	return func(b []byte) error { *dst = string(b); return nil }
}

// timestamp reads a google.protobuf.Timestamp.
func timestamp(dst *time.Time) func([]byte) error {
	return func(b []byte) error {
		var secs, nanos uint64
		err := fields(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
			switch num {
			case 1:
				return varintField(typ, b, func(v uint64) { secs = v })
			case 2:
				return varintField(typ, b, func(v uint64) { nanos = v })
			}
			return -1, nil
		})
		*dst = time.Unix(int64(secs), int64(nanos))
		return err
	}
}

func parseStatusResponse(b []byte, sr *statusResponse) error {
	return fields(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
		switch num {
		case 1: // Vertex
			return bytesField(typ, b, func(b []byte) error {
				var v vertex
				err := fields(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
					switch num {
					case 1:
						return bytesField(typ, b, str(&v.digest))
					case 3:
						return bytesField(typ, b, str(&v.name))
					case 4:
						return varintField(typ, b, func(x uint64) { v.cached = x != 0 })
					case 5:
						return bytesField(typ, b, timestamp(&v.started))
					case 6:
						return bytesField(typ, b, timestamp(&v.completed))
					case 7:
						return bytesField(typ, b, str(&v.err))
					}
					return -1, nil
				})
				sr.vertexes = append(sr.vertexes, v)
				return err
			})
		case 2: // VertexStatus
			return bytesField(typ, b, func(b []byte) error {
				var s vertexStatus
				err := fields(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
					switch num {
					case 1:
						return bytesField(typ, b, str(&s.id))
					case 2:
						return bytesField(typ, b, str(&s.vertex))
					case 3:
						return bytesField(typ, b, str(&s.name))
					case 4:
						return varintField(typ, b, func(x uint64) { s.current = int64(x) })
					case 5:
						return varintField(typ, b, func(x uint64) { s.total = int64(x) })
					}
					return -1, nil
				})
				sr.statuses = append(sr.statuses, s)
				return err
			})
		case 3: // VertexLog
			return bytesField(typ, b, func(b []byte) error {
				var l vertexLog
				err := fields(b, func(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
					switch num {
					case 1:
						return bytesField(typ, b, str(&l.vertex))
					case 4:
						return bytesField(typ, b, func(b []byte) error { l.msg = append([]byte(nil), b...); return nil })
					}
					return -1, nil
				})
				sr.logs = append(sr.logs, l)
				return err
			})
		}
		return -1, nil
	})
}
