package exchange

import (
	"context"
	"encoding/json"
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
	b.WriteString(scriptHeader)
	if resolve {
		b.WriteString(bodyOf(serversScript(servers)))
		b.WriteString("$sv = @($r | Sort-Object -Property Name)\n")
		b.WriteString("$names = @($sv | ForEach-Object { $_.Name })\n")
	} else {
		b.WriteString("$sv = @()\n")
		b.WriteString("$names = " + quoteList(servers) + "\n")
	}
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
	out, err := c.run(ctx, op, urlCaptureScript(servers, resolve), "")
	if err != nil {
		return st, err
	}
	var parts map[string]json.RawMessage
	raw := strings.TrimSpace(out)
	if raw == "" || raw[0] != '{' {
		return st, badOutput(op, "expected a JSON object: %s", snippet(raw))
	}
	if err := json.Unmarshal([]byte(raw), &parts); err != nil {
		return st, badOutput(op, "not a JSON object (%v): %s", err, snippet(raw))
	}
	list := func(name string) (string, error) {
		p, ok := parts[name]
		if !ok {
			return "", badOutput(op, "property %s is missing", name)
		}
		if s := strings.TrimSpace(string(p)); s != "null" {
			return s, nil
		}
		return "[]", nil // an empty pipeline
	}
	s, err := list("Servers")
	if err != nil {
		return st, err
	}
	if st.Servers, err = decodeList[Server](op, s, req("Name", "Fqdn", "Guid", "AdminDisplayVersion", "ServerRole")); err != nil {
		return st, err
	}
	if resolve && len(st.Servers) == 0 {
		return st, badOutput(op, "no Exchange server found")
	}
	if !resolve && len(st.Servers) > 0 {
		return st, badOutput(op, "servers returned although none were to be resolved")
	}
	if s, err = list("VDirs"); err != nil {
		return st, err
	}
	if st.VDirs, err = decodeList[VirtualDirectory](op, s, append(req("Kind", "Server", "Identity", "Guid", "IISAuthenticationMethods"), opt("InternalUrl", "ExternalUrl")...)); err != nil {
		return st, err
	}
	for i, v := range st.VDirs {
		if _, ok := vdirNoun[v.Kind]; !ok {
			return st, badOutput(op, "virtual directory %d has unknown kind %q", i, v.Kind)
		}
		if v.Kind == KindMAPI && len(v.IISAuthenticationMethods) == 0 {
			return st, badOutput(op, "%s has no IISAuthenticationMethods", v.Identity)
		}
	}
	if s, err = list("OutlookAnywhere"); err != nil {
		return st, err
	}
	if st.OutlookAnywhere, err = decodeList[OutlookAnywhere](op, s, append(req("Server", "Identity", "Guid", "ExternalClientsRequireSsl", "ExternalClientAuthenticationMethod"), opt("ExternalHostname", "InternalHostname")...)); err != nil {
		return st, err
	}
	if s, err = list("SCP"); err != nil {
		return st, err
	}
	if st.SCP, err = decodeList[ClientAccessService](op, s, append(req("Name"), opt("AutoDiscoverServiceInternalUri")...)); err != nil {
		return st, err
	}
	if s, err = list("Certificates"); err != nil {
		return st, err
	}
	if st.Certificates, err = decodeList[Certificate](op, s, certFields); err != nil {
		return st, err
	}
	for i := range st.Certificates {
		st.Certificates[i].NotAfter = st.Certificates[i].NotAfter.UTC()
		st.Certificates[i].NotBefore = st.Certificates[i].NotBefore.UTC()
		if st.Certificates[i].Thumbprint == "" {
			return st, badOutput(op, "certificate %d on %s has no thumbprint", i, st.Certificates[i].Server)
		}
	}
	return st, nil
}
