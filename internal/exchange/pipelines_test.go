package exchange

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/psrp"
)

func serverObjs() []psrp.Value {
	return []psrp.Value{
		obj("Name", "EX01", "Fqdn", "ex01.contoso.test", "Guid", guidv(1), "AdminDisplayVersion", "Version 15.2 (Build 1544.4)", "ServerRole", "Mailbox", "IsEdgeServer", false),
		obj("Name", "EDGE01", "Fqdn", "edge01.perimeter.test", "Guid", guidv(2), "AdminDisplayVersion", "Version 15.2 (Build 1544.4)", "ServerRole", "Edge", "IsEdgeServer", true),
		obj("Name", "EX02", "Fqdn", "ex02.contoso.test", "Guid", gid(3), "AdminDisplayVersion", "Version 15.2 (Build 1544.4)", "ServerRole", "Mailbox", "IsEdgeServer", nil),
	}
}

func TestGetExchangeServersPipelines(t *testing.T) {
	ctx := context.Background()
	f := newFakePipes()
	f.answers[serversPipeline.String()] = func([]psrp.Value) (*psrp.Result, error) { return &psrp.Result{Output: serverObjs()}, nil }
	c := New(f)
	all, err := c.GetExchangeServers(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Name != "EX01" || all[1].Name != "EX02" || all[1].Guid != gid(3) {
		t.Fatalf("servers %+v: the Edge server must be left out", all)
	}
	named, err := c.GetExchangeServers(ctx, []string{"ex02.contoso.test"})
	if err != nil || len(named) != 1 || named[0].Name != "EX02" {
		t.Fatalf("named: %+v %v", named, err)
	}
	if _, err := c.GetExchangeServers(ctx, []string{"EDGE01"}); err == nil || !strings.Contains(err.Error(), "Edge Transport") {
		t.Fatalf("naming the Edge server: %v", err)
	}
	if _, err := c.GetExchangeServers(ctx, []string{"EX09"}); err == nil || !strings.Contains(err.Error(), `"EX09" was not found`) {
		t.Fatalf("unknown server: %v", err)
	}
	checkPipelineGolden(t, "exchange_servers", f.sent[:1])

	// Missing property, empty result, a non-object.
	for _, tc := range []struct {
		name string
		out  []psrp.Value
		want string
	}{
		{"missing", []psrp.Value{obj("Name", "EX01", "Fqdn", "x", "AdminDisplayVersion", "v", "ServerRole", "Mailbox", "IsEdgeServer", false)}, "property Guid is missing"},
		{"empty", nil, "no Exchange server found"},
		{"notobject", []psrp.Value{"EX01"}, "expected an object"},
		{"edgeonly", serverObjs()[1:2], "no Exchange server found"},
	} {
		f := newFakePipes().on(serversPipeline.String(), tc.out...)
		if _, err := New(f).GetExchangeServers(ctx, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestGetCASMailboxesPipelines(t *testing.T) {
	ctx := context.Background()
	f := newFakePipes()
	f.on(casMailboxesPipeline([]string{"UserMailbox", "SharedMailbox"}).String(),
		obj("Guid", guidv(1), "Name", "山田 太郎", "PrimarySmtpAddress", "yamada@contoso.test",
			"MAPIBlockOutlookRpcHttp", false, "MAPIBlockOutlookExternalConnectivity", true, "MapiHttpEnabled", nil),
		obj("Guid", guidv(2), "Name", "O'Brien; DROP", "PrimarySmtpAddress", "ob@contoso.test",
			"MAPIBlockOutlookRpcHttp", true, "MAPIBlockOutlookExternalConnectivity", false, "MapiHttpEnabled", false),
	)
	got, err := New(f).GetCASMailboxes(ctx, []string{"UserMailbox", "SharedMailbox"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d mailboxes, want 2", len(got))
	}
	if got[0].Name != "山田 太郎" || got[0].MAPIBlockOutlookRpcHttp || !got[0].MAPIBlockOutlookExternalConnectivity || got[0].MapiHttpEnabled != nil || got[0].RecipientTypeDetails != "" {
		t.Fatalf("row 0 %+v", got[0])
	}
	if got[1].Name != "O'Brien; DROP" || !got[1].MAPIBlockOutlookRpcHttp || got[1].MapiHttpEnabled == nil || *got[1].MapiHttpEnabled {
		t.Fatalf("row 1 %+v", got[1])
	}
	checkPipelineGolden(t, "cas_mailboxes", f.sent)
	if len(f.sent) != 1 {
		t.Fatalf("%d pipelines, want one read", len(f.sent))
	}

	// One type: the rows carry it. An empty organisation.
	f = newFakePipes().on(casMailboxesPipeline([]string{"UserMailbox"}).String(),
		obj("Guid", guidv(3), "Name", "New", "PrimarySmtpAddress", "new@contoso.test",
			"MAPIBlockOutlookRpcHttp", false, "MAPIBlockOutlookExternalConnectivity", false, "MapiHttpEnabled", nil))
	if got, err := New(f).GetCASMailboxes(ctx, []string{"UserMailbox"}); err != nil || len(got) != 1 || got[0].RecipientTypeDetails != "UserMailbox" {
		t.Fatalf("one type: %+v %v", got, err)
	}
	f = newFakePipes().on(casMailboxesPipeline([]string{"UserMailbox"}).String())
	if got, err := New(f).GetCASMailboxes(ctx, []string{"UserMailbox"}); err != nil || len(got) != 0 {
		t.Fatalf("empty: %v %v", got, err)
	}
	// A flag that is not a boolean.
	f = newFakePipes().on(casMailboxesPipeline([]string{"UserMailbox"}).String(),
		obj("Guid", guidv(1), "Name", "x", "PrimarySmtpAddress", "x@contoso.test", "MAPIBlockOutlookRpcHttp", "maybe", "MAPIBlockOutlookExternalConnectivity", false, "MapiHttpEnabled", nil))
	if _, err := New(f).GetCASMailboxes(ctx, []string{"UserMailbox"}); err == nil || !strings.Contains(err.Error(), "MAPIBlockOutlookRpcHttp") {
		t.Fatalf("bad flag: %v", err)
	}
	// A type with a quote is quoted, not spliced.
	if got := recipientTypeFilter([]string{"UserMailbox", "x' -or 'y"}); got != "RecipientTypeDetails -eq 'UserMailbox' -or RecipientTypeDetails -eq 'x'' -or ''y'" {
		t.Errorf("filter = %s", got)
	}
}

func TestSetCASMailboxFlagsPipelines(t *testing.T) {
	ctx := context.Background()
	batch := []FlagChange{
		{Guid: gid(1), MAPIBlockOutlookRpcHttp: true, MAPIBlockOutlookExternalConnectivity: true},
		{Guid: gid(2), MAPIBlockOutlookRpcHttp: false, MAPIBlockOutlookExternalConnectivity: false},
		{Guid: gid(3), MAPIBlockOutlookRpcHttp: true, MAPIBlockOutlookExternalConnectivity: true},
	}
	f := newFakePipes()
	var piped []psrp.Value
	f.onFunc(setFlagsPipeline(true, true).String(), func(in []psrp.Value) (*psrp.Result, error) {
		piped = append(piped, in...)
		return &psrp.Result{Errors: []*psrp.ErrorRecord{{Message: "The operation couldn't be performed because object '" + gid(3) + "' couldn't be found on 'dc01.contoso.test'.", TargetName: gid(3)}}}, nil
	})
	f.onFunc(setFlagsPipeline(false, false).String(), func(in []psrp.Value) (*psrp.Result, error) {
		piped = append(piped, in...)
		return &psrp.Result{}, nil
	})
	res, err := New(f).SetCASMailboxFlags(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || !res[0].OK || !res[1].OK || res[2].OK || !strings.Contains(res[2].Error, "couldn't be found") {
		t.Fatalf("results %+v", res)
	}
	if len(piped) != 3 || piped[0] != gid(1) || piped[1] != gid(3) || piped[2] != gid(2) {
		t.Fatalf("piped %v: every identity is a GUID, streamed as input", piped)
	}
	checkPipelineGolden(t, "set_cas_mailbox_flags", f.sent)

	// Throttling of one item: the batch is transient.
	f = newFakePipes().onFunc(setFlagsPipeline(true, true).String(), func(in []psrp.Value) (*psrp.Result, error) {
		return &psrp.Result{Errors: []*psrp.ErrorRecord{{Message: "The user has exceeded the throttling budget for PowerShell.", Target: gid(1)}}}, nil
	})
	_, err = New(f).SetCASMailboxFlags(ctx, batch[:1])
	if !errkind.IsTransient(err) {
		t.Fatalf("throttled: %v, want transient", err)
	}
	// An error that names no item sent fails the batch in the server's words.
	f = newFakePipes().onFunc(setFlagsPipeline(true, true).String(), func(in []psrp.Value) (*psrp.Result, error) {
		return &psrp.Result{Errors: []*psrp.ErrorRecord{{Message: "Active Directory is unavailable."}}}, nil
	})
	if _, err = New(f).SetCASMailboxFlags(ctx, batch[:1]); err == nil || !strings.Contains(err.Error(), "Active Directory is unavailable.") {
		t.Fatalf("unattributed error: %v", err)
	}
	// A non-GUID identity never reaches the server.
	f = newFakePipes()
	if _, err = New(f).SetCASMailboxFlags(ctx, []FlagChange{{Guid: "yamada'; Remove-Mailbox"}}); err == nil || len(f.sent) != 0 {
		t.Fatalf("hostile identity: %v, sent %v", err, f.sent)
	}
}

func TestExpandGroupPipelines(t *testing.T) {
	ctx := context.Background()
	f := newFakePipes()
	f.on(groupPipeline("Allowed Users").String(), obj("Guid", guidv(100), "Name", "Allowed Users"))
	f.on(groupMembersPipeline(gid(100)).String(),
		obj("Guid", guidv(1), "Name", "Yamada", "RecipientType", "UserMailbox", "RecipientTypeDetails", "UserMailbox"),
		obj("Guid", guidv(101), "Name", "Nested", "RecipientType", "MailUniversalSecurityGroup", "RecipientTypeDetails", "MailUniversalSecurityGroup"),
		obj("Guid", guidv(102), "Name", "Sales (dynamic)", "RecipientType", "DynamicDistributionGroup", "RecipientTypeDetails", "DynamicDistributionGroup"),
		obj("Guid", guidv(9), "Name", "Partner", "RecipientType", "MailContact", "RecipientTypeDetails", "MailContact"),
	)
	f.on(groupMembersPipeline(gid(101)).String(),
		obj("Guid", guidv(2), "Name", "Ng", "RecipientType", "UserMailbox", "RecipientTypeDetails", "UserMailbox"),
		obj("Guid", guidv(1), "Name", "Yamada", "RecipientType", "UserMailbox", "RecipientTypeDetails", "UserMailbox"),
		obj("Guid", guidv(100), "Name", "Allowed Users", "RecipientType", "MailUniversalDistributionGroup", "RecipientTypeDetails", "MailUniversalDistributionGroup"),
	)
	f.on(dynamicGroupPipeline(gid(102)).String(),
		obj("Guid", guidv(102), "Name", "Sales (dynamic)", "RecipientFilter", "((Department -eq 'Sales') -and (RecipientType -eq 'UserMailbox'))", "RecipientContainer", "contoso.test/Sales"))
	f.on(recipientPreviewPipeline("((Department -eq 'Sales') -and (RecipientType -eq 'UserMailbox'))", "contoso.test/Sales").String(),
		obj("Guid", guidv(3), "Name", "Sato", "RecipientType", "UserMailbox", "RecipientTypeDetails", "UserMailbox"))
	exp, err := New(f).ExpandGroup(ctx, "Allowed Users")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(exp.MailboxGUIDs(), ","); got != gid(1)+","+gid(2)+","+gid(3) {
		t.Fatalf("mailboxes %s", got)
	}
	if len(exp.Others) != 1 || exp.Others[0].RecipientType != "MailContact" || len(exp.Groups) != 2 || exp.Guid != gid(100) {
		t.Fatalf("expansion %+v", exp)
	}
	checkPipelineGolden(t, "expand_group", f.sent)

	f = newFakePipes().onFunc(groupPipeline("Nope").String(), func([]psrp.Value) (*psrp.Result, error) {
		return &psrp.Result{Errors: []*psrp.ErrorRecord{{Message: "The operation couldn't be performed because object 'Nope' couldn't be found on 'dc01.contoso.test'."}}}, nil
	})
	if _, err := New(f).ExpandGroup(ctx, "Nope"); !errors.Is(err, ErrGroupNotFound) || !strings.Contains(err.Error(), "couldn't be found") {
		t.Fatalf("missing group: %v", err)
	}
	f = newFakePipes().on(groupPipeline("Two").String(), obj("Guid", guidv(1), "Name", "Two"), obj("Guid", guidv(2), "Name", "Two"))
	if _, err := New(f).ExpandGroup(ctx, "Two"); err == nil || !strings.Contains(err.Error(), "matches 2 groups") {
		t.Fatalf("ambiguous: %v", err)
	}

	// The group's own read is a read: a broken session and then Exchange
	// throttling are retried (enforce has no engine to retry it), a
	// missing group is not.
	calls := 0
	f = newFakePipes().onFunc(groupPipeline("Flaky").String(), func([]psrp.Value) (*psrp.Result, error) {
		calls++
		switch calls {
		case 1:
			return nil, errkind.Transient(&psrp.BrokenError{Op: "receive the output of Get-DistributionGroup"})
		case 2:
			return &psrp.Result{Errors: []*psrp.ErrorRecord{{Message: `The user "CONTOSO\admin" has exceeded the throttling budget for PowerShell. Policy part: PowerShellMaxCmdlets; Policy value: 50; Budget type: PowerShell. Please wait and try again later.`}}}, nil
		}
		return &psrp.Result{Output: []psrp.Value{obj("Guid", guidv(7), "Name", "Flaky")}}, nil
	})
	f.on(groupMembersPipeline(gid(7)).String())
	exp, err = New(f).ExpandGroup(ctx, "Flaky")
	if err != nil || exp.Guid != gid(7) || calls != 3 {
		t.Fatalf("a group read after a broken session and throttling: %+v, %v, %d calls", exp, err, calls)
	}
}
