// Package wsman is the WS-Management client that carries PSRP to
// Exchange's remote PowerShell endpoint, http(s)://SERVER/PowerShell/,
// configuration Microsoft.Exchange (MS-PSRP §3.1.5.3 over MS-WSMV). A
// *Client implements psrp.Transport: it builds the SOAP envelopes (Create
// with creationXml, Command, Send, Receive, Signal, Delete), base64s the
// PSRP fragments, parses the answers and turns SOAP faults into a
// *FaultError carrying the server's own words.
//
// Authentication is Basic (https only), NTLMv2 or Kerberos. NTLM and
// Kerberos security contexts belong to one TCP connection, and pipelines
// of one pool run concurrently, so the client keeps a small pool of
// authenticated connections, each with its own context and (over http)
// its own message encryption and sequence numbers, and sends one request
// at a time on each. Over plain http every message is sealed
// (multipart/encrypted, MS-WSMV 2.2.9.1) by the connection's Sealer; over
// https TLS protects it. TLS is always verified (system roots plus
// Config.CAFile).
//
// Errors: *HTTPError (a non-200 answer without a SOAP fault), *FaultError
// (a WS-Management fault), *AuthError (credentials refused), *TLSError
// (certificate verification failed). HTTP 5xx, dropped or refused
// connections, timeouts and Exchange's throttling texts are marked
// errkind.Transient; everything else is permanent.
//
// Retries. The client retries, with capped exponential backoff and
// jitter, only operations that cannot run anything twice:
//   - Create, because until the server answers with a ShellId no shell
//     exists that a PSRP message could have reached. The shell's id is
//     the pool's own (client-chosen), so when a Create's answer was lost
//     after the server acted, the retry is refused as "already exists"
//     for our id, and the client adopts that shell;
//   - Receive, because asking again runs nothing on the server. Output in
//     an answer that was lost on the way (the connection dropped after the
//     server sent it) is lost either way; asking again is the only way on,
//     and the PSRP layer's fragment and object ids let it notice a gap;
//   - Signal and Delete, which are idempotent on the server.
//
// Command and Send are never retried after the request may have reached
// the server: a CREATE_PIPELINE or a PIPELINE_INPUT delivered twice runs
// a cmdlet twice or feeds an identity twice. They are retried only when
// the request provably did not arrive: the dial failed, or the server
// answered 401 on a connection it had dropped (refused unread). Their
// other failures go up, marked transient when they are, and the caller
// (which owns idempotence of whole pipelines) decides.
package wsman
