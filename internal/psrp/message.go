package psrp

import (
	"encoding/binary"
	"fmt"

	"github.com/google/uuid"
)

// Destination is who a message is for (MS-PSRP §2.2.1).
type Destination uint32

// The two destinations.
const (
	ToClient Destination = 1
	ToServer Destination = 2
)

// MessageType is a PSRP message type (MS-PSRP §2.2.1).
type MessageType uint32

// The message types of MS-PSRP §2.2.1.
const (
	MsgSessionCapability        MessageType = 0x00010002
	MsgInitRunspacePool         MessageType = 0x00010004
	MsgPublicKey                MessageType = 0x00010005
	MsgEncryptedSessionKey      MessageType = 0x00010006
	MsgPublicKeyRequest         MessageType = 0x00010007
	MsgConnectRunspacePool      MessageType = 0x00010008
	MsgRunspacePoolInitData     MessageType = 0x0002100B
	MsgResetRunspaceState       MessageType = 0x0002100C
	MsgSetMaxRunspaces          MessageType = 0x00021002
	MsgSetMinRunspaces          MessageType = 0x00021003
	MsgRunspaceAvailability     MessageType = 0x00021004
	MsgRunspacePoolState        MessageType = 0x00021005
	MsgCreatePipeline           MessageType = 0x00021006
	MsgGetAvailableRunspaces    MessageType = 0x00021007
	MsgUserEvent                MessageType = 0x00021008
	MsgApplicationPrivateData   MessageType = 0x00021009
	MsgGetCommandMetadata       MessageType = 0x0002100A
	MsgRunspacePoolHostCall     MessageType = 0x00021100
	MsgRunspacePoolHostResponse MessageType = 0x00021101
	MsgPipelineInput            MessageType = 0x00041002
	MsgEndOfPipelineInput       MessageType = 0x00041003
	MsgPipelineOutput           MessageType = 0x00041004
	MsgErrorRecord              MessageType = 0x00041005
	MsgPipelineState            MessageType = 0x00041006
	MsgDebugRecord              MessageType = 0x00041007
	MsgVerboseRecord            MessageType = 0x00041008
	MsgWarningRecord            MessageType = 0x00041009
	MsgProgressRecord           MessageType = 0x00041010
	MsgInformationRecord        MessageType = 0x00041011
	MsgPipelineHostCall         MessageType = 0x00041100
	MsgPipelineHostResponse     MessageType = 0x00041101
)

var messageTypeNames = map[MessageType]string{
	MsgSessionCapability:        "SESSION_CAPABILITY",
	MsgInitRunspacePool:         "INIT_RUNSPACEPOOL",
	MsgPublicKey:                "PUBLIC_KEY",
	MsgEncryptedSessionKey:      "ENCRYPTED_SESSION_KEY",
	MsgPublicKeyRequest:         "PUBLIC_KEY_REQUEST",
	MsgConnectRunspacePool:      "CONNECT_RUNSPACEPOOL",
	MsgRunspacePoolInitData:     "RUNSPACEPOOL_INIT_DATA",
	MsgResetRunspaceState:       "RESET_RUNSPACE_STATE",
	MsgSetMaxRunspaces:          "SET_MAX_RUNSPACES",
	MsgSetMinRunspaces:          "SET_MIN_RUNSPACES",
	MsgRunspaceAvailability:     "RUNSPACE_AVAILABILITY",
	MsgRunspacePoolState:        "RUNSPACEPOOL_STATE",
	MsgCreatePipeline:           "CREATE_PIPELINE",
	MsgGetAvailableRunspaces:    "GET_AVAILABLE_RUNSPACES",
	MsgUserEvent:                "USER_EVENT",
	MsgApplicationPrivateData:   "APPLICATION_PRIVATE_DATA",
	MsgGetCommandMetadata:       "GET_COMMAND_METADATA",
	MsgRunspacePoolHostCall:     "RUNSPACEPOOL_HOST_CALL",
	MsgRunspacePoolHostResponse: "RUNSPACEPOOL_HOST_RESPONSE",
	MsgPipelineInput:            "PIPELINE_INPUT",
	MsgEndOfPipelineInput:       "END_OF_PIPELINE_INPUT",
	MsgPipelineOutput:           "PIPELINE_OUTPUT",
	MsgErrorRecord:              "ERROR_RECORD",
	MsgPipelineState:            "PIPELINE_STATE",
	MsgDebugRecord:              "DEBUG_RECORD",
	MsgVerboseRecord:            "VERBOSE_RECORD",
	MsgWarningRecord:            "WARNING_RECORD",
	MsgProgressRecord:           "PROGRESS_RECORD",
	MsgInformationRecord:        "INFORMATION_RECORD",
	MsgPipelineHostCall:         "PIPELINE_HOST_CALL",
	MsgPipelineHostResponse:     "PIPELINE_HOST_RESPONSE",
}

