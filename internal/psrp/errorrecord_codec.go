package psrp

import (
	"fmt"
	"strings"
)

// errorCategories are the names of System.Management.Automation.ErrorCategory
// by number.
var errorCategories = []string{
	"NotSpecified", "OpenError", "CloseError", "DeviceError", "DeadlockDetected", "InvalidArgument",
	"InvalidData", "InvalidOperation", "InvalidResult", "InvalidType", "MetadataError", "NotImplemented",
	"NotInstalled", "ObjectNotFound", "OperationStopped", "OperationTimeout", "SyntaxError", "ParserError",
	"PermissionDenied", "ResourceBusy", "ResourceExists", "ResourceUnavailable", "ReadError", "WriteError",
	"FromStdErr", "SecurityError", "ProtocolError", "ConnectionError", "AuthenticationError",
	"LimitsExceeded", "QuotaExceeded", "NotEnabled",
}

// ErrorCategoryCode returns the number of an ErrorCategory name, and
// whether the name is one.
func ErrorCategoryCode(name string) (int32, bool) {
	for i, n := range errorCategories {
		if strings.EqualFold(n, name) {
			return int32(i), true
		}
	}
	return 0, false
}

// MessageType implements Body: an ErrorRecord is the body of ERROR_RECORD.
func (e *ErrorRecord) MessageType() MessageType { return MsgErrorRecord }

func (e *ErrorRecord) value() (Value, error) { return e.object(), nil }

// object returns the record the way Windows PowerShell serializes an
// ErrorRecord (MS-PSRP §2.2.3.15): the exception object, the target, the
// FullyQualifiedErrorId and the flattened CategoryInfo in <MS>.
func (e *ErrorRecord) object() *Object {
	code := e.CategoryCode
	category := e.Category
	if c, ok := ErrorCategoryCode(category); ok {
		code = c
	} else if category == "" {
		category = enumName(errorCategories, code)
	}
	excType := e.ExceptionType
	if excType == "" {
		excType = "System.Management.Automation.RuntimeException"
	}
	chain := []string{excType}
	if excType == "System.Management.Automation.RuntimeException" || strings.HasPrefix(excType, "System.Management.Automation.") && strings.HasSuffix(excType, "Exception") {
		if excType != "System.Management.Automation.RuntimeException" {
			chain = append(chain, "System.Management.Automation.RuntimeException")
		}
		chain = append(chain, "System.SystemException")
	}
	if excType != "System.Exception" {
		chain = append(chain, "System.Exception")
	}
	chain = append(chain, "System.Object")
	exc := &Object{
		TypeNames: chain,
		ToString:  e.Message,
		Adapted: []Property{
			{"Message", e.Message},
			{"Data", &Object{TypeNames: []string{"System.Collections.ListDictionaryInternal", "System.Object"}, Kind: DictContainer, Entries: []Entry{}}},
			{"InnerException", nil},
			{"TargetSite", nil},
			{"StackTrace", nil},
			{"HelpLink", nil},
			{"Source", nil},
			{"HResult", int32(-2146233087)},
		},
	}
	reason := e.Reason
	if reason == "" {
		reason = excType[strings.LastIndexByte(excType, '.')+1:]
	}
	catMsg := fmt.Sprintf("%s: (%s:%s) [%s], %s", category, e.TargetName, e.TargetType, e.Activity, reason)
	return &Object{
		TypeNames: []string{"System.Management.Automation.ErrorRecord", "System.Object"},
		ToString:  e.Message,
		Extended: []Property{
			{"Exception", exc},
			{"TargetObject", e.Target},
			{"FullyQualifiedErrorId", e.FullyQualifiedErrorID},
			{"InvocationInfo", nil},
			{"ErrorCategory_Category", code},
			{"ErrorCategory_Activity", e.Activity},
			{"ErrorCategory_Reason", reason},
			{"ErrorCategory_TargetName", e.TargetName},
			{"ErrorCategory_TargetType", e.TargetType},
			{"ErrorCategory_Message", catMsg},
			{"SerializeExtendedInfo", false},
		},
	}
}

// DecodeErrorRecord reads an ErrorRecord object (the data of ERROR_RECORD,
// or an ExceptionAsErrorRecord): the message from ErrorDetails_Message, else
// the exception's Message, else the record's ToString.
func DecodeErrorRecord(v Value) (*ErrorRecord, error) {
	o, err := asObject(v, "error record")
	if err != nil {
		return nil, err
	}
	p := props{o: o, what: "error record"}
	e := &ErrorRecord{
		FullyQualifiedErrorID: p.str("FullyQualifiedErrorId", false),
		CategoryCode:          p.int32("ErrorCategory_Category", false),
		Activity:              p.str("ErrorCategory_Activity", false),
		Reason:                p.str("ErrorCategory_Reason", false),
		TargetName:            p.str("ErrorCategory_TargetName", false),
		TargetType:            p.str("ErrorCategory_TargetType", false),
		Message:               p.str("ErrorDetails_Message", false),
	}
	e.Category = enumName(errorCategories, e.CategoryCode)
	e.Target, _ = o.Get("TargetObject")
	if exc, ok := p.value("Exception", false).(*Object); ok && exc != nil {
		if len(exc.TypeNames) > 0 {
			e.ExceptionType = strings.TrimPrefix(exc.TypeNames[0], "Deserialized.")
		}
		if e.Message == "" {
			if m, ok := exc.Get("Message"); ok {
				e.Message, _ = m.(string)
			}
		}
		if e.Message == "" {
			e.Message = exc.ToString
		}
	}
	if e.Message == "" {
		e.Message = o.ToString
	}
	if p.err != nil {
		return nil, p.err
	}
	return e, nil
}
