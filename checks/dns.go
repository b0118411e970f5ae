package checks

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/internal/check"
	"github.com/exrunbook/exrunbook/internal/dnsupdate"
)

var (
	_ check.Check = PublicRecordsCheck{}
	_ check.Check = InternalResolutionCheck{}
)

// PublicRecordsCheck passes when every authoritative nameserver of the
// public zone answers authoritatively (AA) with the expected RRsets and
// all serve the same, newest SOA serial. Its message names the servers
// that lag or answer wrongly; its evidence is every server's answers.
type PublicRecordsCheck struct {
	// CheckName is the check's name (default "public DNS records").
	CheckName string
	// Client reaches the zone's primary (for the NS records and the
	// reference serial).
	Client *dnsupdate.Client
	// Request is what to verify (nameservers, expected RRsets).
	Request dnsupdate.VerifyRequest
}

// Name is the check's name.
func (c PublicRecordsCheck) Name() string {
	return nameOr(c.CheckName, "public DNS records")
}

// Run asks every nameserver and reports the verdict.
func (c PublicRecordsCheck) Run(ctx context.Context, env check.Env) check.Result {
	res := check.Result{Name: c.Name()}
	if c.Client == nil {
		res.Status, res.Message = check.Fail, "no public DNS client configured (public_dns)"
		return res
	}
	rep := c.Client.Verify(ctx, c.Request)
	res.Evidence = rep.Evidence()
	if rep.OK() {
		res.Status = check.Pass
		res.Message = rep.Summary()
		return res
	}
	res.Status = check.Fail
	if rep.Err != "" || len(rep.Servers) == 0 {
		res.Message = rep.Summary()
		return res
	}
	var parts []string
	if lag := rep.Lagging(); len(lag) > 0 {
		parts = append(parts, fmt.Sprintf("lagging behind serial %d: %s", rep.Serial, strings.Join(lag, ", ")))
	}
	parts = append(parts, rep.Failing()...)
	res.Message = fmt.Sprintf("%d of %d nameservers of %s are not as expected: %s", len(rep.Failing()), len(rep.Servers), rep.Zone, strings.Join(parts, " | "))
	return res
}

// InternalResolutionCheck passes when the internal DNS server
// (internal_dns.server) resolves every name (the internal and the
// autodiscover name) to exactly the configured internal addresses.
type InternalResolutionCheck struct {
	// CheckName is the check's name (default "internal DNS resolution").
	CheckName string
	// Server is internal_dns.server, "host:port" or "host".
	Server string
	// Names are the names internal clients use.
	Names []string
	// Addresses are internal_dns.addresses.
	Addresses []string
	// Timeout bounds each query (default 5 s).
	Timeout time.Duration
}

// Name is the check's name.
func (c InternalResolutionCheck) Name() string {
	return nameOr(c.CheckName, "internal DNS resolution")
}

// Run resolves every name and reports the verdict.
func (c InternalResolutionCheck) Run(ctx context.Context, env check.Env) check.Result {
	res := check.Result{Name: c.Name()}
	if len(c.Names) == 0 {
		res.Status, res.Message = check.Fail, "no names to resolve"
		return res
	}
	rep := dnsupdate.ResolveInternal(ctx, dnsupdate.InternalRequest{Server: c.Server, Names: c.Names, Addresses: c.Addresses, Timeout: c.Timeout})
	res.Evidence = rep.Evidence
	if rep.OK() {
		var names []string
		for _, r := range rep.Results {
			names = append(names, r.Name)
		}
		res.Status = check.Pass
		res.Message = fmt.Sprintf("%s resolve to %s at %s", strings.Join(names, ", "), strings.Join(rep.Results[0].Addresses, ", "), rep.Server)
		return res
	}
	res.Status = check.Fail
	res.Message = fmt.Sprintf("internal DNS at %s: %s", rep.Server, strings.Join(rep.Problems(), "; "))
	return res
}
