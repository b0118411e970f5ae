// Package acme obtains certificates from an ACME CA (RFC 8555) for the
// certificate step's acme mode and for `exrunbook certificate renew`: an
// account whose key is kept in the state directory (mode 0600), external
// account binding for commercial CAs, one order for the Exchange names,
// DNS-01 challenges written through a TXTWriter and checked on every
// authoritative nameserver before the CA is asked to validate, the
// challenge records removed afterwards (also after a failure), an RSA key,
// and a PFX in the legacy encoding every supported Windows Server reads.
// It also reads the CA's renewal information (ARI, RFC 9773).
//
// The protocol is golang.org/x/crypto/acme; what this package reads from
// the CA itself (the directory's renewalInfo URL, the ARI answer, the
// certificate chain) it parses and checks here.
package acme
