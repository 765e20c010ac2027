package push

import "errors"

// FieldError is a failure tied to one field of Options, so that the caller
// can name what gave the value: a flag, a variable, a wercker.yml key.
type FieldError interface {
	error
	Field() string
}

type fieldError struct {
	field string
	err   error
}

func (e fieldError) Error() string { return e.err.Error() }
func (e fieldError) Unwrap() error { return e.err }
func (e fieldError) Field() string { return e.field }

// FieldOf is the Options field err is about, or "".
func FieldOf(err error) string {
	var fe FieldError
	if errors.As(err, &fe) {
		return fe.Field()
	}
	return ""
}
