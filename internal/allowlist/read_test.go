package allowlist

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/exchange"
)

type fakeReader struct {
	g   exchange.GroupExpansion
	mbx []exchange.CASMailbox
	err error
}

func (f fakeReader) ReadAllowList(context.Context, string, []string) (exchange.GroupExpansion, []exchange.CASMailbox, error) {
	return f.g, f.mbx, f.err
}

func TestRead(t *testing.T) {
	const a, b = "aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002"
	mbx := []exchange.CASMailbox{{Guid: a, Alias: "a"}, {Guid: b, Alias: "b", MAPIBlockOutlookRpcHttp: true, MAPIBlockOutlookExternalConnectivity: true}}
	notFound := fmt.Errorf("%w: %q", exchange.ErrGroupNotFound, "G")
	cases := []struct {
		name        string
		r           fakeReader
		lim         Limits
		wantSafety  bool
		wantErr     bool
		wantMissing bool
		wantChanges int
	}{
		{name: "member stays open, other stays blocked", r: fakeReader{g: exchange.GroupExpansion{Name: "G", Mailboxes: []exchange.GroupMember{{Guid: a}}}, mbx: mbx}},
		{name: "missing group refused", r: fakeReader{mbx: mbx, err: notFound}, wantSafety: true, wantMissing: true},
		{name: "missing group allowed blocks all", r: fakeReader{mbx: mbx, err: notFound}, lim: Limits{AllowEmptyGroup: true}, wantMissing: true, wantChanges: 1},
		{name: "other errors pass through", r: fakeReader{err: errkind.Transient(errors.New("reset"))}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, got, missing, err := Read(context.Background(), tc.r, "G", []string{"UserMailbox"}, tc.lim)
			var se *errkind.SafetyError
			if tc.wantSafety != errors.As(err, &se) {
				t.Fatalf("safety error: %v", err)
			}
			if tc.wantSafety && (se.Limit != "allow-group" || se.Override != errkind.OverrideAllowEmptyGroup) {
				t.Fatalf("limit %q, override %q", se.Limit, se.Override)
			}
			if tc.wantErr && !errkind.IsTransient(err) {
				t.Fatalf("want the reader's error, got %v", err)
			}
			if missing != tc.wantMissing {
				t.Fatalf("groupMissing %v", missing)
			}
			if err != nil {
				return
			}
			if len(d.Changes) != tc.wantChanges || len(got) != len(mbx) {
				t.Fatalf("diff %+v, %d mailboxes", d, len(got))
			}
		})
	}
}

