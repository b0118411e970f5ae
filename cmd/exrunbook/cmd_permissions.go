package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/exrunbook/exrunbook/internal/exchange"
)

// PermissionsOptions are `exrunbook permissions`'s options.
type PermissionsOptions struct {
	IO *IOStreams
	G  *GlobalOptions
}

func newPermissionsCmd(io *IOStreams, g *GlobalOptions) *cobra.Command {
	o := &PermissionsOptions{IO: io, G: g}
	return &cobra.Command{
		Use:   "permissions",
		Short: "Print the Exchange cmdlets and parameters each step runs, and the role that grants them",
		Long: `Print, per step, every Exchange cmdlet and parameter exrunbook runs on the
Exchange endpoint and the built-in management role that grants it, so an
administrator can build a least-privilege role group (New-RoleGroup with
those roles, or custom roles trimmed to these cmdlets and parameters).
Each step checks these with Get-Command before its first change.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: runE(func(ctx context.Context) error { return runPermissions(ctx, o) }),
	}
}

type permissionJSON struct {
	Step   string   `json:"step"`
	Cmdlet string   `json:"cmdlet"`
	Params []string `json:"parameters"`
	Role   string   `json:"role"`
}

func runPermissions(_ context.Context, o *PermissionsOptions) error {
	if o.G.JSON() {
		var out []permissionJSON
		for _, step := range exchange.StepKindsWithNeeds() {
			for _, n := range exchange.StepNeeds[step] {
				out = append(out, permissionJSON{Step: step, Cmdlet: n.Cmdlet, Params: append([]string{}, n.Params...), Role: n.Role})
			}
		}
		enc := json.NewEncoder(o.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	roles := map[string]bool{}
	for _, step := range exchange.StepKindsWithNeeds() {
		fmt.Fprintf(o.IO.Out, "%s:\n", step)
		for _, n := range exchange.StepNeeds[step] {
			params := ""
			if len(n.Params) > 0 {
				params = " -" + strings.Join(n.Params, " -")
			}
			fmt.Fprintf(o.IO.Out, "  %-34s %-24s%s\n", n.Cmdlet, "["+n.Role+"]", params)
			roles[n.Role] = true
		}
	}
	var all []string
	for r := range roles {
		all = append(all, r)
	}
	sort.Strings(all)
	fmt.Fprintf(o.IO.Out, "\nroles: %s\n", strings.Join(all, ", "))
	return nil
}
