package exchange

import (
	"context"
	"errors"

	"github.com/exrunbook/exrunbook/internal/psrp"
)

// mailboxesPipeline reads the mailbox data of the given types.
func mailboxesPipeline(recipientTypes []string) psrp.Pipeline {
	return pipeline(
		command("Get-Mailbox", param("RecipientTypeDetails", psrp.NewList(strValues(recipientTypes)...)), param("ResultSize", "Unlimited")),
		selectProps("Guid", "Alias", "Name", "PrimarySmtpAddress", "RecipientTypeDetails"))
}

// casFlagsPipeline reads every mailbox's client-access flags.
var casFlagsPipeline = pipeline(
	command("Get-CASMailbox", param("ResultSize", "Unlimited")),
	selectProps("Guid", "MAPIBlockOutlookRpcHttp", "MAPIBlockOutlookExternalConnectivity", "MapiHttpEnabled"))

// getCASMailboxes is GetCASMailboxes on the Exchange endpoint: two reads
// (CASMailbox objects carry no Alias or RecipientTypeDetails, and
// Get-CASMailbox cannot filter on the type), joined here by GUID. A
// mailbox without a CAS row (created between the two reads) is left out;
// the next run sees it.
func (c *Client) getCASMailboxes(ctx context.Context, op string, recipientTypes []string) ([]CASMailbox, error) {
	mOut, err := c.readPipeline(ctx, op, mailboxesPipeline(recipientTypes), nil)
	if err != nil {
		return nil, err
	}
	cOut, err := c.readPipeline(ctx, op, casFlagsPipeline, nil)
	if err != nil {
		return nil, err
	}
	return joinCASMailboxes(op, mOut, cOut)
}

// joinCASMailboxes joins the two reads by GUID, in Get-Mailbox's order.
func joinCASMailboxes(op string, mOut, cOut []psrp.Value) ([]CASMailbox, error) {
	cs, err := rows(op, cOut)
	if err != nil {
		return nil, err
	}
	flags := make(map[string]casFlags, len(cs))
	for _, r := range cs {
		g := r.guid("Guid")
		var f casFlags
		if r.boolean("MAPIBlockOutlookRpcHttp") {
			f |= flagRPC
		}
		if r.boolean("MAPIBlockOutlookExternalConnectivity") {
			f |= flagExt
		}
		if v, set := r.optBool("MapiHttpEnabled"); set {
			f |= flagHTTPSet
			if v {
				f |= flagHTTPTrue
			}
		}
		if r.err != nil {
			return nil, r.err
		}
		flags[g] = f
	}
	ms, err := rows(op, mOut)
	if err != nil {
		return nil, err
	}
	out := make([]CASMailbox, 0, len(ms))
	bools := make([]bool, 0, len(ms))
	for _, r := range ms {
		m := CASMailbox{Guid: r.guid("Guid"), Alias: r.str("Alias"), Name: r.str("Name"),
			PrimarySmtpAddress: r.str("PrimarySmtpAddress"), RecipientTypeDetails: r.str("RecipientTypeDetails")}
		if r.err != nil {
			return nil, r.err
		}
		f, ok := flags[m.Guid]
		if !ok {
			continue
		}
		m.MAPIBlockOutlookRpcHttp = f&flagRPC != 0
		m.MAPIBlockOutlookExternalConnectivity = f&flagExt != 0
		if f&flagHTTPSet != 0 {
			bools = append(bools, f&flagHTTPTrue != 0)
			m.MapiHttpEnabled = &bools[len(bools)-1]
		}
		out = append(out, m)
	}
	return out, nil
}

// setFlagsPipeline sets both blocks to the given values on every
// mailbox whose GUID is piped in (Set-CASMailbox takes -Identity from
// the pipeline).
func setFlagsPipeline(rpc, ext bool) psrp.Pipeline {
	return pipeline(command("Set-CASMailbox",
		param("MAPIBlockOutlookRpcHttp", rpc),
		param("MAPIBlockOutlookExternalConnectivity", ext)))
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
