// Package archtest holds no code, only a test of the import graph: it runs
// `go list -deps` over the module and fails when a package imports across
// a line the architecture draws.
//
//   - The transport, the Exchange layer, the allow-list logic, the checks
//     of the world and the contracts they share (wsman, psrp, exchange,
//     allowlist, checks, check, errkind) sit below the orchestrator: none
//     of them imports internal/engine. What crosses that line upwards is an
//     error kind (internal/errkind) or a check verdict (internal/check).
//   - The simulated lab (internal/lab/... and cmd/exlab) stands in for
//     Exchange, so it shares nothing with the orchestrator but the protocol
//     codecs both ends speak and the error kinds: a lab that imported the
//     client's code could agree with the client's mistakes.
//
// Only the packages' own imports count (what `go list -deps` reports),
// not their tests': an end-to-end test of the client may start the lab.
package archtest
