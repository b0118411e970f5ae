package rps_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/faults"
	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
	"github.com/exrunbook/exrunbook/internal/lab/rps"
	"github.com/exrunbook/exrunbook/internal/psrp"
	"github.com/google/uuid"
)

const notRecognizedTail = " is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."

func TestNoLanguage(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	tests := []struct {
		name string
		pl   psrp.Pipeline
	}{
		{"script command", pipeline(psrp.Command{Name: "Get-Mailbox | Where-Object { $_.Name -eq 'x' }", IsScript: true})},
		{"script after a cmdlet", pipeline(cmd("Get-Mailbox"), psrp.Command{Name: "$_", IsScript: true})},
		{"script block argument", pipeline(cmd("Select-Object", "Property", psrp.ScriptBlock("$_.Name")))},
		{"script block in a list", pipeline(cmd("Get-Mailbox", "Identity", &psrp.Object{Kind: psrp.ListContainer, Items: []psrp.Value{psrp.ScriptBlock("1")}}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.stats.Snapshot().Cmdlets["Get-Mailbox"]
			s, rec := f.run(admin, tt.pl, nil)
			if rec == nil {
				t.Fatalf("pipeline ran; want ScriptsNotAllowed")
			}
			want := psrp.ErrorRecord{Message: "The syntax is not supported by this runspace. This can occur if the runspace is in no-language mode.",
				ExceptionType: "System.Management.Automation.ParseException", FullyQualifiedErrorID: "ScriptsNotAllowed",
				Category: "ParserError", CategoryCode: 17, Reason: "ParseException"}
			if *rec != want {
				t.Errorf("record %+v, want %+v", *rec, want)
			}
			if len(s.out) != 0 || f.stats.Snapshot().Cmdlets["Get-Mailbox"] != before {
				t.Errorf("something ran: %d outputs", len(s.out))
			}
		})
	}
}

func TestCommandListBinding(t *testing.T) {
	tests := []struct {
		name     string
		pl       psrp.Pipeline
		in       []psrp.Value
		wantOut  int
		wantFQID string // terminating error id ("" = success)
		wantMsg  string
		check    func(t *testing.T, f *fixture, s *sink)
	}{
		{name: "named", pl: pipeline(cmd("Get-Mailbox", "Identity", "user10")), wantOut: 1},
		{name: "positional", pl: pipeline(cmd("Get-Mailbox", "", "user10")), wantOut: 1},
		{name: "parameter prefix", pl: pipeline(cmd("Get-Mailbox", "Ident", "user10")), wantOut: 1},
		{name: "int to Unlimited", pl: pipeline(cmd("Get-Mailbox", "ResultSize", int32(3))), wantOut: 3},
		{name: "Unlimited as text", pl: pipeline(cmd("Get-Mailbox", "ResultSize", "Unlimited")), wantOut: 16},
		{name: "switch false and bool", pl: pipeline(cmd("Set-CASMailbox", "Identity", "user11", "OWAEnabled", false, "Confirm", false)),
			check: func(t *testing.T, f *fixture, _ *sink) {
				s := f.ok(admin, pipeline(cmd("Get-CASMailbox", "Identity", "user11")))
				if v := prop(t, obj(t, s.out[0]), "OWAEnabled"); v != false {
					t.Errorf("OWAEnabled = %v after Set-CASMailbox -OWAEnabled:$false", v)
				}
			}},
		{name: "switch as parameter text", pl: pipeline(cmd("Get-OwaVirtualDirectory", "Server", "EX01", "-ADPropertiesOnly", nil)), wantOut: 1,
			check: func(t *testing.T, _ *fixture, s *sink) {
				if _, ok := obj(t, s.out[0]).Get("BasicAuthentication"); ok {
					t.Errorf("-ADPropertiesOnly did not bind: IIS properties present")
				}
			}},
		{name: "null to nullable bool", pl: pipeline(cmd("Set-CASMailbox", "Identity", "user12", "MapiHttpEnabled", nil))},
		{name: "string to bool refused", pl: pipeline(cmd("Set-CASMailbox", "Identity", "user11", "OWAEnabled", "no")),
			wantFQID: "ParameterArgumentTransformationError,Microsoft.Exchange.Management.RecipientTasks.SetCASMailbox",
			wantMsg:  `Cannot process argument transformation on parameter 'OWAEnabled'. Cannot convert value "System.String" to type "System.Boolean". Boolean parameters accept only Boolean values and numbers, such as $True, $False, 1 or 0.`},
		{name: "unknown parameter", pl: pipeline(cmd("Get-Mailbox", "Colour", "red")),
			wantFQID: "NamedParameterNotFound,Microsoft.Exchange.Management.RecipientTasks.GetMailbox",
			wantMsg:  "A parameter cannot be found that matches parameter name 'Colour'."},
		{name: "bad enum", pl: pipeline(cmd("Set-OwaVirtualDirectory", "Identity", `EX01\owa (Default Web Site)`, "ExtendedProtectionTokenChecking", "Sometimes")),
			wantFQID: "CannotConvertArgumentNoMessage,Microsoft.Exchange.Management.SystemConfigurationTasks.SetOwaVirtualDirectory"},
		{name: "dictionary Add/Remove", pl: pipeline(cmd("Set-OwaVirtualDirectory", "Identity", `EX01\owa (Default Web Site)`,
			"ExtendedProtectionSPNList", &psrp.Object{Kind: psrp.DictContainer, Entries: []psrp.Entry{
				{Key: "Add", Value: &psrp.Object{Kind: psrp.ListContainer, Items: []psrp.Value{"HTTP/mail.contoso.test", "HTTP/owa.contoso.test"}}}}})),
			check: func(t *testing.T, f *fixture, _ *sink) {
				s := f.ok(admin, pipeline(cmd("Get-OwaVirtualDirectory", "Server", "EX01")))
				l := obj(t, prop(t, obj(t, s.out[0]), "ExtendedProtectionSPNList"))
				if got := fmt.Sprint(l.Items); !strings.Contains(got, "HTTP/mail.contoso.test") || !strings.Contains(got, "HTTP/owa.contoso.test") {
					t.Errorf("ExtendedProtectionSPNList = %v after @{Add=...}", got)
				}
			}},
		{name: "strings piped into Identity", pl: pipeline(cmd("Set-CASMailbox", "ActiveSyncEnabled", false)), in: []psrp.Value{"user13", "user14"},
			check: func(t *testing.T, f *fixture, _ *sink) {
				for _, u := range []string{"user13", "user14"} {
					s := f.ok(admin, pipeline(cmd("Get-CASMailbox", "Identity", u)))
					if v := prop(t, obj(t, s.out[0]), "ActiveSyncEnabled"); v != false {
						t.Errorf("%s ActiveSyncEnabled = %v", u, v)
					}
				}
				if n := f.stats.Snapshot().Cmdlets["Set-CASMailbox"]; n != 1 {
					t.Errorf("Set-CASMailbox counted %d times for one pipeline, want 1", n)
				}
			}},
		{name: "objects piped by property name", pl: pipeline(cmd("Get-Mailbox", "Identity", "user15"), cmd("Set-CASMailbox", "PopEnabled", false))},
		{name: "empty input runs no record", pl: pipeline(cmd("Get-Mailbox")), in: []psrp.Value{}, wantOut: 0},
		{name: "mandatory missing", pl: pipeline(cmd("Enable-ExchangeCertificate", "Server", "EX01")),
			wantFQID: "MissingMandatoryParameter,Microsoft.Exchange.Management.SystemConfigurationTasks.EnableExchangeCertificate",
			wantMsg:  "Cannot process command because of one or more missing mandatory parameters: Services."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{})
			s, rec := f.run(admin, tt.pl, tt.in)
			if tt.wantFQID != "" {
				if rec == nil {
					t.Fatalf("pipeline completed; want %s", tt.wantFQID)
				}
				if rec.FullyQualifiedErrorID != tt.wantFQID || rec.ExceptionType != "System.Management.Automation.ParameterBindingException" {
					t.Errorf("error %q (%s), want %q", rec.FullyQualifiedErrorID, rec.ExceptionType, tt.wantFQID)
				}
				if tt.wantMsg != "" && rec.Message != tt.wantMsg {
					t.Errorf("message %q\nwant    %q", rec.Message, tt.wantMsg)
				}
				return
			}
			if rec != nil {
				t.Fatalf("failed: %s (%s)", rec.Message, rec.FullyQualifiedErrorID)
			}
			if len(s.errs) > 0 {
				t.Fatalf("error record: %s", s.errs[0].Message)
			}
			if len(s.out) != tt.wantOut {
				t.Errorf("%d outputs, want %d", len(s.out), tt.wantOut)
			}
			if tt.check != nil {
				tt.check(t, f, s)
			}
		})
	}
}

