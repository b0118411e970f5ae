package psrp

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// Body is the content of one PSRP message type. Every type below is one;
// NewMessage encodes a Body and DecodeBody decodes one.
type Body interface {
	MessageType() MessageType
	value() (Value, error)
}

// NewMessage encodes body (with key for any SecureString) into a message
// for dest on pool rpid and pipeline pid (uuid.Nil for the pool).
func NewMessage(dest Destination, rpid, pid uuid.UUID, body Body, key *SessionKey) (Message, error) {
	data, err := EncodeBody(body, key)
	if err != nil {
		return Message{}, fmt.Errorf("%s: %w", body.MessageType(), err)
	}
	return Message{Destination: dest, Type: body.MessageType(), RPID: rpid, PID: pid, Data: data}, nil
}

// EncodeBody returns the CLIXML data of body.
func EncodeBody(body Body, key *SessionKey) ([]byte, error) {
	if _, ok := body.(EndOfPipelineInput); ok {
		return nil, nil
	}
	v, err := body.value()
	if err != nil {
		return nil, err
	}
	return MarshalCLIXML(v, key)
}

// DecodeBody decodes the data of m into its Body with d (whose Key
// decrypts SecureStrings). Known message types this package has no
// struct for come back as Other; an unknown type is an error.
func DecodeBody(d *Decoder, m Message) (Body, error) {
	if !m.Type.Known() {
		return nil, fmt.Errorf("psrp: unknown message type %s", m.Type)
	}
	if m.Type == MsgEndOfPipelineInput {
		return EndOfPipelineInput{}, nil
	}
	v, err := d.Decode(m.Data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Type, err)
	}
	body, err := decodeValue(m.Type, v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Type, err)
	}
	return body, nil
}

func decodeValue(t MessageType, v Value) (Body, error) {
	switch t {
	case MsgSessionCapability:
		return decodeSessionCapability(v)
	case MsgInitRunspacePool:
		return decodeInitRunspacePool(v)
	case MsgApplicationPrivateData:
		return decodeApplicationPrivateData(v)
	case MsgRunspacePoolState:
		return decodeRunspacePoolState(v)
	case MsgCreatePipeline:
		return decodeCreatePipeline(v)
	case MsgPipelineInput:
		return PipelineInput{Value: v}, nil
	case MsgPipelineOutput:
		return PipelineOutput{Value: v}, nil
	case MsgErrorRecord:
		return DecodeErrorRecord(v)
	case MsgWarningRecord, MsgVerboseRecord, MsgDebugRecord:
		return decodeInformational(t, v)
	case MsgPipelineState:
		return decodePipelineState(v)
	case MsgPublicKey:
		b, err := decodeKeyBlob(v, "PublicKey")
		return PublicKey{Blob: b}, err
	case MsgEncryptedSessionKey:
		b, err := decodeKeyBlob(v, "EncryptedSessionKey")
		return EncryptedSessionKey{Blob: b}, err
	case MsgPublicKeyRequest:
		return PublicKeyRequest{}, nil
	}
	return Other{Type: t, Value: v}, nil
}

// Other is a message of a known type this package reads no further
// (RUNSPACE_AVAILABILITY, PROGRESS_RECORD, INFORMATION_RECORD, host calls,
// USER_EVENT, …): its decoded value.
type Other struct {
	Type  MessageType
	Value Value
}

// MessageType implements Body.
func (o Other) MessageType() MessageType { return o.Type }
func (o Other) value() (Value, error)    { return o.Value, nil }

// SessionCapability is SESSION_CAPABILITY (MS-PSRP §2.2.2.1).
type SessionCapability struct {
	ProtocolVersion      Version
	PSVersion            Version
	SerializationVersion Version
	// TimeZone is the optional serialized TimeZone blob (nil: not sent).
	TimeZone []byte
}

// ClientCapability is what exrunbook's client announces: the versions
// pypsrp and Windows PowerShell 5.1 send (MS-PSRP §2.2.2.1; pypsrp
// powershell.py PROTOCOL_VERSION, PS_VERSION, SERIALIZATION_VERSION).
var ClientCapability = SessionCapability{ProtocolVersion: "2.3", PSVersion: "2.0", SerializationVersion: "1.1.0.1"}

