package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/schedule"
	"github.com/exrunbook/exrunbook/internal/state"
	"github.com/exrunbook/exrunbook/steps"
)

// CertificateRenewOptions are `exrunbook certificate renew`'s options.
type CertificateRenewOptions struct {
	IO *IOStreams
	G  *GlobalOptions

	DryRun        bool
	Force         bool
	PrintSchedule string
}

// RenewScheduleInterval is how often the printed schedule runs renew: it
// decides itself whether anything is due, and twice a day follows ARI's
// advice to check at least daily.
const RenewScheduleInterval = 12 * time.Hour

func newCertificateRenewCmd(io *IOStreams, g *GlobalOptions) *cobra.Command {
	o := &CertificateRenewOptions{IO: io, G: g}
	cmd := &cobra.Command{
		Use:   "renew [--dry-run] [--force] [--print-schedule systemd|windows]",
		Short: "Renew the acme-mode certificate when due: install, bind, prove, retire the old one",
		Long: `Renew the certificate bound to IIS on every server in scope (certificate.mode
must be acme) when it expires within certificate.acme.renew_before (default
30d), when the CA's renewal information (ACME ARI) says so, or with --force.

The new certificate is ordered with DNS-01 through public_dns, imported on
every server, enabled for exactly the services the old one held (the POP and
IMAP certificate names must be covered by the new one), and proven on the
wire: TLS on 443 with every name (exchange.https) and SMTP STARTTLS
(exchange.smtp, where SMTP is bound). Only then is the old certificate
removed, from every server where nothing binds it. A failure before the
proof puts the old certificate back and removes the new one; a renewal that
was killed is finished by the next run (its progress is kept in
STATE-DIR/acme/renew.json). It takes the state directory's lock and writes
one journal line per change.

--dry-run says whether a renewal is due and what it would change.
--print-schedule systemd|windows prints a systemd service and timer, or a
Windows Task Scheduler definition, that runs renew every 12 hours.

Exit codes: 0 renewed or nothing due, 1 the renewal failed (the old
certificate is still bound), 2 usage or config error, 3 locked.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: runE(func(ctx context.Context) error { return runCertificateRenew(ctx, o) }),
	}
	f := cmd.Flags()
	f.BoolVar(&o.DryRun, "dry-run", false, "say whether a renewal is due and what it would change; change nothing")
	f.BoolVar(&o.Force, "force", false, "renew now, whatever the expiry and the CA's renewal information")
	f.StringVar(&o.PrintSchedule, "print-schedule", "", "print a schedule that runs renew: systemd or windows")
	cmd.PreRunE = func(*cobra.Command, []string) error {
		switch o.PrintSchedule {
		case "", "systemd", "windows":
		default:
			return errkind.Usagef("--print-schedule %q: expected systemd or windows", o.PrintSchedule)
		}
		if o.PrintSchedule != "" && (o.DryRun || o.Force) {
			return errkind.Usagef("--print-schedule prints the schedule only; it takes no --dry-run or --force")
		}
		return nil
	}
	return cmd
}

func runCertificateRenew(ctx context.Context, o *CertificateRenewOptions) (err error) {
	cfg, err := o.G.loadConfig()
	if err != nil {
		return err
	}
	if m := strings.ToLower(cfg.Certificate.Mode); m != steps.CertModeACME {
		return errkind.Usagef("certificate renew renews an acme-mode certificate, but certificate.mode is %q", cfg.Certificate.Mode)
	}
	if o.PrintSchedule != "" {
		return printRenewSchedule(o, cfg)
	}
	held, err := o.G.holdState("certificate-renew")
	if err != nil {
		return err
	}
	defer held.release(&err)
	j := held.journal
	c := o.G.clients(cfg, nil, journalSessionReopens(o.G.StateDir, nil))
	// Ends the Exchange session: Exchange counts an open one against the
	// user's PowerShellMaxConcurrency (18) until its idle timeout, and a
	// renewal scheduled every 12 hours must not use them up.
	defer func() { _ = c.Close(context.WithoutCancel(ctx)) }()
	deps := steps.NewDeps(c, steps.DepsOptions{StateDir: o.G.StateDir})
	r := &steps.Renewer{Deps: deps, StateDir: o.G.StateDir, Force: o.Force, DryRun: o.DryRun,
		Logf: func(format string, args ...any) {
			if !o.G.JSON() {
				fmt.Fprintf(o.IO.Out, format+"\n", args...)
			}
		},
		Journal: func(d map[string]any) error { return j.Append(state.Entry{Kind: "certificate-renew", Details: d}) },
	}
	rep, rerr := r.Run(ctx)
	if o.G.JSON() {
		if werr := writeJSON(o.IO, rep); werr != nil {
			return errors.Join(rerr, werr)
		}
	} else {
		switch {
		case rerr != nil:
		case !rep.Due:
			fmt.Fprintf(o.IO.Out, "certificate %s: nothing to renew (%s)\n", rep.Old.Thumbprint, rep.Reason)
		case rep.DryRun:
			fmt.Fprintf(o.IO.Out, "dry run: certificate %s is due (%s); nothing was changed\n", rep.Old.Thumbprint, rep.Reason)
		case rep.New != nil:
			fmt.Fprintf(o.IO.Out, "certificate %s renewed as %s (valid until %s); %s removed\n", rep.Old.Thumbprint, rep.New.Thumbprint,
				rep.New.NotAfter.UTC().Format(time.RFC3339), rep.Old.Thumbprint)
		}
	}
	return rerr
}

// printRenewSchedule prints the systemd units or the Task Scheduler XML
// that run this renew (same config and state directory). Secrets that no
// *_file key names come from systemd credentials.
func printRenewSchedule(o *CertificateRenewOptions, cfg *config.Config) error {
	job, err := o.G.scheduledJob("exrunbook-certificate-renew",
		"exrunbook certificate renew: renew the Exchange certificate for "+cfg.Namespace.External+" from "+cfg.Certificate.ACME.Directory,
		"certificate", "renew")
	if err != nil {
		return err
	}
	job.Interval = RenewScheduleInterval
	for _, s := range cfg.MissingSecrets() {
		name := strings.ToLower(strings.TrimPrefix(s.Env, "EXRUNBOOK_"))
		name = strings.ReplaceAll(name, "_", "-")
		job.Credentials = append(job.Credentials, schedule.Credential{Name: name, Path: "/etc/exrunbook/" + name, FileEnv: config.EnvName(s.FileKey)})
	}
	return printJob(o.IO, o.PrintSchedule, job)
}
