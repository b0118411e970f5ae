package rps

import (
	"crypto/sha1"
	"encoding/hex"
	"strings"

	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
	"github.com/exrunbook/exrunbook/internal/psrp"
)

// sessionCommand defines the restricted session's own commands that the
// interpreter does not have: Get-FormatData, Out-Default and
// Exit-PSSession. Get-Command is per principal (getCommand).
func (e *Endpoint) sessionCommand(name string) pwsh.CmdletDef {
	switch name {
	case "Get-FormatData":
		// The lab carries no formatting data: for any type name the
		// answer is what PowerShell writes for a type without a view,
		// nothing.
		return pwsh.CmdletDef{
			Name:             "Get-FormatData",
			ImplementingType: "Microsoft.PowerShell.Commands.GetFormatDataCommand",
			Params: []pwsh.ParamDef{
				{Name: "TypeName", Type: pwsh.TStringArray, Position: 1},
				{Name: "PowerShellVersion", Type: pwsh.TString},
			},
		}
	case "Out-Default":
		// Out-Default renders on the session's host; a remote client
		// without a host UI receives nothing.
		return pwsh.CmdletDef{
			Name:             "Out-Default",
			ImplementingType: "Microsoft.PowerShell.Commands.OutDefaultCommand",
			Params:           []pwsh.ParamDef{{Name: "InputObject", Type: pwsh.TObject, ValueFromPipeline: true}, {Name: "Transcript", Type: pwsh.TSwitch}},
		}
	case "Exit-PSSession":
		// Leaves an interactive session; a command-list pipeline has none
		// to leave, so it ends without output.
		return pwsh.CmdletDef{Name: "Exit-PSSession", ImplementingType: "Microsoft.PowerShell.Commands.ExitPSSessionCommand"}
	}
	panic("rps: no session command " + name)
}

