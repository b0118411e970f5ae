// Package exchange holds exrunbook's typed Exchange operations, run on
// Exchange's remote PowerShell endpoint (http(s)://SERVER/PowerShell/,
// configuration Microsoft.Exchange) in ONE PSRP session per run (Session).
//
// Every read and every write is one pipeline of commands with typed
// parameters: no script, no script block, no variable, nothing the
// endpoint's NoLanguage mode refuses, and RBAC applies as for an
// administrator in the Exchange Management Shell. Reads are trimmed with
// Select-Object -Property and decoded from the objects Exchange sends at
// its Partial serialization level (Exchange values as strings,
// multi-valued properties as lists). The logic around the cmdlets runs
// here in Go: the servers in scope (never Edge Transport servers), the
// recursive group expansion (one Get-DistributionGroupMember per group, by
// GUID; dynamic groups by Get-Recipient -RecipientPreviewFilter), the
// compare-and-set of URLs, certificates and flags (read, compare, write
// only the difference). Writes of one kind stream GUIDs as pipeline input
// into one pipeline (Set-CASMailbox), and Exchange's error records are
// attributed to the items they name. Secrets travel as SecureStrings,
// encrypted with the session key. The exact command lists are in
// testdata/pipelines.
package exchange

import (
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/wsman"
)

// Client runs the typed operations as pipelines of a PipelineRunner.
type Client struct {
	p PipelineRunner
	// Concurrency is how many independent write batches run at once
	// (exchange.concurrency; 4 when 0).
	Concurrency int
	// OnWarning, when set, receives every warning a pipeline wrote, with
	// the operation's name.
	OnWarning func(op, warning string)
}

// New returns a Client that runs its operations as cmdlet pipelines with
// p (a *Session on the Exchange endpoint).
func New(p PipelineRunner) *Client { return &Client{p: p} }

// OpError is a failed operation: the operation's name and why.
type OpError struct {
	Op  string
	Err error
}

func (e *OpError) Error() string { return "exchange " + e.Op + ": " + e.Err.Error() }

// Unwrap gives the cause (a *psrp.ErrorRecord in the server's words, a
// transport error, a decoding error). errkind.IsTransient sees through it.
func (e *OpError) Unwrap() error { return e.Err }

// ItemResult is the outcome of one item of a batched write.
type ItemResult struct {
	// ID is the item's identity as sent (a GUID, or server name).
	ID string `json:"Id"`
	OK bool   `json:"Ok"`
	// Error is the server's message when OK is false.
	Error string `json:"Error"`
}

// badOutput is a parse failure of an operation's output.
func badOutput(op, format string, args ...any) error {
	return &OpError{Op: op, Err: fmt.Errorf("unexpected output from the server: "+format, args...)}
}

// resultItem is one per-item result of a batched script.
type resultItem interface {
	// itemID is the identity the result is for, compared with what was sent.
	itemID() string
	// failure is the server's message when the item failed, "" otherwise.
	failure() (failed bool, msg string)
	// contradiction says why the result contradicts itself ("" when it does not).
	contradiction() string
}

func (r ItemResult) itemID() string                { return r.ID }
func (r ItemResult) failure() (bool, string)       { return !r.OK, r.Error }
func (r ItemResult) contradiction() string         { return "" }
func (r ChangeResult) itemID() string              { return r.ID }
func (r ChangeResult) failure() (bool, string)     { return !r.OK, r.Error }
func (r ChangeResult) contradiction() string       { return failedAndChanged(r.Changed, r.OK) }
func (r BindResult) itemID() string                { return r.ID }
func (r BindResult) failure() (bool, string)       { return !r.OK, r.Error }
func (r BindResult) contradiction() string         { return failedAndChanged(r.Changed, r.OK) }
func (r CertImportResult) itemID() string          { return r.Server }
func (r CertImportResult) failure() (bool, string) { return !r.OK, r.Error }
func (r CertRemoveResult) itemID() string          { return r.Server + "/" + r.Thumbprint }
func (r CertRemoveResult) failure() (bool, string) { return !r.OK, r.Error }

func (r CertImportResult) contradiction() string {
	if r.OK && r.Thumbprint == "" {
		return "reported no thumbprint"
	}
	return failedAndChanged(r.Changed, r.OK)
}

func (r CertRemoveResult) contradiction() string {
	if r.Removed && (!r.OK || !r.Present) {
		return "is removed but failed or absent"
	}
	return ""
}

func failedAndChanged(changed, ok bool) string {
	if changed && !ok {
		return "is both failed and changed"
	}
	return ""
}

// checkResults verifies that a batched script returned exactly one result
// per item sent (want, counted as noun in messages), in order, none of
// them contradicting itself. When a failed item's error says the server
// is throttling, the results come with a transient error, so the engine
// retries the phase: every batched script is idempotent.
func checkResults[T resultItem](op, noun string, res []T, want []string) ([]T, error) {
	if len(res) != len(want) {
		return nil, badOutput(op, "%d results for %d %s", len(res), len(want), noun)
	}
	for i, r := range res {
		if !strings.EqualFold(r.itemID(), want[i]) {
			return nil, badOutput(op, "result %d is for %q, expected %q", i, r.itemID(), want[i])
		}
		if why := r.contradiction(); why != "" {
			return nil, badOutput(op, "result %d (%s) %s", i, r.itemID(), why)
		}
	}
	for _, r := range res {
		if failed, msg := r.failure(); failed && wsman.IsThrottling(msg) {
			return res, errkind.Transient(&OpError{Op: op, Err: fmt.Errorf("throttled on %s: %s", r.itemID(), msg)})
		}
	}
	return res, nil
}

// checkGUID validates an identity that must be a GUID (so no hostile text
// can be an identity) and returns its canonical form.
func checkGUID(op, what, s string) (string, error) {
	u, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return "", &OpError{Op: op, Err: fmt.Errorf("%s %q is not a GUID", what, s)}
	}
	return u.String(), nil
}
