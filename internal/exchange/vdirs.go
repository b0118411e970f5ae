package exchange

import (
	"context"
	"errors"
	"fmt"
)

// VDirKind names a virtual directory type.
type VDirKind string

// The virtual directory kinds. The first six carry the URLs the runbook
// changes; Autodiscover and PowerShell are read only, to check they are
// never touched.
const (
	KindOWA          VDirKind = "owa"
	KindECP          VDirKind = "ecp"
	KindMAPI         VDirKind = "mapi"
	KindEWS          VDirKind = "ews"
	KindActiveSync   VDirKind = "activesync"
	KindOAB          VDirKind = "oab"
	KindAutodiscover VDirKind = "autodiscover"
	KindPowerShell   VDirKind = "powershell"
)

// URLKinds are the kinds whose ExternalUrl the runbook sets.
var URLKinds = []VDirKind{KindOWA, KindECP, KindMAPI, KindEWS, KindActiveSync, KindOAB}

// vdirNoun is the cmdlet noun of each kind.
var vdirNoun = map[VDirKind]string{
	KindOWA:          "OwaVirtualDirectory",
	KindECP:          "EcpVirtualDirectory",
	KindMAPI:         "MapiVirtualDirectory",
	KindEWS:          "WebServicesVirtualDirectory",
	KindActiveSync:   "ActiveSyncVirtualDirectory",
	KindOAB:          "OabVirtualDirectory",
	KindAutodiscover: "AutodiscoverVirtualDirectory",
	KindPowerShell:   "PowerShellVirtualDirectory",
}

var allKinds = []VDirKind{KindOWA, KindECP, KindMAPI, KindEWS, KindActiveSync, KindOAB, KindAutodiscover, KindPowerShell}

// VirtualDirectory is one virtual directory of one server.
type VirtualDirectory struct {
	Kind     VDirKind `json:"Kind"`
	Server   string   `json:"Server"`
	Identity string   `json:"Identity"` // EX01\owa (Default Web Site)
	Guid     string   `json:"Guid"`
	// InternalUrl and ExternalUrl are nil for $null (not published),
	// never "".
	InternalUrl *string `json:"InternalUrl"`
	ExternalUrl *string `json:"ExternalUrl"`
	// IISAuthenticationMethods is read for MAPI only.
	IISAuthenticationMethods []string `json:"IISAuthenticationMethods"`
}

// GetVirtualDirectories reads the OWA, ECP, MAPI, EWS, ActiveSync, OAB,
// Autodiscover and PowerShell virtual directories of every server in one
// script.
func (c *Client) GetVirtualDirectories(ctx context.Context, servers []string) ([]VirtualDirectory, error) {
	const op = "GetVirtualDirectories"
	if len(servers) == 0 {
		return nil, &OpError{Op: op, Err: errors.New("no server given")}
	}
	return c.getVirtualDirectories(ctx, op, servers)
}

// VDirURLChange sets the ExternalUrl of one virtual directory, by GUID;
// nil restores $null.
type VDirURLChange struct {
	Kind        VDirKind
	Guid        string
	ExternalUrl *string
}

// SetExternalURLs sets ExternalUrl on every listed virtual directory in
// one script, returning a result per item (ID = GUID) in order. OWA and
// ECP are changed in the same script; MAPI passes its current
// IISAuthenticationMethods back. Autodiscover and PowerShell are refused.
func (c *Client) SetExternalURLs(ctx context.Context, changes []VDirURLChange) ([]ItemResult, error) {
	const op = "SetExternalURLs"
	if len(changes) == 0 {
		return nil, nil
	}
	ids := make([]string, len(changes))
	changes = append(changes[:0:0], changes...) // normalised copy; the caller's slice is left alone
	for i, ch := range changes {
		switch ch.Kind {
		case KindOWA, KindECP, KindMAPI, KindEWS, KindActiveSync, KindOAB:
		default:
			return nil, &OpError{Op: op, Err: fmt.Errorf("refusing to change the %q virtual directory", ch.Kind)}
		}
		g, err := checkGUID(op, "virtual directory", ch.Guid)
		if err != nil {
			return nil, err
		}
		changes[i].Guid = g
		ids[i] = g
	}
	return c.setExternalURLs(ctx, op, changes)
}
