package exchange

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/exrunbook/exrunbook/internal/psrp"
)

// vdirReadPipeline reads one kind of virtual directory of every server
// from Active Directory (-ADPropertiesOnly: IIS on the servers is not
// touched); the servers are chosen in Go, so the read is one pipeline
// per kind whatever the number of servers.
func vdirReadPipeline(k VDirKind) psrp.Pipeline {
	props := []string{"Server", "Identity", "Guid", "InternalUrl", "ExternalUrl"}
	if k == KindMAPI {
		props = append(props, "IISAuthenticationMethods")
	}
	return pipeline(command("Get-"+vdirNoun[k], param("ADPropertiesOnly", true)), selectProps(props...))
}

// vdirByIDPipeline reads one virtual directory by GUID.
func vdirByIDPipeline(k VDirKind, guid string) psrp.Pipeline {
	pl := vdirReadPipeline(k)
	pl.Commands[0].Params = append([]psrp.Parameter{param("Identity", guid)}, pl.Commands[0].Params...)
	return pl
}

var outlookAnywherePipeline = pipeline(command("Get-OutlookAnywhere", param("ADPropertiesOnly", true)),
	selectProps("Server", "Identity", "Guid", "ExternalHostname", "InternalHostname", "ExternalClientsRequireSsl", "ExternalClientAuthenticationMethod"))

func outlookAnywhereByIDPipeline(guid string) psrp.Pipeline {
	pl := outlookAnywherePipeline
	pl.Commands = append([]psrp.Command(nil), pl.Commands...)
	pl.Commands[0] = command("Get-OutlookAnywhere", param("Identity", guid), param("ADPropertiesOnly", true))
	return pl
}

var clientAccessPipeline = pipeline(command("Get-ClientAccessService"), selectProps("Name", "AutoDiscoverServiceInternalUri"))

// serverSet matches a server name (or FQDN) against the names in scope.
type serverSet map[string]string

func newServerSet(names []string) serverSet {
	s := serverSet{}
	for _, n := range names {
		s[strings.ToLower(n)] = n
	}
	return s
}

// name returns the configured name the server is known by, "" when it
// is out of scope.
func (s serverSet) name(server string) string {
	l := strings.ToLower(strings.TrimSpace(server))
	if n, ok := s[l]; ok {
		return n
	}
	if i := strings.IndexByte(l, '.'); i > 0 {
		if n, ok := s[l[:i]]; ok {
			return n
		}
	}
	return ""
}

// optStr is a nullable string property: nil for $null or "".
func (r *row) optStr(name string) *string {
	s := r.str(name)
	if s == "" {
		return nil
	}
	return &s
}

func (c *Client) getVirtualDirectories(ctx context.Context, op string, servers []string) ([]VirtualDirectory, error) {
	in := newServerSet(servers)
	var res []VirtualDirectory
	for _, k := range allKinds {
		out, err := c.readPipeline(ctx, op, vdirReadPipeline(k), nil)
		if err != nil {
			return nil, err
		}
		vs, err := decodeVDirRows(op, k, out, in)
		if err != nil {
			return nil, err
		}
		res = append(res, vs...)
	}
	return res, nil
}

func decodeVDirRows(op string, k VDirKind, out []psrp.Value, in serverSet) ([]VirtualDirectory, error) {
	rs, err := rows(op, out)
	if err != nil {
		return nil, err
	}
	var res []VirtualDirectory
	for _, r := range rs {
		v := VirtualDirectory{Kind: k, Server: r.need("Server"), Identity: r.str("Identity"), Guid: r.guid("Guid"),
			InternalUrl: r.optStr("InternalUrl"), ExternalUrl: r.optStr("ExternalUrl")}
		if k == KindMAPI {
			v.IISAuthenticationMethods = r.list("IISAuthenticationMethods")
		} else {
			v.IISAuthenticationMethods = []string{}
		}
		if r.err != nil {
			return nil, r.err
		}
		if in != nil {
			n := in.name(v.Server)
			if n == "" {
				continue
			}
			v.Server = n
		}
		if k == KindMAPI && len(v.IISAuthenticationMethods) == 0 {
			return nil, badOutput(op, "%s has no IISAuthenticationMethods", v.Identity)
		}
		res = append(res, v)
	}
	return res, nil
}

