package rps_test

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/org/orgtest"
	"github.com/exrunbook/exrunbook/internal/psrp"
	"github.com/google/uuid"
)

// samplesDir holds the real Exchange CLIXML samples, kept with the codec's
// tests (internal/psrp/testdata/samples; the SOURCES file there names
// each origin and commit).
const samplesDir = "../../psrp/testdata/samples"

// sampleProp is one property of a sample object: its element (S, B, G,
// DT, I32, URI, Nil, BA, Obj) and, for an Obj, its first type name and
// whether it holds a list.
type sampleProp struct {
	kind string
	tn   string
	list bool
	text string // an S's text, an Obj's ToString
}

type sampleObject struct {
	typeNames []string
	toString  string
	props     map[string]sampleProp
	order     []string
}

// xmlNode is a generic CLIXML element.
type xmlNode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []xmlNode  `xml:",any"`
}

func (n xmlNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n xmlNode) child(local string) *xmlNode {
	for i := range n.Children {
		if n.Children[i].XMLName.Local == local {
			return &n.Children[i]
		}
	}
	return nil
}

// parseSample reads the first top-level object of an Export-Clixml sample.
func parseSample(t *testing.T, file string) sampleObject {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samplesDir, file))
	if err != nil {
		t.Fatal(err)
	}
	var root xmlNode
	if err := xml.Unmarshal(b, &root); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	tns := map[string][]string{}
	var collect func(n xmlNode)
	collect = func(n xmlNode) {
		if n.XMLName.Local == "TN" {
			var names []string
			for _, c := range n.Children {
				names = append(names, c.Text)
			}
			tns[n.attr("RefId")] = names
		}
		for _, c := range n.Children {
			collect(c)
		}
	}
	collect(root)
	chainOf := func(o xmlNode) []string {
		if tn := o.child("TN"); tn != nil {
			return tns[tn.attr("RefId")]
		}
		if ref := o.child("TNRef"); ref != nil {
			return tns[ref.attr("RefId")]
		}
		return nil
	}
	top := root.child("Obj")
	if top == nil {
		t.Fatalf("%s: no object", file)
	}
	so := sampleObject{typeNames: chainOf(*top), props: map[string]sampleProp{}}
	if ts := top.child("ToString"); ts != nil {
		so.toString = ts.Text
	}
	props := top.child("Props")
	if props == nil {
		t.Fatalf("%s: no Props", file)
	}
	for _, p := range props.Children {
		sp := sampleProp{kind: p.XMLName.Local, text: p.Text}
		if sp.kind == "Obj" {
			if ts := p.child("ToString"); ts != nil {
				sp.text = ts.Text
			}
			if c := chainOf(p); len(c) > 0 {
				sp.tn = c[0]
			}
			sp.list = p.child("LST") != nil
		}
		name := p.attr("N")
		so.props[name] = sp
		so.order = append(so.order, name)
	}
	return so
}