func TestSecureStringAndBytes(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	pw := psrp.NewSecureString("P@ssw0rd!")
	s := f.ok(admin, pipeline(cmd("Export-ExchangeCertificate", "Server", "EX01", "Thumbprint", f.thumb, "BinaryEncoded", true, "Password", pw)))
	if len(s.out) != 1 {
		t.Fatalf("%d outputs", len(s.out))
	}
	o := obj(t, s.out[0])
	pfx, ok := prop(t, o, "FileData").([]byte)
	if !ok || len(pfx) == 0 {
		t.Fatalf("FileData %T, want the PFX bytes", prop(t, o, "FileData"))
	}
	s = f.ok(admin, pipeline(cmd("Import-ExchangeCertificate", "Server", "EX02", "FileData", pfx, "Password", pw)))
	if len(s.out) != 1 || obj(t, s.out[0]).TypeNames[0] != "Microsoft.Exchange.Management.SystemConfigurationTasks.ExchangeCertificate" {
		t.Fatalf("Import-ExchangeCertificate wrote %v", s.out)
	}
	s, rec := f.run(admin, pipeline(cmd("Import-ExchangeCertificate", "Server", "EX02", "FileData", pfx, "Password", psrp.NewSecureString("wrong"))), nil)
	if rec == nil && len(s.errs) == 0 {
		t.Errorf("a wrong PFX password imported")
	}
}