func (c *Client) getOutlookAnywhere(ctx context.Context, op string, servers []string) ([]OutlookAnywhere, error) {
	out, err := c.readPipeline(ctx, op, outlookAnywherePipeline, nil)
	if err != nil {
		return nil, err
	}
	return decodeOARows(op, out, newServerSet(servers))
}

func decodeOARows(op string, out []psrp.Value, in serverSet) ([]OutlookAnywhere, error) {
	rs, err := rows(op, out)
	if err != nil {
		return nil, err
	}
	var res []OutlookAnywhere
	for _, r := range rs {
		o := OutlookAnywhere{Server: r.need("Server"), Identity: r.str("Identity"), Guid: r.guid("Guid"),
			ExternalHostname: r.optStr("ExternalHostname"), InternalHostname: r.optStr("InternalHostname"),
			ExternalClientsRequireSsl: r.boolean("ExternalClientsRequireSsl"), ExternalClientAuthenticationMethod: r.str("ExternalClientAuthenticationMethod")}
		if r.err != nil {
			return nil, r.err
		}
		if in != nil {
			n := in.name(o.Server)
			if n == "" {
				continue
			}
			o.Server = n
		}
		res = append(res, o)
	}
	return res, nil
}

func (c *Client) getClientAccessServices(ctx context.Context, op string, servers []string) ([]ClientAccessService, error) {
	out, err := c.readPipeline(ctx, op, clientAccessPipeline, nil)
	if err != nil {
		return nil, err
	}
	rs, err := rows(op, out)
	if err != nil {
		return nil, err
	}
	in := newServerSet(servers)
	found := map[string]bool{}
	var res []ClientAccessService
	for _, r := range rs {
		s := ClientAccessService{Name: r.need("Name"), AutoDiscoverServiceInternalUri: r.optStr("AutoDiscoverServiceInternalUri")}
		if r.err != nil {
			return nil, r.err
		}
		if len(servers) > 0 {
			n := in.name(s.Name)
			if n == "" {
				continue
			}
			found[strings.ToLower(n)] = true
		}
		res = append(res, s)
	}
	for _, n := range servers {
		if !found[strings.ToLower(n)] {
			return nil, &OpError{Op: op, Err: fmt.Errorf("no client access service on server %q (Get-ClientAccessService does not list it)", n)}
		}
	}
	return res, nil
}

func (c *Client) getURLState(ctx context.Context, op string, servers []string) (URLState, error) {
	var st URLState
	var err error
	if st.VDirs, err = c.getVirtualDirectories(ctx, op, servers); err != nil {
		return st, err
	}
	if st.OutlookAnywhere, err = c.getOutlookAnywhere(ctx, op, servers); err != nil {
		return st, err
	}
	if st.SCP, err = c.getClientAccessServices(ctx, op, servers); err != nil {
		return st, err
	}
	return st, nil
}

// scope resolves the servers in scope: with resolve, Get-ExchangeServer
// (Edge Transport servers left out) sorted by name.
func (c *Client) scope(ctx context.Context, servers []string, resolve bool) ([]Server, []string, error) {
	if !resolve {
		return nil, servers, nil
	}
	sv, err := c.GetExchangeServers(ctx, servers)
	if err != nil {
		return nil, nil, err
	}
	sortServers(sv)
	names := make([]string, len(sv))
	for i, s := range sv {
		names[i] = s.Name
	}
	return sv, names, nil
}

func (c *Client) getURLCapture(ctx context.Context, op string, servers []string, resolve bool) (URLCapture, error) {
	var st URLCapture
	sv, names, err := c.scope(ctx, servers, resolve)
	if err != nil {
		return st, err
	}
	st.Servers = sv
	if st.URLState, err = c.getURLState(ctx, op, names); err != nil {
		return st, err
	}
	if st.Certificates, err = c.getCertificates(ctx, op, names); err != nil {
		return st, err
	}
	return st, nil
}

// urlValue is a URL or host parameter's value: $null when nil.
func urlValue(s *string) psrp.Value {
	if s == nil {
		return nil
	}
	return *s
}

