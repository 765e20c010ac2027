package field

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
)

func TestError(t *testing.T) {
	err := Errorf("Tags", "%q holds a colon: give the registry with %s: %w", "v1:x", Ref("Registry"), fs.ErrInvalid)
	if got, want := err.Error(), `Tags: "v1:x" holds a colon: give the registry with Registry: invalid argument`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, fs.ErrInvalid) {
		t.Error("the cause is lost")
	}
	wrapped := fmt.Errorf("making the image: %w", err)
	flag := func(name string) string { return "--" + strings.ToLower(name) }
	got := Render(wrapped, func(string) string { return "wercker.yml line 7: tag" }, flag)
	if want := `making the image: wercker.yml line 7: tag: "v1:x" holds a colon: give the registry with --registry: invalid argument`; got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
	if got := Render(err, func(string) string { return "" }, flag); strings.HasPrefix(got, ":") || !strings.HasPrefix(got, `"v1:x"`) {
		t.Errorf("Render with no intro = %q", got)
	}
	if Of(errors.New("plain")) != nil || Wrap("X", nil) != nil {
		t.Error("a plain error or nil became a field error")
	}
	if fe := Of(Wrap("Outer", err)); fe.Field != "Tags" {
		t.Errorf("Wrap replaced the field: %s", fe.Field)
	}
}

// errors.Is sees every cause of a message wrapped with several %w.
func TestErrorUnwrapsSeveralCauses(t *testing.T) {
	err := Errorf("Outputs", "writing %w after %w", fs.ErrPermission, fs.ErrExist)
	for _, cause := range []error{fs.ErrPermission, fs.ErrExist} {
		if !errors.Is(err, cause) {
			t.Errorf("errors.Is(%v, %v) = false", err, cause)
		}
	}
	if Of(fmt.Errorf("context: %w", err)) == nil {
		t.Error("the field error is lost when wrapped")
	}
}
