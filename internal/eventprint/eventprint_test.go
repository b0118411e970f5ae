package eventprint

import (
	"bufio"
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/engine"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 1, 0, time.UTC)

func TestPlain(t *testing.T) {
	until := time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		ev   engine.Event
		want string
	}{
		{"started", engine.Event{Kind: engine.EventStepStarted, Step: "certificate", Message: "Ensure the certificate"},
			"12:00:01 certificate       ▶ started: Ensure the certificate\n"},
		{"pre-check pass", engine.Event{Kind: engine.EventCheck, Step: "certificate", Phase: "pre",
			Check: &engine.CheckResult{Name: "san-coverage", Status: engine.CheckPass, Message: "all names covered"}},
			"12:00:01 certificate       ✓ pre-check san-coverage: all names covered\n"},
		{"post-check fail with evidence", engine.Event{Kind: engine.EventCheck, Step: "public-dns", Phase: "post",
			Check: &engine.CheckResult{Name: "authoritative", Status: engine.CheckFail, Message: "serials differ",
				Evidence: []string{"ns1: 2026030101", "ns2: 2026030100"}}},
			"12:00:01 public-dns        ✗ post-check authoritative: serials differ\n    ns1: 2026030101\n    ns2: 2026030100\n"},
		{"warn", engine.Event{Kind: engine.EventCheck, Step: "mapi-http", Phase: "pre",
			Check: &engine.CheckResult{Name: "per-mailbox", Status: engine.CheckWarn, Message: "2 mailboxes have MAPI off"}},
			"12:00:01 mapi-http         ! pre-check per-mailbox: 2 mailboxes have MAPI off\n"},
		{"plan", engine.Event{Kind: engine.EventPlan, Step: "external-urls", Plan: &engine.Plan{Summary: "2 vdirs", Changes: []engine.Change{
			{Target: `EX01\owa (Default Web Site)`, Field: "ExternalUrl", From: "$null", To: "https://outlook-ext.contoso.test/owa"},
			{Target: `EX01\ecp (Default Web Site)`, Field: "ExternalUrl", From: "https://x/ecp", To: "https://x/ecp"},
		}}},
			"12:00:01 external-urls     • plan: 1 of 2 changes pending: 2 vdirs\n" +
				"  EX01\\owa (Default Web Site) ExternalUrl: $null → https://outlook-ext.contoso.test/owa\n" +
				"  EX01\\ecp (Default Web Site) ExternalUrl: https://x/ecp (no change)\n"},
		{"plan with omitted changes", engine.Event{Kind: engine.EventPlan, Step: "block-mailboxes", Plan: &engine.Plan{Summary: "3 to block", Omitted: 2, Changes: []engine.Change{
			{Target: "a@contoso.test", Field: "MAPIBlockOutlookRpcHttp", From: "$false", To: "$true"},
		}}},
			"12:00:01 block-mailboxes   • plan: 3 of 3 changes pending: 3 to block\n" +
				"  a@contoso.test MAPIBlockOutlookRpcHttp: $false → $true\n" +
				"  (and 2 more not listed)\n"},
		{"plan of omitted changes only", engine.Event{Kind: engine.EventPlan, Step: "block-mailboxes", Plan: &engine.Plan{Omitted: 4}},
			"12:00:01 block-mailboxes   • plan: 4 of 4 changes pending\n  (and 4 more not listed)\n"},
		{"empty plan", engine.Event{Kind: engine.EventPlan, Step: "mapi-http", Plan: &engine.Plan{}},
			"12:00:01 mapi-http         • plan: 0 of 0 changes pending\n  (no change)\n"},
		{"approval", engine.Event{Kind: engine.EventApproval, Step: "public-dns", Message: "approved in advance: every step of this run is approved"},
			"12:00:01 public-dns        ✓ approval: approved in advance: every step of this run is approved\n"},
		{"approval needed", engine.Event{Kind: engine.EventApproval, Step: "public-dns", Level: "warn", Message: "approval needed"},
			"12:00:01 public-dns        ? approval: approval needed\n"},
		{"progress", engine.Event{Kind: engine.EventProgress, Step: "block-mailboxes", Progress: &engine.Progress{Done: 500, Total: 1200, Unit: "mailboxes"}},
			"12:00:01 block-mailboxes   … 500/1200 mailboxes\n"},
		{"log", engine.Event{Kind: engine.EventLog, Step: "certificate", Level: "info", Message: "importing on EX01"},
			"12:00:01 certificate         importing on EX01\n"},
		{"log warn", engine.Event{Kind: engine.EventLog, Step: "certificate", Level: "warn", Message: "EX02 slow"},
			"12:00:01 certificate       ! EX02 slow\n"},
		{"attempt", engine.Event{Kind: engine.EventAttempt, Step: "external-urls", Attempt: 2, Error: "HTTP 503", Message: "retrying in 1.2s"},
			"12:00:01 external-urls     ↻ attempt 2 failed: HTTP 503 (retrying in 1.2s)\n"},
		{"waiting", engine.Event{Kind: engine.EventWaiting, Step: "autodiscover-wait", WaitUntil: &until, Message: "Autodiscover caches"},
			"12:00:01 autodiscover-wait ⏸ waiting until 2026-03-01T14:00:00Z: Autodiscover caches\n"},
		{"done", engine.Event{Kind: engine.EventDone, Step: "certificate"},
			"12:00:01 certificate       ✓ done\n"},
		{"failed", engine.Event{Kind: engine.EventFailed, Step: "certificate", Error: "access denied"},
			"12:00:01 certificate       ✗ failed: access denied\n"},
		{"skipped", engine.Event{Kind: engine.EventSkipped, Step: "mapi-http", Message: "verified by hand"},
			"12:00:01 mapi-http         ⤼ skipped: verified by hand\n"},
		{"rolled back", engine.Event{Kind: engine.EventRolledBack, Step: "public-dns"},
			"12:00:01 public-dns        ↺ rolled back\n"},
		{"unknown kind", engine.Event{Kind: "future", Step: "x", Message: "m"},
			"12:00:01 x                 future: m\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.ev.Time = t0
			var b bytes.Buffer
			NewPlain(&b, false).Emit(tc.ev)
			if b.String() != tc.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), tc.want)
			}
			var c bytes.Buffer
			NewPlain(&c, true).Emit(tc.ev)
			if !strings.Contains(c.String(), "\x1b[") {
				t.Errorf("no color in %q", c.String())
			}
			if stripANSI(c.String()) != tc.want {
				t.Errorf("colored text differs:\n%q", stripANSI(c.String()))
			}
		})
	}
}

