package exchange

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// CASMailbox is one mailbox's client-access flags, joined with its
// recipient data. Built for 100,000 rows: the script emits short names
// and the parser streams.
type CASMailbox struct {
	Guid                 string
	Alias                string
	Name                 string
	PrimarySmtpAddress   string
	RecipientTypeDetails string
	// The two blocks the runbook sets.
	MAPIBlockOutlookRpcHttp              bool
	MAPIBlockOutlookExternalConnectivity bool
	// MapiHttpEnabled is nil when the organisation's setting applies.
	// Do not write through it: rows share storage.
	MapiHttpEnabled *bool
}

// The mailbox data comes from Get-Mailbox (CASMailbox objects carry no
// Alias or RecipientTypeDetails, and Get-CASMailbox cannot filter on the
// type), the flags from Get-CASMailbox; both with -ResultSize Unlimited,
// joined here by GUID. Short property names keep 100k rows small.
func casMailboxesScript(recipientTypes []string) string {
	return scriptHeader +
		"$types = " + quoteList(recipientTypes) + "\n" +
		"$m = @(Get-Mailbox -RecipientTypeDetails $types -ResultSize Unlimited | Select-Object @{n='g';e={$_.Guid.ToString()}}, @{n='a';e={[string]$_.Alias}}, @{n='n';e={[string]$_.Name}}, @{n='s';e={[string]$_.PrimarySmtpAddress}}, @{n='t';e={[string]$_.RecipientTypeDetails}})\n" +
		"$c = @(Get-CASMailbox -ResultSize Unlimited | Select-Object @{n='g';e={$_.Guid.ToString()}}, @{n='r';e={[bool]$_.MAPIBlockOutlookRpcHttp}}, @{n='x';e={[bool]$_.MAPIBlockOutlookExternalConnectivity}}, @{n='h';e={$_.MapiHttpEnabled}})\n" +
		"$r = [pscustomobject]@{ m = $m; c = $c }\n" +
		jsonOut("$r", 3)
}

// GetCASMailboxes returns every mailbox of the given recipient types
// (e.g. UserMailbox) with its CAS flags. Never limited to 1000.
func (c *Client) GetCASMailboxes(ctx context.Context, recipientTypes []string) ([]CASMailbox, error) {
	const op = "GetCASMailboxes"
	if len(recipientTypes) == 0 {
		return nil, &OpError{Op: op, Err: errors.New("no recipient type given")}
	}
	if c.p != nil {
		return c.getCASMailboxes(ctx, op, recipientTypes)
	}
	out, err := c.run(ctx, op, casMailboxesScript(recipientTypes), "")
	if err != nil {
		return nil, err
	}
	res, err := parseCASMailboxes(out)
	if err != nil {
		return nil, badOutput(op, "%v", err)
	}
	return res, nil
}

// casFlags is a Get-CASMailbox row in 1 byte.
type casFlags uint8

const (
	flagRPC casFlags = 1 << iota
	flagExt
	flagHTTPSet
	flagHTTPTrue
)

// casParser reads {"m":[…],"c":[…]} in one pass with a small JSON scanner
// of its own (encoding/json's Decoder.Token costs seconds and hundreds of
// MB of garbage for 100k rows). Each row's strings share one allocation.
type casParser struct {
	sc    jsonScanner
	rows  []CASMailbox
	index map[uuid.UUID]int32
	flags map[uuid.UUID]casFlags // c rows seen before the m list
	has   []bool                 // rows[i] got its c row
	types map[string]string      // interned RecipientTypeDetails
	bools []bool                 // backing store of MapiHttpEnabled
	mDone bool                   // the m list has been read
}

