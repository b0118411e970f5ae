// Package exchange holds exrunbook's typed Exchange operations. Each
// operation is ONE PowerShell script (one powershell.exe launch over
// WinRM) that loads the Exchange snap-in, does its work and ends in ONE
// ConvertTo-Json -Compress; the output is parsed into Go structs.
//
// Every value from data or config enters a script through Quote (a
// single-quoted literal), identities are GUIDs where possible, secrets
// travel on stdin, and batched writes wrap every item in try/catch and
// report a result per item. The exact scripts are in testdata/scripts.
//
// # Output is pure ASCII
//
// powershell.exe started over WinRM writes its redirected stdout in the
// console's OEM code page (437, 850, ...), so any character outside it
// (山田, ‘ ’, most of Unicode) would arrive as '?'. jsonOut therefore
// rewrites the JSON on the server before it is written: every character
// above 0x7E becomes its JSON escape \uXXXX, one per UTF-16 code unit (a
// character outside the BMP becomes a surrogate pair of escapes), with
// [regex]::Replace and a script-block MatchEvaluator, which the regex
// engine calls only for those characters, so the cost stays linear in the
// output and small when it is mostly ASCII. JSON decoders (encoding/json,
// jsonScanner) turn the escapes back into the exact text. Non-ASCII text
// in error messages (stderr CLIXML) is not escaped and may still lose
// characters; it is only shown, never parsed for names.
package exchange

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/winrm"
)

// Runner runs one PowerShell script; *winrm.Client is one.
type Runner interface {
	RunPowerShell(ctx context.Context, script, stdin string) (winrm.Result, error)
}

// Client runs the typed operations over a Runner.
type Client struct {
	r Runner
	// p runs the operations moved to cmdlet pipelines on the Exchange
	// endpoint.
	p PipelineRunner
	// Concurrency is how many independent write batches run at once
	// (exchange.concurrency; 4 when 0).
	Concurrency int
	// OnWarning, when set, receives every warning a script wrote, with the
	// operation's name.
	OnWarning func(op, warning string)
}

// New returns a Client that runs its scripts with r.
func New(r Runner) *Client { return &Client{r: r} }

// NewPipelines returns a Client that runs its operations as cmdlet
// pipelines with p (a *Session on the Exchange endpoint).
func NewPipelines(p PipelineRunner) *Client { return &Client{p: p} }

// OpError is a failed operation: the operation's name and why.
type OpError struct {
	Op  string
	Err error
}

func (e *OpError) Error() string { return "exchange " + e.Op + ": " + e.Err.Error() }

// Unwrap gives the cause (a *winrm.PowerShellError, a transport error, a
// parse error). engine.IsTransient sees through it.
func (e *OpError) Unwrap() error { return e.Err }

// ItemResult is the outcome of one item of a batched write.
type ItemResult struct {
	// ID is the item's identity as sent (a GUID, or server name).
	ID string `json:"Id"`
	OK bool   `json:"Ok"`
	// Error is the server's message when OK is false.
	Error string `json:"Error"`
}

const scriptHeader = "$ErrorActionPreference = 'Stop'\n$ProgressPreference = 'SilentlyContinue'\nAdd-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn\n"

// asciiOnly is the pipeline stage after ConvertTo-Json that escapes every
// character above 0x7E as \uXXXX (per UTF-16 code unit), so the output
// survives any OEM code page (see the package doc).
const asciiOnly = ` | ForEach-Object { [regex]::Replace($_, '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value }) }`

// jsonOut is the one ConvertTo-Json that ends every script, its text made
// pure ASCII. It is one line starting with "ConvertTo-Json -InputObject"
// (bodyOf cuts scripts there).
func jsonOut(expr string, depth int) string {
	return fmt.Sprintf("ConvertTo-Json -InputObject %s -Depth %d -Compress%s\n", expr, depth, asciiOnly)
}

// maxCommandLine is how long powershell.exe's -EncodedCommand line may
// be: it travels in one WS-Man envelope (MaxEnvelopeSize 153600 bytes,
// less the SOAP around it).
const maxCommandLine = 140000