func TestOnlyRestrictedSessionCommands(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	for _, name := range []string{"Where-Object", "ForEach-Object", "Get-Content", "Group-Object", "Sort-Object", "ConvertTo-Json", "Invoke-Expression", "select", "Add-PSSnapin", "Get-Nothing"} {
		t.Run(name, func(t *testing.T) {
			s, rec := f.run(admin, pipeline(cmd("Get-Mailbox"), cmd(name)), nil)
			if rec == nil {
				t.Fatalf("%s ran", name)
			}
			want := psrp.ErrorRecord{Message: "The term '" + name + "'" + notRecognizedTail,
				ExceptionType: "System.Management.Automation.CommandNotFoundException", FullyQualifiedErrorID: "CommandNotFoundException",
				Category: "ObjectNotFound", CategoryCode: 13, Reason: "CommandNotFoundException", TargetName: name, TargetType: "String", Target: name}
			if *rec != want {
				t.Errorf("record %+v\nwant   %+v", *rec, want)
			}
			if len(s.out) != 0 {
				t.Errorf("Get-Mailbox ran before the unknown command was refused")
			}
		})
	}
	tests := []struct {
		name  string
		pl    psrp.Pipeline
		check func(t *testing.T, s *sink)
	}{
		{"Select-Object -First", pipeline(cmd("Get-Mailbox"), cmd("Select-Object", "First", int32(2))), func(t *testing.T, s *sink) {
			if len(s.out) != 2 {
				t.Errorf("%d outputs, want 2", len(s.out))
			}
		}},
		{"Select-Object -Last", pipeline(cmd("Get-Mailbox", "ResultSize", "Unlimited"), cmd("Select-Object", "Last", int32(1), "ExpandProperty", "Alias")), func(t *testing.T, s *sink) {
			if len(s.out) != 1 || s.out[0] != "user15" {
				t.Errorf("outputs %v, want [user15]", s.out)
			}
		}},
		{"Select-Object -ExpandProperty", pipeline(cmd("Get-Mailbox", "Identity", "user10"), cmd("Select-Object", "ExpandProperty", "Alias")), func(t *testing.T, s *sink) {
			if len(s.out) != 1 || s.out[0] != "user10" {
				t.Errorf("outputs %v", s.out)
			}
		}},
		{"Measure-Object", pipeline(cmd("Get-Mailbox", "ResultSize", "Unlimited"), cmd("Measure-Object")), func(t *testing.T, s *sink) {
			o := obj(t, s.out[0])
			if o.TypeNames[0] != "Microsoft.PowerShell.Commands.GenericMeasureInfo" || prop(t, o, "Count") != int32(16) {
				t.Errorf("Measure-Object gave %v Count=%v", o.TypeNames, prop(t, o, "Count"))
			}
		}},
		{"Get-FormatData", pipeline(cmd("Get-FormatData", "TypeName", "Microsoft.Exchange.Data.Directory.Management.Mailbox")), func(t *testing.T, s *sink) {
			if len(s.out) != 0 {
				t.Errorf("Get-FormatData wrote %v", s.out)
			}
		}},
		{"Out-Default", pipeline(cmd("Get-Mailbox"), cmd("Out-Default")), func(t *testing.T, s *sink) {
			if len(s.out) != 0 {
				t.Errorf("Out-Default passed %d objects to the output", len(s.out))
			}
		}},
		{"Exit-PSSession", pipeline(cmd("Exit-PSSession")), func(t *testing.T, s *sink) {
			if len(s.out) != 0 {
				t.Errorf("Exit-PSSession wrote %v", s.out)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, f.ok(admin, tt.pl)) })
	}
}

