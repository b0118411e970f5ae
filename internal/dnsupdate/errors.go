package dnsupdate

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// ServerError is a DNS server's refusal or failure, explained: what went
// wrong and what to do about it.
type ServerError struct {
	// Op is "update" or "query".
	Op string
	// Server is where the message went (host:port).
	Server string
	// Zone is the zone the message was about.
	Zone string
	// Key is the TSIG key's name ("" when unsigned).
	Key string
	// Rcode is the response code (dns.RcodeRefused, ...).
	Rcode int
	// TSIGError is the TSIG error of the response (dns.RcodeBadSig, ...), 0 if none.
	TSIGError uint16
	// ServerTime is the server's clock on BADTIME, when it sent it.
	ServerTime time.Time
	// LocalTime is this machine's clock when the request was signed (BADTIME).
	LocalTime time.Time
	// Attempts is how many times the message was sent.
	Attempts int
	// Detail is a further explanation, e.g. a failed signature check.
	Detail string
}

// Error names the failure and the fix.
func (e *ServerError) Error() string {
	what := fmt.Sprintf("%s to %s for zone %s: ", e.Op, e.Server, e.Zone)
	key := e.Key
	switch {
	case e.TSIGError == dns.RcodeBadSig || e.TSIGError == dns.RcodeBadKey:
		return what + fmt.Sprintf("the server rejected the TSIG key '%s' (%s): check public_dns.tsig.name/algorithm and the secret", key, rcodeName(int(e.TSIGError)))
	case e.TSIGError == dns.RcodeBadTime:
		msg := what + fmt.Sprintf("the server rejected the TSIG signature's time (BADTIME): the clocks of this machine and the server differ by more than the allowed 300 s; this machine's time was %s", e.LocalTime.UTC().Format(time.RFC3339))
		if !e.ServerTime.IsZero() {
			skew := e.LocalTime.Sub(e.ServerTime).Round(time.Second)
			dir := "ahead of"
			if skew < 0 {
				skew, dir = -skew, "behind"
			}
			msg += fmt.Sprintf(", the server's %s (this machine is %s %s the server)", e.ServerTime.UTC().Format(time.RFC3339), skew, dir)
		}
		return msg + ": synchronise the clocks (NTP)"
	case e.TSIGError == dns.RcodeBadAlg:
		return what + fmt.Sprintf("the server does not accept the TSIG algorithm of key '%s' (BADALG): check public_dns.tsig.algorithm", key)
	case e.TSIGError != 0:
		return what + fmt.Sprintf("the server rejected the TSIG signature of key '%s' (%s): check public_dns.tsig", key, rcodeName(int(e.TSIGError)))
	}
	switch e.Rcode {
	case dns.RcodeSuccess:
		return what + e.Detail
	case dns.RcodeNotAuth:
		if e.Key != "" && e.Op == "update" {
			return what + fmt.Sprintf("the server answered NOTAUTH: it is not authoritative for %s, or it rejected the TSIG key '%s'; check public_dns.server (the zone's primary), public_dns.zone and public_dns.tsig", e.Zone, key)
		}
		return what + fmt.Sprintf("the server is not authoritative for %s (NOTAUTH): public_dns.server must be the zone's primary and public_dns.zone the zone's name", e.Zone)
	case dns.RcodeRefused:
		if e.Op == "update" {
			if key == "" {
				return what + fmt.Sprintf("the server refused the update (REFUSED): is an unsigned update allowed to change zone %s? Configure public_dns.tsig", e.Zone)
			}
			return what + fmt.Sprintf("the server refused the update (REFUSED): is the key '%s' allowed to update zone %s (BIND: allow-update or update-policy)? Is public_dns.server the primary?", key, e.Zone)
		}
		return what + fmt.Sprintf("the server refused the query (REFUSED): is it authoritative for %s, and does it allow queries from this machine?", e.Zone)
	case dns.RcodeNotZone:
		return what + fmt.Sprintf("a record in the %s is outside zone %s (NOTZONE): check public_dns.zone and the names in namespace", e.Op, e.Zone)
	case dns.RcodeServerFailure:
		return what + fmt.Sprintf("the server failed (SERVFAIL) %d time(s) in a row: check its logs (is the zone loaded?)", e.Attempts)
	case dns.RcodeFormatError:
		return what + fmt.Sprintf("the server could not parse the %s (FORMERR)%s", e.Op, detail(e.Detail))
	case dns.RcodeNotImplemented:
		return what + fmt.Sprintf("the server does not implement this %s (NOTIMP): it does not take RFC 2136 dynamic updates; use public_dns.mode: manual", e.Op)
	}
	return what + fmt.Sprintf("the server answered %s%s", rcodeName(e.Rcode), detail(e.Detail))
}

func detail(d string) string {
	if d == "" {
		return ""
	}
	return ": " + d
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rc)
}

// isPrereqFailure reports whether rc is a failed RFC 2136 prerequisite.
func isPrereqFailure(rc int) bool {
	switch rc {
	case dns.RcodeNXRrset, dns.RcodeYXRrset, dns.RcodeNameError, dns.RcodeYXDomain:
		return true
	}
	return false
}

// Conflict is one RRset that differs from what the plan expected.
type Conflict struct {
	// Expected is the RRset as the plan saw it (no Data: must not exist).
	Expected RRset `json:"expected"`
	// Current is the RRset as the primary serves it now.
	Current RRset `json:"current"`
}

// ConflictError is a failed prerequisite: a record changed since the plan,
// so the server applied nothing.
type ConflictError struct {
	// Zone is the zone updated.
	Zone string
	// Rcode is the server's answer (NXRRSET, YXRRSET, NXDOMAIN, YXDOMAIN).
	Rcode int
	// Conflicts are the RRsets whose current value differs from the plan.
	Conflicts []Conflict
	// QueryErr is set when the current values could not be read.
	QueryErr error
}

// Error lists every conflict with the planned and the current values.
func (e *ConflictError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the record changed since the plan (the server answered %s to the prerequisites, so nothing was changed)", rcodeName(e.Rcode))
	for _, c := range e.Conflicts {
		fmt.Fprintf(&b, "; %s %s: planned %s, now %s", c.Expected.Name, c.Expected.TypeString(), describe(c.Expected), describe(c.Current))
	}
	if e.QueryErr != nil {
		fmt.Fprintf(&b, "; the current values could not be read: %v", e.QueryErr)
	} else if len(e.Conflicts) == 0 {
		b.WriteString("; the records now match the plan again (changed and changed back?)")
	}
	b.WriteString(": review the current records and plan again")
	return b.String()
}

func describe(s RRset) string {
	if !s.Exists() {
		return "(none)"
	}
	return fmt.Sprintf("%s (TTL %d)", strings.Join(s.Data, ", "), s.TTL)
}

// ErrNoTSIG is returned by Update when no TSIG key is configured:
// exrunbook sends only signed updates.
var ErrNoTSIG = errors.New("no TSIG key configured (public_dns.tsig.name and the secret): exrunbook sends only TSIG-signed updates")
