package allowlist

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/exchange"
)

func guid(n int) string { return fmt.Sprintf("00000000-0000-0000-0000-%012d", n) }

func mbx(n int, rpc, ext bool) exchange.CASMailbox {
	return exchange.CASMailbox{Guid: guid(n), Alias: fmt.Sprintf("user%d", n), PrimarySmtpAddress: fmt.Sprintf("user%d@contoso.test", n),
		RecipientTypeDetails: "UserMailbox", MAPIBlockOutlookRpcHttp: rpc, MAPIBlockOutlookExternalConnectivity: ext}
}

func group(members ...int) exchange.GroupExpansion {
	g := exchange.GroupExpansion{Name: "AllowExternalAccess", Guid: guid(9999)}
	for _, m := range members {
		g.Mailboxes = append(g.Mailboxes, exchange.GroupMember{Guid: strings.ToUpper(guid(m)), RecipientType: "UserMailbox"})
	}
	return g
}

func TestCompute(t *testing.T) {
	cases := []struct {
		name              string
		mailboxes         []exchange.CASMailbox
		group             exchange.GroupExpansion
		blocks, unblocks  int
		allowed, missing  int
		wantPartialChange bool
	}{
		{"first run blocks everyone outside the group", []exchange.CASMailbox{mbx(1, false, false), mbx(2, false, false), mbx(3, false, false)}, group(1), 2, 0, 1, 0, false},
		{"steady state changes nothing", []exchange.CASMailbox{mbx(1, false, false), mbx(2, true, true)}, group(1), 0, 0, 1, 0, false},
		{"a user added to the group is unblocked", []exchange.CASMailbox{mbx(1, true, true), mbx(2, true, true)}, group(1, 2), 0, 2, 2, 0, false},
		{"a user removed from the group is blocked", []exchange.CASMailbox{mbx(1, false, false), mbx(2, false, false)}, group(1), 1, 0, 1, 0, false},
		{"half-set flags are completed", []exchange.CASMailbox{mbx(1, true, false), mbx(2, false, false)}, group(2), 1, 0, 1, 0, true},
		{"a member missing from the mailbox list is reported, not written", []exchange.CASMailbox{mbx(1, false, false)}, group(1, 7), 0, 0, 1, 1, false},
		{"GUIDs compare case-insensitively", []exchange.CASMailbox{{Guid: strings.ToUpper(guid(1))}}, group(1), 0, 0, 1, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Compute(c.mailboxes, c.group)
			if d.Blocks() != c.blocks || d.Unblocks() != c.unblocks || d.Allowed != c.allowed || len(d.Missing) != c.missing {
				t.Fatalf("blocks=%d unblocks=%d allowed=%d missing=%d, want %d %d %d %d", d.Blocks(), d.Unblocks(), d.Allowed, len(d.Missing), c.blocks, c.unblocks, c.allowed, c.missing)
			}
			if d.Mailboxes != len(c.mailboxes) {
				t.Errorf("mailboxes = %d", d.Mailboxes)
			}
			for _, ch := range d.Changes {
				if ch.From == ch.To {
					t.Errorf("a change that changes nothing: %+v", ch)
				}
				if ch.Guid != strings.ToLower(ch.Guid) {
					t.Errorf("GUID not normalised: %s", ch.Guid)
				}
			}
			if c.wantPartialChange && (len(d.Changes) != 1 || d.Changes[0].From != (Flags{RpcHttp: true})) {
				t.Errorf("changes = %+v", d.Changes)
			}
		})
	}
}

func TestCheckLimits(t *testing.T) {
	many := make([]exchange.CASMailbox, 60)
	for i := range many {
		many[i] = mbx(i+1, false, false)
	}
	cases := []struct {
		name     string
		diff     Diff
		lim      Limits
		limit    string
		override string
	}{
		{"empty group refused", Compute(many, group()), Limits{MaxChanges: 0}, "empty-allow-group", errkind.OverrideAllowEmptyGroup},
		{"empty group allowed with the flag", Compute(many, group()), Limits{AllowEmptyGroup: true}, "", ""},
		{"more than max-changes refused", Compute(many, group(1)), Limits{MaxChanges: 50}, "max-changes", errkind.OverrideMaxChanges},
		{"within max-changes", Compute(many[:10], group(1)), Limits{MaxChanges: 50}, "", ""},
		{"no limit", Compute(many, group(1)), Limits{}, "", ""},
		{"group whose members are all missing is not empty", Compute(many[:2], group(77)), Limits{MaxChanges: 5}, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Check(c.diff, c.lim)
			var se *errkind.SafetyError
			if c.limit == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.As(err, &se) || se.Limit != c.limit || se.Override != c.override {
				t.Fatalf("err = %#v, want safety limit %s overridden by %s", err, c.limit, c.override)
			}
			if strings.Contains(err.Error(), "--") {
				t.Errorf("refusal names a command-line flag: %v", err)
			}
			if !strings.Contains(err.Error(), "AllowExternalAccess") {
				t.Errorf("refusal does not name the group: %v", err)
			}
		})
	}
	err := Check(Compute(many, group(1)), Limits{MaxChanges: 50})
	if !strings.Contains(err.Error(), "59 mailboxes would change") {
		t.Errorf("max-changes message lacks the count: %v", err)
	}
}