// getCommand is Get-Command over the principal's commands: -Name (with
// wildcards; an exact name it does not have is PowerShell's
// CommandNotFoundException, non-terminating), -Verb and -Noun.
func getCommand(p *Principal) pwsh.CmdletDef {
	return pwsh.CmdletDef{
		Name:             "Get-Command",
		ImplementingType: "Microsoft.PowerShell.Commands.GetCommandCommand",
		Params: []pwsh.ParamDef{
			{Name: "Name", Type: pwsh.TStringArray, Position: 1, ValueFromPipelineByPropertyName: true},
			{Name: "Verb", Type: pwsh.TStringArray},
			{Name: "Noun", Type: pwsh.TStringArray},
			{Name: "CommandType", Type: pwsh.TStringArray, Aliases: []string{"Type"}},
		},
		Process: func(c *pwsh.Call) error {
			names := sortedNames(p.commands)
			match := func(param string, value string) bool {
				v, ok := c.Param(param)
				if !ok || v == nil {
					return true
				}
				for _, pat := range pwsh.Unroll(v) {
					if pwsh.WildcardMatch(pwsh.ToString(pat), value) {
						return true
					}
				}
				return false
			}
			if v, ok := c.Param("CommandType"); ok && v != nil {
				cmdlet := false
				for _, t := range pwsh.Unroll(v) {
					s := pwsh.ToString(t)
					cmdlet = cmdlet || strings.EqualFold(s, "Cmdlet") || strings.EqualFold(s, "All")
				}
				if !cmdlet {
					return nil
				}
			}
			if v, ok := c.Param("Name"); ok && v != nil {
				for _, pat := range pwsh.Unroll(v) {
					s := pwsh.ToString(pat)
					if strings.ContainsAny(s, "*?[") {
						continue
					}
					if _, have := p.commands[strings.ToLower(s)]; !have {
						rec := pwsh.NotRecognized(s)
						if err := c.WriteError(&pwsh.Error{Message: rec.Err.Message, ExceptionType: rec.Err.ExceptionType,
							Category: pwsh.CatObjectNotFound, ErrorID: "CommandNotFoundException", TargetObject: s}, pwsh.CatObjectNotFound, s); err != nil {
							return err
						}
					}
				}
			}
			for _, n := range names {
				verb, noun, _ := strings.Cut(n, "-")
				if !match("Name", n) || !match("Verb", verb) || !match("Noun", noun) {
					continue
				}
				if err := c.WriteObject(cmdletInfo(p.commands[strings.ToLower(n)])); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// cmdletInfo is Get-Command's object for def: a CmdletInfo whose
// Parameters hold the allowed parameters and the common ones.
func cmdletInfo(def *pwsh.CmdletDef) *pwsh.Object {
	verb, noun, _ := strings.Cut(def.Name, "-")
	params := pwsh.NewHashtable()
	for _, p := range append(append([]pwsh.ParamDef(nil), def.Params...), pwsh.CommonParameters()...) {
		aliases := make([]pwsh.Value, len(p.Aliases))
		for i, a := range p.Aliases {
			aliases[i] = a
		}
		params.Set(p.Name, pwsh.NewObject(tParamMetadata, "Name", p.Name, "ParameterType", pwsh.ParamTypeName(p),
			"Aliases", pwsh.NewArray(aliases...), "IsDynamic", false, "SwitchParameter", p.Type == pwsh.TSwitch))
	}
	module := ""
	if def.RequiresSnapin != "" {
		module = def.RequiresSnapin
	} else if strings.HasPrefix(def.ImplementingType, "Microsoft.PowerShell.Commands.") {
		module = "Microsoft.PowerShell.Utility"
		if def.Name == "Get-Command" || def.Name == "Exit-PSSession" || def.Name == "Out-Default" {
			module = "Microsoft.PowerShell.Core"
		}
	}
	impl := def.ImplementingType
	if impl == "" {
		impl = def.Name
	}
	o := pwsh.NewObject(tCmdletInfo, "Verb", verb, "Noun", noun, "Name", def.Name,
		"CommandType", &pwsh.Flags{Type: "System.Management.Automation.CommandTypes", Names: []string{"Cmdlet"}, Value: 8},
		"ModuleName", module, "ImplementingType", impl, "Parameters", params)
	name := def.Name
	o.Str = func() string { return name }
	return o
}

// cmdletInfoToWire serializes a CmdletInfo: Name, Verb, Noun, ModuleName
// and ImplementingType as strings, CommandType as the CommandTypes enum
// (ToString "Cmdlet", value 8), Parameters as a dictionary from parameter
// name to a ParameterMetadata object (Name, ParameterType, Aliases,
// IsDynamic, SwitchParameter).
func cmdletInfoToWire(o *pwsh.Object) *psrp.Object {
	out := &psrp.Object{TypeNames: append([]string(nil), typeChains[tCmdletInfo]...), ToString: o.ToString()}
	for _, p := range o.Props() {
		var v psrp.Value
		switch x := p.Value.(type) {
		case *pwsh.Flags:
			v = &psrp.Object{TypeNames: []string{x.Type, "System.Enum", "System.ValueType", tObject}, ToString: x.String(), Primitive: int32(x.Value)}
		case *pwsh.Hashtable:
			d := &psrp.Object{TypeNames: []string{
				"System.Collections.Generic.Dictionary`2[[System.String, mscorlib, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089],[System.Management.Automation.ParameterMetadata, System.Management.Automation, Version=3.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]",
				tObject}, Kind: psrp.DictContainer}
			for _, e := range x.Entries() {
				m := e.Value.(*pwsh.Object)
				d.Entries = append(d.Entries, psrp.Entry{Key: e.Name, Value: &psrp.Object{
					TypeNames: []string{tParamMetadata, tObject}, ToString: tParamMetadata, Adapted: props(m)}})
			}
			v = d
		default:
			v = flatten(p.Name, p.Value)
		}
		out.Adapted = append(out.Adapted, psrp.Property{Name: p.Name, Value: v})
	}
	return out
}

// thumbprint is the certificate's SHA-1 hash in upper-case hex.
func thumbprint(der []byte) string {
	sum := sha1.Sum(der)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}
