// Package psrp is PowerShell remoting (MS-PSRP) as exrunbook needs it to
// talk to the Exchange endpoint (http(s)://SERVER/PowerShell/, configuration
// Microsoft.Exchange): the message header, fragmenting and reassembly,
// CLIXML both ways, the messages of a runspace pool and its pipelines, the
// session-key exchange for SecureString values, and a client runspace pool
// that runs command pipelines over a Transport (internal/wsman provides
// one).
//
// The codec is shared by the client and by the lab's server
// (internal/lab), which is why it imports nothing of the orchestrator.
//
// # Values
//
// A Value is one of the Go types below; each maps to one CLIXML element
// (MS-PSRP §2.2.5):
//
//	nil            <Nil/>
//	bool           <B>
//	string         <S>      (with _xHHHH_ escaping)
//	int8 / uint8   <SB> / <By>
//	int16 / uint16 <I16> / <U16>
//	int32 / uint32 <I32> / <U32>
//	int64 / uint64 <I64> / <U64>
//	float32        <Sg>
//	float64        <Db>
//	Decimal        <D>
//	Char           <C>
//	time.Time      <DT>
//	time.Duration  <TS>
//	uuid.UUID      <G>
//	[]byte         <BA>
//	Version        <Version>
//	URI            <URI>
//	XMLDocument    <XD>
//	ScriptBlock    <SBK>
//	*SecureString  <SS>     (encrypted with the session key)
//	*Object        <Obj>    (type names, ToString, properties, and lists,
//	                         dictionaries or a wrapped primitive)
//
// The encoder also takes a Go int (as <I32>, or <I64> when it does not
// fit); the decoder never returns one. A <DT> without a zone suffix decodes
// into UnspecifiedZone and is written back without one; time.UTC is "Z".
//
// # Layers
//
//   - Message, ParseMessage and the MessageType constants: the 40-byte
//     header of MS-PSRP §2.2.1.
//   - Fragment (with an ObjectIDs allocator shared by a pool and its
//     pipelines) and Defragmenter: the 21-byte fragments of §2.2.4.
//   - Encoder/MarshalCLIXML and Decoder/UnmarshalCLIXML: CLIXML.
//   - Body, NewMessage, EncodeBody and DecodeBody: the typed messages
//     (SessionCapability, InitRunspacePool, CreatePipeline, PipelineState,
//     *ErrorRecord, …).
//   - KeyExchange (client), ParsePublicKeyBlob and EncryptedSessionKeyBlob
//     (server), SessionKey: the session key and SecureString (MS-PSRP
//     §2.2.2.3-§2.2.2.5, §2.2.5.1.24).
//   - Open, Pool, Invocation: the client runspace pool over a Transport.
package psrp
