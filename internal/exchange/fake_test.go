package exchange

import (
	"context"

	"github.com/exrunbook/exrunbook/internal/winrm"
)

// fakeRunner records every script and answers with a canned result.
type fakeRunner struct {
	scripts []string
	stdins  []string
	out     string
	res     winrm.Result
	err     error
}

func (f *fakeRunner) RunPowerShell(_ context.Context, script, stdin string) (winrm.Result, error) {
	f.scripts = append(f.scripts, script)
	f.stdins = append(f.stdins, stdin)
	res := f.res
	if res.Stdout == "" {
		res.Stdout = f.out
	}
	return res, f.err
}

func (f *fakeRunner) last() string {
	if len(f.scripts) == 0 {
		return ""
	}
	return f.scripts[len(f.scripts)-1]
}

func strp(s string) *string { return &s }
