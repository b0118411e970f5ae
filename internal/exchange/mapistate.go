package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// MapiHTTPState is what the mapi-http step reads, in one launch: the
// organisation's MapiHttpEnabled and the mailboxes of the given recipient
// types whose own MapiHttpEnabled is $false ($null, the organisation's
// setting, does not count).
type MapiHTTPState struct {
	OrgMapiHttpEnabled bool
	// MapiOff counts those mailboxes; MapiOffAliases names them in the
	// order Get-Mailbox returned them (the alias, or the GUID when the
	// alias is empty), at most the number asked for.
	MapiOff        int
	MapiOffAliases []string
}

// mapiHTTPStateScript filters on the server: only the GUIDs of CAS
// mailboxes with MapiHttpEnabled $false travel, and the mailbox list
// (GUID and alias, for the recipient types) only when there is one.
func mapiHTTPStateScript(recipientTypes []string) string {
	return scriptHeader +
		"$o = Get-OrganizationConfig\n" +
		"$off = @(Get-CASMailbox -ResultSize Unlimited | Where-Object { $_.MapiHttpEnabled -eq $false } | ForEach-Object { $_.Guid.ToString() })\n" +
		"$m = @()\n" +
		"if ($off.Count -gt 0) {\n" +
		"    $types = " + quoteList(recipientTypes) + "\n" +
		"    $m = @(Get-Mailbox -RecipientTypeDetails $types -ResultSize Unlimited | Select-Object @{n='g';e={$_.Guid.ToString()}}, @{n='a';e={[string]$_.Alias}})\n" +
		"}\n" +
		"$r = [pscustomobject]@{ MapiHttpEnabled = [bool]$o.MapiHttpEnabled; Off = $off; Mailboxes = $m }\n" +
		jsonOut("$r", 3)
}

type mapiHTTPStateOut struct {
	MapiHttpEnabled bool     `json:"MapiHttpEnabled"`
	Off             []string `json:"Off"`
	Mailboxes       []struct {
		G string `json:"g"`
		A string `json:"a"`
	} `json:"Mailboxes"`
}

// GetMapiHTTPState reads the organisation's MapiHttpEnabled and counts the
// mailboxes of recipientTypes that opted out of MAPI over HTTP (never
// limited to 1000), naming at most maxAliases of them.
func (c *Client) GetMapiHTTPState(ctx context.Context, recipientTypes []string, maxAliases int) (MapiHTTPState, error) {
	const op = "GetMapiHTTPState"
	var st MapiHTTPState
	if len(recipientTypes) == 0 {
		return st, &OpError{Op: op, Err: errors.New("no recipient type given")}
	}
	if c.p != nil {
		return c.getMapiHTTPState(ctx, op, recipientTypes, maxAliases)
	}
	out, err := c.run(ctx, op, mapiHTTPStateScript(recipientTypes), "")
	if err != nil {
		return st, err
	}
	// ConvertTo-Json unrolls one-element arrays and drops empty ones to
	// null; normalise both before decoding.
	r, err := decodeSingle[mapiHTTPStateRaw](op, out, append(req("MapiHttpEnabled"), opt("Off", "Mailboxes")...))
	if err != nil {
		return st, err
	}
	v, err := r.normalise()
	if err != nil {
		return st, badOutput(op, "%v", err)
	}
	st.OrgMapiHttpEnabled = v.MapiHttpEnabled
	off := make(map[string]bool, len(v.Off))
	for _, g := range v.Off {
		off[strings.ToLower(g)] = true
	}
	for _, m := range v.Mailboxes {
		if !off[strings.ToLower(m.G)] {
			continue
		}
		st.MapiOff++
		if len(st.MapiOffAliases) < maxAliases {
			a := m.A
			if a == "" {
				a = m.G
			}
			st.MapiOffAliases = append(st.MapiOffAliases, a)
		}
	}
	return st, nil
}

// MapiHTTPWrite is the outcome of SetMapiHttpEnabledWhereDifferent.
type MapiHTTPWrite struct {
	// Before is the value the script found, Changed whether it wrote,
	// After the value read back.
	Before  bool `json:"Before"`
	Changed bool `json:"Changed"`
	After   bool `json:"After"`
}

func setMapiHTTPWhereDifferentScript(enabled bool) string {
	return scriptHeader +
		"$o = Get-OrganizationConfig\n" +
		"$before = [bool]$o.MapiHttpEnabled\n" +
		"$changed = $false\n" +
		"if ($before -ne " + psBool(enabled) + ") {\n" +
		"    Set-OrganizationConfig -MapiHttpEnabled " + psBool(enabled) + "\n" +
		"    $changed = $true\n" +
		"}\n" +
		"$o2 = Get-OrganizationConfig\n" +
		"$r = [pscustomobject]@{ Before = $before; Changed = $changed; After = [bool]$o2.MapiHttpEnabled }\n" +
		jsonOut("$r", 2)
}

// SetMapiHttpEnabledWhereDifferent sets the organisation's MapiHttpEnabled
// in one script only if it differs, and checks the value read back.
func (c *Client) SetMapiHttpEnabledWhereDifferent(ctx context.Context, enabled bool) (MapiHTTPWrite, error) {
	const op = "SetMapiHttpEnabledWhereDifferent"
	if c.p != nil {
		return c.setMapiHTTPWhereDifferent(ctx, op, enabled)
	}
	out, err := c.run(ctx, op, setMapiHTTPWhereDifferentScript(enabled), "")
	if err != nil {
		return MapiHTTPWrite{}, err
	}
	w, err := decodeSingle[MapiHTTPWrite](op, out, req("Before", "Changed", "After"))
	if err != nil {
		return w, err
	}
	if w.After != enabled {
		return w, badOutput(op, "MapiHttpEnabled reads %t after setting %t", w.After, enabled)
	}
	if w.Changed == (w.Before == enabled) {
		return w, badOutput(op, "Changed %t although MapiHttpEnabled was %t", w.Changed, w.Before)
	}
	return w, nil
}

// mapiHTTPStateRaw is the script's output before normalisation: Off and
// Mailboxes may each be an array, a single element or null.
type mapiHTTPStateRaw struct {
	MapiHttpEnabled bool            `json:"MapiHttpEnabled"`
	Off             json.RawMessage `json:"Off"`
	Mailboxes       json.RawMessage `json:"Mailboxes"`
}

// unroll turns a JSON value that ConvertTo-Json may have unrolled (one
// element) or dropped (null) back into an array.
func unroll(raw json.RawMessage) json.RawMessage {
	s := strings.TrimSpace(string(raw))
	switch {
	case s == "" || s == "null":
		return json.RawMessage("[]")
	case s[0] == '[':
		return json.RawMessage(s)
	}
	return json.RawMessage("[" + s + "]")
}

func (r mapiHTTPStateRaw) normalise() (mapiHTTPStateOut, error) {
	v := mapiHTTPStateOut{MapiHttpEnabled: r.MapiHttpEnabled}
	if err := json.Unmarshal(unroll(r.Off), &v.Off); err != nil {
		return v, fmt.Errorf("decoding Off: %v", err)
	}
	if err := json.Unmarshal(unroll(r.Mailboxes), &v.Mailboxes); err != nil {
		return v, fmt.Errorf("decoding Mailboxes: %v", err)
	}
	for i, m := range v.Mailboxes {
		if m.G == "" {
			return v, fmt.Errorf("mailbox %d has no GUID", i)
		}
	}
	return v, nil
}