func setVDirPipeline(k VDirKind, guid string, url *string, iisAuth []string) psrp.Pipeline {
	params := []psrp.Parameter{param("Identity", guid), param("ExternalUrl", urlValue(url))}
	if k == KindMAPI {
		// Set-MapiVirtualDirectory wants -IISAuthenticationMethods with a
		// URL: the current ones go back, or OAuth would be lost.
		params = append(params, param("IISAuthenticationMethods", psrp.NewList(strValues(iisAuth)...)))
	}
	return pipeline(command("Set-"+vdirNoun[k], params...))
}

func setOAPipeline(ch OutlookAnywhereChange) psrp.Pipeline {
	params := []psrp.Parameter{param("Identity", ch.Guid), param("ExternalHostname", urlValue(ch.ExternalHostname)),
		param("ExternalClientsRequireSsl", ch.ExternalClientsRequireSsl)}
	if ch.ExternalClientAuthenticationMethod != "" {
		params = append(params, param("ExternalClientAuthenticationMethod", ch.ExternalClientAuthenticationMethod))
	}
	return pipeline(command("Set-OutlookAnywhere", params...))
}

// itemWrite runs one write of one item; an error record is the item's
// failure (transient when the server throttled).
func (c *Client) itemWrite(ctx context.Context, op, id string, pl psrp.Pipeline) (ItemResult, error) {
	res, err := c.runPipeline(ctx, op, pl, nil)
	var rec *psrp.ErrorRecord
	if err != nil && !errors.Is(err, psrp.ErrBroken) && errors.As(err, &rec) {
		// The cmdlet's terminating error is this item's failure, in
		// Exchange's words (checkResults makes throttling transient).
		return ItemResult{ID: id, Error: rec.Message}, nil
	}
	if err != nil {
		return ItemResult{}, err
	}
	if len(res.Errors) > 0 {
		return ItemResult{ID: id, Error: res.Errors[0].Message}, nil
	}
	return ItemResult{ID: id, OK: true}, nil
}

