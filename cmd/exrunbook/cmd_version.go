package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module version from the build info is used.
var version = ""

// VersionOptions are `exrunbook version`'s options.
type VersionOptions struct {
	IO *IOStreams
	G  *GlobalOptions
}

func newVersionCmd(io *IOStreams, g *GlobalOptions) *cobra.Command {
	o := &VersionOptions{IO: io, G: g}
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  usageArgs(cobra.NoArgs),
		RunE:  runE(func(ctx context.Context) error { return runVersion(ctx, o) }),
	}
}

// versionJSON is `version --output json`.
type versionJSON struct {
	Version  string `json:"version"`
	Go       string `json:"go"`
	Commit   string `json:"commit,omitempty"`
	Platform string `json:"platform"`
}

func buildVersion() versionJSON {
	v := versionJSON{Version: version, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" && bi.Main.Version != "" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v.Commit = s.Value
			}
		}
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	return v
}

func runVersion(_ context.Context, o *VersionOptions) error {
	v := buildVersion()
	if o.G.JSON() {
		return writeJSON(o.IO, v)
	}
	fmt.Fprintf(o.IO.Out, "exrunbook %s (%s, %s", v.Version, v.Go, v.Platform)
	if v.Commit != "" {
		fmt.Fprintf(o.IO.Out, ", commit %s", v.Commit)
	}
	fmt.Fprintln(o.IO.Out, ")")
	return nil
}