func TestRBAC(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	const paramNotFound = "NamedParameterNotFound"
	tests := []struct {
		user string
		pl   psrp.Pipeline
		want string // "" ok, "notfound" not recognized, or the FQID prefix
	}{
		{admin, pipeline(cmd("Get-ExchangeCertificate", "Server", "EX01")), ""},
		{admin, pipeline(cmd("Get-Mailbox", "Server", "EX01")), ""},
		{admin, pipeline(cmd("Set-OrganizationConfig", "MapiHttpEnabled", true)), ""},
		{helpdesk, pipeline(cmd("Get-CASMailbox", "Identity", "user11")), ""},
		{helpdesk, pipeline(cmd("Set-CASMailbox", "Identity", "user11", "OWAEnabled", false)), ""},
		{helpdesk, pipeline(cmd("Get-Recipient", "ResultSize", int32(1))), ""},
		{helpdesk, pipeline(cmd("Get-DistributionGroupMember", "Identity", "AllowExternalAccess")), ""},
		{helpdesk, pipeline(cmd("Get-OrganizationConfig")), ""},
		{helpdesk, pipeline(cmd("Get-Mailbox", "Identity", "user11"), cmd("Select-Object", "Property", "Name")), ""},
		{helpdesk, pipeline(cmd("Get-ExchangeCertificate", "Server", "EX01")), "notfound"},
		{helpdesk, pipeline(cmd("Get-OwaVirtualDirectory")), "notfound"},
		{helpdesk, pipeline(cmd("Get-ExchangeServer")), "notfound"},
		{helpdesk, pipeline(cmd("Get-ClientAccessService")), "notfound"},
		{helpdesk, pipeline(cmd("Get-OutlookAnywhere")), "notfound"},
		{helpdesk, pipeline(cmd("Set-PopSettings", "Server", "EX01", "LoginType", "SecureLogin")), "notfound"},
		{helpdesk, pipeline(cmd("Set-OrganizationConfig", "MapiHttpEnabled", true)), "notfound"},
		{helpdesk, pipeline(cmd("Get-Mailbox", "Server", "EX01")), paramNotFound},
		{helpdesk, pipeline(cmd("Get-Mailbox", "Database", "DB01")), paramNotFound},
		{helpdesk, pipeline(cmd("Get-Recipient", "Database", "DB01")), paramNotFound},
		{viewer, pipeline(cmd("Get-ExchangeCertificate", "Server", "EX01")), ""},
		{viewer, pipeline(cmd("Get-OwaVirtualDirectory", "Server", "EX01")), ""},
		{viewer, pipeline(cmd("Set-CASMailbox", "Identity", "user11", "OWAEnabled", false)), "notfound"},
		{viewer, pipeline(cmd("Enable-ExchangeCertificate", "Server", "EX01", "Thumbprint", "00", "Services", "IIS")), "notfound"},
	}
	for _, tt := range tests {
		t.Run(tt.user+" "+names(tt.pl)+" "+tt.want, func(t *testing.T) {
			s, rec := f.run(tt.user, tt.pl, nil)
			switch tt.want {
			case "":
				if rec != nil {
					t.Fatalf("refused: %s", rec.Message)
				}
				if len(s.errs) > 0 {
					t.Fatalf("error: %s", s.errs[0].Message)
				}
			case "notfound":
				if rec == nil || rec.FullyQualifiedErrorID != "CommandNotFoundException" || rec.Message != "The term '"+tt.pl.Commands[0].Name+"'"+notRecognizedTail {
					t.Fatalf("got %+v, want the not-recognized error of an unknown command", rec)
				}
			default:
				if rec == nil || !strings.HasPrefix(rec.FullyQualifiedErrorID, tt.want+",") ||
					rec.Message != fmt.Sprintf("A parameter cannot be found that matches parameter name '%s'.", tt.pl.Commands[0].Params[0].Name) ||
					rec.ExceptionType != "System.Management.Automation.ParameterBindingException" {
					t.Fatalf("got %+v, want NamedParameterNotFound", rec)
				}
			}
		})
	}
}

func TestPrincipal(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	_, err := f.ep.Principal(nobody)
	var nr *rps.NoRoleError
	if !errors.As(err, &nr) || err.Error() != `The user "`+nobody+`" isn't assigned to any management roles.` || nr.FailureCategory() != "AuthZ-CmdletAccessDeniedException" {
		t.Errorf("Principal(nobody) = %v", err)
	}
	p, err := f.ep.Principal(strings.ToUpper(helpdesk))
	if err != nil || p.User != helpdesk || fmt.Sprint(p.Groups) != "[Recipient Management]" {
		t.Fatalf("Principal(upper case) = %+v, %v", p, err)
	}
	want := "[Get-CASMailbox Get-Command Get-DistributionGroup Get-DistributionGroupMember Get-DynamicDistributionGroup Get-FormatData Get-Group Get-Mailbox Get-OrganizationConfig Get-Recipient Exit-PSSession Measure-Object Out-Default Select-Object Set-ADServerSettings Set-CASMailbox]"
	got := p.Commands()
	if fmt.Sprint(sortCI(got)) != fmt.Sprint(sortCI(strings.Fields(strings.Trim(want, "[]")))) {
		t.Errorf("Recipient Management commands %v", got)
	}
	for _, bad := range []rps.Options{
		{},
		{Host: pwsh.NewHost(pwsh.HostOptions{}), Server: "EX01"},
		{Host: pwsh.NewHost(pwsh.HostOptions{})},
		{Host: pwsh.NewHost(pwsh.HostOptions{}), Server: "EX01", CmdletBudget: 5},
	} {
		if _, err := rps.New(bad); err == nil {
			t.Errorf("New(%+v) accepted", bad)
		}
	}
}

