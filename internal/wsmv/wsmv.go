// Package wsmv names the XML namespaces and actions of WS-Management as
// Windows Remote Management speaks it (DMTF DSP0226 and MS-WSMV 2.2.1):
// the vocabulary that the client (internal/wsman) and the lab's server
// (internal/lab/wsman) share. It holds names only, no behaviour, so the
// lab may import it as it imports the other protocol codecs.
package wsmv

// Namespaces.
const (
	NSSOAP       = "http://www.w3.org/2003/05/soap-envelope"
	NSAddressing = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	NSWSMan      = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	NSMSWSMan    = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
	NSShell      = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
	NSTransfer   = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
	NSFault      = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
	// NSPowerShell is the namespace of a PowerShell shell's creationXml
	// (MS-PSRP 3.1.5.3.1).
	NSPowerShell = "http://schemas.microsoft.com/powershell"
	// AddrAnonymous is the anonymous ReplyTo address.
	AddrAnonymous = NSAddressing + "/role/anonymous"
)

// Actions.
const (
	ActionCreate  = NSTransfer + "/Create"
	ActionDelete  = NSTransfer + "/Delete"
	ActionCommand = NSShell + "/Command"
	ActionSend    = NSShell + "/Send"
	ActionReceive = NSShell + "/Receive"
	ActionSignal  = NSShell + "/Signal"
)

// CommandStateDone is a command's state once it has ended.
const CommandStateDone = NSShell + "/CommandState/Done"
