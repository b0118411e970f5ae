package exchange

import (
	"context"
	"errors"
	"strings"

	"github.com/exrunbook/exrunbook/internal/psrp"
)

// casMailboxesPipeline reads, in one pipeline, every mailbox of the given
// types with its client-access flags: Get-CASMailbox filtered on the
// server by RecipientTypeDetails (a filterable property; Get-CASMailbox's
// own -RecipientTypeDetails parameter is Exchange Online's only), so that
// the other types are neither sent nor priced.
func casMailboxesPipeline(recipientTypes []string) psrp.Pipeline {
	return pipeline(
		command("Get-CASMailbox", param("Filter", recipientTypeFilter(recipientTypes)), param("ResultSize", "Unlimited")),
		selectProps("Guid", "Name", "PrimarySmtpAddress", "MAPIBlockOutlookRpcHttp", "MAPIBlockOutlookExternalConnectivity", "MapiHttpEnabled"))
}

// recipientTypeFilter is the OPATH filter that matches any of the types,
// each value quoted (a quote doubled) as Exchange's filter syntax wants.
func recipientTypeFilter(types []string) string {
	parts := make([]string, len(types))
	for i, t := range types {
		parts[i] = "RecipientTypeDetails -eq '" + strings.ReplaceAll(t, "'", "''") + "'"
	}
	return strings.Join(parts, " -or ")
}

// getCASMailboxes is GetCASMailboxes on the Exchange endpoint: one read.
// A CASMailbox object carries no Alias and no RecipientTypeDetails: Alias
// stays empty (people see the name and address), RecipientTypeDetails is
// filled when one type was asked for.
func (c *Client) getCASMailboxes(ctx context.Context, op string, recipientTypes []string) ([]CASMailbox, error) {
	out, err := c.readPipeline(ctx, op, casMailboxesPipeline(recipientTypes), nil)
	if err != nil {
		return nil, err
	}
	typ := ""
	if len(recipientTypes) == 1 {
		typ = recipientTypes[0]
	}
	return casMailboxRows(op, out, typ)
}

// casMailboxRows decodes the read, in Exchange's order.
func casMailboxRows(op string, out []psrp.Value, recipientType string) ([]CASMailbox, error) {
	rs, err := rows(op, out)
	if err != nil {
		return nil, err
	}
	res := make([]CASMailbox, 0, len(rs))
	bools := make([]bool, 0, len(rs))
	for _, r := range rs {
		m := CASMailbox{Guid: r.guid("Guid"), Name: r.str("Name"), PrimarySmtpAddress: r.str("PrimarySmtpAddress"),
			RecipientTypeDetails:                 recipientType,
			MAPIBlockOutlookRpcHttp:              r.boolean("MAPIBlockOutlookRpcHttp"),
			MAPIBlockOutlookExternalConnectivity: r.boolean("MAPIBlockOutlookExternalConnectivity")}
		if v, set := r.optBool("MapiHttpEnabled"); set {
			bools = append(bools, v)
			m.MapiHttpEnabled = &bools[len(bools)-1]
		}
		if r.err != nil {
			return nil, r.err
		}
		res = append(res, m)
	}
	return res, nil
}

// setFlagsPipeline sets both blocks to the given values on every
// mailbox whose GUID is piped in (Set-CASMailbox takes -Identity from
// the pipeline).
func setFlagsPipeline(rpc, ext bool) psrp.Pipeline {
	return pipeline(command("Set-CASMailbox",
		boolParam("MAPIBlockOutlookRpcHttp", rpc),
		boolParam("MAPIBlockOutlookExternalConnectivity", ext)))
}

// setCASMailboxFlags is SetCASMailboxFlags on the Exchange endpoint:
// the GUIDs of each combination of values stream into one Set-CASMailbox
// pipeline; an item's error record (naming the item) fails that item
// only. Throttling of any item makes the whole batch transient (the
// write is idempotent, so the engine retries it).
func (c *Client) setCASMailboxFlags(ctx context.Context, op string, batch []FlagChange) ([]ItemResult, error) {
	type key struct{ rpc, ext bool }
	var order []key
	groups := map[key][]string{}
	for _, ch := range batch {
		k := key{ch.MAPIBlockOutlookRpcHttp, ch.MAPIBlockOutlookExternalConnectivity}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], ch.Guid)
	}
	failed := map[string]string{}
	for _, k := range order {
		ids := groups[k]
		pl := setFlagsPipeline(k.rpc, k.ext)
		res, err := c.runPipeline(ctx, op, pl, strValues(ids))
		var rec *psrp.ErrorRecord
		if err != nil && !errors.Is(err, psrp.ErrBroken) && errors.As(err, &rec) {
			// Exchange stopped the pipeline (throttling, a transient AD
			// error): which items it wrote is unknown, so every item of it
			// failed with Exchange's words; the write is idempotent, and
			// checkResults makes throttling transient.
			for _, id := range ids {
				failed[id] = rec.Message
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		f, err := itemErrors(op, pl, res.Errors, ids)
		if err != nil {
			return nil, err
		}
		for id, msg := range f {
			failed[id] = msg
		}
	}
	out := make([]ItemResult, len(batch))
	ids := make([]string, len(batch))
	for i, ch := range batch {
		ids[i] = ch.Guid
		msg, bad := failed[ch.Guid]
		out[i] = ItemResult{ID: ch.Guid, OK: !bad, Error: msg}
	}
	return checkResults(op, "items", out, ids)
}
