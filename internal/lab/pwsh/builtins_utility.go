package pwsh

import (
	"fmt"
	"strings"
	"time"
)

func convertToJSON() CmdletDef {
	type state struct {
		items []Value
		any   bool
	}
	return CmdletDef{
		Name: "ConvertTo-Json",
		Params: []ParamDef{
			{Name: "InputObject", Type: TObject, Position: 1, ValueFromPipeline: true, Mandatory: true, AllowNull: true, AllowEmpty: true},
			{Name: "Depth", Type: TInt},
			sw("Compress"),
		},
		Begin: func(c *Call) error { c.State = &state{}; return nil },
		Process: func(c *Call) error {
			st := c.State.(*state)
			if c.HasInput {
				st.items = append(st.items, c.Input)
				st.any = true
				return nil
			}
			if v, ok := c.Param("InputObject"); ok {
				st.items = append(st.items, v)
				st.any = true
			}
			return nil
		},
		End: func(c *Call) error {
			st := c.State.(*state)
			items := st.items
			st.items = nil
			if !st.any {
				return nil
			}
			depth := int64(2)
			if d, ok := c.Param("Depth"); ok {
				depth = d.(int64)
				if depth > 100 || depth < 1 {
					return &Error{Message: fmt.Sprintf("Cannot validate argument on parameter 'Depth'. The %d argument is %s than the %s allowed range of 100. Supply an argument that is %s than or equal to %s and then try the command again.",
						depth, map[bool]string{true: "greater", false: "less"}[depth > 100], map[bool]string{true: "maximum", false: "minimum"}[depth > 100],
						map[bool]string{true: "less", false: "greater"}[depth > 100], map[bool]string{true: "100", false: "1"}[depth > 100]),
						Category: CatInvalidData, ExceptionType: "System.Management.Automation.ParameterBindingValidationException", ErrorID: "ParameterArgumentValidationError"}
				}
			}
			var v Value
			if len(items) == 1 {
				v = items[0]
			} else {
				v = &Array{Items: items}
			}
			items = nil
			out := ToJSON(v, int(depth), c.Bool("Compress"))
			return c.WriteObject(out)
		},
	}
}

func convertFromJSON() CmdletDef {
	type state struct{ parts []string }
	return CmdletDef{
		Name:   "ConvertFrom-Json",
		Params: []ParamDef{{Name: "InputObject", Type: TString, Position: 1, ValueFromPipeline: true, Mandatory: true, AllowEmpty: true}},
		Begin:  func(c *Call) error { c.State = &state{}; return nil },
		Process: func(c *Call) error {
			st := c.State.(*state)
			if c.HasInput {
				st.parts = append(st.parts, ToString(c.Input))
				return nil
			}
			st.parts = append(st.parts, c.String("InputObject"))
			return nil
		},
		End: func(c *Call) error {
			text := strings.Join(c.State.(*state).parts, "\n")
			if strings.TrimSpace(text) == "" {
				return nil
			}
			v, err := FromJSON(text)
			if err != nil {
				return &Error{Message: err.Error(), Category: CatNotSpecified, ExceptionType: "System.ArgumentException", ErrorID: "System.ArgumentException"}
			}
			return c.WriteObject(v)
		},
	}
}

func addPSSnapin(h *Host) CmdletDef {
	return CmdletDef{
		Name:   "Add-PSSnapin",
		Params: []ParamDef{{Name: "Name", Type: TStringArray, Position: 1, Mandatory: true}, sw("PassThru")},
		Process: func(c *Call) error {
			s := c.inv.sess
			names, _ := c.Param("Name")
			for _, n := range Unroll(names) {
				name := ToString(n)
				if !h.knownSnapin(name) {
					if err := c.WriteError(&Error{Message: fmt.Sprintf("The Windows PowerShell snap-in '%s' is not installed on this computer.", name),
						Category: CatInvalidArgument, ExceptionType: "System.Management.Automation.PSArgumentException", ErrorID: "AddPSSnapInRead", TargetObject: name}, CatInvalidArgument, name); err != nil {
						return err
					}
					continue
				}
				key := strings.ToLower(name)
				if s.snapins[key] {
					if err := c.WriteError(&Error{Message: fmt.Sprintf("Cannot add Windows PowerShell snap-in %s because it is already added. Verify the name of the snap-in, and then try again.", name),
						Category: CatInvalidArgument, ExceptionType: "System.Management.Automation.PSArgumentException", ErrorID: "AddPSSnapInRead", TargetObject: name}, CatInvalidArgument, name); err != nil {
						return err
					}
					continue
				}
				s.snapins[key] = true
			}
			return nil
		},
	}
}

