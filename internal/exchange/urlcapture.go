package exchange

import (
	"context"
	"errors"
	"strings"
)

// URLCapture is everything the external-urls step needs before it
// changes anything, read in ONE launch: the servers in scope (when the
// script resolved them), their virtual directories, Outlook Anywhere and
// SCP (as GetURLState reads them) and their Exchange certificates (as
// GetCertificates reads them), for the cross-server consistency check.
type URLCapture struct {
	// Servers is filled only when GetURLCapture resolved the scope with
	// Get-ExchangeServer; it is sorted by name, case-insensitively.
	Servers []Server
	URLState
	Certificates []Certificate
}

// namesSentinel stands for the server list in the read scripts' bodies;
// urlCaptureScript replaces its quoted form by $names.
const namesSentinel = "\x00names\x00"

func withNames(body string) string {
	return strings.ReplaceAll(body, quoteList([]string{namesSentinel}), "$names")
}

// urlCaptureScript is the servers read (when resolve), the three URL reads
// and the certificate read verbatim, over $names, ending in one
// ConvertTo-Json.
func urlCaptureScript(servers []string, resolve bool) string {
	var b strings.Builder
	writeCaptureScope(&b, servers, resolve)
	one := []string{namesSentinel}
	b.WriteString(withNames(bodyOf(vdirsScript(one))))
	b.WriteString("$vd = @($r)\n")
	b.WriteString(withNames(bodyOf(outlookAnywhereScript(one))))
	b.WriteString("$oa = @($r)\n")
	b.WriteString(withNames(bodyOf(clientAccessScript(one))))
	b.WriteString("$scp = @($r)\n")
	b.WriteString(withNames(bodyOf(certificatesScript(one))))
	b.WriteString("$certs = @($r)\n")
	b.WriteString("$state = [pscustomobject]@{ Servers = $sv; VDirs = $vd; OutlookAnywhere = $oa; SCP = $scp; Certificates = $certs }\n")
	b.WriteString(jsonOut("$state", 5))
	return b.String()
}

// GetURLCapture reads, in one script, the virtual directories, Outlook
// Anywhere, SCP and certificates of the servers. With resolve false,
// servers are the server names to read (at least one). With resolve true,
// servers are the configured names (empty: every server) and the script
// first resolves them with Get-ExchangeServer, as GetExchangeServers
// does, returning them in Servers; a name that does not resolve fails the
// operation.
func (c *Client) GetURLCapture(ctx context.Context, servers []string, resolve bool) (URLCapture, error) {
	const op = "GetURLCapture"
	var st URLCapture
	if len(servers) == 0 && !resolve {
		return st, &OpError{Op: op, Err: errors.New("no server given")}
	}
	if c.p != nil {
		return c.getURLCapture(ctx, op, servers, resolve)
	}
	out, err := c.run(ctx, op, urlCaptureScript(servers, resolve), "")
	if err != nil {
		return st, err
	}
	p, err := decodeParts(op, out)
	if err != nil {
		return st, err
	}
	if st.Servers, err = p.resolvedServers(resolve); err != nil {
		return st, err
	}
	if st.VDirs, st.OutlookAnywhere, st.SCP, err = p.urlLists(); err != nil {
		return st, err
	}
	s, err := p.list("Certificates")
	if err != nil {
		return st, err
	}
	if st.Certificates, err = decodeCertificates(op, s); err != nil {
		return st, err
	}
	return st, nil
}
