// Command exlab runs the simulated Exchange lab: `exlab serve --dir DIR`
// starts WinRM (/wsman), per Exchange server the HTTPS and HTTP listeners
// with the Exchange PowerShell endpoint (/PowerShell/) and SMTP, both DNS
// servers and the control API on 127.0.0.1 and writes DIR/endpoints.json and
// DIR/exrunbook.yaml; `exlab sign-csr` answers a certificate request with
// the lab CA.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/lab"
	"github.com/exrunbook/exrunbook/internal/lab/ca"
	"github.com/exrunbook/exrunbook/internal/lab/faults"
)

func main() {
	if err := newRoot(os.Stdout, os.Stderr).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "exlab:", err)
		if errkind.IsUsage(err) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "exlab",
		Short:         "The simulated Exchange organisation exrunbook is tested against",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return errkind.Usage(err) })
	root.AddCommand(newServe(stdout, stderr), newSignCSR(stdout))
	return root
}

func newServe(stdout, stderr io.Writer) *cobra.Command {
	var opts lab.Options
	var faultSpec string
	cmd := &cobra.Command{
		Use:   "serve --dir DIR",
		Short: "Start the lab (until SIGINT or SIGTERM)",
		Long: `Start the lab in DIR: generate the organisation on the first start
(continue from DIR/org.json afterwards), start WinRM (/wsman over HTTP and
HTTPS), per Exchange server an HTTPS and an HTTP listener with the Exchange
PowerShell endpoint (/PowerShell/, MS-PSRP, configuration Microsoft.Exchange)
and an SMTP listener with STARTTLS, the internal and public DNS servers and
the control API, all on 127.0.0.1, then write DIR/exrunbook.yaml and
DIR/endpoints.json.

With --kerberos-keytab and --krb5-conf, /PowerShell/ also accepts Kerberos
(Negotiate or Kerberos; message encryption over HTTP), mapping principals
of the service's realm to the lab's users, and endpoints.json gets a
"kerberos" key (realm, krb5_conf, spn). Without them it offers NTLM, and
Basic over HTTPS.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Dir == "" {
				return errkind.Usage(errors.New("--dir is required"))
			}
			if (opts.KerberosKeytab == "") != (opts.Krb5Conf == "") {
				return errkind.Usage(errors.New("--kerberos-keytab and --krb5-conf go together"))
			}
			if _, err := faults.Parse(faultSpec); err != nil {
				return errkind.Usage(err)
			}
			opts.Faults = faultSpec
			opts.Logf = func(format string, args ...any) { fmt.Fprintf(stderr, "exlab: "+format+"\n", args...) }
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			l, err := lab.Start(ctx, opts)
			if err != nil {
				return err
			}
			ep := l.Endpoints()
			b, _ := json.MarshalIndent(ep, "", "  ")
			fmt.Fprintf(stdout, "%s\n", b)
			fmt.Fprintf(stdout, "exlab: ready; config for exrunbook: %s/%s\n", l.Dir(), lab.FileConfig)
			<-ctx.Done()
			fmt.Fprintln(stderr, "exlab: stopping")
			return l.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Dir, "dir", "", "lab directory (created if missing)")
	f.IntVar(&opts.Mailboxes, "mailboxes", 0, "mailboxes on the first start (default 50)")
	f.IntVar(&opts.Allow, "allow", 0, "direct members of the allow group (default 5)")
	f.IntVar(&opts.Servers, "servers", 0, "Exchange servers (default 2)")
	f.Int64Var(&opts.Seed, "seed", 0, "generator seed")
	f.StringVar(&opts.Domain, "domain", "", "the organisation's domain on the first start (default contoso.test)")
	f.BoolVar(&opts.Edge, "edge", false, "first start: add the Edge Transport server EDGE01 (no client access, no DAG)")
	f.StringVar(&opts.ChildDomain, "child-domain", "", "first start: add the child domain LABEL.<domain> with user mailboxes, one in the allow group (e.g. emea)")
	f.BoolVar(&opts.DynamicGroup, "dynamic-group", false, "first start: add a dynamic distribution group to the allow group")
	f.DurationVar(&opts.Latency, "latency", 0, "latency added to every WS-Management request (/wsman and /PowerShell/)")
	f.StringVar(&opts.KerberosKeytab, "kerberos-keytab", "", "keytab with the HTTP/<host> service keys: /PowerShell/ accepts Kerberos (needs --krb5-conf)")
	f.StringVar(&opts.Krb5Conf, "krb5-conf", "", "the realm's krb5.conf, copied to DIR/krb5.conf and named in endpoints.json (needs --kerberos-keytab)")
	f.StringVar(&faultSpec, "faults", "", "faults to inject, e.g. http500=0.05,drop=0.02,break=0.01,throttle:Set-CASMailbox=0.1,seed=7")
	return cmd
}

func newSignCSR(stdout io.Writer) *cobra.Command {
	var dir string
	var days int
	cmd := &cobra.Command{
		Use:   "sign-csr --dir DIR CSRFILE",
		Short: "Answer a certificate request with the lab CA (PEM on stdout)",
		Long: `Sign the certificate request in CSRFILE (PEM, base64 or DER; "-" reads
stdin) with the lab CA of DIR and print the certificate in PEM, for
"exrunbook certificate complete".`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return errkind.Usage(errors.New("--dir is required"))
			}
			var data []byte
			var err error
			if args[0] == "-" {
				data, err = io.ReadAll(cmd.InOrStdin())
			} else {
				data, err = os.ReadFile(args[0])
			}
			if err != nil {
				return err
			}
			c, err := ca.Load(dir)
			if err != nil {
				return err
			}
			pem, err := lab.SignCSR(c, data, time.Now(), time.Duration(days)*24*time.Hour)
			if err != nil {
				return err
			}
			_, err = stdout.Write(pem)
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "lab directory")
	cmd.Flags().IntVar(&days, "days", 730, "validity in days")
	return cmd
}