func parseCASMailboxes(in string) ([]CASMailbox, error) {
	// Size the slices once: m and c rows both start {"g", so about half
	// of those are mailboxes. Growing 100k rows by doubling would copy
	// them over and over.
	est := strings.Count(in, `{"g"`)/2 + 1
	p := &casParser{sc: jsonScanner{s: in}, index: make(map[uuid.UUID]int32, est), types: map[string]string{},
		rows: make([]CASMailbox, 0, est), has: make([]bool, 0, est)}
	sc := &p.sc
	sc.ws()
	if sc.i == len(sc.s) {
		return nil, errors.New("no output (expected a JSON object {m, c})")
	}
	if sc.s[0] != '{' && sc.s[0] != '[' {
		return nil, fmt.Errorf("not JSON: %s", snippet(in))
	}
	if err := sc.expect('{'); err != nil {
		return nil, fmt.Errorf("expected a JSON object {m, c}: %w", err)
	}
	var gotM, gotC bool
	for first := true; ; first = false {
		more, err := sc.more('}', first)
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		key, err := sc.key()
		if err != nil {
			return nil, err
		}
		switch key {
		case "m":
			gotM = true
			if err := p.array(p.mailboxRow); err != nil {
				return nil, fmt.Errorf("mailbox list: %w", err)
			}
			p.mDone, p.flags = true, nil
		case "c":
			gotC = true
			if err := p.array(p.casRow); err != nil {
				return nil, fmt.Errorf("CAS mailbox list: %w", err)
			}
		default:
			if err := sc.skipValue(); err != nil {
				return nil, err
			}
		}
	}
	sc.ws()
	if sc.i != len(sc.s) {
		return nil, fmt.Errorf("text after the JSON object at offset %d", sc.i)
	}
	if !gotM || !gotC {
		return nil, errors.New("property m or c is missing")
	}
	// A mailbox without a CAS row (created between the two reads) is
	// left out; the next run sees it.
	out := p.rows[:0]
	for i := range p.rows {
		if p.has[i] {
			out = append(out, p.rows[i])
		}
	}
	return out, nil
}

// array reads an array of objects (null: none; one object: a list of one).
func (p *casParser) array(row func() error) error {
	sc := &p.sc
	sc.ws()
	switch sc.peek() {
	case 'n':
		return sc.null()
	case '{':
		sc.i++
		return row()
	case '[':
		sc.i++
	default:
		return sc.errf("expected an array")
	}
	for first := true; ; first = false {
		more, err := sc.more(']', first)
		if err != nil || !more {
			return err
		}
		if err := sc.expect('{'); err != nil {
			return err
		}
		if err := row(); err != nil {
			return err
		}
	}
}

func parseGUID(s string) (uuid.UUID, error) {
	u, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return uuid.UUID{}, fmt.Errorf("property g: %q is not a GUID", s)
	}
	return u, nil
}