func sortCI(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		out[i] = strings.ToLower(out[i])
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func TestGetCommand(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	listed := func(user string, args ...any) map[string]*psrp.Object {
		t.Helper()
		s, rec := f.run(user, pipeline(cmd("Get-Command", args...)), nil)
		if rec != nil {
			t.Fatalf("Get-Command: %s", rec.Message)
		}
		out := map[string]*psrp.Object{}
		for _, v := range s.out {
			o := obj(t, v)
			out[prop(t, o, "Name").(string)] = o
		}
		return out
	}
	all := listed(helpdesk)
	p, _ := f.ep.Principal(helpdesk)
	if len(all) != len(p.Commands()) {
		t.Errorf("Get-Command listed %d commands, the principal has %d", len(all), len(p.Commands()))
	}
	if _, ok := all["Get-ExchangeCertificate"]; ok {
		t.Errorf("Recipient Management sees Get-ExchangeCertificate")
	}
	gm := all["Get-Mailbox"]
	if gm == nil {
		t.Fatalf("Get-Mailbox not listed")
	}
	if fmt.Sprint(gm.TypeNames) != "[System.Management.Automation.CmdletInfo System.Management.Automation.CommandInfo System.Object]" || gm.ToString != "Get-Mailbox" {
		t.Errorf("CmdletInfo shape %v %q", gm.TypeNames, gm.ToString)
	}
	ct := obj(t, prop(t, gm, "CommandType"))
	if ct.ToString != "Cmdlet" || ct.Primitive != int32(8) {
		t.Errorf("CommandType %+v", ct)
	}
	params := obj(t, prop(t, gm, "Parameters"))
	keys := map[string]*psrp.Object{}
	for _, e := range params.Entries {
		keys[e.Key.(string)] = obj(t, e.Value)
	}
	for _, k := range []string{"Identity", "ResultSize", "ErrorAction", "Filter"} {
		if keys[k] == nil {
			t.Errorf("Get-Mailbox Parameters lacks %s", k)
		}
	}
	for _, k := range []string{"Server", "Database"} {
		if keys[k] != nil {
			t.Errorf("Recipient Management sees Get-Mailbox -%s", k)
		}
	}
	if v := prop(t, keys["ResultSize"], "ParameterType"); v != "Microsoft.Exchange.Data.Unlimited`1[System.UInt32]" {
		t.Errorf("ResultSize type %v", v)
	}
	adminGM := listed(admin, "Name", "Get-Mailbox")["Get-Mailbox"]
	adminKeys := map[string]bool{}
	for _, e := range obj(t, prop(t, adminGM, "Parameters")).Entries {
		adminKeys[e.Key.(string)] = true
	}
	if !adminKeys["Server"] || !adminKeys["Database"] {
		t.Errorf("Organization Management lacks Get-Mailbox -Server/-Database")
	}
	if got := listed(helpdesk, "Name", "Set-*"); len(got) != 2 || got["Set-CASMailbox"] == nil || got["Set-ADServerSettings"] == nil {
		t.Errorf("Get-Command -Name Set-* = %v", got)
	}
	if got := listed(admin, "Verb", "Enable", "Noun", "ExchangeCertificate"); len(got) != 1 {
		t.Errorf("Get-Command -Verb Enable -Noun ExchangeCertificate = %d commands", len(got))
	}
	s, rec := f.run(helpdesk, pipeline(cmd("Get-Command", "Name", "Get-ExchangeCertificate")), nil)
	if rec != nil || len(s.out) != 0 || len(s.errs) != 1 || s.errs[0].Message != "The term 'Get-ExchangeCertificate'"+notRecognizedTail ||
		s.errs[0].FullyQualifiedErrorID != "CommandNotFoundException,Microsoft.PowerShell.Commands.GetCommandCommand" {
		t.Errorf("Get-Command of a hidden cmdlet: rec %v, out %v, errs %+v", rec, s.out, s.errs)
	}
}

func TestErrorsInExchangeWords(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	s, rec := f.run(admin, pipeline(cmd("Set-CASMailbox", "OWAEnabled", false)), []psrp.Value{"user11", "nosuchuser", "user12"})
	if rec != nil {
		t.Fatalf("per-item failure failed the pipeline: %s", rec.Message)
	}
	if len(s.errs) != 1 {
		t.Fatalf("%d error records, want 1", len(s.errs))
	}
	e := s.errs[0]
	if e.ExceptionType != "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException" || e.TargetName != "nosuchuser" ||
		e.TargetType != "String" || e.Target != "nosuchuser" || e.Activity != "Set-CASMailbox" || e.Reason != "ManagementObjectNotFoundException" {
		t.Errorf("record %+v", e)
	}
	if !strings.Contains(e.Message, "nosuchuser") {
		t.Errorf("message %q does not name the item", e.Message)
	}
	prefix := "[Server=EX01,RequestId="
	if !strings.HasPrefix(e.FullyQualifiedErrorID, prefix) {
		t.Fatalf("FullyQualifiedErrorId %q lacks Exchange's header", e.FullyQualifiedErrorID)
	}
	head := e.FullyQualifiedErrorID[len(prefix):]
	id, err := uuid.Parse(head[:36])
	if err != nil || id == uuid.Nil {
		t.Errorf("RequestId %q", head[:36])
	}
	tail := head[36:]
	want := ",TimeStamp=5/1/2026 12:00:00 PM] [FailureCategory=Cmdlet-ManagementObjectNotFoundException] "
	if !strings.HasPrefix(tail, want) || !strings.HasSuffix(tail, ",Microsoft.Exchange.Management.RecipientTasks.SetCASMailbox") {
		t.Errorf("FullyQualifiedErrorId tail %q", tail)
	}
	for _, u := range []string{"user11", "user12"} {
		out := f.ok(admin, pipeline(cmd("Get-CASMailbox", "Identity", u)))
		if prop(t, obj(t, out.out[0]), "OWAEnabled") != false {
			t.Errorf("%s was not changed around the failing item", u)
		}
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name      string
		mailboxes int
		args      []any
		wantOut   int
		wantWarn  string
	}{
		{"default 1000", 1003, nil, 1000, "By default, only the first 1000 items are returned."},
		{"explicit", 16, []any{"ResultSize", int32(5)}, 5, "There are more results available than are currently displayed."},
		{"unlimited", 1003, []any{"ResultSize", "Unlimited"}, 1003, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{mailboxes: tt.mailboxes})
			s := f.ok(admin, pipeline(cmd("Get-CASMailbox", tt.args...)))
			if len(s.out) != tt.wantOut {
				t.Errorf("%d objects, want %d", len(s.out), tt.wantOut)
			}
			switch {
			case tt.wantWarn == "" && len(s.warnings) != 0:
				t.Errorf("warnings %v", s.warnings)
			case tt.wantWarn != "" && (len(s.warnings) != 1 || !strings.HasPrefix(s.warnings[0], tt.wantWarn)):
				t.Errorf("warnings %v, want one starting %q", s.warnings, tt.wantWarn)
			}
		})
	}
}

