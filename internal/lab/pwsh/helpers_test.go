package pwsh

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/faults"
	"github.com/exrunbook/exrunbook/internal/lab/labstats"
)

// testClock is the fixed time Get-Date returns in tests.
var testClock = time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)

const resultSizeWarning = `By default, only the first 1000 items are returned. Use the ResultSize parameter to specify the number of items returned. To return all items, specify "-ResultSize Unlimited". Be aware that, depending on the actual number of items, returning all items can take a long time and consume a large amount of memory. Also, we don't recommend storing the results in a variable. Instead, pipe the results to another command or script to perform batch operations.`

type testMailbox struct {
	alias, name string
	guid        Guid
}

func testGuid(n int) Guid {
	g, err := ParseGuid(fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n))
	if err != nil {
		panic(err)
	}
	return g
}

func mailboxes(n int) []testMailbox {
	base := []testMailbox{{"alice", "Alice Smith", testGuid(1)}, {"bob", "Bob O'Neil", testGuid(2)}, {"carol", "Carol ‘Q’ Jones", testGuid(3)}}
	if n <= len(base) {
		return base[:n]
	}
	out := append([]testMailbox(nil), base...)
	for i := len(base); i < n; i++ {
		out = append(out, testMailbox{fmt.Sprintf("user%04d", i), fmt.Sprintf("User %d", i), testGuid(i + 1)})
	}
	return out
}

func mailboxObject(m testMailbox) *Object {
	o := NewObject("Microsoft.Exchange.Data.Directory.Management.Mailbox",
		"Name", m.name, "Alias", m.alias, "Guid", m.guid, "Identity", m.alias)
	name := m.name
	o.Str = func() string { return name }
	return o
}