// fakeWriter records batches and refuses the GUIDs in refuse.
type fakeWriter struct {
	batches [][]exchange.FlagChange
	refuse  map[string]string
	failAt  int // batch number (1-based) that fails as a whole
	omit    string
}

func (f *fakeWriter) SetCASMailboxFlags(ctx context.Context, batch []exchange.FlagChange) ([]exchange.ItemResult, error) {
	f.batches = append(f.batches, batch)
	if len(f.batches) == f.failAt {
		return nil, errkind.Transient(errors.New("HTTP 500"))
	}
	var out []exchange.ItemResult
	for _, b := range batch {
		if b.Guid == f.omit {
			continue
		}
		if msg, ok := f.refuse[b.Guid]; ok {
			out = append(out, exchange.ItemResult{ID: strings.ToUpper(b.Guid), OK: false, Error: msg})
			continue
		}
		out = append(out, exchange.ItemResult{ID: strings.ToUpper(b.Guid), OK: true})
	}
	return out, nil
}

func TestApplyBatchesAndReportsPerMailbox(t *testing.T) {
	var mbs []exchange.CASMailbox
	for i := 1; i <= 7; i++ {
		mbs = append(mbs, mbx(i, false, false))
	}
	d := Compute(mbs, group(1))
	w := &fakeWriter{refuse: map[string]string{guid(4): "The operation couldn't be performed because object '4' couldn't be found."}, omit: guid(6)}
	var progress []int
	var audited []string
	res, err := Apply(context.Background(), w, d.Changes, Options{BatchSize: 2}, Hooks{
		Progress: func(done, total int) { progress = append(progress, done) },
		Audit: func(c Change, err error) {
			s := c.Guid[len(c.Guid)-1:]
			if err != nil {
				s += "!"
			}
			audited = append(audited, s)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(w.batches) != 3 || len(w.batches[0]) != 2 || len(w.batches[2]) != 2 {
		t.Fatalf("batches = %v", w.batches)
	}
	for _, b := range w.batches {
		for _, fc := range b {
			if !fc.MAPIBlockOutlookRpcHttp || !fc.MAPIBlockOutlookExternalConnectivity {
				t.Errorf("write %+v does not block both", fc)
			}
		}
	}
	if len(res.Applied) != 4 || len(res.Failed) != 2 {
		t.Fatalf("applied=%d failed=%v", len(res.Applied), res.Failed)
	}
	if !strings.Contains(res.Failed[0].Error, "couldn't be found") || !strings.Contains(res.Failed[1].Error, "no result") {
		t.Errorf("failures = %+v", res.Failed)
	}
	if fmt.Sprint(progress) != "[2 4 6]" || strings.Join(audited, ",") != "2,3,4!,5,6!,7" {
		t.Errorf("progress=%v audited=%v", progress, audited)
	}
}

func TestApplyStopsOnBatchErrorAndPendingResumes(t *testing.T) {
	var mbs []exchange.CASMailbox
	for i := 1; i <= 6; i++ {
		mbs = append(mbs, mbx(i, false, false))
	}
	d := Compute(mbs, group())
	w := &fakeWriter{failAt: 2}
	res, err := Apply(context.Background(), w, d.Changes, Options{BatchSize: 2}, Hooks{})
	if !errkind.IsTransient(err) || len(res.Applied) != 2 {
		t.Fatalf("err=%v applied=%d", err, len(res.Applied))
	}
	// What the organisation looks like now: the first batch was written.
	now := append([]exchange.CASMailbox(nil), mbs...)
	now[0].MAPIBlockOutlookRpcHttp, now[0].MAPIBlockOutlookExternalConnectivity = true, true
	now[1].MAPIBlockOutlookRpcHttp, now[1].MAPIBlockOutlookExternalConnectivity = true, true
	rest := Pending(d.Changes, now[:5]) // mailbox 6 was deleted meanwhile
	if len(rest) != 3 || rest[0].Guid != guid(3) {
		t.Fatalf("pending = %+v", rest)
	}
	back := Reverse(d.Changes)
	if back[0].To != Open || back[0].From != Blocked || back[0].Direction() != "unblock" {
		t.Fatalf("reverse = %+v", back[0])
	}
}

func TestChangeLabelAndFlags(t *testing.T) {
	c := Change{Guid: guid(1), Alias: "o'brien", SMTP: "o'brien@contoso.test", To: Blocked}
	if c.Label() != "o'brien <o'brien@contoso.test> "+guid(1) || c.Direction() != "block" {
		t.Errorf("label=%q dir=%s", c.Label(), c.Direction())
	}
	if (Change{To: Flags{RpcHttp: true}}).Direction() != "set" {
		t.Error("a partial target is not a block")
	}
	if Blocked.String() != "RpcHttp=$true External=$true" {
		t.Error(Blocked.String())
	}
}