func TestChangesCodec(t *testing.T) {
	in := []Change{
		{Guid: "aaaaaaaa-0000-4000-8000-000000000001", Alias: `o'brien|"$(x)"`, From: Open, To: Blocked},
		{Guid: "bbbbbbbb-0000-4000-8000-000000000002", From: Flags{RpcHttp: true}, To: Open},
		{Guid: "cccccccc-0000-4000-8000-000000000003", Alias: "Zoë", From: Flags{External: true}, To: Flags{RpcHttp: true}},
	}
	enc := EncodeChanges(in)
	if enc[0] != `aaaaaaaa-0000-4000-8000-000000000001|03|o'brien|"$(x)"` {
		t.Fatalf("encoding %q", enc[0])
	}
	out, err := DecodeChanges(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n%+v\n%+v", in, out)
	}
	for _, bad := range []string{"", "x|03|a", "aaaaaaaa-0000-4000-8000-000000000001|0|a", "aaaaaaaa-0000-4000-8000-000000000001|04|a", "aaaaaaaa-0000-4000-8000-000000000001|03", "aaaaaaaa-0000-4000-8000-00000000000g|03|a"} {
		if _, err := DecodeChanges([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzDecodeChanges(f *testing.F) {
	f.Add("aaaaaaaa-0000-4000-8000-000000000001|03|alias")
	f.Add("AAAAAAAA-0000-4000-8000-000000000001|30|")
	f.Add("|||")
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := DecodeChanges([]string{s})
		if err != nil {
			return
		}
		again, err := DecodeChanges(EncodeChanges(cs))
		if err != nil || !reflect.DeepEqual(cs, again) {
			t.Fatalf("%q: re-encoding does not round-trip: %v %+v %+v", s, err, cs, again)
		}
	})
}

type fakeInline struct {
	run  exchange.AllowListRun
	err  error
	got  exchange.InlineWrite
	seen bool
}

func (f *fakeInline) ReadAllowListAndWrite(_ context.Context, _ string, _ []string, w exchange.InlineWrite) (exchange.AllowListRun, error) {
	f.got, f.seen = w, true
	return f.run, f.err
}

func TestReadAndWrite(t *testing.T) {
	const a, b, c = "aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002", "cccccccc-0000-4000-8000-000000000003"
	grp := exchange.GroupExpansion{Name: "G", Mailboxes: []exchange.GroupMember{{Guid: a}}}
	mbx := []exchange.CASMailbox{{Guid: a, MAPIBlockOutlookRpcHttp: true, MAPIBlockOutlookExternalConnectivity: true}, {Guid: b}, {Guid: c, MAPIBlockOutlookRpcHttp: true, MAPIBlockOutlookExternalConnectivity: true}}
	ok := func(id string) exchange.ItemResult { return exchange.ItemResult{ID: id, OK: true} }
	notFound := fmt.Errorf("%w: %q", exchange.ErrGroupNotFound, "G")
	cases := []struct {
		name        string
		run         exchange.AllowListRun
		err         error
		lim         Limits
		inline      int
		wantLimit   int
		wantWritten bool
		wantErr     string
		wantSafety  bool
		applied     int
		failed      int
	}{
		{name: "read only", run: exchange.AllowListRun{Group: grp, Mailboxes: mbx}, inline: 0},
		{name: "inline capped by max changes", run: exchange.AllowListRun{Group: grp, Mailboxes: mbx}, inline: 500, lim: Limits{MaxChanges: 50}, wantLimit: 50},
		{name: "writes match the difference", run: exchange.AllowListRun{Group: grp, Mailboxes: mbx, Written: []exchange.ItemResult{ok(b), ok(strings.ToUpper(a))}}, inline: 500, wantLimit: 500, wantWritten: true, applied: 2},
		{name: "a refused write", run: exchange.AllowListRun{Group: grp, Mailboxes: mbx, Written: []exchange.ItemResult{ok(a), {ID: b, Error: "denied"}}}, inline: 500, wantLimit: 500, wantWritten: true, applied: 1, failed: 1},
		{name: "a stray write", run: exchange.AllowListRun{Group: grp, Mailboxes: mbx, Written: []exchange.ItemResult{ok(a), ok(b), ok(c)}}, inline: 500, wantLimit: 500, wantWritten: true, wantErr: "1 written outside it", applied: 3},
		{name: "a missing write", run: exchange.AllowListRun{Group: grp, Mailboxes: mbx, Written: []exchange.ItemResult{ok(a)}}, inline: 500, wantLimit: 500, wantWritten: true, wantErr: "1 of it not written", applied: 1},
		{name: "writes beyond the limits", run: exchange.AllowListRun{Group: grp, Mailboxes: mbx, Written: []exchange.ItemResult{ok(a), ok(b)}}, lim: Limits{MaxChanges: 1}, inline: 500, wantLimit: 1, wantWritten: true, wantErr: "limits refuse", applied: 2},
		{name: "missing group refused", run: exchange.AllowListRun{Mailboxes: mbx}, err: notFound, inline: 500, wantLimit: 500, wantSafety: true},
		{name: "missing group allowed", run: exchange.AllowListRun{Mailboxes: mbx, Written: []exchange.ItemResult{ok(b)}}, err: notFound, lim: Limits{AllowEmptyGroup: true}, inline: 500, wantLimit: 500, wantWritten: true, applied: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeInline{run: tc.run, err: tc.err}
			audits := 0
			_, res, written, _, err := ReadAndWrite(context.Background(), f, "G", []string{"UserMailbox"}, tc.lim, tc.inline, Hooks{Audit: func(Change, error) { audits++ }})
			if f.got.Limit != tc.wantLimit || f.got.AllowEmptyGroup != tc.lim.AllowEmptyGroup {
				t.Fatalf("inline %+v", f.got)
			}
			var se *errkind.SafetyError
			switch {
			case tc.wantSafety:
				if !errors.As(err, &se) {
					t.Fatalf("want a safety error, got %v", err)
				}
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			}
			if written != tc.wantWritten || len(res.Applied) != tc.applied || len(res.Failed) != tc.failed {
				t.Fatalf("written %v, result %+v", written, res)
			}
			if audits != tc.applied+tc.failed {
				t.Fatalf("%d audits", audits)
			}
		})
	}
}