// MessageType implements Body.
func (SessionCapability) MessageType() MessageType { return MsgSessionCapability }

func (m SessionCapability) value() (Value, error) {
	p := []Property{
		{"protocolversion", m.ProtocolVersion},
		{"PSVersion", m.PSVersion},
		{"SerializationVersion", m.SerializationVersion},
	}
	if m.TimeZone != nil {
		p = append(p, Property{"TimeZone", m.TimeZone})
	}
	return propertyBag(p...), nil
}

func decodeSessionCapability(v Value) (Body, error) {
	o, err := asObject(v, "SESSION_CAPABILITY")
	if err != nil {
		return nil, err
	}
	p := props{o: o, what: "SESSION_CAPABILITY"}
	m := SessionCapability{
		ProtocolVersion:      Version(p.str("protocolversion", true)),
		PSVersion:            Version(p.str("PSVersion", true)),
		SerializationVersion: Version(p.str("SerializationVersion", true)),
	}
	if tz, ok := o.Get("TimeZone"); ok {
		m.TimeZone, _ = tz.([]byte)
	}
	return m, p.err
}

// AtLeast reports whether version v ("2.3") is at least major.minor.
func (v Version) AtLeast(major, minor int) bool {
	var a, b int
	if _, err := fmt.Sscanf(string(v), "%d.%d", &a, &b); err != nil {
		return false
	}
	return a > major || a == major && b >= minor
}

// HostInfo is the HostInfo of INIT_RUNSPACEPOOL and CREATE_PIPELINE (MS-PSRP
// §2.2.3.14). exrunbook's client has no host: NoHost.
type HostInfo struct {
	IsHostNull, IsHostUINull, IsHostRawUINull, UseRunspaceHost bool
}

// NoHost is the HostInfo of a client without a PowerShell host, as
// PowerShell and pypsrp send it.
var NoHost = HostInfo{IsHostNull: true, IsHostUINull: true, IsHostRawUINull: true, UseRunspaceHost: true}

func (h HostInfo) value() *Object {
	return propertyBag(
		Property{"_isHostNull", h.IsHostNull},
		Property{"_isHostUINull", h.IsHostUINull},
		Property{"_isHostRawUINull", h.IsHostRawUINull},
		Property{"_useRunspaceHost", h.UseRunspaceHost},
	)
}

func decodeHostInfo(o *Object, what string) (HostInfo, error) {
	if o == nil {
		return HostInfo{}, nil
	}
	p := props{o: o, what: what}
	h := HostInfo{
		IsHostNull:      p.boolean("_isHostNull", false),
		IsHostUINull:    p.boolean("_isHostUINull", false),
		IsHostRawUINull: p.boolean("_isHostRawUINull", false),
		UseRunspaceHost: p.boolean("_useRunspaceHost", false),
	}
	return h, p.err
}

// Enum types PowerShell writes in pool and pipeline messages.
const (
	threadOptionsType       = "System.Management.Automation.Runspaces.PSThreadOptions"
	apartmentStateType      = "System.Threading.ApartmentState"
	remoteStreamOptionsType = "System.Management.Automation.RemoteStreamOptions"
	pipelineResultTypesType = "System.Management.Automation.Runspaces.PipelineResultTypes"
)

var (
	threadOptionNames  = []string{"Default", "UseNewThread", "ReuseThread", "UseCurrentThread"}
	apartmentNames     = []string{"STA", "MTA", "Unknown"}
	streamOptionsNames = map[int32]string{0: "None", 1: "AddInvocationInfoToErrorRecord", 2: "AddInvocationInfoToWarningRecord", 4: "AddInvocationInfoToDebugRecord", 8: "AddInvocationInfoToVerboseRecord", 15: "AddInvocationInfo"}
)

func enumName(names []string, v int32) string {
	if v >= 0 && int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprint(v)
}

// ApartmentUnknown is ApartmentState.Unknown, what PowerShell sends.
const ApartmentUnknown int32 = 2

