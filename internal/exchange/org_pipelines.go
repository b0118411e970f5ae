package exchange

import (
	"context"
	"strings"

	"github.com/exrunbook/exrunbook/internal/psrp"
)

var orgConfigPipeline = pipeline(command("Get-OrganizationConfig"), selectProps("MapiHttpEnabled"))

func setOrgMapiPipeline(enabled bool) psrp.Pipeline {
	return pipeline(command("Set-OrganizationConfig", boolParam("MapiHttpEnabled", enabled)))
}

// casMapiPipeline reads every CAS mailbox's own MapiHttpEnabled.
var casMapiPipeline = pipeline(command("Get-CASMailbox", param("ResultSize", "Unlimited")), selectProps("Guid", "MapiHttpEnabled"))

func mailboxAliasesPipeline(recipientTypes []string) psrp.Pipeline {
	return pipeline(
		command("Get-Mailbox", param("RecipientTypeDetails", psrp.NewList(strValues(recipientTypes)...)), param("ResultSize", "Unlimited")),
		selectProps("Guid", "Alias"))
}

// runWrite runs a write of one object: any error record fails it.
func (c *Client) runWrite(ctx context.Context, op string, pl psrp.Pipeline) (*psrp.Result, error) {
	res, err := c.runPipeline(ctx, op, pl, nil)
	if err != nil {
		return nil, err
	}
	if len(res.Errors) > 0 {
		return nil, recordError(op, pl, res.Errors[0])
	}
	return res, nil
}

// single reads the one object a pipeline must return.
func (c *Client) single(ctx context.Context, op string, pl psrp.Pipeline) (*row, error) {
	out, err := c.readPipeline(ctx, op, pl, nil)
	if err != nil {
		return nil, err
	}
	rs, err := rows(op, out)
	if err != nil {
		return nil, err
	}
	if len(rs) != 1 {
		return nil, badOutput(op, "%s returned %d objects, expected one", pl.Commands[0].Name, len(rs))
	}
	return rs[0], nil
}

func (c *Client) getOrgConfig(ctx context.Context, op string) (OrganizationConfig, error) {
	r, err := c.single(ctx, op, orgConfigPipeline)
	if err != nil {
		return OrganizationConfig{}, err
	}
	v, set := r.optBool("MapiHttpEnabled")
	if r.err == nil && !set {
		r.fail("property MapiHttpEnabled is null")
	}
	return OrganizationConfig{MapiHttpEnabled: v}, r.err
}

// getMapiHTTPState is GetMapiHTTPState on the Exchange endpoint: the
// filter on MapiHttpEnabled $false is made here; the mailbox list (GUID
// and alias) is read only when some mailbox opted out.
func (c *Client) getMapiHTTPState(ctx context.Context, op string, recipientTypes []string, maxAliases int) (MapiHTTPState, error) {
	var st MapiHTTPState
	org, err := c.getOrgConfig(ctx, op)
	if err != nil {
		return st, err
	}
	st.OrgMapiHttpEnabled = org.MapiHttpEnabled
	out, err := c.readPipeline(ctx, op, casMapiPipeline, nil)
	if err != nil {
		return st, err
	}
	rs, err := rows(op, out)
	if err != nil {
		return st, err
	}
	off := map[string]bool{}
	for _, r := range rs {
		g := r.guid("Guid")
		v, set := r.optBool("MapiHttpEnabled")
		if r.err != nil {
			return st, r.err
		}
		if set && !v {
			off[g] = true
		}
	}
	if len(off) == 0 {
		return st, nil
	}
	out, err = c.readPipeline(ctx, op, mailboxAliasesPipeline(recipientTypes), nil)
	if err != nil {
		return st, err
	}
	if rs, err = rows(op, out); err != nil {
		return st, err
	}
	for _, r := range rs {
		g, a := r.guid("Guid"), r.str("Alias")
		if r.err != nil {
			return st, r.err
		}
		if !off[strings.ToLower(g)] {
			continue
		}
		st.MapiOff++
		if len(st.MapiOffAliases) < maxAliases {
			if a == "" {
				a = g
			}
			st.MapiOffAliases = append(st.MapiOffAliases, a)
		}
	}
	return st, nil
}

// setMapiHTTPWhereDifferent reads, writes only when the value differs,
// and reads back.
func (c *Client) setMapiHTTPWhereDifferent(ctx context.Context, op string, enabled bool) (MapiHTTPWrite, error) {
	before, err := c.getOrgConfig(ctx, op)
	if err != nil {
		return MapiHTTPWrite{}, err
	}
	w := MapiHTTPWrite{Before: before.MapiHttpEnabled, After: before.MapiHttpEnabled}
	if before.MapiHttpEnabled == enabled {
		return w, nil
	}
	if _, err := c.runWrite(ctx, op, setOrgMapiPipeline(enabled)); err != nil {
		return w, err
	}
	w.Changed = true
	after, err := c.getOrgConfig(ctx, op)
	if err != nil {
		return w, err
	}
	w.After = after.MapiHttpEnabled
	if w.After != enabled {
		return w, badOutput(op, "MapiHttpEnabled reads %t after setting %t", w.After, enabled)
	}
	return w, nil
}