// run runs one script and returns its stdout, or an OpError.
func (c *Client) run(ctx context.Context, op, script, stdin string) (string, error) {
	if n := len(winrm.EncodeCommand(script)); n > maxCommandLine {
		return "", &OpError{Op: op, Err: fmt.Errorf("the script's command line would be %d bytes, more than one WinRM envelope carries (%d): use smaller batches", n, maxCommandLine)}
	}
	res, err := c.r.RunPowerShell(ctx, script, stdin)
	if c.OnWarning != nil {
		for _, w := range res.Warnings {
			c.OnWarning(op, w)
		}
	}
	if err != nil {
		return "", &OpError{Op: op, Err: err}
	}
	return res.Stdout, nil
}

// badOutput is a parse failure of an operation's output.
func badOutput(op, format string, args ...any) error {
	return &OpError{Op: op, Err: fmt.Errorf("unexpected output from the server: "+format, args...)}
}

func snippet(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// field says how a property must appear in each object.
type field struct {
	name     string
	nullable bool
}

func req(names ...string) []field {
	fs := make([]field, len(names))
	for i, n := range names {
		fs[i] = field{name: n}
	}
	return fs
}

func opt(names ...string) []field {
	fs := req(names...)
	for i := range fs {
		fs[i].nullable = true
	}
	return fs
}

// decodeList parses a JSON array of objects (a single object counts as a
// one-element array, as ConvertTo-Json unrolls arrays of one), checks
// that every object has the fields (non-null unless nullable), and
// unmarshals each into a T. Empty output is an error: every script emits
// at least "[]".
func decodeList[T any](op, out string, fields []field) ([]T, error) {
	raw := strings.TrimSpace(out)
	if raw == "" {
		return nil, badOutput(op, "no output (expected a JSON array)")
	}
	var items []json.RawMessage
	switch raw[0] {
	case '[':
		if err := json.Unmarshal([]byte(raw), &items); err != nil {
			return nil, badOutput(op, "not a JSON array of objects (%v): %s", err, snippet(raw))
		}
	case '{':
		items = []json.RawMessage{json.RawMessage(raw)}
	default:
		return nil, badOutput(op, "not JSON: %s", snippet(raw))
	}
	res := make([]T, 0, len(items))
	for i, it := range items {
		v, err := decodeObject[T](it, fields)
		if err != nil {
			return nil, badOutput(op, "item %d: %v", i, err)
		}
		res = append(res, v)
	}
	return res, nil
}

// decodeSingle parses exactly one JSON object.
func decodeSingle[T any](op, out string, fields []field) (T, error) {
	var zero T
	raw := strings.TrimSpace(out)
	switch {
	case raw == "":
		return zero, badOutput(op, "no output (expected a JSON object)")
	case raw[0] == '[':
		return zero, badOutput(op, "a JSON array where one object was expected: %s", snippet(raw))
	case raw[0] != '{':
		return zero, badOutput(op, "not JSON: %s", snippet(raw))
	}
	v, err := decodeObject[T](json.RawMessage(raw), fields)
	if err != nil {
		return zero, badOutput(op, "%v", err)
	}
	return v, nil
}

func decodeObject[T any](raw json.RawMessage, fields []field) (T, error) {
	var zero T
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return zero, fmt.Errorf("not a JSON object (%v): %s", err, snippet(string(raw)))
	}
	for _, f := range fields {
		v, ok := m[f.name]
		if !ok {
			return zero, fmt.Errorf("property %s is missing in %s", f.name, snippet(string(raw)))
		}
		if !f.nullable && string(v) == "null" {
			return zero, fmt.Errorf("property %s is null in %s", f.name, snippet(string(raw)))
		}
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return zero, fmt.Errorf("%v in %s", err, snippet(string(raw)))
	}
	return v, nil
}

// itemFields are the properties of a per-item result.
var itemFields = append(req("Id", "Ok"), opt("Error")...)

// decodeItems parses a batched write's per-item results (see checkResults).
func decodeItems(op, out string, ids []string) ([]ItemResult, error) {
	res, err := decodeList[ItemResult](op, out, itemFields)
	if err != nil {
		return nil, err
	}
	return checkResults(op, "items", res, ids)
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
		if failed, msg := r.failure(); failed && winrm.IsThrottling(msg) {
			return res, engine.Transient(&OpError{Op: op, Err: fmt.Errorf("throttled on %s: %s", r.itemID(), msg)})
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
