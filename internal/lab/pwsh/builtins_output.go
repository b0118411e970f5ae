package pwsh

import (
	"strings"
)

func writeOutput() CmdletDef {
	return CmdletDef{
		Name:   "Write-Output",
		Params: []ParamDef{{Name: "InputObject", Type: TObject, Position: 1, ValueFromPipeline: true, ValueFromRemainingArguments: true}, sw("NoEnumerate")},
		Process: func(c *Call) error {
			if c.HasInput {
				return c.WriteObject(c.Input)
			}
			v, ok := c.Param("InputObject")
			if !ok {
				return nil
			}
			if a, ok := v.(*Array); ok && len(a.Items) == 1 {
				v = a.Items[0]
			}
			if c.Bool("NoEnumerate") {
				return c.WriteObject(v)
			}
			if v == nil {
				return c.WriteObject(nil)
			}
			return writeEnumerated(c, v)
		},
	}
}

func writeError() CmdletDef {
	return CmdletDef{
		Name: "Write-Error",
		Params: []ParamDef{
			{Name: "Message", Type: TString, Position: 1, ValueFromPipeline: true, Aliases: []string{"Msg"}},
			{Name: "Category", Type: TString},
			{Name: "ErrorId", Type: TString},
			{Name: "TargetObject", Type: TObject},
			{Name: "ErrorRecord", Type: TObject},
			{Name: "Exception", Type: TObject},
		},
		Process: func(c *Call) error {
			inv := c.inv
			if er, ok := c.Param("ErrorRecord"); ok {
				if rec, ok := er.(*ErrorRecord); ok {
					return inv.sess.nonTerminating(rec, inv.errAction, inv)
				}
			}
			msg := c.String("Message")
			cat := CatNotSpecified
			if v := c.String("Category"); v != "" {
				cat = ErrorCategory(v)
			}
			id := "Microsoft.PowerShell.Commands.WriteErrorException"
			if v := c.String("ErrorId"); v != "" {
				id = v
			}
			target, _ := c.Param("TargetObject")
			e := &Error{Message: msg, Category: cat, ExceptionType: "Microsoft.PowerShell.Commands.WriteErrorException", TargetObject: target}
			// Write-Error in a script attributes the record to the script
			// itself: PowerShell 5.1 prints the script text, " : ", the
			// message, and no position lines.
			rec := &ErrorRecord{Err: e, Command: inv.sess.script, activity: "Write-Error", FullyQualifiedErrorId: id}
			return inv.sess.nonTerminating(rec, inv.errAction, inv)
		},
	}
}

func writeWarning() CmdletDef {
	return CmdletDef{
		Name:   "Write-Warning",
		Params: []ParamDef{{Name: "Message", Type: TString, Position: 1, ValueFromPipeline: true, Mandatory: true, AllowEmpty: true, Aliases: []string{"Msg"}}},
		Process: func(c *Call) error {
			return c.WriteWarning(c.String("Message"))
		},
	}
}

func writeHost() CmdletDef {
	return CmdletDef{
		Name: "Write-Host",
		Params: []ParamDef{
			{Name: "Object", Type: TObject, Position: 1, ValueFromPipeline: true, ValueFromRemainingArguments: true, Aliases: []string{"Msg", "Message"}},
			sw("NoNewline"),
			{Name: "Separator", Type: TObject},
			{Name: "ForegroundColor", Type: TString},
			{Name: "BackgroundColor", Type: TString},
		},
		Process: func(c *Call) error {
			s := c.inv.sess
			var v Value
			if c.HasInput {
				v = c.Input
			} else {
				v, _ = c.Param("Object")
			}
			sep := " "
			if sv, ok := c.Param("Separator"); ok {
				sep = ToString(sv)
			}
			var parts []string
			var flatten func(Value)
			flatten = func(x Value) {
				switch y := x.(type) {
				case *Array:
					for _, it := range y.Items {
						flatten(it)
					}
				case *List:
					for _, it := range y.Items {
						flatten(it)
					}
				default:
					parts = append(parts, ToString(y))
				}
			}
			flatten(v)
			s.out.WriteString(strings.Join(parts, sep))
			if !c.Bool("NoNewline") {
				s.out.WriteString("\r\n")
			}
			return nil
		},
	}
}

func outNull() CmdletDef {
	return CmdletDef{
		Name:    "Out-Null",
		Params:  []ParamDef{pipeParam("InputObject", TObject, 0)},
		Process: func(c *Call) error { return nil },
	}
}
