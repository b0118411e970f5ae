// Package kerberos is the Kerberos half of WinRM/PSRP over http://: the
// initiator (client) and acceptor (service) sides of the SPNEGO or raw
// Kerberos HTTP handshake with mutual authentication (RFC 4559, RFC 4121
// §4.1, RFC 4120 AP-REQ/AP-REP), the per-connection security Context that
// seals and opens WinRM message bodies with RFC 4121 "CFX" wrap tokens
// (confidentiality, key usages 22/24, EC=0 and RRC=28 as Windows sends
// them), and the multipart/encrypted body framing of MS-WSMV 2.2.9.1.
//
// It is a protocol codec shared by the WS-Management client and the lab's
// server, so it imports no orchestrator package; gokrb5 provides the
// ticket exchanges and the RFC 3961 crypto, this package what gokrb5 lacks
// (AP-REP on both sides, sealed wrap tokens). Sources: RFC 4121, RFC 4120
// §5.5, RFC 3961/3962, MS-KILE 3.1.1.2 and 3.4.5.4.1, MS-WSMV 2.2.9.1, and
// the WinRM framing as pypsrp, pywinrm and masterzen/winrm write it.
//
// Sequence numbers: each direction of a Context counts its tokens from the
// number agreed in the handshake (the authenticator's for the initiator,
// the AP-REP's for the acceptor). WinRM over http is strict
// request/response on one connection, so Unwrap is strict too: a token
// whose SND_SEQ is not exactly the next expected one is refused as a
// replay (lower) or a gap (higher), and the context's receive counter does
// not move, so a forged or replayed token cannot desynchronise it.
//
// # Client (the WS-Management transport)
//
// Once per process: creds, err := NewCredentials(Config{...}) (password,
// else keytab, else the kinit ticket cache; krb5.conf from Krb5ConfFile,
// KRB5_CONFIG or /etc/krb5.conf). Per TCP connection:
// in, err := creds.NewInitiator(spn, SchemeNegotiate) with spn from
// exchange.kerberos.spn or SPNForURL(endpoint). On the 401,
// in.Offered(its WWW-Authenticate values) switches to the Kerberos scheme
// when the server offers only that (Exchange with Negotiate disabled); then
// tok, _ := in.Step(nil) goes out as AuthHeader(scheme, tok) on an empty
// POST, and the token of WWW-Authenticate on the 200 (TokenFromHeader) goes
// to in.Step(reply), which verifies the AP-REP. in.Context() then seals:
// its WrapMessage/UnwrapMessage are the split header/data form WinRM
// frames, with in.Protocol() as the multipart protocol string
// (SealBody/OpenBody, or the transport's own framing).
//
// # Server (the lab)
//
// acc, err := NewAcceptor(AcceptorConfig{KeytabFile: ..., SPN: ...}); per
// authenticating request: a, wwwAuth, ok, err := acc.AcceptRequest(r):
// set WWW-Authenticate to wwwAuth, answer 401 on err, else 200 and keep
// a.Context for that connection (a.Client names the user, e.g.
// "alice@LAB.TEST"); OpenBody/SealBody with the request scheme's Protocol.
//
// Errors are *Error with a Kind and the configuration key to fix; a KDC
// that cannot be reached is also errkind.Transient.
package kerberos