func TestThrottlingAndFaults(t *testing.T) {
	f := newFixture(t, fixtureOpts{faults: "seed=1,throttle:Get-Mailbox=1,error:Get-Recipient=1"})
	_, rec := f.run(helpdesk, pipeline(cmd("Get-Mailbox")), nil)
	if rec == nil || rec.Message != fmt.Sprintf(faults.ThrottleMessage, helpdesk) || rec.ExceptionType != "Microsoft.Exchange.Data.Directory.OverBudgetException" ||
		!strings.Contains(rec.FullyQualifiedErrorID, "] [FailureCategory=Cmdlet-OverBudgetException] OverBudgetException,Microsoft.Exchange.Management.RecipientTasks.GetMailbox") {
		t.Errorf("throttled Get-Mailbox: %+v", rec)
	}
	_, rec = f.run(helpdesk, pipeline(cmd("Get-Recipient")), nil)
	if rec == nil || rec.ExceptionType != "Microsoft.Exchange.Data.Directory.ADTransientException" {
		t.Errorf("faulted Get-Recipient: %+v", rec)
	}
	st := f.stats.Snapshot()
	if st.Cmdlets["Get-Mailbox"] != 1 || st.Cmdlets["Get-Recipient"] != 1 {
		t.Errorf("cmdlet counts %v", st.Cmdlets)
	}
}