// InitRunspacePool is INIT_RUNSPACEPOOL (MS-PSRP §2.2.2.2).
type InitRunspacePool struct {
	MinRunspaces, MaxRunspaces int32
	// ThreadOptions is a PSThreadOptions (0 Default), ApartmentState an
	// ApartmentState (ApartmentUnknown).
	ThreadOptions  int32
	ApartmentState int32
	HostInfo       HostInfo
	// ApplicationArguments is the PSPrimitiveDictionary of
	// $PSSenderInfo.ApplicationArguments; nil sends Nil.
	ApplicationArguments []Entry
}

// MessageType implements Body.
func (InitRunspacePool) MessageType() MessageType { return MsgInitRunspacePool }

func (m InitRunspacePool) value() (Value, error) {
	var args Value
	if m.ApplicationArguments != nil {
		args = &Object{TypeNames: primitiveDictTypes, Kind: DictContainer, Entries: m.ApplicationArguments}
	}
	return propertyBag(
		Property{"MinRunspaces", m.MinRunspaces},
		Property{"MaxRunspaces", m.MaxRunspaces},
		Property{"PSThreadOptions", NewEnum(threadOptionsType, enumName(threadOptionNames, m.ThreadOptions), m.ThreadOptions)},
		Property{"ApartmentState", NewEnum(apartmentStateType, enumName(apartmentNames, m.ApartmentState), m.ApartmentState)},
		Property{"HostInfo", m.HostInfo.value()},
		Property{"ApplicationArguments", args},
	), nil
}

func decodeInitRunspacePool(v Value) (Body, error) {
	o, err := asObject(v, "INIT_RUNSPACEPOOL")
	if err != nil {
		return nil, err
	}
	p := props{o: o, what: "INIT_RUNSPACEPOOL"}
	m := InitRunspacePool{
		MinRunspaces:   p.int32("MinRunspaces", true),
		MaxRunspaces:   p.int32("MaxRunspaces", true),
		ThreadOptions:  p.int32("PSThreadOptions", false),
		ApartmentState: p.int32("ApartmentState", false),
	}
	h, err := decodeHostInfo(p.object("HostInfo", false), "INIT_RUNSPACEPOOL HostInfo")
	if err != nil && p.err == nil {
		p.err = err
	}
	m.HostInfo = h
	if a := p.object("ApplicationArguments", false); a != nil {
		m.ApplicationArguments = a.Entries
		if m.ApplicationArguments == nil {
			m.ApplicationArguments = []Entry{}
		}
	}
	return m, p.err
}

// ApplicationPrivateData is APPLICATION_PRIVATE_DATA (MS-PSRP §2.2.2.13):
// the server's PSPrimitiveDictionary (nil when it sent none).
type ApplicationPrivateData struct {
	Data []Entry
}

// MessageType implements Body.
func (ApplicationPrivateData) MessageType() MessageType { return MsgApplicationPrivateData }

func (m ApplicationPrivateData) value() (Value, error) {
	var d Value
	if m.Data != nil {
		d = &Object{TypeNames: primitiveDictTypes, Kind: DictContainer, Entries: m.Data}
	}
	return propertyBag(Property{"ApplicationPrivateData", d}), nil
}

func decodeApplicationPrivateData(v Value) (Body, error) {
	o, err := asObject(v, "APPLICATION_PRIVATE_DATA")
	if err != nil {
		return nil, err
	}
	p := props{o: o, what: "APPLICATION_PRIVATE_DATA"}
	m := ApplicationPrivateData{}
	if d := p.object("ApplicationPrivateData", false); d != nil {
		m.Data = d.Entries
		if m.Data == nil {
			m.Data = []Entry{}
		}
	}
	return m, p.err
}

// RunspacePoolStateValue is a RunspacePoolState (MS-PSRP §2.2.3.4).
type RunspacePoolStateValue int32

