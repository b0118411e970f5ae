package psrp

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestMessageHeader(t *testing.T) {
	rpid := uuid.MustParse("00112233-4455-6677-8899-aabbccddeeff")
	m := Message{Destination: ToServer, Type: MsgSessionCapability, RPID: rpid, Data: []byte("<Obj/>")}
	b := m.Marshal()
	want := []byte{2, 0, 0, 0, 0x02, 0x00, 0x01, 0x00,
		0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	if !bytes.Equal(b[:24], want) {
		t.Fatalf("header % x\nwant   % x", b[:24], want)
	}
	if !bytes.Equal(b[24:40], make([]byte, 16)) {
		t.Fatal("PID of a pool message is not zero")
	}
	got, err := ParseMessage(b)
	if err != nil || got.RPID != rpid || got.PID != uuid.Nil || got.Type != MsgSessionCapability || string(got.Data) != "<Obj/>" {
		t.Fatalf("ParseMessage = %+v, %v", got, err)
	}
	bom := append(append(b[:40:40], 0xEF, 0xBB, 0xBF), "<S>x</S>"...)
	got, err = ParseMessage(bom)
	if err != nil || string(got.Data) != "<S>x</S>" {
		t.Fatalf("BOM not stripped: %q %v", got.Data, err)
	}
	if MsgPipelineState.String() != "PIPELINE_STATE" || MessageType(0x1234).String() != "0x00001234" || MessageType(0x1234).Known() {
		t.Fatal("MessageType names")
	}
	for _, tt := range []struct {
		name string
		in   []byte
		want string
	}{
		{"short", b[:39], "shorter than its 40-byte header"},
		{"bad destination", append([]byte{9, 0, 0, 0}, b[4:]...), "destination 9"},
	} {
		if _, err := ParseMessage(tt.in); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestFragmentPacking(t *testing.T) {
	var ids ObjectIDs
	big := bytes.Repeat([]byte("x"), 1000)
	small := []byte("tiny message")
	payloads, err := Fragment(&ids, 300, big, small, small)
	if err != nil {
		t.Fatal(err)
	}
	var d Defragmenter
	var msgs [][]byte
	for i, p := range payloads {
		if len(p) > 300 {
			t.Fatalf("payload %d has %d bytes, max 300", i, len(p))
		}
		got, err := d.Feed(p)
		if err != nil {
			t.Fatalf("payload %d: %v", i, err)
		}
		msgs = append(msgs, got...)
	}
	if len(msgs) != 3 || !bytes.Equal(msgs[0], big) || !bytes.Equal(msgs[1], small) || !bytes.Equal(msgs[2], small) {
		t.Fatalf("reassembled %d messages", len(msgs))
	}
	// The first fragment: ObjectId 1, FragmentId 0, start flag only.
	h := payloads[0]
	if binary.BigEndian.Uint64(h) != 1 || binary.BigEndian.Uint64(h[8:]) != 0 || h[16] != FlagStart {
		t.Fatalf("first fragment header % x", h[:21])
	}
	// The two small messages share the last payload with big's tail.
	if len(payloads) != 4 {
		t.Fatalf("%d payloads, want 4 (1000 bytes in 279-byte blobs, smalls packed after)", len(payloads))
	}
	if ids.Next() != 4 {
		t.Fatal("ObjectIds were not 1, 2, 3")
	}
	if _, err := Fragment(&ids, 21, small); err == nil {
		t.Fatal("max payload 21 accepted")
	}
}

func frag(oid, fid uint64, flags byte, blob string) []byte {
	return appendFragment(nil, oid, fid, flags, []byte(blob))
}

func TestDefragmenter(t *testing.T) {
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	t.Run("interleaved", func(t *testing.T) {
		var d Defragmenter
		msgs, err := d.Feed(cat(frag(1, 0, FlagStart, "a"), frag(2, 0, FlagStart, "x"), frag(1, 1, 0, "b"), frag(2, 1, FlagEnd, "y"), frag(1, 2, FlagEnd, "c")))
		if err != nil || len(msgs) != 2 || string(msgs[0]) != "xy" || string(msgs[1]) != "abc" || d.Pending() != 0 {
			t.Fatalf("%q %v", msgs, err)
		}
	})
	t.Run("across payloads", func(t *testing.T) {
		var d Defragmenter
		if m, err := d.Feed(frag(5, 0, FlagStart, "he")); err != nil || len(m) != 0 {
			t.Fatal(m, err)
		}
		if m, err := d.Feed(frag(5, 1, FlagEnd, "llo")); err != nil || len(m) != 1 || string(m[0]) != "hello" {
			t.Fatal(m, err)
		}
	})
	bad := []struct {
		name string
		in   []byte
		d    Defragmenter
		want string
	}{
		{"truncated header", frag(1, 0, 3, "abc")[:10], Defragmenter{}, "truncated fragment"},
		{"truncated blob", frag(1, 0, 3, "abc")[:22], Defragmenter{}, "says 3 blob bytes, 1 left"},
		{"unknown flags", frag(1, 0, 0x7, "a"), Defragmenter{}, "unknown flag bits 0x07"},
		{"object id zero", frag(0, 0, 3, "a"), Defragmenter{}, "ObjectId 0"},
		{"start not at 0", frag(1, 1, 3, "a"), Defragmenter{}, "starts with fragment 1"},
		{"continuation without start", frag(1, 1, FlagEnd, "a"), Defragmenter{}, "never started"},
		{"out of order", cat(frag(1, 0, FlagStart, "a"), frag(1, 2, FlagEnd, "b")), Defragmenter{}, "fragment 2 out of order, want fragment 1"},
		{"duplicate", cat(frag(1, 0, FlagStart, "a"), frag(1, 1, 0, "b"), frag(1, 1, FlagEnd, "b")), Defragmenter{}, "fragment 1 out of order, want fragment 2"},
		{"restarted", cat(frag(1, 0, FlagStart, "a"), frag(1, 0, FlagStart, "a")), Defragmenter{}, "started again"},
		{"oversized message", cat(frag(1, 0, FlagStart, "aaaa"), frag(1, 1, FlagEnd, "bbbb")), Defragmenter{MaxMessageSize: 6}, "larger than the 6-byte message limit"},
		{"oversized single", frag(1, 0, 3, "aaaaaaa"), Defragmenter{MaxMessageSize: 6}, "larger than the 6-byte message limit"},
		{"buffer limit", cat(frag(1, 0, FlagStart, "aaaa"), frag(2, 0, FlagStart, "bbbb")), Defragmenter{MaxBuffered: 6}, "6-byte buffer limit"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.d.Feed(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}