func TestCmdletBudget(t *testing.T) {
	clock := now
	f := newFixture(t, fixtureOpts{budget: 3, period: time.Minute, clock: func() time.Time { return clock }})
	two := pipeline(cmd("Get-Mailbox", "Identity", "user10"), cmd("Select-Object", "Property", "Name"))
	f.ok(admin, two)
	_, rec := f.run(admin, two, nil)
	want := `The user "CONTOSO\Administrator" has exceeded the throttling budget for PowerShell. Policy part: PowerShellMaxCmdlets; Policy value: 3; Budget type: PowerShell. Please wait and try again later.`
	if rec == nil || rec.Message != want || rec.FullyQualifiedErrorID != "OverBudgetException" {
		t.Fatalf("over budget: %+v", rec)
	}
	f.ok(helpdesk, two) // another user's budget
	f.ok(admin, pipeline(cmd("Get-Mailbox", "Identity", "user10")))
	clock = clock.Add(time.Minute)
	f.ok(admin, two)
	if n := f.stats.Snapshot().Cmdlets["Get-Mailbox"]; n != 4 {
		t.Errorf("Get-Mailbox counted %d times, want 4 (the refused pipeline ran nothing)", n)
	}
}

func TestNoInteractiveHost(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	const head = "A command that prompts the user failed because the host program or the command type does not support user interaction. The host was attempting to request confirmation with the following message: "
	tests := []struct {
		name string
		pl   psrp.Pipeline
		want string
	}{
		{"Remove without -Confirm:$false", pipeline(cmd("Remove-ExchangeCertificate", "Server", "EX01", "Thumbprint", f.thumb)), "Are you sure you want to perform this action?"},
		{"SMTP replacement without -Force", pipeline(cmd("New-ExchangeCertificate", "Server", "EX01", "SubjectName", "CN=mail.contoso.test", "DomainName", "mail.contoso.test", "Services", "SMTP")),
			"Overwrite the existing default SMTP certificate?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, rec := f.run(admin, tt.pl, nil)
			if rec == nil && len(s.errs) == 1 {
				rec = s.errs[0]
			}
			if rec == nil {
				t.Fatalf("prompting cmdlet succeeded")
			}
			if !strings.HasPrefix(rec.Message, head+tt.want) || rec.ExceptionType != "System.Management.Automation.Host.HostException" ||
				!strings.HasPrefix(rec.FullyQualifiedErrorID, "HostFunctionNotImplemented,") || rec.Category != "NotImplemented" {
				t.Errorf("record %+v", rec)
			}
		})
	}
	f.ok(admin, pipeline(cmd("New-ExchangeCertificate", "Server", "EX01", "SubjectName", "CN=mail.contoso.test", "DomainName", "mail.contoso.test", "Services", "SMTP", "Force", true)))
}