// The runspace pool states.
const (
	RunspacePoolBeforeOpen RunspacePoolStateValue = iota
	RunspacePoolOpening
	RunspacePoolOpened
	RunspacePoolClosed
	RunspacePoolClosing
	RunspacePoolBroken
	RunspacePoolNegotiationSent
	RunspacePoolNegotiationSucceeded
	RunspacePoolConnecting
	RunspacePoolDisconnected
)

var poolStateNames = []string{"BeforeOpen", "Opening", "Opened", "Closed", "Closing", "Broken", "NegotiationSent", "NegotiationSucceeded", "Connecting", "Disconnected"}

func (s RunspacePoolStateValue) String() string { return enumName(poolStateNames, int32(s)) }

// RunspacePoolState is RUNSPACEPOOL_STATE (MS-PSRP §2.2.2.9), with the
// error record of a Broken or Closed pool when the server sent one.
type RunspacePoolState struct {
	State RunspacePoolStateValue
	Error *ErrorRecord
}

// MessageType implements Body.
func (RunspacePoolState) MessageType() MessageType { return MsgRunspacePoolState }

func (m RunspacePoolState) value() (Value, error) {
	return stateValue("RunspaceState", int32(m.State), m.Error), nil
}

func decodeRunspacePoolState(v Value) (Body, error) {
	return decodeState(v, "RUNSPACEPOOL_STATE", "RunspaceState", func(state int32, rec *ErrorRecord) Body {
		return RunspacePoolState{State: RunspacePoolStateValue(state), Error: rec}
	})
}

// stateValue is the body of a state message (RUNSPACEPOOL_STATE,
// PIPELINE_STATE): the state under name and, when there is one, the error
// record as ExceptionAsErrorRecord.
func stateValue(name string, state int32, e *ErrorRecord) Value {
	p := []Property{{name, state}}
	if e != nil {
		p = append(p, Property{"ExceptionAsErrorRecord", e.object()})
	}
	return propertyBag(p...)
}

// decodeState reads the body stateValue writes, what naming the message in
// errors, and makes the message with mk.
func decodeState(v Value, what, name string, mk func(state int32, rec *ErrorRecord) Body) (Body, error) {
	o, err := asObject(v, what)
	if err != nil {
		return nil, err
	}
	p := props{o: o, what: what}
	state := p.int32(name, true)
	var rec *ErrorRecord
	if e := p.object("ExceptionAsErrorRecord", false); e != nil {
		if rec, err = DecodeErrorRecord(e); err != nil {
			return nil, err
		}
	}
	return mk(state, rec), p.err
}

// PipelineStateValue is a PSInvocationState (MS-PSRP §2.2.3.5).
type PipelineStateValue int32

// The pipeline states.
const (
	PipelineNotStarted PipelineStateValue = iota
	PipelineRunning
	PipelineStopping
	PipelineStopped
	PipelineCompleted
	PipelineFailed
	PipelineDisconnected
)

var pipelineStateNames = []string{"NotStarted", "Running", "Stopping", "Stopped", "Completed", "Failed", "Disconnected"}

func (s PipelineStateValue) String() string { return enumName(pipelineStateNames, int32(s)) }

// Terminal reports whether the pipeline has ended.
func (s PipelineStateValue) Terminal() bool {
	return s == PipelineStopped || s == PipelineCompleted || s == PipelineFailed
}

// PipelineState is PIPELINE_STATE (MS-PSRP §2.2.2.21), with the
// terminating error of a Failed (or Stopped) pipeline.
type PipelineState struct {
	State PipelineStateValue
	Error *ErrorRecord
}

// MessageType implements Body.
func (PipelineState) MessageType() MessageType { return MsgPipelineState }

func (m PipelineState) value() (Value, error) {
	return stateValue("PipelineState", int32(m.State), m.Error), nil
}

func decodePipelineState(v Value) (Body, error) {
	return decodeState(v, "PIPELINE_STATE", "PipelineState", func(state int32, rec *ErrorRecord) Body {
		return PipelineState{State: PipelineStateValue(state), Error: rec}
	})
}

// PipelineInput is PIPELINE_INPUT: one input object.
type PipelineInput struct{ Value Value }

// MessageType implements Body.
func (PipelineInput) MessageType() MessageType { return MsgPipelineInput }
func (m PipelineInput) value() (Value, error)  { return m.Value, nil }