func (h *Host) knownSnapin(name string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, d := range h.cmdlets {
		if d.RequiresSnapin != "" && strings.EqualFold(d.RequiresSnapin, name) {
			return true
		}
	}
	return false
}

func startSleep() CmdletDef {
	return CmdletDef{
		Name:   "Start-Sleep",
		Params: []ParamDef{{Name: "Seconds", Type: TInt, Position: 1}, {Name: "Milliseconds", Type: TInt}},
		Process: func(c *Call) error {
			var d time.Duration
			if v, ok := c.Param("Seconds"); ok {
				d += time.Duration(v.(int64)) * time.Second
			}
			if v, ok := c.Param("Milliseconds"); ok {
				d += time.Duration(v.(int64)) * time.Millisecond
			}
			if d <= 0 {
				return nil
			}
			return c.inv.sess.host.opts.Sleep(c.Ctx, d)
		},
	}
}

func convertToSecureString() CmdletDef {
	return CmdletDef{
		Name:   "ConvertTo-SecureString",
		Params: []ParamDef{{Name: "String", Type: TString, Position: 1, ValueFromPipeline: true, Mandatory: true}, sw("AsPlainText"), sw("Force"), {Name: "Key", Type: TByteArray}},
		Process: func(c *Call) error {
			str := c.String("String")
			if !c.Bool("AsPlainText") {
				return c.WriteError(&Error{Message: "Input string was not in a correct format.", Category: CatInvalidArgument,
					ExceptionType: "System.FormatException", ErrorID: "ImportSecureString"}, CatInvalidArgument, nil)
			}
			if !c.Bool("Force") {
				return &Error{Message: "The system cannot protect plain text input. To suppress this warning and convert the plain text to a SecureString, reissue the command specifying the Force parameter. For more information ,type: get-help ConvertTo-SecureString.",
					Category: CatInvalidArgument, ExceptionType: "System.ArgumentException", ErrorID: "PlainTextNotSupported"}
			}
			return c.WriteObject(NewSecureString(str))
		},
	}
}

func newObject() CmdletDef {
	return CmdletDef{
		Name:   "New-Object",
		Params: []ParamDef{{Name: "TypeName", Type: TString, Position: 1, Mandatory: true}, {Name: "ArgumentList", Type: TObjectArray, Position: 2}, {Name: "Property", Type: THashtable}},
		Process: func(c *Call) error {
			t := strings.ToLower(strings.ReplaceAll(c.String("TypeName"), " ", ""))
			t = strings.TrimPrefix(t, "system.")
			switch t {
			case "collections.generic.list[object]", "collections.generic.list[system.object]", "collections.generic.list[psobject]":
				return c.WriteObject(&List{})
			}
			return &Error{Message: fmt.Sprintf("Cannot find type [%s]: verify that the assembly containing this type is loaded.", c.String("TypeName")),
				Category: CatInvalidType, ExceptionType: "System.Management.Automation.PSArgumentException", ErrorID: "TypeNotFound"}
		},
	}
}

func getDate() CmdletDef {
	return CmdletDef{
		Name:   "Get-Date",
		Params: []ParamDef{{Name: "Date", Type: TObject, Position: 1, ValueFromPipeline: true}, {Name: "Format", Type: TString}},
		Process: func(c *Call) error {
			s := c.inv.sess
			t := s.host.opts.Now()
			if v, ok := c.Param("Date"); ok {
				cv, err := s.cast("datetime", v, c.inv.pos)
				if err != nil {
					return err
				}
				t = cv.(time.Time)
			}
			if f, ok := c.Param("Format"); ok {
				return c.WriteObject(formatDate(t, ToString(f)))
			}
			return c.WriteObject(t)
		},
	}
}
