package exchange

import (
	"context"
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

func serversScript(names []string) string {
	var b strings.Builder
	b.WriteString(scriptHeader)
	if len(names) == 0 {
		b.WriteString("$servers = @(Get-ExchangeServer)\n")
	} else {
		b.WriteString("$servers = foreach ($n in " + quoteList(names) + ") { Get-ExchangeServer -Identity $n }\n")
	}
	b.WriteString(`$r = foreach ($s in $servers) {
    [pscustomobject]@{
        Name = [string]$s.Name
        Fqdn = [string]$s.Fqdn
        Guid = $s.Guid.ToString()
        AdminDisplayVersion = [string]$s.AdminDisplayVersion
        ServerRole = [string]$s.ServerRole
    }
}
`)
	b.WriteString(jsonOut("@($r)", 3))
	return b.String()
}

// serverFields are the properties every Server object carries.
var serverFields = req("Name", "Fqdn", "Guid", "AdminDisplayVersion", "ServerRole")

// GetExchangeServers reads the named servers, or every server when names
// is empty. A name that does not resolve fails the operation.
func (c *Client) GetExchangeServers(ctx context.Context, names []string) ([]Server, error) {
	const op = "GetExchangeServers"
	out, err := c.run(ctx, op, serversScript(names), "")
	if err != nil {
		return nil, err
	}
	res, err := decodeList[Server](op, out, serverFields)
	if err != nil {
		return nil, err
	}
	if len(res) == 0 {
		return nil, badOutput(op, "no Exchange server found")
	}
	return res, nil
}