// testHost registers a small fake Exchange-like cmdlet set.
func testHost(t testing.TB, nMailboxes int, stats *labstats.Counters, inj *faults.Injector) *Host {
	h := NewHost(HostOptions{Stats: stats, Faults: inj, User: `CONTOSO\Administrator`,
		Now: func() time.Time { return testClock }, Sleep: func(context.Context, time.Duration) error { return nil }})
	mbx := mailboxes(nMailboxes)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(h.Register(CmdletDef{
		Name: "Get-Mailbox",
		Params: []ParamDef{
			{Name: "Identity", Type: TIdentity, Position: 1, ValueFromPipeline: true, ValueFromPipelineByPropertyName: true},
			{Name: "ResultSize", Type: TUnlimited},
			{Name: "RecipientTypeDetails", Type: TStringArray},
			{Name: "Filter", Type: TString},
		},
		Process: func(c *Call) error {
			if id, ok := c.Param("Identity"); ok && id != nil {
				key := ToString(id)
				if o, ok := id.(*Object); ok {
					v, _ := o.Get("Alias")
					key = ToString(v)
				}
				for _, m := range mbx {
					if strings.EqualFold(m.alias, key) || strings.EqualFold(m.name, key) || m.guid.String() == strings.ToLower(key) {
						return c.WriteObject(mailboxObject(m))
					}
				}
				return c.WriteError(&Error{Message: fmt.Sprintf("The operation couldn't be performed because object '%s' couldn't be found on 'dc01.contoso.test'.", key),
					ExceptionType: "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException", Category: CatNotSpecified, ErrorID: "7C5CBDB5"}, CatNotSpecified, key)
			}
			limit := int64(1000)
			unlimited := false
			if rs, ok := c.Param("ResultSize"); ok {
				u := rs.(Unlimited)
				unlimited, limit = u.IsUnlimited, u.Value
			}
			for i, m := range mbx {
				if !unlimited && int64(i) >= limit {
					if !c.IsBound("ResultSize") {
						return c.WriteWarning(resultSizeWarning)
					}
					return nil
				}
				if err := c.WriteObject(mailboxObject(m)); err != nil {
					return err
				}
			}
			return nil
		},
	}))
	must(h.Register(CmdletDef{
		Name: "Set-Thing",
		Params: []ParamDef{
			{Name: "Identity", Type: TIdentity, Position: 1, Mandatory: true, ValueFromPipeline: true, ValueFromPipelineByPropertyName: true},
			{Name: "Enabled", Type: TBool},
			{Name: "Count", Type: TInt},
			{Name: "Url", Type: TUri},
			{Name: "Services", Type: TEnum, EnumValues: []string{"None", "IMAP", "POP", "IIS", "SMTP"}, EnumNumbers: []int64{0, 1, 2, 4, 8}, Flags: true},
			{Name: "Password", Type: TSecureString},
			{Name: "Force", Type: TSwitch},
			{Name: "WhatIf", Type: TSwitch},
		},
		Process: func(c *Call) error {
			id, _ := c.Param("Identity")
			var parts []string
			if o, ok := id.(*Object); ok {
				v, _ := o.Get("Alias")
				parts = append(parts, "id=obj:"+ToString(v))
			} else {
				parts = append(parts, "id="+ToString(id))
			}
			for _, n := range []string{"Enabled", "Count", "Url", "Services", "Force", "WhatIf"} {
				if v, ok := c.Param(n); ok {
					parts = append(parts, fmt.Sprintf("%s=%s", strings.ToLower(n), ToString(v)))
				}
			}
			if v, ok := c.Param("Password"); ok {
				parts = append(parts, "password="+v.(*SecureString).Plain())
			}
			return c.WriteObject(strings.Join(parts, ";"))
		},
	}))
	must(h.Register(CmdletDef{Name: "Get-Nothing", Process: func(c *Call) error { return nil }}))
	must(h.Register(CmdletDef{
		Name:   "Get-Foo",
		Params: []ParamDef{{Name: "Name", Type: TString, Position: 1}, {Name: "Fail", Type: TSwitch}, {Name: "Uri", Type: TString}},
		Process: func(c *Call) error {
			if c.Bool("Fail") {
				return &Error{Message: "Foo failed hard.", Category: CatInvalidOperation, ExceptionType: "System.InvalidOperationException"}
			}
			if c.IsBound("Uri") {
				u, err := NewUri(c.String("Uri"))
				if err != nil {
					return err
				}
				return c.WriteObject(NewObject("Foo", "Url", u, "Services", &Flags{Type: "AllowedServices", Names: []string{"IIS", "SMTP"}, Value: 12},
					"When", time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)))
			}
			return c.WriteObject("foo:" + c.String("Name"))
		},
	}))
	must(h.Register(CmdletDef{
		Name:           "Get-ExchangeThing",
		RequiresSnapin: ExchangeSnapin,
		Process:        func(c *Call) error { return c.WriteObject("exchange") },
	}))
	must(h.Register(CmdletDef{
		Name:   "Get-Many",
		Params: []ParamDef{{Name: "Count", Type: TInt, Position: 1}},
		Process: func(c *Call) error {
			n, _ := c.Param("Count")
			for i := int64(0); i < n.(int64); i++ {
				if err := c.WriteObject(i); err != nil {
					return err
				}
			}
			return nil
		},
	}))
	return h
}

type runResult struct {
	out, err string
	code     int
}

func run(h *Host, script string, stdin string) runResult {
	var out, errb bytes.Buffer
	code := h.RunScript(context.Background(), script, strings.NewReader(stdin), &out, &errb)
	return runResult{out: out.String(), err: errb.String(), code: code}
}

// norm turns CRLF into LF and drops one trailing newline.
func norm(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.TrimSuffix(s, "\n")
}

// clixmlText decodes the <S S="Error"> lines of CLIXML stderr into text.
func clixmlText(s, stream string) string {
	var b strings.Builder
	tag := `<S S="` + stream + `">`
	for {
		i := strings.Index(s, tag)
		if i < 0 {
			break
		}
		s = s[i+len(tag):]
		j := strings.Index(s, "</S>")
		if j < 0 {
			break
		}
		b.WriteString(s[:j])
		s = s[j+4:]
	}
	r := strings.NewReplacer("_x000D_", "\r", "_x000A_", "\n", "_x005F_", "_", "&lt;", "<", "&gt;", ">", "&amp;", "&")
	return strings.ReplaceAll(r.Replace(b.String()), "\r\n", "\n")
}
