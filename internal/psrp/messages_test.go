package psrp

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestMessageBodiesRoundTrip(t *testing.T) {
	key, _ := SessionKeyFromBytes(make([]byte, 32))
	pfx := make([]byte, 2048)
	rec := &ErrorRecord{
		Message:               "The operation couldn't be performed because object 'x@lab.test' couldn't be found on 'dc1.lab.test'.",
		ExceptionType:         "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
		FullyQualifiedErrorID: "[Server=EX01,RequestId=1,TimeStamp=1/1/2026 1:00:00 AM] [FailureCategory=Cmdlet-ManagementObjectNotFoundException] 5B9E2F1A,Microsoft.Exchange.Management.RecipientTasks.SetCASMailbox",
		Category:              "NotSpecified",
		Activity:              "Set-CASMailbox",
		Reason:                "ManagementObjectNotFoundException",
		TargetName:            "x@lab.test",
		TargetType:            "String",
		Target:                "x@lab.test",
	}
	pl := Pipeline{Commands: []Command{
		{Name: "Set-CASMailbox", Params: []Parameter{{Name: "OWAEnabled", Value: false}, {Name: "ActiveSyncEnabled", Value: nil}, {Name: "Confirm", Value: false}}},
		{Name: "Import-ExchangeCertificate", Params: []Parameter{{Name: "FileData", Value: pfx}, {Name: "Password", Value: NewSecureString("pfx-pass")}, {Name: "", Value: "positional"}}},
	}}
	bodies := []Body{
		ClientCapability,
		SessionCapability{ProtocolVersion: "2.3", PSVersion: "2.0", SerializationVersion: "1.1.0.1", TimeZone: []byte{1, 2}},
		InitRunspacePool{MinRunspaces: 1, MaxRunspaces: 4, ApartmentState: ApartmentUnknown, HostInfo: NoHost},
		InitRunspacePool{MinRunspaces: 1, MaxRunspaces: 1, HostInfo: NoHost, ApplicationArguments: []Entry{{Key: "Client", Value: "exrunbook"}}},
		ApplicationPrivateData{Data: []Entry{{Key: "BashPrivateData", Value: int32(1)}}},
		RunspacePoolState{State: RunspacePoolOpened},
		RunspacePoolState{State: RunspacePoolBroken, Error: rec},
		NewCreatePipeline(pl),
		PipelineInput{Value: "9b9387fe-1f2a-4c3b-8d4e-5f6a7b8c9d0e"},
		EndOfPipelineInput{},
		PipelineOutput{Value: &Object{TypeNames: []string{"Selected.X", "System.Object"}, Adapted: []Property{{"Name", "a"}}}},
		rec,
		InformationalRecord{Kind: MsgWarningRecord, Message: "careful"},
		InformationalRecord{Kind: MsgVerboseRecord, Message: "chatty"},
		InformationalRecord{Kind: MsgDebugRecord, Message: "dbg"},
		PipelineState{State: PipelineCompleted},
		PipelineState{State: PipelineFailed, Error: rec},
		PublicKey{Blob: []byte{6, 2, 0, 0}},
		EncryptedSessionKey{Blob: []byte{1, 2, 0, 0}},
		PublicKeyRequest{},
	}
	rpid, pid := uuid.New(), uuid.New()
	for _, b := range bodies {
		t.Run(b.MessageType().String(), func(t *testing.T) {
			m, err := NewMessage(ToClient, rpid, pid, b, key)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseMessage(m.Marshal())
			if err != nil {
				t.Fatal(err)
			}
			d := Decoder{Key: key}
			got, err := DecodeBody(&d, back)
			if err != nil {
				t.Fatalf("%v\n%s", err, back.Data)
			}
			want := b
			if cp, ok := b.(CreatePipeline); ok {
				// The SecureString comes back as a new value holding the same text.
				gcp := got.(CreatePipeline)
				ss := gcp.Pipeline.Commands[1].Params[1].Value.(*SecureString)
				if ss.Plain() != "pfx-pass" {
					t.Fatalf("password came back as %q", ss.Plain())
				}
				gcp.Pipeline.Commands[1].Params[1].Value = cp.Pipeline.Commands[1].Params[1].Value
				got = gcp
			}
			if out, ok := b.(PipelineOutput); ok {
				want = PipelineOutput{Value: out.Value}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip\n got  %#v\n want %#v\n%s", got, want, back.Data)
			}
		})
	}
}

