package exchange

import (
	"context"
	"errors"
	"strings"
)

// CertCapture is what bind-certificate reads before and after it changes
// anything, in ONE launch: the servers in scope (when the script resolved
// them), their Exchange certificates (as GetCertificates reads them) and,
// when asked, the POP and IMAP certificate names (as GetPopImapSettings
// reads them).
type CertCapture struct {
	// Servers is filled only when GetCertCapture resolved the scope with
	// Get-ExchangeServer; it is sorted by name, case-insensitively.
	Servers      []Server
	Certificates []Certificate
	// PopImap is filled only when asked for, one per server in order.
	PopImap []PopImapSettings
}

// certCaptureScript is the servers read (when resolve), the certificate
// read and, with popImap, the POP/IMAP read verbatim over $names, ending
// in one ConvertTo-Json.
func certCaptureScript(servers []string, resolve, popImap bool) string {
	var b strings.Builder
	writeCaptureScope(&b, servers, resolve)
	one := []string{namesSentinel}
	b.WriteString(withNames(bodyOf(certificatesScript(one))))
	b.WriteString("$certs = @($r)\n")
	if popImap {
		b.WriteString(withNames(bodyOf(popImapScript(one))))
		b.WriteString("$pi = @($r)\n")
	} else {
		b.WriteString("$pi = @()\n")
	}
	b.WriteString("$state = [pscustomobject]@{ Servers = $sv; Certificates = $certs; PopImap = $pi }\n")
	b.WriteString(jsonOut("$state", 5))
	return b.String()
}

// GetCertCapture reads, in one script, the certificates of the servers
// and, with popImap, their POP and IMAP certificate names. With resolve
// false, servers are the server names to read (at least one). With
// resolve true, servers are the configured names (empty: every server)
// and the script first resolves them with Get-ExchangeServer, returning
// them in Servers; a name that does not resolve fails the operation.
func (c *Client) GetCertCapture(ctx context.Context, servers []string, resolve, popImap bool) (CertCapture, error) {
	const op = "GetCertCapture"
	var st CertCapture
	if len(servers) == 0 && !resolve {
		return st, &OpError{Op: op, Err: errors.New("no server given")}
	}
	if c.p != nil {
		return c.getCertCapture(ctx, op, servers, resolve, popImap)
	}
	out, err := c.run(ctx, op, certCaptureScript(servers, resolve, popImap), "")
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
	s, err := p.list("Certificates")
	if err != nil {
		return st, err
	}
	if st.Certificates, err = decodeCertificates(op, s); err != nil {
		return st, err
	}
	if s, err = p.list("PopImap"); err != nil {
		return st, err
	}
	if st.PopImap, err = decodeList[PopImapSettings](op, s, append(req("Server"), opt("Pop", "Imap")...)); err != nil {
		return st, err
	}
	n := len(servers)
	if resolve {
		n = len(st.Servers)
	}
	if !popImap && len(st.PopImap) > 0 {
		return st, badOutput(op, "POP/IMAP settings returned although none were asked for")
	}
	if popImap && len(st.PopImap) != n {
		return st, badOutput(op, "%d POP/IMAP results for %d servers", len(st.PopImap), n)
	}
	return st, nil
}
