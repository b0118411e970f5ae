package exchange

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// OutlookAnywhere is one server's RPC/HTTP settings.
type OutlookAnywhere struct {
	Server   string `json:"Server"`
	Identity string `json:"Identity"` // EX01\Rpc (Default Web Site)
	Guid     string `json:"Guid"`
	// ExternalHostname and InternalHostname are nil for $null.
	ExternalHostname                   *string `json:"ExternalHostname"`
	InternalHostname                   *string `json:"InternalHostname"`
	ExternalClientsRequireSsl          bool    `json:"ExternalClientsRequireSsl"`
	ExternalClientAuthenticationMethod string  `json:"ExternalClientAuthenticationMethod"`
}

// GetOutlookAnywhere reads the Outlook Anywhere settings of every server.
func (c *Client) GetOutlookAnywhere(ctx context.Context, servers []string) ([]OutlookAnywhere, error) {
	const op = "GetOutlookAnywhere"
	if len(servers) == 0 {
		return nil, &OpError{Op: op, Err: errors.New("no server given")}
	}
	return c.getOutlookAnywhere(ctx, op, servers)
}

// OutlookAnywhereChange sets one server's external Outlook Anywhere
// settings, by GUID. A nil ExternalHostname restores $null; an empty
// ExternalClientAuthenticationMethod leaves the method unchanged.
type OutlookAnywhereChange struct {
	Guid                               string
	ExternalHostname                   *string
	ExternalClientsRequireSsl          bool
	ExternalClientAuthenticationMethod string
}

var oaAuthMethods = map[string]bool{"basic": true, "ntlm": true, "negotiate": true}

// SetOutlookAnywhere applies the changes in one script, one result per
// change (ID = GUID) in order.
func (c *Client) SetOutlookAnywhere(ctx context.Context, changes []OutlookAnywhereChange) ([]ItemResult, error) {
	const op = "SetOutlookAnywhere"
	if len(changes) == 0 {
		return nil, nil
	}
	ids := make([]string, len(changes))
	changes = append(changes[:0:0], changes...) // normalised copy; the caller's slice is left alone
	for i, ch := range changes {
		g, err := checkGUID(op, "Outlook Anywhere", ch.Guid)
		if err != nil {
			return nil, err
		}
		if m := ch.ExternalClientAuthenticationMethod; m != "" && !oaAuthMethods[strings.ToLower(m)] {
			return nil, &OpError{Op: op, Err: fmt.Errorf("ExternalClientAuthenticationMethod %q: expected Basic, Ntlm or Negotiate", m)}
		}
		changes[i].Guid = g
		ids[i] = g
	}
	return c.setOutlookAnywhere(ctx, op, changes)
}

// ClientAccessService is a server's Autodiscover SCP (read only: the
// runbook never writes it).
type ClientAccessService struct {
	Name string `json:"Name"`
	// AutoDiscoverServiceInternalUri is nil for $null.
	AutoDiscoverServiceInternalUri *string `json:"AutoDiscoverServiceInternalUri"`
}

// GetClientAccessServices reads the SCP of the named servers (all when
// none are named).
func (c *Client) GetClientAccessServices(ctx context.Context, servers []string) ([]ClientAccessService, error) {
	const op = "GetClientAccessServices"
	return c.getClientAccessServices(ctx, op, servers)
}