func TestCreatePipelineWire(t *testing.T) {
	pl := Pipeline{Commands: []Command{{Name: "Set-CASMailbox", Params: []Parameter{{Name: "OWAEnabled", Value: false}, {Name: "ActiveSyncEnabled", Value: nil}, {Name: "Confirm", Value: false}, {Name: "", Value: "pos"}}}}, NoInput: true}
	data, err := EncodeBody(NewCreatePipeline(pl), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, want := range []string{
		`<S N="Cmd">Set-CASMailbox</S><B N="IsScript">false</B><Nil N="UseLocalScope"/>`,
		`<Obj N="MergeMyResult" RefId="`, `<T>System.Management.Automation.Runspaces.PipelineResultTypes</T>`, `<ToString>None</ToString><I32>0</I32>`,
		`<Obj N="MergeInformation"`, `<Obj N="MergeDebug"`,
		`<Obj><MS><S N="N">OWAEnabled</S><B N="V">false</B></MS></Obj>`,
		`<S N="N">ActiveSyncEnabled</S><Nil N="V"/>`,
		`<Nil N="N"/><S N="V">pos</S>`,
		`<B N="NoInput">true</B>`, `<ToString>Unknown</ToString><I32>2</I32>`, `<B N="AddToHistory">false</B>`,
		`<B N="_isHostNull">true</B>`, `<B N="RedirectShellErrorOutputPipe">false</B>`, `<Nil N="ExtraCmds"/>`,
	} {
		if !strings.Contains(s, want) && !strings.Contains(stripRefIDs(s), want) {
			t.Errorf("CREATE_PIPELINE lacks %s", want)
		}
	}
	// Repeated enum type chains are TNRefs.
	if strings.Count(s, "<T>System.Management.Automation.Runspaces.PipelineResultTypes</T>") != 1 || !strings.Contains(s, "<TNRef") {
		t.Errorf("PipelineResultTypes chain not shared by TNRef")
	}
}

// stripRefIDs removes RefId attributes of <Obj> so a test can match shapes.
func stripRefIDs(s string) string {
	return regexp.MustCompile(`(<Obj(?: N="[^"]*")?) RefId="\d+"`).ReplaceAllString(s, "$1")
}

func TestDecodeErrorRecordSources(t *testing.T) {
	// What Exchange sends: the message in the exception, details override it.
	x := `<Obj RefId="0"><TN RefId="0"><T>System.Management.Automation.ErrorRecord</T><T>System.Object</T></TN><ToString>rec</ToString><MS>` +
		`<Obj N="Exception" RefId="1"><TN RefId="1"><T>Deserialized.System.Management.Automation.ParseException</T><T>System.Object</T></TN><ToString>x</ToString><Props><S N="Message">The syntax is not supported by this runspace.</S></Props></Obj>` +
		`<Nil N="TargetObject"/><S N="FullyQualifiedErrorId">ScriptsNotAllowed</S><I32 N="ErrorCategory_Category">17</I32>` +
		`<S N="ErrorCategory_Activity"></S><S N="ErrorCategory_Reason">ParseException</S><S N="ErrorCategory_TargetName"></S><S N="ErrorCategory_TargetType"></S>%s</MS></Obj>`
	tests := []struct {
		name, details, wantMsg string
	}{
		{"exception message", "", "The syntax is not supported by this runspace."},
		{"error details", `<S N="ErrorDetails_Message">Details win.</S>`, "Details win."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := UnmarshalCLIXML([]byte(strings.Replace(x, "%s", tt.details, 1)), nil)
			if err != nil {
				t.Fatal(err)
			}
			e, err := DecodeErrorRecord(v)
			if err != nil {
				t.Fatal(err)
			}
			want := &ErrorRecord{Message: tt.wantMsg, ExceptionType: "System.Management.Automation.ParseException", FullyQualifiedErrorID: "ScriptsNotAllowed",
				Category: "ParserError", CategoryCode: 17, Reason: "ParseException"}
			if !reflect.DeepEqual(e, want) {
				t.Fatalf("got %#v", e)
			}
		})
	}
	if _, err := DecodeErrorRecord("text"); err == nil {
		t.Fatal("a string decoded as an error record")
	}
}

