package pwsh

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestRunPipeline(t *testing.T) {
	h := testHost(t, 3, nil, nil)
	type result struct {
		out      []string
		errs     []string
		warnings []string
		fail     string // FullyQualifiedErrorId of the terminating error
	}
	runIt := func(cmds []CommandCall, input []Value, opts PipelineOptions) result {
		var r result
		opts.Output = func(v Value) error { r.out = append(r.out, ToString(v)); return nil }
		opts.Error = func(rec *ErrorRecord) error { r.errs = append(r.errs, rec.FullyQualifiedErrorId); return nil }
		opts.Warning = func(s string) error { r.warnings = append(r.warnings, s); return nil }
		var in func() (Value, bool)
		if input != nil {
			i := 0
			in = func() (Value, bool) {
				if i >= len(input) {
					return nil, false
				}
				i++
				return input[i-1], true
			}
		}
		if rec := h.RunPipeline(context.Background(), cmds, in, opts); rec != nil {
			r.fail = rec.FullyQualifiedErrorId
		}
		return r
	}
	set := func(args ...CommandArg) []CommandCall { return []CommandCall{{Name: "Set-Thing", Args: args}} }
	tests := []struct {
		name  string
		cmds  []CommandCall
		input []Value
		opts  PipelineOptions
		want  result
	}{
		{"named and typed", set(CommandArg{"Identity", "a"}, CommandArg{"Enabled", false}, CommandArg{"Count", int32(7)}, CommandArg{"Password", NewSecureString("pw")}), nil, PipelineOptions{},
			result{out: []string{"id=a;enabled=False;count=7;password=pw"}}},
		{"positional", set(CommandArg{"", "b"}), nil, PipelineOptions{}, result{out: []string{"id=b"}}},
		{"bare switch text", set(CommandArg{"", "c"}, CommandArg{"-Force", nil}), nil, PipelineOptions{}, result{out: []string{"id=c;force=True"}}},
		{"switch text with colon", set(CommandArg{"", "c"}, CommandArg{"-Force:", false}), nil, PipelineOptions{}, result{out: []string{"id=c;force=False"}}},
		{"named switch bound to null", set(CommandArg{"", "c"}, CommandArg{"Force", nil}), nil, PipelineOptions{}, result{out: []string{"id=c;force=False"}}},
		{"enum flags", set(CommandArg{"", "d"}, CommandArg{"Services", NewArray("IIS", "SMTP")}), nil, PipelineOptions{}, result{out: []string{"id=d;services=IIS, SMTP"}}},
		{"bad int", set(CommandArg{"", "d"}, CommandArg{"Count", "many"}), nil, PipelineOptions{}, result{fail: "CannotConvertArgumentNoMessage,Set-Thing"}},
		{"unknown parameter", set(CommandArg{"", "d"}, CommandArg{"Colour", "red"}), nil, PipelineOptions{}, result{fail: "NamedParameterNotFound,Set-Thing"}},
		{"input by value", set(CommandArg{"Enabled", true}), []Value{"x", "y"}, PipelineOptions{}, result{out: []string{"id=x;enabled=True", "id=y;enabled=True"}}},
		{"input by property name", set(), []Value{NewObject(PSCustomObjectType, "Identity", "z")}, PipelineOptions{}, result{out: []string{"id=z"}}},
		{"empty input", set(), []Value{}, PipelineOptions{}, result{}},
		{"mandatory without input", set(), nil, PipelineOptions{}, result{fail: "MissingMandatoryParameter,Set-Thing"}},
		{"two commands", []CommandCall{{Name: "Get-Mailbox"}, {Name: "Select-Object", Args: []CommandArg{{"First", int32(1)}, {"ExpandProperty", "Alias"}}}}, nil, PipelineOptions{},
			result{out: []string{"alice"}}},
		{"resolve refuses", set(CommandArg{"", "a"}), nil, PipelineOptions{Resolve: func(string) (*CmdletDef, bool) { return nil, false }}, result{fail: "CommandNotFoundException"}},
		{"resolve trims parameters", set(CommandArg{"", "a"}, CommandArg{"Count", int32(1)}), nil, PipelineOptions{Resolve: func(name string) (*CmdletDef, bool) {
			d, ok := h.Lookup(name)
			d.Params = d.Params[:2]
			return &d, ok
		}}, result{fail: "NamedParameterNotFound,Set-Thing"}},
		{"non-terminating error goes to the sink", []CommandCall{{Name: "Get-Mailbox", Args: []CommandArg{{"Identity", "nobody"}}}}, nil, PipelineOptions{},
			result{errs: []string{"7C5CBDB5,Get-Mailbox"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runIt(tt.cmds, tt.input, tt.opts)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestPromptUnavailable(t *testing.T) {
	h := NewHost(HostOptions{})
	var got []*Error
	if err := h.Register(CmdletDef{Name: "Ask-Me", Process: func(c *Call) error {
		got = append(got, c.PromptUnavailable("Really?", "x"))
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	if rec := h.RunPipeline(context.Background(), []CommandCall{{Name: "Ask-Me"}}, nil, PipelineOptions{}); rec != nil {
		t.Fatal(rec.Err.Message)
	}
	run(h, "Ask-Me", "")
	if len(got) != 2 {
		t.Fatalf("%d prompts", len(got))
	}
	remote, console := got[0], got[1]
	if !strings.HasSuffix(remote.Message, "The host was attempting to request confirmation with the following message: Really?") ||
		remote.ErrorID != "HostFunctionNotImplemented" || remote.Category != CatNotImplemented || remote.ExceptionType != "System.Management.Automation.Host.HostException" {
		t.Errorf("remote runspace prompt error %+v", remote)
	}
	if console.Message != "PowerShell is in NonInteractive mode. Read and Prompt functionality is not available." || console.ErrorID != "HostException" {
		t.Errorf("console prompt error %+v", console)
	}
}