func (c *Client) setExternalURLs(ctx context.Context, op string, changes []VDirURLChange) ([]ItemResult, error) {
	out := make([]ItemResult, 0, len(changes))
	ids := make([]string, len(changes))
	for i, ch := range changes {
		ids[i] = ch.Guid
		var auth []string
		if ch.Kind == KindMAPI {
			cur, err := c.readVDir(ctx, op, ch.Kind, ch.Guid)
			if err != nil {
				out = append(out, ItemResult{ID: ch.Guid, Error: err.Error()})
				continue
			}
			auth = cur.IISAuthenticationMethods
		}
		r, err := c.itemWrite(ctx, op, ch.Guid, setVDirPipeline(ch.Kind, ch.Guid, ch.ExternalUrl, auth))
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return checkResults(op, "items", out, ids)
}

func (c *Client) readVDir(ctx context.Context, op string, k VDirKind, guid string) (VirtualDirectory, error) {
	out, err := c.readPipeline(ctx, op, vdirByIDPipeline(k, guid), nil)
	if err != nil {
		return VirtualDirectory{}, err
	}
	vs, err := decodeVDirRows(op, k, out, nil)
	if err != nil {
		return VirtualDirectory{}, err
	}
	if len(vs) != 1 {
		return VirtualDirectory{}, badOutput(op, "%s %s: %d objects", vdirNoun[k], guid, len(vs))
	}
	return vs[0], nil
}

func (c *Client) setOutlookAnywhere(ctx context.Context, op string, changes []OutlookAnywhereChange) ([]ItemResult, error) {
	out := make([]ItemResult, 0, len(changes))
	ids := make([]string, len(changes))
	for i, ch := range changes {
		ids[i] = ch.Guid
		r, err := c.itemWrite(ctx, op, ch.Guid, setOAPipeline(ch))
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return checkResults(op, "items", out, ids)
}

// urlDiffers compares a current and a wanted URL (nil is $null): with
// CompareApply case-insensitively as PowerShell's -ne, with CompareExact
// exactly.
func urlDiffers(cur, want *string, mode URLCompare) bool {
	switch {
	case want == nil:
		return cur != nil
	case cur == nil:
		return true
	case mode == CompareExact:
		return *cur != *want
	}
	return !strings.EqualFold(*cur, *want)
}

// setURLsWhereDifferent is the compare-and-set in Go: each object is
// read by GUID, compared, and written only when it differs.
func (c *Client) setURLsWhereDifferent(ctx context.Context, op string, vdirs []VDirURLChange, oa []OutlookAnywhereChange, mode URLCompare) ([]ChangeResult, error) {
	var res []ChangeResult
	for _, ch := range vdirs {
		cur, err := c.readVDir(ctx, op, ch.Kind, ch.Guid)
		if err != nil {
			res = append(res, ChangeResult{ID: ch.Guid, Error: err.Error()})
			continue
		}
		if !urlDiffers(cur.ExternalUrl, ch.ExternalUrl, mode) {
			res = append(res, ChangeResult{ID: ch.Guid, OK: true})
			continue
		}
		r, err := c.itemWrite(ctx, op, ch.Guid, setVDirPipeline(ch.Kind, ch.Guid, ch.ExternalUrl, cur.IISAuthenticationMethods))
		if err != nil {
			return nil, err
		}
		res = append(res, ChangeResult{ID: ch.Guid, OK: r.OK, Changed: r.OK, Error: r.Error})
	}
	for _, ch := range oa {
		out, err := c.readPipeline(ctx, op, outlookAnywhereByIDPipeline(ch.Guid), nil)
		var cur []OutlookAnywhere
		if err == nil {
			cur, err = decodeOARows(op, out, nil)
		}
		if err == nil && len(cur) != 1 {
			err = badOutput(op, "Get-OutlookAnywhere %s: %d objects", ch.Guid, len(cur))
		}
		if err != nil {
			res = append(res, ChangeResult{ID: ch.Guid, Error: err.Error()})
			continue
		}
		o := cur[0]
		differs := urlDiffers(o.ExternalHostname, ch.ExternalHostname, mode) || o.ExternalClientsRequireSsl != ch.ExternalClientsRequireSsl
		if mode == CompareExact && ch.ExternalClientAuthenticationMethod != "" && o.ExternalClientAuthenticationMethod != ch.ExternalClientAuthenticationMethod {
			differs = true
		}
		if !differs {
			res = append(res, ChangeResult{ID: ch.Guid, OK: true})
			continue
		}
		r, err := c.itemWrite(ctx, op, ch.Guid, setOAPipeline(ch))
		if err != nil {
			return nil, err
		}
		res = append(res, ChangeResult{ID: ch.Guid, OK: r.OK, Changed: r.OK, Error: r.Error})
	}
	return res, nil
}

func popImapPipeline(p Protocol, server string) psrp.Pipeline {
	cmd := "Get-PopSettings"
	if p == IMAP {
		cmd = "Get-ImapSettings"
	}
	return pipeline(command(cmd, param("Server", server)), selectProps("X509CertificateName"))
}

func setPopImapPipeline(ch PopImapChange) psrp.Pipeline {
	cmd := "Set-PopSettings"
	if ch.Protocol == IMAP {
		cmd = "Set-ImapSettings"
	}
	return pipeline(command(cmd, param("Server", ch.Server), param("X509CertificateName", urlValue(ch.Name))))
}

func (c *Client) getPopImapSettings(ctx context.Context, op string, servers []string) ([]PopImapSettings, error) {
	res := make([]PopImapSettings, 0, len(servers))
	for _, srv := range servers {
		s := PopImapSettings{Server: srv}
		for _, p := range []Protocol{POP, IMAP} {
			r, err := c.single(ctx, op, popImapPipeline(p, srv))
			if err != nil {
				return nil, err
			}
			name := r.optStr("X509CertificateName")
			if r.err != nil {
				return nil, r.err
			}
			if p == POP {
				s.PopX509CertificateName = name
			} else {
				s.ImapX509CertificateName = name
			}
		}
		res = append(res, s)
	}
	return res, nil
}

func (c *Client) setPopImapCertificateNames(ctx context.Context, op string, changes []PopImapChange) ([]ItemResult, error) {
	out := make([]ItemResult, 0, len(changes))
	ids := make([]string, len(changes))
	for i, ch := range changes {
		ids[i] = ch.Server + "/" + string(ch.Protocol)
		r, err := c.itemWrite(ctx, op, ids[i], setPopImapPipeline(ch))
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return checkResults(op, "items", out, ids)
}