func TestDecodeBodyBadInput(t *testing.T) {
	rpid := uuid.New()
	tests := []struct {
		name string
		m    Message
		want string
	}{
		{"unknown type", Message{Destination: ToClient, Type: 0x00099999, RPID: rpid, Data: []byte("<S/>")}, "unknown message type 0x00099999"},
		{"malformed clixml", Message{Destination: ToClient, Type: MsgPipelineOutput, RPID: rpid, Data: []byte("<Obj RefId=\"0\"><S>")}, "PIPELINE_OUTPUT: psrp: CLIXML"},
		{"state missing", Message{Destination: ToClient, Type: MsgPipelineState, RPID: rpid, Data: []byte(`<Obj RefId="0"><MS/></Obj>`)}, "PIPELINE_STATE has no PipelineState"},
		{"state wrong type", Message{Destination: ToClient, Type: MsgRunspacePoolState, RPID: rpid, Data: []byte(`<Obj RefId="0"><MS><S N="RunspaceState">x</S></MS></Obj>`)}, "RunspaceState is a string, want an integer"},
		{"capability not an object", Message{Destination: ToClient, Type: MsgSessionCapability, RPID: rpid, Data: []byte(`<S>x</S>`)}, "SESSION_CAPABILITY is a string, want an object"},
		{"bad key blob", Message{Destination: ToClient, Type: MsgEncryptedSessionKey, RPID: rpid, Data: []byte(`<Obj RefId="0"><MS><S N="EncryptedSessionKey">!!</S></MS></Obj>`)}, "not base64"},
		{"pipeline without commands", Message{Destination: ToServer, Type: MsgCreatePipeline, RPID: rpid, Data: []byte(`<Obj RefId="0"><MS><B N="NoInput">true</B><Obj N="PowerShell" RefId="1"><MS><Obj N="Cmds" RefId="2"><LST/></Obj></MS></Obj></MS></Obj>`)}, "no commands"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decoder
			_, err := DecodeBody(&d, tt.m)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestPipelineString(t *testing.T) {
	tests := []struct {
		pl   Pipeline
		want string
	}{
		{Pipeline{Commands: []Command{
			{Name: "Get-CASMailbox", Params: []Parameter{{Name: "ResultSize", Value: "Unlimited"}}},
			{Name: "Select-Object", Params: []Parameter{{Name: "Property", Value: NewList("Guid", "Name")}}},
		}}, "Get-CASMailbox -ResultSize Unlimited | Select-Object -Property Guid,Name"},
		{Pipeline{Commands: []Command{{Name: "Set-CASMailbox", Params: []Parameter{
			{Name: "Identity", Value: "John O'Brien"}, {Name: "OWAEnabled", Value: false}, {Name: "ActiveSyncEnabled", Value: nil}, {Name: "Force", Value: true}, {Name: "Confirm", Value: false},
		}}}}, "Set-CASMailbox -Identity 'John O''Brien' -OWAEnabled:$false -ActiveSyncEnabled $null -Force -Confirm:$false"},
		{Pipeline{Commands: []Command{{Name: "Import-ExchangeCertificate", Params: []Parameter{
			{Name: "FileData", Value: make([]byte, 2048)}, {Name: "Password", Value: NewSecureString("secret")}, {Name: "FriendlyName", Value: ""}, {Name: "Server", Value: "EX01"},
		}}}}, "Import-ExchangeCertificate -FileData <byte[2048]> -Password <SecureString> -FriendlyName '' -Server EX01"},
		{Pipeline{Commands: []Command{{Name: "Set-Mailbox", Params: []Parameter{
			{Name: "EmailAddresses", Value: NewHashtable(Entry{"Add", "smtp:a@lab.test"}, Entry{"Remove", NewList("smtp:b@lab.test", "smtp:c@lab.test")})},
			{Name: "MaxSendSize", Value: int32(10)}, {Name: "", Value: "pos arg"}, {Name: "Identity", Value: uuid.MustParse("9b9387fe-1f2a-4c3b-8d4e-5f6a7b8c9d0e")}, {Name: "Name", Value: "-dash"},
		}}}}, "Set-Mailbox -EmailAddresses @{Add=smtp:a@lab.test; Remove=smtp:b@lab.test,smtp:c@lab.test} -MaxSendSize 10 'pos arg' -Identity 9b9387fe-1f2a-4c3b-8d4e-5f6a7b8c9d0e -Name '-dash'"},
		{Pipeline{Commands: []Command{{Name: "Set-CASMailbox", Params: []Parameter{
			{Name: "Identity", Value: "x"}, {Name: "MAPIBlockOutlookRpcHttp", Value: true, Bool: true}, {Name: "MAPIBlockOutlookExternalConnectivity", Value: false, Bool: true},
		}}}}, "Set-CASMailbox -Identity x -MAPIBlockOutlookRpcHttp:$true -MAPIBlockOutlookExternalConnectivity:$false"},
		{Pipeline{Commands: []Command{{Name: "Set-X", Params: []Parameter{{Name: "Level", Value: NewEnum("Lvl", "Kerberos", 2)}, {Name: "Quoted", Value: "a$b"}}}}}, "Set-X -Level Kerberos -Quoted 'a$b'"},
	}
	for _, tt := range tests {
		if got := tt.pl.String(); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
		if strings.Contains(tt.pl.String(), "secret") {
			t.Error("SecureString content rendered")
		}
	}
}