func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b {
			for i < len(s) && s[i] != 'm' {
				i++
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func TestJSONLines(t *testing.T) {
	until := t0.Add(time.Hour)
	events := []engine.Event{
		{Time: t0, Kind: engine.EventStepStarted, Step: "certificate"},
		{Time: t0, Kind: engine.EventPlan, Step: "external-urls", Plan: &engine.Plan{Changes: []engine.Change{{Target: "EX01\\owa", Field: "ExternalUrl", From: "$null", To: "https://a/owa?x=<1>&y"}}}},
		{Time: t0, Kind: engine.EventPlan, Step: "block-mailboxes", Plan: &engine.Plan{Changes: []engine.Change{}, Omitted: 99950}},
		{Time: t0, Kind: engine.EventCheck, Step: "certificate", Phase: "pre", Check: &engine.CheckResult{Name: "c", Status: engine.CheckPass, Evidence: []string{"e"}}},
		{Time: t0, Kind: engine.EventWaiting, Step: "autodiscover-wait", WaitUntil: &until},
		{Time: t0, Kind: engine.EventAttempt, Step: "x", Attempt: 3, Error: "boom"},
		{Time: t0, Kind: engine.EventProgress, Step: "block-mailboxes", Progress: &engine.Progress{Done: 1, Total: 2}},
	}
	var b bytes.Buffer
	s := NewJSONLines(&b)
	for _, e := range events {
		s.Emit(e)
	}
	out := b.String()
	sc := bufio.NewScanner(strings.NewReader(out))
	var got []engine.Event
	for sc.Scan() {
		var e engine.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, e)
	}
	if !reflect.DeepEqual(got, events) {
		t.Errorf("round trip:\n%+v\nwant\n%+v", got, events)
	}
	if strings.Count(out, "\n") != len(events) {
		t.Errorf("%d lines for %d events", strings.Count(out, "\n"), len(events))
	}
	if !strings.Contains(out, "<1>&y") {
		t.Error("HTML-escaped output")
	}
}

func TestConcurrentEmitKeepsLinesWhole(t *testing.T) {
	var b bytes.Buffer
	sinks := []engine.Sink{NewJSONLines(&b)}
	var p bytes.Buffer
	sinks = append(sinks, NewPlain(&p, false))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for k := 0; k < 50; k++ {
				for _, s := range sinks {
					s.Emit(engine.Event{Time: t0, Kind: engine.EventLog, Step: "s", Message: strings.Repeat("x", 100)})
				}
			}
		}(i)
	}
	wg.Wait()
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("torn JSON line %q", line)
		}
	}
	if n := strings.Count(p.String(), "\n"); n != 400 {
		t.Errorf("%d plain lines", n)
	}
}
