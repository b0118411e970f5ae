package dnsupdate

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// InternalRequest asks the internal DNS server (internal_dns.server) what
// internal clients get for each name.
type InternalRequest struct {
	// Server is "host:port" or "host" (port 53).
	Server string
	// Names are the names to resolve (the internal and the autodiscover name).
	Names []string
	// Addresses are the IPv4 addresses every name must resolve to, exactly
	// (internal_dns.addresses).
	Addresses []string
	// Timeout bounds each query (default 5 s).
	Timeout time.Duration
}

// NameResult is what the internal server answered for one name.
type NameResult struct {
	// Name is the name asked.
	Name string `json:"name"`
	// Chain is the CNAME chain followed, if any.
	Chain []string `json:"chain,omitempty"`
	// Addresses are the A records at the end of the chain, sorted.
	Addresses []string `json:"addresses,omitempty"`
	// Problem says what is wrong; empty when the name is as expected.
	Problem string `json:"problem,omitempty"`
}

// InternalReport is the verdict of ResolveInternal.
type InternalReport struct {
	Server   string       `json:"server"`
	Results  []NameResult `json:"results"`
	Evidence []string     `json:"evidence,omitempty"`
}

// OK reports whether every name resolved exactly to the expected addresses.
func (r InternalReport) OK() bool {
	if len(r.Results) == 0 {
		return false
	}
	for _, n := range r.Results {
		if n.Problem != "" {
			return false
		}
	}
	return true
}

// Problems lists "name: problem" for every name that is not as expected.
func (r InternalReport) Problems() []string {
	var out []string
	for _, n := range r.Results {
		if n.Problem != "" {
			out = append(out, n.Name+": "+n.Problem)
		}
	}
	return out
}

// ResolveInternal resolves each name's A records at the internal DNS
// server (recursion desired, as a client asks), following CNAMEs in the
// answer, and compares them with the expected addresses as a set.
func ResolveInternal(ctx context.Context, req InternalRequest) InternalReport {
	server := withPort(req.Server, "53")
	rep := InternalReport{Server: server}
	var want []string
	for _, a := range req.Addresses {
		ip, err := CheckIPv4(a)
		if err != nil {
			rep.Results = append(rep.Results, NameResult{Name: "internal_dns.addresses", Problem: err.Error()})
			return rep
		}
		want = append(want, ip)
	}
	sort.Strings(want)
	if len(want) == 0 {
		rep.Results = append(rep.Results, NameResult{Name: "internal_dns.addresses", Problem: "no expected addresses configured"})
		return rep
	}
	c := &Client{Server: server, Timeout: req.Timeout}
	for _, name := range req.Names {
		res := NameResult{Name: dns.CanonicalName(name)}
		m := new(dns.Msg)
		m.SetQuestion(res.Name, dns.TypeA)
		m.RecursionDesired = true
		m.SetEdns0(1232, false)
		r, _, err := c.exchange(ctx, m, "udp", false)
		if err == nil && r != nil && r.Truncated {
			r, _, err = c.exchange(ctx, m, "tcp", false)
		}
		if err != nil || r == nil {
			if err == nil {
				err = fmt.Errorf("no answer")
			}
			res.Problem = fmt.Sprintf("no answer from %s: %v", server, err)
			rep.Evidence = append(rep.Evidence, fmt.Sprintf("; @%s %s A: %v", server, res.Name, err))
			rep.Results = append(rep.Results, res)
			continue
		}
		rep.Evidence = append(rep.Evidence, fmt.Sprintf("; @%s %s A: status %s, flags %s", server, res.Name, rcodeName(r.Rcode), flags(r)))
		for _, rr := range r.Answer {
			rep.Evidence = append(rep.Evidence, strings.Join(strings.Fields(rr.String()), "\t"))
		}
		owner := res.Name
		for hops := 0; hops < 8; hops++ {
			next := ""
			for _, rr := range r.Answer {
				if cn, ok := rr.(*dns.CNAME); ok && strings.EqualFold(cn.Hdr.Name, owner) {
					next = dns.CanonicalName(cn.Target)
				}
			}
			if next == "" {
				break
			}
			res.Chain = append(res.Chain, next)
			owner = next
		}
		for _, rr := range r.Answer {
			if a, ok := rr.(*dns.A); ok && strings.EqualFold(a.Hdr.Name, owner) {
				if ip, ok := netip.AddrFromSlice(a.A.To4()); ok {
					res.Addresses = append(res.Addresses, ip.String())
				}
			}
		}
		sort.Strings(res.Addresses)
		res.Addresses = dedup(res.Addresses)
		switch {
		case r.Rcode != dns.RcodeSuccess:
			res.Problem = fmt.Sprintf("%s answered %s; want %s", server, rcodeName(r.Rcode), strings.Join(want, ", "))
		case strings.Join(res.Addresses, ",") != strings.Join(want, ","):
			got := "(none)"
			if len(res.Addresses) > 0 {
				got = strings.Join(res.Addresses, ", ")
			}
			res.Problem = fmt.Sprintf("resolves to %s; want %s", got, strings.Join(want, ", "))
		}
		rep.Results = append(rep.Results, res)
	}
	return rep
}

func dedup(s []string) []string {
	w := 0
	for i, v := range s {
		if i == 0 || v != s[w-1] {
			s[w] = v
			w++
		}
	}
	return s[:w]
}