// mailboxRow reads the rest of an m object (after its '{').
func (p *casParser) mailboxRow() error {
	sc := &p.sc
	var f [5]string // g a n s t
	var seen uint8
	for first := true; ; first = false {
		more, err := sc.more('}', first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		k, err := sc.key()
		if err != nil {
			return err
		}
		idx := strings.IndexByte("ganst", singleByte(k))
		if idx < 0 || len(k) != 1 {
			if err := sc.skipValue(); err != nil {
				return err
			}
			continue
		}
		if f[idx], err = sc.str(k); err != nil { // k, not "property "+k: no allocation per field
			return err
		}
		seen |= 1 << idx
	}
	if seen != 31 {
		return fmt.Errorf("mailbox %d: a property of g, a, n, s, t is missing", len(p.rows))
	}
	u, err := parseGUID(f[0])
	if err != nil {
		return err
	}
	if _, dup := p.index[u]; dup {
		return nil
	}
	// one allocation for the row's strings (and none kept of the input)
	all := f[0] + f[1] + f[2] + f[3]
	a, n := len(f[0]), len(f[0])+len(f[1])
	s := n + len(f[2])
	typ, ok := p.types[f[4]]
	if !ok {
		typ = strings.Clone(f[4])
		p.types[typ] = typ
	}
	i := len(p.rows)
	p.index[u] = int32(i)
	p.rows = append(p.rows, CASMailbox{Guid: all[:a], Alias: all[a:n], Name: all[n:s], PrimarySmtpAddress: all[s:], RecipientTypeDetails: typ})
	p.has = append(p.has, false)
	if fl, ok := p.flags[u]; ok {
		p.apply(i, fl)
	}
	return nil
}

func singleByte(k string) byte {
	if len(k) == 0 {
		return 0
	}
	return k[0]
}

// casRow reads the rest of a c object (after its '{').
func (p *casParser) casRow() error {
	sc := &p.sc
	var g string
	var f casFlags
	var seen uint8
	for first := true; ; first = false {
		more, err := sc.more('}', first)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		k, err := sc.key()
		if err != nil {
			return err
		}
		switch k {
		case "g":
			if g, err = sc.str(k); err != nil {
				return err
			}
			seen |= 1
		case "r", "x":
			v, isNull, err := sc.boolean()
			if err != nil || isNull {
				return fmt.Errorf("property %s: expected true or false%s", k, errSuffix(err))
			}
			if v {
				if k == "r" {
					f |= flagRPC
				} else {
					f |= flagExt
				}
			}
			if k == "r" {
				seen |= 2
			} else {
				seen |= 4
			}
		case "h":
			v, isNull, err := sc.boolean()
			if err != nil {
				return fmt.Errorf("property h: expected true, false or null%s", errSuffix(err))
			}
			if !isNull {
				f |= flagHTTPSet
				if v {
					f |= flagHTTPTrue
				}
			}
			seen |= 8
		default:
			if err := sc.skipValue(); err != nil {
				return err
			}
		}
	}
	if seen != 15 {
		return errors.New("a CAS mailbox lacks a property of g, r, x, h")
	}
	u, err := parseGUID(g)
	if err != nil {
		return err
	}
	if i, ok := p.index[u]; ok {
		p.apply(int(i), f)
		return nil
	}
	if p.mDone {
		return nil // not a mailbox of the wanted types
	}
	// the c list came first: keep the flags until the m list arrives
	if p.flags == nil {
		p.flags = map[uuid.UUID]casFlags{}
	}
	p.flags[u] = f
	return nil
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}

func (p *casParser) apply(i int, f casFlags) {
	r := &p.rows[i]
	r.MAPIBlockOutlookRpcHttp = f&flagRPC != 0
	r.MAPIBlockOutlookExternalConnectivity = f&flagExt != 0
	if f&flagHTTPSet != 0 {
		if len(p.bools) == cap(p.bools) {
			p.bools = make([]bool, 0, 1024)
		}
		p.bools = append(p.bools, f&flagHTTPTrue != 0)
		r.MapiHttpEnabled = &p.bools[len(p.bools)-1]
	} else {
		r.MapiHttpEnabled = nil
	}
	p.has[i] = true
}

// FlagChange sets the two blocks of one mailbox, by GUID.
type FlagChange struct {
	Guid                                 string
	MAPIBlockOutlookRpcHttp              bool
	MAPIBlockOutlookExternalConnectivity bool
}

// MaxFlagBatch is the most items one SetCASMailboxFlags script carries
// (its command line must fit in one WS-Man envelope).
const MaxFlagBatch = 1000

func bit(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

func setCASFlagsScript(batch []FlagChange) string {
	items := make([]string, len(batch))
	for i, ch := range batch {
		items[i] = ch.Guid + "|" + bit(ch.MAPIBlockOutlookRpcHttp) + "|" + bit(ch.MAPIBlockOutlookExternalConnectivity)
	}
	// One compact item per mailbox keeps 1000 items inside one envelope.
	return scriptHeader +
		"$items = " + quoteList(items) + "\n" +
		`$r = foreach ($i in $items) {
    $p = $i.Split('|')
    $rpc = $p[1] -eq '1'
    $ext = $p[2] -eq '1'
    try {
        Set-CASMailbox -Identity $p[0] -MAPIBlockOutlookRpcHttp $rpc -MAPIBlockOutlookExternalConnectivity $ext
        [pscustomobject]@{ Id = $p[0]; Ok = $true; Error = $null }
    } catch {
        [pscustomobject]@{ Id = $p[0]; Ok = $false; Error = $_.Exception.Message }
    }
}
` + jsonOut("@($r)", 3)
}

// SetCASMailboxFlags writes the blocks of a batch of mailboxes in one
// script, each item in its own try/catch, and returns a result per item
// (ID = GUID) in order.
func (c *Client) SetCASMailboxFlags(ctx context.Context, batch []FlagChange) ([]ItemResult, error) {
	const op = "SetCASMailboxFlags"
	if len(batch) == 0 {
		return nil, nil
	}
	if len(batch) > MaxFlagBatch {
		return nil, &OpError{Op: op, Err: fmt.Errorf("%d items in one batch, at most %d", len(batch), MaxFlagBatch)}
	}
	ids := make([]string, len(batch))
	norm := make([]FlagChange, len(batch))
	for i, ch := range batch {
		g, err := checkGUID(op, "mailbox", ch.Guid)
		if err != nil {
			return nil, err
		}
		norm[i] = ch
		norm[i].Guid = g
		ids[i] = g
	}
	if c.p != nil {
		return c.setCASMailboxFlags(ctx, op, norm)
	}
	out, err := c.run(ctx, op, setCASFlagsScript(norm), "")
	if err != nil {
		return nil, err
	}
	return decodeItems(op, out, ids)
}
