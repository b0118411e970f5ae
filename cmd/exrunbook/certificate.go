package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/exrunbook/exrunbook/checks"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/state"
	"github.com/exrunbook/exrunbook/steps"
)

// CertificateCompleteOptions are `exrunbook certificate complete`'s options.
type CertificateCompleteOptions struct {
	IO *IOStreams
	G  *GlobalOptions

	// File is the CA's answer to the request (PEM, base64 or DER).
	File string
}

// newCertificateCmd is `exrunbook certificate`, whose one subcommand
// finishes a request-mode certificate.
func newCertificateCmd(io *IOStreams, g *GlobalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certificate",
		Short: "Certificate operations (complete FILE: finish a request-mode certificate; renew: renew an acme-mode certificate)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return errkind.Usagef("certificate needs a subcommand: complete FILE, or renew")
		},
	}
	o := &CertificateCompleteOptions{IO: io, G: g}
	complete := &cobra.Command{
		Use:   "complete FILE",
		Short: "Finish a request-mode certificate with the CA's answer",
		Long: `Give the waiting certificate step (certificate.mode: request) the CA's answer
to the request it wrote to certificate.request.csr_file. The answer must
certify the request's key; it is kept beside the CSR (CSR file + .answer.cer)
and the step is resumed at once: it imports the answer on the server that
made the request (Import-ExchangeCertificate), records the thumbprint, and
runs its post-checks. The other servers in scope get the same certificate:
it is exported from the requesting server with its private key (requests are
made with an exportable key) under a one-time password, and imported.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.File = args[0]
			return runE(func(ctx context.Context) error { return runCertificateComplete(ctx, o) })(cmd, args)
		},
	}
	cmd.AddCommand(complete, newCertificateRenewCmd(io, g))
	return cmd
}

func runCertificateComplete(ctx context.Context, o *CertificateCompleteOptions) (err error) {
	in, err := o.G.loadInputs(inputOptions{})
	if err != nil {
		return err
	}
	defer in.close(ctx)
	if m := strings.ToLower(in.cfg.Certificate.Mode); m != steps.CertModeRequest {
		return errkind.Usagef("certificate complete finishes a request-mode certificate, but certificate.mode is %q", in.cfg.Certificate.Mode)
	}
	id := ""
	for _, s := range in.rb.Steps {
		if s.Kind == "certificate" {
			id = s.ID
			break
		}
	}
	if id == "" {
		return errkind.Usagef("the runbook %s has no certificate step", in.rb.Name)
	}
	data, err := os.ReadFile(o.File)
	if err != nil {
		return errkind.Usagef("reading the CA's answer: %v", err)
	}
	leaf, err := steps.ParseCertificateAnswer(data)
	if err != nil {
		return errkind.Usagef("%s: %v", o.File, err)
	}
	// A read-only look first: nothing is created or locked when there is
	// nothing to complete or the answer does not fit.
	csr, err := waitingRequest(ctx, o.G, in, id)
	if err != nil {
		return err
	}
	if err := steps.CheckAnswerMatchesCSR(leaf, []byte(csr)); err != nil {
		return errkind.Usagef("%s: %v", o.File, err)
	}
	e, err := o.G.open(ctx, in, o.G.sink(o.IO), "certificate-complete", false)
	if err != nil {
		return err
	}
	defer closeEngine(e, &err)
	if v, _ := e.StepState(id); v.Status != engine.StatusWaiting {
		return &engine.RefusedError{Rule: "not-waiting", Detail: fmt.Sprintf("step %s is %s, not waiting for the CA's answer", id, v.Status)}
	}
	dst := steps.CertificateResponseFile(in.cfg)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("keeping the CA's answer in %s: %w", dst, err)
	}
	// 0644: a certificate is public.
	if err := state.WriteFileAtomic(dst, data, 0o644); err != nil {
		return fmt.Errorf("keeping the CA's answer in %s: %w", dst, err)
	}
	if err := e.OverrideWait(id, fmt.Sprintf("the CA's answer %s was given with `exrunbook certificate complete`", o.File)); err != nil {
		return err
	}
	if err := e.RunStep(ctx, id, engine.RunOptions{Yes: true, Unattended: true}); err != nil {
		return err
	}
	if o.G.JSON() {
		return writeJSON(o.IO, e.Status())
	}
	fmt.Fprintf(o.IO.Out, "certificate %s (%s) completed; step %s is done\n", checks.Thumbprint(leaf), leaf.Subject, id)
	return nil
}

// waitingRequest returns the CSR of the waiting certificate step id,
// read through a read-only engine; a step that is not waiting is refused.
func waitingRequest(ctx context.Context, g *GlobalOptions, in *inputs, id string) (csr string, err error) {
	ro, err := g.open(ctx, in, nil, "certificate-complete", true)
	if err != nil {
		return "", err
	}
	defer closeEngine(ro, &err)
	v, _ := ro.StepState(id)
	if v.Status != engine.StatusWaiting {
		return "", &engine.RefusedError{Rule: "not-waiting", Detail: fmt.Sprintf(
			"step %s is %s, not waiting for the CA's answer; `exrunbook run` makes the request first", id, v.Status)}
	}
	if raw, ok := v.Outputs["csr"]; ok {
		if err := jsonString(raw, &csr); err != nil {
			return "", err
		}
	}
	if csr == "" {
		return "", &engine.RefusedError{Rule: "no-request", Detail: fmt.Sprintf("step %s has recorded no certificate request", id)}
	}
	return csr, nil
}

// jsonString decodes a JSON string output.
func jsonString(raw []byte, s *string) error {
	if err := json.Unmarshal(raw, s); err != nil {
		return fmt.Errorf("the step's output is not a string: %w", err)
	}
	return nil
}