// TestObjectsMatchSamples compares the lab's objects, as the endpoint
// sends them, with the real samples (samplesDir): the type chain
// exactly; every property the lab sends must exist in the sample under
// the same name, and be of the same wire kind where the sample shows a
// primitive or a list (Nil stands for an unset value either way).
func TestObjectsMatchSamples(t *testing.T) {
	f := newFixture(t, fixtureOpts{forest: true})
	tests := []struct {
		file string
		pl   psrp.Pipeline
	}{
		{"exchangeserver-e2019cu11-export-clixml.xml", pipeline(cmd("Get-ExchangeServer", "Identity", "EX01"))},
		{"exchangeserver-e2016cu22-export-clixml.xml", pipeline(cmd("Get-ExchangeServer", "Identity", "EX01"))},
		{"owavirtualdirectory-e2019cu11-export-clixml.xml", pipeline(cmd("Get-OwaVirtualDirectory", "Server", "EX01"))},
		{"webservicesvirtualdirectory-e2019cu11-export-clixml.xml", pipeline(cmd("Get-WebServicesVirtualDirectory", "Server", "EX01"))},
		{"organizationconfig-e2019cu11-export-clixml.xml", pipeline(cmd("Get-OrganizationConfig"))},
		{"exchangecertificate-e2019cu11-export-clixml.xml", pipeline(cmd("Get-ExchangeCertificate", "Server", "EX01"))},
		{"exchangecertificate-e2013cu23-export-clixml.xml", pipeline(cmd("Get-ExchangeCertificate", "Server", "EX01"))},
		{"exchangeserver-e2019cu11-export-clixml.xml", pipeline(cmd("Get-ExchangeServer", "Identity", orgtest.EdgeServer))},
		{"dynamicdistributiongroup-e2019-export-clixml.xml", pipeline(cmd("Get-DynamicDistributionGroup", "Identity", orgtest.DynamicGroup))},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			sample := parseSample(t, tt.file)
			s := f.ok(admin, tt.pl)
			if len(s.out) == 0 {
				t.Fatalf("no output")
			}
			o := obj(t, s.out[0])
			if fmt.Sprint(o.TypeNames) != fmt.Sprint(sample.typeNames) {
				t.Errorf("type chain\n got %v\nwant %v", o.TypeNames, sample.typeNames)
			}
			if len(o.Extended) != 0 {
				t.Errorf("Extended members %v: Exchange sends its properties as Props only", o.Extended)
			}
			var missing []string
			for _, p := range o.Adapted {
				sp, ok := sample.props[p.Name]
				if !ok {
					missing = append(missing, p.Name)
					continue
				}
				if err := sameKind(p.Value, sp); err != nil {
					t.Errorf("%s: %v", p.Name, err)
				}
			}
			// ToString is the same property as in the sample
			for _, n := range []string{"Name", "Identity"} {
				if sample.props[n].text == sample.toString && sample.toString != "" {
					if v, _ := o.Get(n); v != o.ToString {
						t.Errorf("ToString %q, want the %s (%v) as in the sample", o.ToString, n, v)
					}
					break
				}
			}
			sort.Strings(missing)
			if len(missing) > 0 {
				t.Errorf("properties the sample does not have: %v", missing)
			}
		})
	}
	t.Run("certificate carries only RawData", func(t *testing.T) {
		sample := parseSample(t, "exchangecertificate-e2019cu11-export-clixml.xml")
		if fmt.Sprint(sample.order) != "[RawData]" {
			t.Fatalf("sample certificate properties %v", sample.order)
		}
		o := obj(t, f.ok(admin, pipeline(cmd("Get-ExchangeCertificate", "Server", "EX01"))).out[0])
		if len(o.Adapted) != 1 || o.Adapted[0].Name != "RawData" {
			t.Fatalf("certificate properties %v", o.Adapted)
		}
		shape := regexp.MustCompile(`^\[Subject\]\r\n  (.+)\r\n\r\n\[Issuer\]\r\n  (.+)\r\n\r\n\[Serial Number\]\r\n  [0-9A-F]+\r\n\r\n\[Not Before\]\r\n  \d\d/\d\d/\d{4} \d\d:\d\d:\d\d\r\n\r\n\[Not After\]\r\n  \d\d/\d\d/\d{4} \d\d:\d\d:\d\d\r\n\r\n\[Thumbprint\]\r\n  ([0-9A-F]{40})\r\n$`)
		for _, ts := range []string{decodeEscapes(sample.toString), o.ToString} {
			if !shape.MatchString(ts) {
				t.Errorf("ToString %q is not X509Certificate2's", ts)
			}
		}
		if m := shape.FindStringSubmatch(o.ToString); m == nil || m[1] != "CN=outlook.contoso.test" || m[3] != f.thumb {
			t.Errorf("ToString %q: subject or thumbprint wrong (want %s)", o.ToString, f.thumb)
		}
	})
	t.Run("DynamicDistributionGroup values", func(t *testing.T) {
		sample := parseSample(t, "dynamicdistributiongroup-e2019-export-clixml.xml")
		for _, name := range []string{"RecipientFilter", "RecipientContainer", "LdapRecipientFilter", "EmailAddresses"} {
			if _, ok := sample.props[name]; !ok {
				t.Fatalf("sample lacks %s", name)
			}
		}
		o := obj(t, f.ok(admin, pipeline(cmd("Get-DynamicDistributionGroup", "Identity", orgtest.DynamicGroup))).out[0])
		for name, want := range map[string]any{
			"RecipientFilter": orgtest.DynamicFilter, "RecipientContainer": "contoso.test/Users", "Name": orgtest.DynamicGroup,
			"RecipientTypeDetails": "DynamicDistributionGroup", "LdapRecipientFilter": "(&(department=Field)(extensionAttribute1=External))",
		} {
			if v, _ := o.Get(name); v != want {
				t.Errorf("%s = %#v, want %#v", name, v, want)
			}
		}
		if o.ToString != orgtest.DynamicGroup {
			t.Errorf("ToString %q, want the Name as the sample's", o.ToString)
		}
	})
	t.Run("Edge server", func(t *testing.T) {
		o := obj(t, f.ok(admin, pipeline(cmd("Get-ExchangeServer", "Identity", orgtest.EdgeServer))).out[0])
		for name, want := range map[string]any{"ServerRole": "Edge", "IsEdgeServer": true, "IsClientAccessServer": false} {
			if v, _ := o.Get(name); v != want {
				t.Errorf("%s = %#v, want %#v", name, v, want)
			}
		}
	})
}

// sameKind checks a lab value against the sample's element.
func sameKind(v psrp.Value, sp sampleProp) error {
	if v == nil || sp.kind == "Nil" {
		return nil
	}
	want := map[string]func(psrp.Value) bool{
		"S":   func(v psrp.Value) bool { _, ok := v.(string); return ok },
		"B":   func(v psrp.Value) bool { _, ok := v.(bool); return ok },
		"G":   func(v psrp.Value) bool { _, ok := v.(uuid.UUID); return ok },
		"DT":  func(v psrp.Value) bool { _, ok := v.(time.Time); return ok },
		"I32": func(v psrp.Value) bool { _, ok := v.(int32); return ok },
		"URI": func(v psrp.Value) bool { _, ok := v.(psrp.URI); return ok },
		"BA":  func(v psrp.Value) bool { _, ok := v.([]byte); return ok },
	}
	if sp.kind == "Obj" {
		if !sp.list {
			// an enum or an Exchange value type: flattened to its text at
			// the Partial level
			if _, ok := v.(string); !ok {
				return fmt.Errorf("%T, want the string form of %s", v, sp.tn)
			}
			return nil
		}
		o, ok := v.(*psrp.Object)
		if !ok || o.Kind != psrp.ListContainer || len(o.TypeNames) == 0 || o.TypeNames[0] != sp.tn {
			return fmt.Errorf("%#v, want a list of type %s", v, sp.tn)
		}
		for _, it := range o.Items {
			if _, ok := it.(string); !ok {
				return fmt.Errorf("list item %T, want strings", it)
			}
		}
		return nil
	}
	if check, ok := want[sp.kind]; ok && !check(v) {
		return fmt.Errorf("%T, want %s", v, sp.kind)
	}
	return nil
}

// decodeEscapes undoes CLIXML's _xHHHH_ escapes of CR and LF.
func decodeEscapes(s string) string {
	return strings.NewReplacer("_x000D_", "\r", "_x000A_", "\n").Replace(s)
}
