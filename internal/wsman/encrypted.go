package wsman

import "github.com/exrunbook/exrunbook/internal/kerberos"

// The protocol strings of WinRM message encryption (MS-WSMV 2.2.9.1.1.1,
// 2.2.9.1.2.1). The
// multipart/encrypted framing itself (MS-WSMV 2.2.9.1.1.2.2) is
// internal/kerberos's, shared with the lab's server.
const (
	ProtocolSPNEGO   = kerberos.ProtocolSPNEGO
	ProtocolKerberos = kerberos.ProtocolKerberos
)

// IsEncrypted reports whether a Content-Type announces WinRM message
// encryption.
func IsEncrypted(contentType string) bool { return kerberos.IsEncrypted(contentType) }

// soapContentType is the Content-Type of a plain SOAP 1.2 message.
const soapContentType = kerberos.SOAPContentType
