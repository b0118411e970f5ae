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
package psrp
