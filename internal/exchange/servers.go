package exchange

import (
	"context"
	"fmt"
	"strings"
)

// Server is one Exchange server (Get-ExchangeServer).
type Server struct {
	Name                string `json:"Name"`
	Fqdn                string `json:"Fqdn"`
	Guid                string `json:"Guid"`
	AdminDisplayVersion string `json:"AdminDisplayVersion"`
	ServerRole          string `json:"ServerRole"`
}

// GetExchangeServers reads the named servers, or every server when names
// is empty. A name that does not resolve fails the operation.
func (c *Client) GetExchangeServers(ctx context.Context, names []string) ([]Server, error) {
	const op = "GetExchangeServers"
	return c.getExchangeServers(ctx, op, names)
}

// serversPipeline reads every server once; the names are chosen in Go.
var serversPipeline = pipeline(command("Get-ExchangeServer"),
	selectProps("Name", "Fqdn", "Guid", "AdminDisplayVersion", "ServerRole", "IsEdgeServer"))

// getExchangeServers is GetExchangeServers on the Exchange endpoint.
// Edge Transport servers are never in scope: they have no client access
// services and no virtual directories, so they are left out of the list,
// and naming one is an error.
func (c *Client) getExchangeServers(ctx context.Context, op string, names []string) ([]Server, error) {
	out, err := c.readPipeline(ctx, op, serversPipeline, nil)
	if err != nil {
		return nil, err
	}
	rs, err := rows(op, out)
	if err != nil {
		return nil, err
	}
	var all []Server
	edge := map[string]bool{}
	for _, r := range rs {
		s := Server{Name: r.need("Name"), Fqdn: r.str("Fqdn"), Guid: r.guid("Guid"),
			AdminDisplayVersion: r.str("AdminDisplayVersion"), ServerRole: r.str("ServerRole")}
		isEdge := r.boolean("IsEdgeServer") || strings.Contains(strings.ToLower(s.ServerRole), "edge")
		if r.err != nil {
			return nil, r.err
		}
		if isEdge {
			edge[strings.ToLower(s.Name)] = true
			edge[strings.ToLower(s.Fqdn)] = true
			continue
		}
		all = append(all, s)
	}
	if len(names) == 0 {
		if len(all) == 0 {
			return nil, badOutput(op, "no Exchange server found (Edge Transport servers are not in scope)")
		}
		return all, nil
	}
	res := make([]Server, 0, len(names))
	for _, n := range names {
		key := strings.ToLower(strings.TrimSpace(n))
		if edge[key] {
			return nil, &OpError{Op: op, Err: fmt.Errorf("server %q is an Edge Transport server: it has no client access services and is never in scope", n)}
		}
		found := false
		for _, s := range all {
			if strings.ToLower(s.Name) == key || strings.ToLower(s.Fqdn) == key {
				res = append(res, s)
				found = true
				break
			}
		}
		if !found {
			return nil, &OpError{Op: op, Err: fmt.Errorf("the Exchange server %q was not found (Get-ExchangeServer lists %s)", n, serverNames(all))}
		}
	}
	return res, nil
}

func serverNames(ss []Server) string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}
