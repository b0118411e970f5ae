package rps

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
	"github.com/exrunbook/exrunbook/internal/psrp"
	"github.com/google/uuid"
)

// categoryCodes are System.Management.Automation.ErrorCategory's values.
var categoryCodes = map[string]int32{
	"NotSpecified": 0, "OpenError": 1, "CloseError": 2, "DeviceError": 3, "DeadlockDetected": 4,
	"InvalidArgument": 5, "InvalidData": 6, "InvalidOperation": 7, "InvalidResult": 8, "InvalidType": 9,
	"MetadataError": 10, "NotImplemented": 11, "NotInstalled": 12, "ObjectNotFound": 13, "OperationStopped": 14,
	"OperationTimeout": 15, "SyntaxError": 16, "ParserError": 17, "PermissionDenied": 18, "ResourceBusy": 19,
	"ResourceExists": 20, "ResourceUnavailable": 21, "ReadError": 22, "WriteError": 23, "FromStdErr": 24,
	"SecurityError": 25, "ProtocolError": 26, "ConnectionError": 27, "AuthenticationError": 28,
	"LimitsExceeded": 29, "QuotaExceeded": 30, "NotEnabled": 31,
}

// scriptsNotAllowedMessage is PowerShell's ParseException text in a
// NoLanguage runspace (PowerShell issue #7821, pypsrp issue #103).
const scriptsNotAllowedMessage = "The syntax is not supported by this runspace. This can occur if the runspace is in no-language mode."

func scriptsNotAllowed() *psrp.ErrorRecord {
	return &psrp.ErrorRecord{
		Message:               scriptsNotAllowedMessage,
		ExceptionType:         "System.Management.Automation.ParseException",
		FullyQualifiedErrorID: "ScriptsNotAllowed",
		Category:              "ParserError", CategoryCode: categoryCodes["ParserError"],
		Reason: "ParseException",
	}
}

// budgetMessage is the lab's throttling text (faults.ThrottleMessage's
// wording) with the policy's own value.
const budgetMessage = "The user \"%s\" has exceeded the throttling budget for PowerShell. Policy part: PowerShellMaxCmdlets; Policy value: %d; Budget type: PowerShell. Please wait and try again later."

func budgetExceeded(user string, budget int) *psrp.ErrorRecord {
	return &psrp.ErrorRecord{
		Message:               fmt.Sprintf(budgetMessage, user, budget),
		ExceptionType:         "Microsoft.Exchange.Data.Directory.OverBudgetException",
		FullyQualifiedErrorID: "OverBudgetException",
		Category:              "NotSpecified", CategoryCode: 0,
		Reason: "OverBudgetException",
	}
}

// exchangeFQID matches the FullyQualifiedErrorId of an error an Exchange
// cmdlet raised (its id, then the cmdlet's class).
var exchangeFQID = regexp.MustCompile(`^[^,]+,Microsoft\.Exchange\.`)

// wireError turns an interpreter error record into the record the
// endpoint sends. Errors an Exchange cmdlet raises (task errors,
// throttling, transient AD errors) get the header Exchange's remote
// endpoint puts in front of their FullyQualifiedErrorId:
// "[Server=EX01,RequestId=<guid>,TimeStamp=<time>] [FailureCategory=Cmdlet-<exception>] ".
func (e *Endpoint) wireError(r *pwsh.ErrorRecord) *psrp.ErrorRecord {
	exc := r.Err.ExceptionType
	if exc == "" {
		exc = "System.Management.Automation.RuntimeException"
	}
	cat := string(r.Err.Category)
	if cat == "" {
		cat = "NotSpecified"
	}
	out := &psrp.ErrorRecord{
		Message:               r.Err.Message,
		ExceptionType:         exc,
		FullyQualifiedErrorID: r.FullyQualifiedErrorId,
		Category:              cat, CategoryCode: categoryCodes[cat],
		Activity: r.Activity(),
		Reason:   shortType(exc),
	}
	if t := r.Err.TargetObject; t != nil {
		out.TargetName = pwsh.ToString(t)
		out.TargetType = targetType(t)
		out.Target = flatten("", t)
	}
	// PowerShell's own errors about an Exchange cmdlet (parameter binding,
	// the host's prompt failure) keep PowerShell's plain id.
	if exchangeFQID.MatchString(out.FullyQualifiedErrorID) && !strings.HasPrefix(exc, "System.Management.Automation.") {
		out.FullyQualifiedErrorID = fmt.Sprintf("[Server=%s,RequestId=%s,TimeStamp=%s] [FailureCategory=Cmdlet-%s] %s",
			e.o.Server, uuid.New(), timeStamp(e.o.Now()), shortType(exc), out.FullyQualifiedErrorID)
	}
	return out
}

// timeStamp is the TimeStamp of Exchange's error header (UTC, en-US).
func timeStamp(t time.Time) string { return t.UTC().Format("1/2/2006 3:04:05 PM") }

func shortType(full string) string {
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		return full[i+1:]
	}
	return full
}

// targetType is the CategoryInfo TargetType: the target's short .NET type
// name.
func targetType(v pwsh.Value) string {
	switch x := v.(type) {
	case string:
		return "String"
	case bool:
		return "Boolean"
	case int64:
		return "Int32"
	case pwsh.Guid:
		return "Guid"
	case *pwsh.Object:
		return shortType(x.TypeName())
	case *pwsh.Array:
		return "Object[]"
	}
	return "Object"
}
