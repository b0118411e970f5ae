package psrp

// ErrorRecord is a PowerShell error record (MS-PSRP §2.2.3.15), decoded
// into the server's own words: the ERROR_RECORD message of a non-terminating
// error, or the ExceptionAsErrorRecord of a failed pipeline.
type ErrorRecord struct {
	// Message is the exception's message (or the ErrorDetails message
	// when the server set one): the text an administrator would see.
	Message string
	// ExceptionType is the exception's most derived type name
	// ("System.Management.Automation.ParseException").
	ExceptionType string
	// FullyQualifiedErrorID is e.g. "ScriptsNotAllowed" or
	// "[Server=EX01,...] 8A9C1F3D,Microsoft.Exchange.Management...".
	FullyQualifiedErrorID string
	// Category is the ErrorCategory name ("InvalidArgument",
	// "ParserError", "NotSpecified", ...); CategoryCode its number.
	Category     string
	CategoryCode int32
	// Activity, Reason, TargetName and TargetType are the rest of the
	// CategoryInfo.
	Activity   string
	Reason     string
	TargetName string
	TargetType string
	// Target is the error's TargetObject, when it was sent.
	Target Value
}

// Error returns the message, as PowerShell shows it first.
func (e *ErrorRecord) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return e.FullyQualifiedErrorID
}
