package exchange

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
)

func TestEveryDocumentedCmdletIsImplemented(t *testing.T) {
	x := &ex{}
	impls := x.impls()
	for _, c := range cmdletTable {
		if impls[c.Name] == nil {
			t.Errorf("%s has no implementation", c.Name)
		}
	}
	for _, c := range extraCmdlets {
		if impls[c.Name] == nil {
			t.Errorf("%s has no implementation", c.Name)
		}
	}
	if len(impls) != len(cmdletTable)+len(extraCmdlets) || len(cmdletTable) != 38 {
		t.Errorf("%d implementations, %d documented cmdlets (want 38) and %d more", len(impls), len(cmdletTable), len(extraCmdlets))
	}
}

func TestParamDefsMapping(t *testing.T) {
	find := func(cmdlet, param string) pwsh.ParamDef {
		for _, c := range cmdletTable {
			if c.Name == cmdlet {
				for _, d := range paramDefs(c) {
					if d.Name == param {
						return d
					}
				}
			}
		}
		t.Fatalf("%s -%s not found", cmdlet, param)
		return pwsh.ParamDef{}
	}
	cases := []struct {
		cmdlet, param string
		typ           pwsh.ParamType
		pos           int
	}{
		{"Set-CASMailbox", "Identity", pwsh.TIdentity, 1},
		{"Set-CASMailbox", "MAPIBlockOutlookRpcHttp", pwsh.TBool, 0},
		{"Set-CASMailbox", "MapiHttpEnabled", pwsh.TObject, 0},
		{"Get-CASMailbox", "ResultSize", pwsh.TUnlimited, 0},
		{"Set-MapiVirtualDirectory", "IISAuthenticationMethods", pwsh.TMultiValued, 0},
		{"Set-OwaVirtualDirectory", "ExternalUrl", pwsh.TUri, 0},
		{"Enable-ExchangeCertificate", "Services", pwsh.TEnum, 0},
		{"Enable-ExchangeCertificate", "Thumbprint", pwsh.TString, 1},
		{"Enable-ExchangeCertificate", "Identity", pwsh.TIdentity, 0},
		{"Import-ExchangeCertificate", "FileData", pwsh.TByteArray, 0},
		{"Import-ExchangeCertificate", "Password", pwsh.TSecureString, 0},
		{"Get-OwaVirtualDirectory", "ADPropertiesOnly", pwsh.TSwitch, 0},
		{"Set-OutlookAnywhere", "ExternalClientAuthenticationMethod", pwsh.TEnum, 0},
		{"Get-Mailbox", "RecipientTypeDetails", pwsh.TStringArray, 0},
	}
	for _, c := range cases {
		d := find(c.cmdlet, c.param)
		if d.Type != c.typ || d.Position != c.pos {
			t.Errorf("%s -%s: type %v pos %d, want %v %d", c.cmdlet, c.param, d.Type, d.Position, c.typ, c.pos)
		}
	}
	if d := find("Set-CASMailbox", "Identity"); !d.Mandatory || !d.ValueFromPipeline {
		t.Errorf("Set-CASMailbox -Identity: %+v", d)
	}
	if d := find("Enable-ExchangeCertificate", "Services"); !d.Flags || len(d.EnumValues) != len(d.EnumNumbers) {
		t.Errorf("Services flags: %+v", d)
	}
}

// TestGeneratedTableMatchesReference checks params_gen.go against
// cmdlets.json, the generator's input beside it (the build does not need it).
func TestGeneratedTableMatchesReference(t *testing.T) {
	data, err := os.ReadFile("cmdlets.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref map[string]json.RawMessage
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	n := 0
	for name, raw := range ref {
		if strings.HasPrefix(name, "_") {
			continue
		}
		n++
		var c struct {
			Parameters map[string]struct {
				Type string `json:"type"`
			} `json:"parameters"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		var spec *cmdletSpec
		for i := range cmdletTable {
			if cmdletTable[i].Name == name {
				spec = &cmdletTable[i]
			}
		}
		if spec == nil {
			t.Errorf("%s missing from the generated table", name)
			continue
		}
		if len(spec.Params) != len(c.Parameters) {
			t.Errorf("%s: %d parameters, reference has %d (run go generate)", name, len(spec.Params), len(c.Parameters))
		}
		for _, p := range spec.Params {
			if c.Parameters[p.Name].Type != p.Type {
				t.Errorf("%s -%s: %q, reference %q", name, p.Name, p.Type, c.Parameters[p.Name].Type)
			}
		}
	}
	if n != len(cmdletTable) {
		t.Errorf("%d reference cmdlets, %d generated", n, len(cmdletTable))
	}
}