func TestStop(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	p, _ := f.ep.Principal(admin)
	ctx, cancel := context.WithCancel(context.Background())
	in := make(chan psrp.Value, 1)
	in <- "user11"
	done := make(chan *psrp.ErrorRecord)
	s := &sink{}
	go func() {
		done <- f.ep.Run(ctx, p, psrp.Pipeline{Commands: []psrp.Command{cmd("Get-CASMailbox")}}, in, s)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		n, errs := len(s.out), len(s.errs)
		s.mu.Unlock()
		if n == 1 {
			break
		}
		if errs > 0 || time.Now().After(deadline) {
			cancel()
			t.Fatalf("no output for the first input object (%d errors)", errs)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	rec := <-done
	if rec == nil || rec.FullyQualifiedErrorID != "PipelineStopped" || rec.ExceptionType != "System.Management.Automation.PipelineStoppedException" {
		t.Errorf("stopped pipeline returned %+v", rec)
	}
}

func TestPartialLevelShapes(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	t.Run("Select-Object -Property list", func(t *testing.T) {
		s := f.ok(admin, pipeline(cmd("Get-Mailbox", "Identity", "user10"),
			cmd("Select-Object", "Property", &psrp.Object{Kind: psrp.ListContainer, Items: []psrp.Value{"Name", "Guid", "EmailAddresses"}})))
		o := obj(t, s.out[0])
		mb := obj(t, f.ok(admin, pipeline(cmd("Get-Mailbox", "Identity", "user10"))).out[0])
		if mb.ToString != prop(t, mb, "Name") || !strings.Contains(prop(t, mb, "Identity").(string), "/") {
			t.Errorf("Mailbox ToString %q, want its Name (Identity %q)", mb.ToString, prop(t, mb, "Identity"))
		}
		cas := obj(t, f.ok(admin, pipeline(cmd("Get-CASMailbox", "Identity", "user10"))).out[0])
		if cas.ToString != prop(t, cas, "Identity") {
			t.Errorf("CASMailbox ToString %q, want its Identity", cas.ToString)
		}
		want := "[Selected.Microsoft.Exchange.Data.Directory.Management.Mailbox System.Management.Automation.PSCustomObject System.Object]"
		if fmt.Sprint(o.TypeNames) != want {
			t.Errorf("type chain %v\nwant %s", o.TypeNames, want)
		}
		if len(o.Adapted) != 0 || len(o.Extended) != 3 || o.Extended[0].Name != "Name" || o.Extended[1].Name != "Guid" || o.Extended[2].Name != "EmailAddresses" {
			t.Fatalf("properties: adapted %v, extended %v", o.Adapted, o.Extended)
		}
		if _, ok := o.Extended[1].Value.(uuid.UUID); !ok {
			t.Errorf("Guid %T, want a GUID", o.Extended[1].Value)
		}
		if l := obj(t, o.Extended[2].Value); l.TypeNames[0] != "Microsoft.Exchange.Data.ProxyAddressCollection" || len(l.Items) == 0 {
			t.Errorf("EmailAddresses %v %v", l.TypeNames, l.Items)
		}
	})
	t.Run("virtual directory values", func(t *testing.T) {
		o := obj(t, f.ok(admin, pipeline(cmd("Get-OwaVirtualDirectory", "Server", "EX01"))).out[0])
		if o.ToString != `EX01\owa (Default Web Site)` {
			t.Errorf("ToString %q", o.ToString)
		}
		if _, ok := prop(t, o, "InternalUrl").(psrp.URI); !ok {
			t.Errorf("InternalUrl %T, want a URI", prop(t, o, "InternalUrl"))
		}
		if v := prop(t, o, "ExtendedProtectionTokenChecking"); v != "None" {
			t.Errorf("ExtendedProtectionTokenChecking %#v, want the enum's name", v)
		}
		m := obj(t, prop(t, o, "InternalAuthenticationMethods"))
		if m.TypeNames[0] != "Microsoft.Exchange.Data.Directory.ADMultiValuedProperty`1[[Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthenticationMethod, Microsoft.Exchange.Data.Directory, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]" || m.Kind != psrp.ListContainer {
			t.Errorf("InternalAuthenticationMethods %v", m.TypeNames)
		}
		if _, ok := prop(t, o, "WhenCreated").(time.Time); !ok {
			t.Errorf("WhenCreated %T", prop(t, o, "WhenCreated"))
		}
		for _, p := range o.Adapted {
			if p.Name == "PSComputerName" || p.Name == "RunspaceId" {
				t.Errorf("server sent the client's %s", p.Name)
			}
		}
	})
	t.Run("deserialized object piped back binds by identity", func(t *testing.T) {
		mb := obj(t, f.ok(admin, pipeline(cmd("Get-Mailbox", "Identity", "user11"))).out[0])
		back := &psrp.Object{TypeNames: append([]string(nil), mb.TypeNames...), ToString: mb.ToString, Adapted: mb.Adapted}
		for i, n := range back.TypeNames {
			back.TypeNames[i] = "Deserialized." + n
		}
		s, rec := f.run(admin, pipeline(cmd("Set-CASMailbox", "ImapEnabled", false)), []psrp.Value{back})
		if rec != nil || len(s.errs) > 0 {
			t.Fatalf("rec %v errs %v", rec, s.errs)
		}
		c := obj(t, f.ok(admin, pipeline(cmd("Get-CASMailbox", "Identity", "user11"))).out[0])
		if prop(t, c, "ImapEnabled") != false {
			t.Errorf("ImapEnabled not changed through the piped object")
		}
	})
}

func TestClientValuesRefused(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	cyclic := &psrp.Object{TypeNames: []string{"Deserialized.Microsoft.Exchange.Data.Directory.ADObjectId"}}
	cyclic.Adapted = []psrp.Property{{Name: "DomainId", Value: cyclic}}
	deep := psrp.Value("x")
	for i := 0; i < 40; i++ {
		deep = &psrp.Object{Kind: psrp.ListContainer, Items: []psrp.Value{deep}}
	}
	tests := []struct {
		name string
		pl   psrp.Pipeline
		in   []psrp.Value
	}{
		{"self-referring parameter", pipeline(cmd("Get-Mailbox", "Identity", cyclic)), nil},
		{"too deep parameter", pipeline(cmd("Get-Mailbox", "Identity", deep)), nil},
		{"self-referring input", pipeline(cmd("Set-CASMailbox", "OWAEnabled", true)), []psrp.Value{"user10", cyclic}},
		{"value of no CLIXML type", pipeline(cmd("Get-Mailbox", "Identity", struct{}{})), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rec := f.run(admin, tt.pl, tt.in)
			if rec == nil || rec.FullyQualifiedErrorID != "ValueNotSupported" || rec.Category != "InvalidArgument" || rec.Activity != tt.pl.Commands[0].Name {
				t.Fatalf("record %+v", rec)
			}
		})
	}
}
