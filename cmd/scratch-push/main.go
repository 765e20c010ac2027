// Command scratch-push turns a folder of build output into a FROM-scratch
// image through the Docker Engine API, tags it and pushes it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/moby/term"
	"golang.org/x/sys/unix"

	"github.com/scratchpush/scratchpush/display"
	"github.com/scratchpush/scratchpush/redact"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run wires signals to a context and returns the exit status: 0 success,
// 1 failure, 2 usage error, 128+N when signal N stopped the run.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case s := <-sigs:
			cancel(signalError{s.(syscall.Signal)})
		case <-ctx.Done():
		}
	}()

	red := &redact.Redactor{}
	errOut := red.Writer(stderr)
	fd, isTerminal := term.GetFdInfo(stderr)
	s := &streams{in: stdin, out: stdout, err: errOut, redact: red, errFd: fd, errTerminal: isTerminal}
	cmd := newRootCommand(s)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	mode := s.progress
	if mode == "" { // the command line was refused before the mode was settled
		mode, _ = cmd.Flags().GetString("progress")
	}
	var sig signalError
	if errors.As(context.Cause(ctx), &sig) {
		errOut.Write(display.ErrorLine(mode, fmt.Sprintf("scratch-push: %s: stopped; nothing was pushed that was not complete", sig)))
		return 128 + int(sig.s)
	}
	errOut.Write(display.ErrorLine(mode, "scratch-push: "+oneLine(err.Error())))
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

type signalError struct{ s syscall.Signal }

func (e signalError) Error() string { return "interrupted by " + unix.SignalName(e.s) }

// usageError marks a mistake in the command line: exit status 2.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

func warn(s *streams, msg string) {
	s.err.Write(display.Line(s.progress, "scratch-push: warning: "+msg))
}

// oneLine keeps an error to one line: a daemon's message can hold newlines.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
