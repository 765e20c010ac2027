// Package field ties an error to the input whose value caused it, so that a
// front end can name where that value came from: a flag, an environment
// variable, a wercker.yml key and its line. The library packages name
// inputs by the Go names of plan.Input (Workdir, Ports, CACerts); only the
// front end knows flags.
package field

import (
	"errors"
	"fmt"
	"strings"
)

// mark brackets a reference to another input inside a message (see Ref).
// A control character no message of ours holds literally: values are
// quoted with %q, which escapes it.
const mark = "\x1e"

// Error is a mistake in, or a failure about, one input's value.
type Error struct {
	// Field is the input the error is about, e.g. "Workdir".
	Field string
	err   error
}

// Errorf is fmt.Errorf for an error about the input name; %w wraps as
// there. The message may name other inputs with Ref.
func Errorf(name, format string, args ...any) error {
	return &Error{Field: name, err: fmt.Errorf(format, args...)}
}

// Wrap ties err to the input name; nil stays nil, and an error already
// tied to an input keeps its own.
func Wrap(name string, err error) error {
	var fe *Error
	if err == nil || errors.As(err, &fe) {
		return err
	}
	return &Error{Field: name, err: err}
}

// Ref names another input inside a message, so that the front end can name
// it its own way ("give AllowDynamic" becomes "give --allow-dynamic").
func Ref(name string) string { return mark + name + mark }

// Error names the input by its Go name: "Workdir: ...".
func (e *Error) Error() string { return e.Field + ": " + e.Message(nil) }

// Unwrap gives the message's error, whose own chain holds every cause
// wrapped with %w (one or several), for errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.err }

// Message is the error's text without the input it is about, each input
// it refers to named by name (its Go name when name is nil).
func (e *Error) Message(name func(string) string) string {
	return render(e.err.Error(), name)
}

func render(s string, name func(string) string) string {
	parts := strings.Split(s, mark)
	if len(parts)%2 == 0 { // an unpaired mark: not ours
		return strings.ReplaceAll(s, mark, "")
	}
	var b strings.Builder
	for i, p := range parts {
		if i%2 == 1 && name != nil {
			p = name(p)
		}
		b.WriteString(p)
	}
	return b.String()
}

// Of is the Error in err's chain, or nil.
func Of(err error) *Error {
	var fe *Error
	if errors.As(err, &fe) {
		return fe
	}
	return nil
}

// Render is err's text with the input it is about introduced by
// intro(field) in place of the Go name (nothing when intro gives ""), and
// every input it mentions named by name: a front end's whole message, the
// context err adds around the field error kept.
func Render(err error, intro, name func(string) string) string {
	fe := Of(err)
	if fe == nil {
		return render(err.Error(), name)
	}
	own := fe.Message(name)
	if in := intro(fe.Field); in != "" {
		own = in + ": " + own
	}
	whole := err.Error()
	if i := strings.Index(whole, fe.Error()); i >= 0 {
		return render(whole[:i], name) + own + render(whole[i+len(fe.Error()):], name)
	}
	return own
}
