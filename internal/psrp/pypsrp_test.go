package psrp

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// requirePypsrp skips the test when python3 cannot import pypsrp, or fails
// it when EXRUNBOOK_REQUIRE_PEERS=1.
func requirePypsrp(t *testing.T) {
	t.Helper()
	out, err := exec.Command("python3", "-c", "import pypsrp, cryptography").CombinedOutput()
	if err != nil {
		if os.Getenv("EXRUNBOOK_REQUIRE_PEERS") == "1" {
			t.Fatalf("pypsrp is required (EXRUNBOOK_REQUIRE_PEERS=1) but python3 cannot import it: %v %s", err, out)
		}
		t.Skipf("pypsrp not importable: %v", err)
	}
}

func TestPypsrpKeyExchange(t *testing.T) {
	requirePypsrp(t)
	cmd := exec.Command("python3", "testdata/pypsrp_peer.py", "keyexchange")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	r := bufio.NewScanner(stdout)
	r.Buffer(nil, 1<<20)
	read := func(tag string) string {
		t.Helper()
		if !r.Scan() {
			t.Fatalf("pypsrp ended before %s: %s", tag, stderr.String())
		}
		got, rest, _ := strings.Cut(r.Text(), " ")
		if got != tag {
			t.Fatalf("pypsrp said %q, want %s", r.Text(), tag)
		}
		return rest
	}

	// Server side: pypsrp's PUBLIC_KEY blob in, our SIMPLEBLOB out.
	blob, err := base64.StdEncoding.DecodeString(read("PUBLIC_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKeyBlob(blob)
	if err != nil {
		t.Fatal(err)
	}
	key, err := NewSessionKey()
	if err != nil {
		t.Fatal(err)
	}
	esk, err := EncryptedSessionKeyBlob(pub, key)
	if err != nil {
		t.Fatal(err)
	}
	stdin.Write([]byte(base64.StdEncoding.EncodeToString(esk) + "\n"))

	// pypsrp's SecureString decrypts with our key ...
	v, err := UnmarshalCLIXML([]byte("<SS>"+read("SS")+"</SS>"), key)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.(*SecureString).Plain(); got != "pässwörd 😀" {
		t.Fatalf("pypsrp's SecureString decrypted to %q", got)
	}
	// ... and ours decrypts in pypsrp.
	ct, err := key.Encrypt("Sécret-16-chars!")
	if err != nil {
		t.Fatal(err)
	}
	stdin.Write([]byte(base64.StdEncoding.EncodeToString(ct) + "\n"))
	var plain string
	if err := json.Unmarshal([]byte(read("PLAIN")), &plain); err != nil || plain != "Sécret-16-chars!" {
		t.Fatalf("pypsrp decrypted our SecureString to %q (%v)", plain, err)
	}

	// Client side: our PUBLICKEYBLOB out, a SIMPLEBLOB made by the peer in.
	kx, err := NewKeyExchange()
	if err != nil {
		t.Fatal(err)
	}
	stdin.Write([]byte(base64.StdEncoding.EncodeToString(kx.PublicKeyBlob()) + "\n"))
	eskBlob, err := base64.StdEncoding.DecodeString(read("ESK"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := kx.SessionKey(eskBlob)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 32)
	for i := range want {
		want[i] = byte(i)
	}
	if !bytes.Equal(got.key, want) {
		t.Fatalf("session key % x, want % x", got.key, want)
	}
}

func TestPypsrpUnpacksOurMessages(t *testing.T) {
	requirePypsrp(t)
	rpid, pid := uuid.MustParse("11111111-2222-3333-4444-555555555555"), uuid.MustParse("66666666-7777-8888-9999-aaaaaaaaaaaa")
	rec := &ErrorRecord{
		Message: "Couldn't find object \"x@lab.test\".", ExceptionType: "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
		FullyQualifiedErrorID: "5B9E2F1A,Microsoft.Exchange.Management.RecipientTasks.SetCASMailbox", Category: "ObjectNotFound",
		Activity: "Set-CASMailbox", TargetName: "x@lab.test", TargetType: "String", Target: "x@lab.test",
	}
	cases := []struct {
		dest Destination
		pid  uuid.UUID
		body Body
		want map[string]any
	}{
		{ToClient, uuid.Nil, SessionCapability{ProtocolVersion: "2.3", PSVersion: "2.0", SerializationVersion: "1.1.0.1"}, map[string]any{"class": "SessionCapability", "protocol": "2.3", "ser": "1.1.0.1"}},
		{ToClient, uuid.Nil, RunspacePoolState{State: RunspacePoolOpened}, map[string]any{"class": "RunspacePoolStateMessage", "state": 2.0}},
		{ToClient, uuid.Nil, RunspacePoolState{State: RunspacePoolBroken, Error: rec}, map[string]any{"state": 5.0, "error": rec.Message}},
		{ToServer, pid, PipelineInput{Value: "alice@lab.test"}, map[string]any{"class": "PipelineInput", "value": "alice@lab.test"}},
		{ToClient, pid, PipelineOutput{Value: "out"}, map[string]any{"class": "PipelineOutput", "value": "out"}},
		{ToClient, pid, rec, map[string]any{"class": "ErrorRecordMessage", "message": rec.Message, "fq": rec.FullyQualifiedErrorID, "category": 13.0,
			"activity": "Set-CASMailbox", "target_name": "x@lab.test", "target": "x@lab.test", "reason": "ManagementObjectNotFoundException", "str": rec.Message}},
		{ToClient, pid, InformationalRecord{Kind: MsgWarningRecord, Message: "careful"}, map[string]any{"class": "WarningRecord", "message": "careful"}},
		{ToClient, pid, PipelineState{State: PipelineFailed, Error: rec}, map[string]any{"class": "PipelineState", "state": 5.0, "error": rec.Message, "fq": rec.FullyQualifiedErrorID, "category": 13.0}},
		{ToClient, uuid.Nil, EncryptedSessionKey{Blob: []byte{1, 2, 0, 0}}, map[string]any{"class": "EncryptedSessionKey", "key": "AQIAAA=="}},
		{ToServer, uuid.Nil, PublicKey{Blob: []byte{6, 2, 0, 0}}, map[string]any{"class": "PublicKey", "key": "BgIAAA=="}},
	}
	// INIT_RUNSPACEPOOL and CREATE_PIPELINE are left out: pypsrp cannot
	// deserialize a HostInfo, not even its own ("property '_host_data' of
	// 'HostInfo' object has no setter"); TestPypsrpPackedMessagesDecode
	// covers them the other way round.
	var in bytes.Buffer
	for _, c := range cases {
		m, err := NewMessage(c.dest, rpid, c.pid, c.body, nil)
		if err != nil {
			t.Fatal(err)
		}
		in.WriteString(base64.StdEncoding.EncodeToString(m.Marshal()) + "\n")
	}
	cmd := exec.Command("python3", "testdata/pypsrp_peer.py", "unpack")
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pypsrp unpack: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("pypsrp answered %d lines for %d messages", len(lines), len(cases))
	}
	for i, c := range cases {
		var got map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &got); err != nil {
			t.Fatal(err)
		}
		if got["type"] != float64(c.body.MessageType()) || got["rpid"] != rpid.String() || got["pid"] != c.pid.String() {
			t.Errorf("%s: header as pypsrp read it: %v", c.body.MessageType(), got)
		}
		for k, want := range c.want {
			if !reflect.DeepEqual(got[k], want) {
				t.Errorf("%s: pypsrp read %s = %#v, want %#v", c.body.MessageType(), k, got[k], want)
			}
		}
	}
}

func TestPypsrpPackedMessagesDecode(t *testing.T) {
	requirePypsrp(t)
	out, err := exec.Command("python3", "testdata/pypsrp_peer.py", "pack").Output()
	if err != nil {
		t.Fatal(err)
	}
	var bodies []Body
	for _, line := range strings.Fields(string(out)) {
		raw, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ParseMessage(raw)
		if err != nil {
			t.Fatal(err)
		}
		var d Decoder
		b, err := DecodeBody(&d, m)
		if err != nil {
			t.Fatalf("%v\n%s", err, m.Data)
		}
		bodies = append(bodies, b)
	}
	want := []Body{
		SessionCapability{ProtocolVersion: "2.3", PSVersion: "2.0", SerializationVersion: "1.1.0.1"},
		InitRunspacePool{MinRunspaces: 1, MaxRunspaces: 2, ApartmentState: ApartmentUnknown, HostInfo: NoHost, ApplicationArguments: []Entry{}},
		CreatePipeline{ApartmentState: ApartmentUnknown, HostInfo: NoHost, Pipeline: Pipeline{Commands: []Command{
			{Name: "Get-CASMailbox", Params: []Parameter{{Name: "ResultSize", Value: "Unlimited"}}},
			{Name: "Set-CASMailbox", Params: []Parameter{{Name: "OWAEnabled", Value: false}, {Name: "", Value: "positional"}, {Name: "Confirm", Value: false}}},
		}}},
		PipelineInput{Value: "alice@lab.test"},
		EndOfPipelineInput{},
	}
	if len(bodies) != len(want) {
		t.Fatalf("%d bodies", len(bodies))
	}
	for i := range want {
		if !reflect.DeepEqual(bodies[i], want[i]) {
			t.Errorf("pypsrp's %s decoded as\n %#v\nwant\n %#v", want[i].MessageType(), bodies[i], want[i])
		}
	}
}
