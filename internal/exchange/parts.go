package exchange

import (
	"encoding/json"
	"strings"
)

// writeCaptureScope starts a capture script (GetURLCapture,
// GetCertCapture): the header, then $sv and $names. With resolve the
// servers are resolved as GetExchangeServers does and $sv holds them;
// without it $sv is empty and $names are the given servers.
func writeCaptureScope(b *strings.Builder, servers []string, resolve bool) {
	b.WriteString(scriptHeader)
	if resolve {
		b.WriteString(bodyOf(serversScript(servers)))
		b.WriteString("$sv = @($r | Sort-Object -Property Name)\n")
		b.WriteString("$names = @($sv | ForEach-Object { $_.Name })\n")
	} else {
		b.WriteString("$sv = @()\n")
		b.WriteString("$names = " + quoteList(servers) + "\n")
	}
}

// scriptParts is the output of a script that reads several lists in one
// launch (GetURLState, GetURLCapture, GetCertCapture): one JSON object
// with a property per list.
type scriptParts struct {
	op    string
	parts map[string]json.RawMessage
}

// decodeParts parses the one JSON object such a script writes.
func decodeParts(op, out string) (scriptParts, error) {
	raw := strings.TrimSpace(out)
	if raw == "" || raw[0] != '{' {
		return scriptParts{}, badOutput(op, "expected a JSON object: %s", snippet(raw))
	}
	p := scriptParts{op: op}
	if err := json.Unmarshal([]byte(raw), &p.parts); err != nil {
		return scriptParts{}, badOutput(op, "not a JSON object (%v): %s", err, snippet(raw))
	}
	return p, nil
}

// list returns the JSON of the named property for decodeList; null (an
// empty pipeline) reads as an empty array, a missing property is an error.
func (p scriptParts) list(name string) (string, error) {
	v, ok := p.parts[name]
	if !ok {
		return "", badOutput(p.op, "property %s is missing", name)
	}
	if s := strings.TrimSpace(string(v)); s != "null" {
		return s, nil
	}
	return "[]", nil
}

// resolvedServers decodes the Servers property of a capture script. With
// resolve the script resolved the servers itself and must have found at
// least one; without it, it must have returned none.
func (p scriptParts) resolvedServers(resolve bool) ([]Server, error) {
	s, err := p.list("Servers")
	if err != nil {
		return nil, err
	}
	servers, err := decodeList[Server](p.op, s, serverFields)
	if err != nil {
		return nil, err
	}
	if resolve && len(servers) == 0 {
		return nil, badOutput(p.op, "no Exchange server found")
	}
	if !resolve && len(servers) > 0 {
		return nil, badOutput(p.op, "servers returned although none were to be resolved")
	}
	return servers, nil
}

// urlLists decodes the VDirs, OutlookAnywhere and SCP properties, with the
// checks of GetVirtualDirectories, GetOutlookAnywhere and
// GetClientAccessServices.
func (p scriptParts) urlLists() ([]VirtualDirectory, []OutlookAnywhere, []ClientAccessService, error) {
	s, err := p.list("VDirs")
	if err != nil {
		return nil, nil, nil, err
	}
	vdirs, err := decodeVDirs(p.op, s)
	if err != nil {
		return nil, nil, nil, err
	}
	if s, err = p.list("OutlookAnywhere"); err != nil {
		return nil, nil, nil, err
	}
	oa, err := decodeList[OutlookAnywhere](p.op, s, outlookAnywhereFields)
	if err != nil {
		return nil, nil, nil, err
	}
	if s, err = p.list("SCP"); err != nil {
		return nil, nil, nil, err
	}
	scp, err := decodeList[ClientAccessService](p.op, s, scpFields)
	if err != nil {
		return nil, nil, nil, err
	}
	return vdirs, oa, scp, nil
}
