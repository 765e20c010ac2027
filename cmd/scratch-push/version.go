package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/scratchpush/scratchpush/daemon"
)

// version is set at release time with -ldflags "-X main.version=v1.2.3";
// otherwise the module version or the VCS revision the binary was built
// from stands in.
var version = ""

func newVersionCommand(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the versions of this tool, Go, the Engine API and the daemon",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := flagsFromEnv(cmd.Flags(), map[string]string{}); err != nil {
				return err
			}
			contextName, _ := cmd.Flags().GetString("context")
			return printVersion(cmd.Context(), s, contextName)
		},
	}
}

// printVersion prints what a bug report needs. When no daemon answers, the
// daemon line says none and the error says why: exit status 1, as docker
// version gives.
func printVersion(ctx context.Context, s *streams, contextName string) error {
	fmt.Fprintf(s.out, "scratch-push:  %s\n", toolVersion())
	fmt.Fprintf(s.out, "go:            %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(s.out, "engine API:    up to %s (down to 1.40 by negotiation)\n", client.MaxAPIVersion)
	opts, err := daemon.Endpoint(contextName)
	if err != nil {
		fmt.Fprintln(s.out, "daemon:        none")
		return usageError{err}
	}
	api, err := daemon.Connect(ctx, opts...)
	if err != nil {
		fmt.Fprintln(s.out, "daemon:        none")
		return err
	}
	defer api.Close()
	v, err := api.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		fmt.Fprintf(s.out, "daemon:        at %s, version unknown\n", api.DaemonHost())
		return fmt.Errorf("asking the daemon at %s for its version: %w", api.DaemonHost(), err)
	}
	name := strings.TrimSpace(daemon.EngineName(v) + " " + v.Version)
	fmt.Fprintf(s.out, "daemon:        %s (%s/%s) at %s, speaking API %s\n", name, v.Os, v.Arch, api.DaemonHost(), api.ClientVersion())
	return nil
}

func toolVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, when, modified string
	for _, kv := range info.Settings {
		switch kv.Key {
		case "vcs.revision":
			rev = kv.Value
		case "vcs.time":
			when = kv.Value
		case "vcs.modified":
			if kv.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return fmt.Sprintf("devel %s (%s%s)", rev, when, modified)
}