// String returns the spec's name of the type, or its hex value.
func (t MessageType) String() string {
	if n, ok := messageTypeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("0x%08X", uint32(t))
}

// Known reports whether t is one of the message types of MS-PSRP §2.2.1.
func (t MessageType) Known() bool {
	_, ok := messageTypeNames[t]
	return ok
}

// MessageHeaderLen is the size of a message header (MS-PSRP §2.2.1).
const MessageHeaderLen = 40

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Message is one PSRP message: the header of MS-PSRP §2.2.1 and its data,
// UTF-8 CLIXML (empty for END_OF_PIPELINE_INPUT).
type Message struct {
	Destination Destination
	Type        MessageType
	// RPID is the runspace pool's id, PID the pipeline's (uuid.Nil for a
	// message of the pool).
	RPID uuid.UUID
	PID  uuid.UUID
	Data []byte
}

// Marshal returns the message's bytes: the header, the GUIDs in .NET byte
// order, then Data.
func (m Message) Marshal() []byte {
	b := make([]byte, MessageHeaderLen, MessageHeaderLen+len(m.Data))
	binary.LittleEndian.PutUint32(b[0:], uint32(m.Destination))
	binary.LittleEndian.PutUint32(b[4:], uint32(m.Type))
	putGUID(b[8:24], m.RPID)
	putGUID(b[24:40], m.PID)
	return append(b, m.Data...)
}

// ParseMessage reads a message from b (one reassembled fragment blob).
// A UTF-8 byte order mark before the data is dropped. Data aliases b.
// The message type is not checked: ParseMessage reads any type, and the
// caller says what it does with types it does not know.
func ParseMessage(b []byte) (Message, error) {
	if len(b) < MessageHeaderLen {
		return Message{}, fmt.Errorf("psrp: message of %d bytes is shorter than its %d-byte header", len(b), MessageHeaderLen)
	}
	m := Message{
		Destination: Destination(binary.LittleEndian.Uint32(b[0:])),
		Type:        MessageType(binary.LittleEndian.Uint32(b[4:])),
		RPID:        getGUID(b[8:24]),
		PID:         getGUID(b[24:40]),
		Data:        b[MessageHeaderLen:],
	}
	if m.Destination != ToClient && m.Destination != ToServer {
		return Message{}, fmt.Errorf("psrp: message destination %d, want 1 (client) or 2 (server)", m.Destination)
	}
	if len(m.Data) >= 3 && m.Data[0] == utf8BOM[0] && m.Data[1] == utf8BOM[1] && m.Data[2] == utf8BOM[2] {
		m.Data = m.Data[3:]
	}
	return m, nil
}

// putGUID writes u in the byte order of .NET's Guid.ToByteArray: the first
// three groups little-endian, the last eight bytes as they are.
func putGUID(dst []byte, u uuid.UUID) {
	dst[0], dst[1], dst[2], dst[3] = u[3], u[2], u[1], u[0]
	dst[4], dst[5] = u[5], u[4]
	dst[6], dst[7] = u[7], u[6]
	copy(dst[8:16], u[8:16])
}

func getGUID(src []byte) uuid.UUID {
	var u uuid.UUID
	u[0], u[1], u[2], u[3] = src[3], src[2], src[1], src[0]
	u[4], u[5] = src[5], src[4]
	u[6], u[7] = src[7], src[6]
	copy(u[8:16], src[8:16])
	return u
}