// EndOfPipelineInput is END_OF_PIPELINE_INPUT (no data).
type EndOfPipelineInput struct{}

// MessageType implements Body.
func (EndOfPipelineInput) MessageType() MessageType { return MsgEndOfPipelineInput }
func (EndOfPipelineInput) value() (Value, error)    { return nil, nil }

// PipelineOutput is PIPELINE_OUTPUT: one output object.
type PipelineOutput struct{ Value Value }

// MessageType implements Body.
func (PipelineOutput) MessageType() MessageType { return MsgPipelineOutput }
func (m PipelineOutput) value() (Value, error)  { return m.Value, nil }

// InformationalRecord is a WARNING_RECORD, VERBOSE_RECORD or DEBUG_RECORD
// (MS-PSRP §2.2.2.22-24; Kind says which).
type InformationalRecord struct {
	Kind    MessageType
	Message string
}

// MessageType implements Body.
func (m InformationalRecord) MessageType() MessageType { return m.Kind }

var informationalTypes = map[MessageType]string{
	MsgWarningRecord: "System.Management.Automation.WarningRecord",
	MsgVerboseRecord: "System.Management.Automation.VerboseRecord",
	MsgDebugRecord:   "System.Management.Automation.DebugRecord",
}

func (m InformationalRecord) value() (Value, error) {
	tn, ok := informationalTypes[m.Kind]
	if !ok {
		return nil, fmt.Errorf("psrp: an informational record is a warning, verbose or debug record, not %s", m.Kind)
	}
	return &Object{
		TypeNames: []string{tn, "System.Management.Automation.InformationalRecord", "System.Object"},
		ToString:  m.Message,
		Extended: []Property{
			{"InformationalRecord_Message", m.Message},
			{"InformationalRecord_SerializeInvocationInfo", false},
		},
	}, nil
}

func decodeInformational(t MessageType, v Value) (Body, error) {
	if s, ok := v.(string); ok {
		return InformationalRecord{Kind: t, Message: s}, nil
	}
	o, err := asObject(v, t.String())
	if err != nil {
		return nil, err
	}
	p := props{o: o, what: t.String()}
	msg := p.str("InformationalRecord_Message", false)
	if msg == "" {
		msg = o.ToString
	}
	return InformationalRecord{Kind: t, Message: msg}, p.err
}

// PublicKey is PUBLIC_KEY: the client's CAPI PUBLICKEYBLOB (MS-PSRP §2.2.2.3).
type PublicKey struct{ Blob []byte }

// MessageType implements Body.
func (PublicKey) MessageType() MessageType { return MsgPublicKey }
func (m PublicKey) value() (Value, error) {
	return propertyBag(Property{"PublicKey", base64.StdEncoding.EncodeToString(m.Blob)}), nil
}

// EncryptedSessionKey is ENCRYPTED_SESSION_KEY: the session key as a CAPI
// SIMPLEBLOB (MS-PSRP §2.2.2.4).
type EncryptedSessionKey struct{ Blob []byte }

// MessageType implements Body.
func (EncryptedSessionKey) MessageType() MessageType { return MsgEncryptedSessionKey }
func (m EncryptedSessionKey) value() (Value, error) {
	return propertyBag(Property{"EncryptedSessionKey", base64.StdEncoding.EncodeToString(m.Blob)}), nil
}

// PublicKeyRequest is PUBLIC_KEY_REQUEST: the server asks the client to
// start the key exchange.
type PublicKeyRequest struct{}

// MessageType implements Body.
func (PublicKeyRequest) MessageType() MessageType { return MsgPublicKeyRequest }
func (PublicKeyRequest) value() (Value, error)    { return "", nil }

func decodeKeyBlob(v Value, name string) ([]byte, error) {
	o, err := asObject(v, name)
	if err != nil {
		return nil, err
	}
	p := props{o: o, what: name}
	s := p.str(name, true)
	if p.err != nil {
		return nil, p.err
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("psrp: %s is not base64: %w", name, err)
	}
	return b, nil
}
