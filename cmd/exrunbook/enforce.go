package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/exrunbook/exrunbook/internal/allowlist"
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/schedule"
	"github.com/exrunbook/exrunbook/internal/state"
)

// EnforceOptions are `exrunbook enforce`'s options.
type EnforceOptions struct {
	IO *IOStreams
	G  *GlobalOptions

	DryRun          bool
	MaxChanges      int
	maxChangesSet   bool
	AllowEmptyGroup bool
	PrintSchedule   string
}

// enforceJSONChanges caps the changes listed in `--output json`.
const enforceJSONChanges = 1000

func newEnforceCmd(io *IOStreams, g *GlobalOptions) *cobra.Command {
	o := &EnforceOptions{IO: io, G: g}
	cmd := &cobra.Command{
		Use:   "enforce [--dry-run] [--max-changes N] [--allow-empty-group] [--print-schedule systemd|windows]",
		Short: "Block external Outlook for every mailbox outside the allow group, unblock its members (for a schedule)",
		Long: `Expand the allow group (mailboxes.allow_group) recursively, read every
mailbox of mailboxes.recipient_types, and write only the mailboxes whose
MAPIBlockOutlookRpcHttp / MAPIBlockOutlookExternalConnectivity differ from
what the group decides: members open, everyone else blocked. It needs no
runbook state, takes the state directory's lock and writes one audit line
per change to its journal.

A run that would change more than --max-changes mailboxes (default
mailboxes.max_changes) is refused with exit code 5, as is an empty or
missing allow group unless --allow-empty-group: an emptied group must not
block the whole company. --dry-run prints the difference and writes nothing.

--print-schedule systemd|windows prints a systemd service and timer, or a
Windows Task Scheduler definition, that runs enforce every 15 minutes.

Exit codes: 0 in order or changed, 1 some writes failed (named), 2 usage or
config error, 3 locked, 5 refused by a safety limit.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: runE(func(ctx context.Context) error { return runEnforce(ctx, o) }),
	}
	f := cmd.Flags()
	f.BoolVar(&o.DryRun, "dry-run", false, "print the difference, write nothing")
	f.IntVar(&o.MaxChanges, "max-changes", 0, "refuse a run that would change more mailboxes than this (default mailboxes.max_changes)")
	f.BoolVar(&o.AllowEmptyGroup, "allow-empty-group", false, "proceed with an empty or missing allow group (blocks every mailbox)")
	f.StringVar(&o.PrintSchedule, "print-schedule", "", "print a schedule that runs enforce: systemd or windows")
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		o.maxChangesSet = cmd.Flags().Changed("max-changes")
		if o.maxChangesSet && o.MaxChanges < 1 {
			return errkind.Usagef("--max-changes %d: expected a positive number", o.MaxChanges)
		}
		switch o.PrintSchedule {
		case "", "systemd", "windows":
		default:
			return errkind.Usagef("--print-schedule %q: expected systemd or windows", o.PrintSchedule)
		}
		return nil
	}
	return cmd
}

// enforceChange is one change in `--output json` and in the journal.
type enforceChange struct {
	Guid      string `json:"guid"`
	Alias     string `json:"alias,omitempty"`
	Direction string `json:"direction"`
	From      string `json:"from"`
	To        string `json:"to"`
	OK        *bool  `json:"ok,omitempty"`
	Error     string `json:"error,omitempty"`
}

// enforceJSON is `enforce --output json`.
type enforceJSON struct {
	Group        string                 `json:"group"`
	GroupMissing bool                   `json:"group_missing,omitempty"`
	NestedGroups int                    `json:"nested_groups"`
	Mailboxes    int                    `json:"mailboxes"`
	Allowed      int                    `json:"allowed"`
	Blocked      int                    `json:"blocked"`
	Unblocked    int                    `json:"unblocked"`
	Failed       []enforceChange        `json:"failed"`
	Missing      []enforceMissingMember `json:"missing"`
	DryRun       bool                   `json:"dry_run"`
	MaxChanges   int                    `json:"max_changes"`
	Refused      string                 `json:"refused,omitempty"`
	Changes      []enforceChange        `json:"changes"`
	// ChangesOmitted counts the changes left out of Changes (capped).
	ChangesOmitted int `json:"changes_omitted,omitempty"`
}

type enforceMissingMember struct {
	Guid string `json:"guid"`
	Name string `json:"name"`
	Type string `json:"type"`
}

func toEnforceChange(c allowlist.Change) enforceChange {
	return enforceChange{Guid: c.Guid, Alias: c.Alias, Direction: c.Direction(), From: c.From.String(), To: c.To.String()}
}

func runEnforce(ctx context.Context, o *EnforceOptions) (err error) {
	if o.PrintSchedule != "" {
		return printSchedule(o)
	}
	cfg, err := o.G.loadConfig()
	if err != nil {
		return err
	}
	maxChanges := cfg.Mailboxes.MaxChanges
	if o.maxChangesSet {
		maxChanges = o.MaxChanges
	}
	lim := allowlist.Limits{MaxChanges: maxChanges, AllowEmptyGroup: o.AllowEmptyGroup}
	held, err := o.G.holdState("enforce")
	if err != nil {
		return err
	}
	defer held.release(&err)
	j := held.journal
	boundMemory()
	c := o.G.clients(cfg, nil, journalSessionReopens(o.G.StateDir, nil))
	defer func() { _ = c.Close(context.WithoutCancel(ctx)) }() // ends the Exchange session
	ex, err := c.Exchange()
	if err != nil {
		return err
	}
	mb := cfg.Mailboxes
	rep := enforceJSON{Group: mb.AllowGroup, DryRun: o.DryRun, MaxChanges: maxChanges,
		Failed: []enforceChange{}, Missing: []enforceMissingMember{}, Changes: []enforceChange{}}
	var jerr error
	hooks := o.auditHooks(j, &rep, &jerr)
	// A difference of up to one batch is written by the server in the
	// same launch as the read (the usual run); a larger one in batches.
	inline := mb.BatchSize
	if o.DryRun {
		inline = 0
	}
	d, res, written, groupMissing, err := allowlist.ReadAndWrite(ctx, ex, mb.AllowGroup, mb.RecipientTypes, lim, inline, hooks)
	rep.Group, rep.GroupMissing, rep.NestedGroups, rep.Mailboxes, rep.Allowed = d.Group, groupMissing, d.NestedGroups, d.Mailboxes, d.Allowed
	for _, m := range d.Missing {
		rep.Missing = append(rep.Missing, enforceMissingMember{Guid: m.Guid, Name: m.Name, Type: m.RecipientTypeDetails})
	}
	if err != nil {
		var se *errkind.SafetyError
		switch {
		case written:
			return errors.Join(o.done(j, &rep, jerr, res, nil, len(d.Changes)), err)
		case errors.As(err, &se):
			rep.Refused = se.Error() + safetyAdvice(se)
			return errors.Join(o.finish(&rep), err)
		}
		return err
	}
	if !o.G.JSON() {
		for _, m := range d.Missing {
			fmt.Fprintf(o.IO.ErrOut, "warning: %s (%s, %s) is a member of %q but not among the %s mailboxes: left alone\n",
				m.Name, m.Guid, m.RecipientTypeDetails, d.Group, strings.Join(mb.RecipientTypes, ", "))
		}
	}
	if written {
		return o.done(j, &rep, jerr, res, nil, len(d.Changes))
	}
	if cerr := allowlist.Check(d, lim); cerr != nil {
		var se *errkind.SafetyError
		if errors.As(cerr, &se) {
			rep.Refused = se.Error() + safetyAdvice(se)
		}
		o.printDiff(d, &rep, "would", enforceRefusedLines)
		return errors.Join(o.finish(&rep), cerr)
	}
	if o.DryRun || len(d.Changes) == 0 {
		o.printDiff(d, &rep, "would", len(d.Changes))
		return o.finish(&rep)
	}
	res, aerr := allowlist.Apply(ctx, ex, d.Changes, allowlist.Options{BatchSize: mb.BatchSize, Concurrency: ex.Concurrency,
		Retries: allowlist.DefaultRetries, Backoff: allowlist.DefaultBackoff}, hooks)
	return o.done(j, &rep, jerr, res, aerr, len(d.Changes))
}

// enforceRefusedLines is how many changes a refused run lists in text.
const enforceRefusedLines = 50

// printDiff lists the changes without writing (dry run, refusal), the
// first lines of them in text.
func (o *EnforceOptions) printDiff(d allowlist.Diff, rep *enforceJSON, verb string, lines int) {
	for i, c := range d.Changes {
		o.addChange(rep, toEnforceChange(c))
		if o.G.JSON() {
			continue
		}
		switch {
		case i < lines:
			fmt.Fprintf(o.IO.Out, "%s %s: %s\n", verb+" "+c.Direction(), c.Label(), c.To)
		case i == lines:
			fmt.Fprintf(o.IO.Out, "…and %d more\n", len(d.Changes)-i)
		}
	}
	rep.Blocked, rep.Unblocked = d.Blocks(), d.Unblocks()
}

func (o *EnforceOptions) addChange(rep *enforceJSON, c enforceChange) {
	if len(rep.Changes) < enforceJSONChanges {
		rep.Changes = append(rep.Changes, c)
	} else {
		rep.ChangesOmitted++
	}
}

// auditHooks journal every write (one line per mailbox, no secrets),
// count it in the summary and, in text mode, print it.
func (o *EnforceOptions) auditHooks(j *state.Journal, rep *enforceJSON, jerr *error) allowlist.Hooks {
	return allowlist.Hooks{
		Audit: func(c allowlist.Change, werr error) {
			ec := toEnforceChange(c)
			ok := werr == nil
			ec.OK = &ok
			if werr != nil {
				ec.Error = werr.Error()
			}
			if e := j.Append(state.Entry{Kind: "enforce", Details: map[string]any{
				"guid": c.Guid, "alias": c.Alias, "direction": c.Direction(),
				"from": c.From, "to": c.To, "ok": ok, "error": ec.Error,
			}}); e != nil && *jerr == nil {
				*jerr = e
			}
			o.addChange(rep, ec)
			if werr != nil {
				rep.Failed = append(rep.Failed, ec)
			} else if c.Direction() == "block" {
				rep.Blocked++
			} else {
				rep.Unblocked++
			}
			if !o.G.JSON() {
				if werr != nil {
					fmt.Fprintf(o.IO.Out, "FAILED %s %s: %s\n", c.Direction(), c.Label(), werr)
				} else {
					fmt.Fprintf(o.IO.Out, "%sed %s: %s\n", c.Direction(), c.Label(), c.To)
				}
			}
		},
	}
}

// done syncs the journal, prints the summary and turns failures into the
// exit code: a stopped apply or refused writes exit 1, naming them.
func (o *EnforceOptions) done(j *state.Journal, rep *enforceJSON, jerr error, res allowlist.Result, aerr error, total int) error {
	if err := j.Sync(); err != nil && jerr == nil {
		jerr = err
	}
	if ferr := o.finish(rep); ferr != nil {
		return ferr
	}
	if aerr != nil {
		return fmt.Errorf("enforce stopped after %d of %d mailboxes (the rest is written by the next run): %w", len(res.Applied)+len(res.Failed), total, aerr)
	}
	if jerr != nil {
		return jerr
	}
	if len(res.Failed) > 0 {
		var names []string
		for i, f := range res.Failed {
			if i == 10 {
				names = append(names, fmt.Sprintf("and %d more", len(res.Failed)-i))
				break
			}
			names = append(names, fmt.Sprintf("%s: %s", f.Change.Label(), f.Error))
		}
		return &exitError{Code: exitFailed, Err: fmt.Errorf("%d of %d writes failed: %s", len(res.Failed), total, strings.Join(names, "; "))}
	}
	return nil
}

// finish prints the summary: JSON, or one text line.
func (o *EnforceOptions) finish(rep *enforceJSON) error {
	if o.G.JSON() {
		return writeJSON(o.IO, rep)
	}
	group := fmt.Sprintf("allow group %q (%d nested)", rep.Group, rep.NestedGroups)
	if rep.GroupMissing {
		group = fmt.Sprintf("allow group %q (missing, --allow-empty-group)", rep.Group)
	}
	mode := ""
	if rep.DryRun || rep.Refused != "" {
		mode = "would be "
	}
	fmt.Fprintf(o.IO.Out, "%s: %d mailboxes read, %d allowed; %s%d blocked, %s%d unblocked, %d failed, %d member(s) not in the mailbox list\n",
		group, rep.Mailboxes, rep.Allowed, mode, rep.Blocked, mode, rep.Unblocked, len(rep.Failed), len(rep.Missing))
	if rep.DryRun {
		fmt.Fprintln(o.IO.Out, "dry run: nothing was written")
	}
	return nil
}

// printSchedule prints the systemd units or the Task Scheduler XML that
// run this enforce (same config, state directory and limits).
func printSchedule(o *EnforceOptions) error {
	cfg, err := config.Load(config.LoadOptions{File: o.G.scheduleConfigFile()})
	if err != nil {
		return err
	}
	job, err := o.G.scheduledJob("exrunbook-enforce", "exrunbook enforce: keep external Outlook blocked outside "+cfg.Mailboxes.AllowGroup, "enforce")
	if err != nil {
		return err
	}
	if o.maxChangesSet {
		job.Args = append(job.Args, "--max-changes", fmt.Sprint(o.MaxChanges))
	}
	if o.AllowEmptyGroup {
		job.Args = append(job.Args, "--allow-empty-group")
	}
	if cfg.Exchange.PasswordFile == "" && cfg.Exchange.Kerberos.KeytabFile == "" {
		// No *_file key: the secret comes from a systemd credential
		// (a root-only file), never from the unit or the command line.
		job.Credentials = append(job.Credentials, schedule.Credential{Name: "exchange-password",
			Path: "/etc/exrunbook/exchange.password", FileEnv: "EXRUNBOOK_EXCHANGE_PASSWORD_FILE"})
	}
	return printJob(o.IO, o.PrintSchedule, job)
}

// enforceMemoryLimit is the soft limit on the Go heap of an enforce run
// (GOMEMLIMIT overrides it): the read of 100,000 mailboxes decodes every
// object before it is trimmed to a row, and without a limit the garbage
// collector lets the heap double past what is live, which the scheduled,
// unattended run pays in resident memory. Near the limit the collector
// runs more often instead (CPU, not correctness).
const enforceMemoryLimit = 96 << 20

// boundMemory sets enforceMemoryLimit unless GOMEMLIMIT is set.
func boundMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(enforceMemoryLimit)
	}
}
