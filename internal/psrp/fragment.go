package psrp

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
)

// FragmentHeaderLen is the size of a fragment header (MS-PSRP §2.2.4):
// ObjectId, FragmentId, flags and BlobLength.
const FragmentHeaderLen = 21

// Fragment flags (MS-PSRP §2.2.4).
const (
	FlagStart byte = 0x1
	FlagEnd   byte = 0x2
)

// DefaultMaxMessageSize bounds one reassembled message, and
// DefaultMaxBuffered all partial messages of one stream, unless a
// Defragmenter says otherwise.
const (
	DefaultMaxMessageSize = 64 << 20
	DefaultMaxBuffered    = 64 << 20
)

// ObjectIDs hands out the ObjectIds of outgoing messages. One allocator is
// shared by a runspace pool and all its pipelines, because an ObjectId must
// be unique within the pool (MS-PSRP §2.2.4). The zero value is ready; the
// first id is 1. It is safe for concurrent use.
type ObjectIDs struct{ last atomic.Uint64 }

// Next returns a fresh ObjectId.
func (o *ObjectIDs) Next() uint64 { return o.last.Add(1) }

// minFragmentBlob is the smallest blob worth starting in the space left at
// the end of a payload; with less room the payload is sent as it is and the
// message starts in the next one.
const minFragmentBlob = 256

// Fragment splits each message (a Message.Marshal result) into fragments
// with a fresh ObjectId from ids and FragmentIds from 0, and packs the
// fragments into payloads of at most maxPayload bytes, in order. A
// fragment never spans two payloads; one payload may carry the fragments
// of many messages. Each payload is meant for one Create, Command or Send.
func Fragment(ids *ObjectIDs, maxPayload int, messages ...[]byte) ([][]byte, error) {
	if maxPayload <= FragmentHeaderLen {
		return nil, fmt.Errorf("psrp: max payload %d bytes leaves no room after the %d-byte fragment header", maxPayload, FragmentHeaderLen)
	}
	var payloads [][]byte
	var cur []byte
	capHint := min(maxPayload, totalLen(messages))
	flush := func() {
		if len(cur) > 0 {
			payloads = append(payloads, cur)
			cur = nil
		}
	}
	for _, msg := range messages {
		oid := ids.Next()
		var fid uint64
		rest := msg
		for first := true; first || len(rest) > 0; first = false {
			room := maxPayload - len(cur) - FragmentHeaderLen
			if room < min(len(rest), minFragmentBlob) || room <= 0 {
				flush()
				room = maxPayload - FragmentHeaderLen
			}
			if cur == nil {
				cur = make([]byte, 0, capHint)
			}
			n := min(room, len(rest))
			var flags byte
			if first {
				flags |= FlagStart
			}
			if n == len(rest) {
				flags |= FlagEnd
			}
			cur = appendFragment(cur, oid, fid, flags, rest[:n])
			rest = rest[n:]
			fid++
		}
	}
	flush()
	return payloads, nil
}

func totalLen(bs [][]byte) int {
	n := 0
	for _, b := range bs {
		n += len(b) + FragmentHeaderLen
	}
	return n
}

func appendFragment(dst []byte, objectID, fragmentID uint64, flags byte, blob []byte) []byte {
	var h [FragmentHeaderLen]byte
	binary.BigEndian.PutUint64(h[0:], objectID)
	binary.BigEndian.PutUint64(h[8:], fragmentID)
	h[16] = flags
	binary.BigEndian.PutUint32(h[17:], uint32(len(blob)))
	dst = append(dst, h[:]...)
	return append(dst, blob...)
}

// Defragmenter reassembles messages from the fragments of one stream (the
// pool's or one pipeline's). Messages may interleave: partial messages are
// kept by ObjectId. It rejects a truncated fragment, a FragmentId out of
// order or repeated, a fragment of no started message and unknown flag
// bits, and it bounds the memory partial messages hold. The zero value
// uses the default limits. It is not safe for concurrent use.
type Defragmenter struct {
	// MaxMessageSize bounds one message (DefaultMaxMessageSize when 0);
	// MaxBuffered all partial messages together (DefaultMaxBuffered when
	// 0).
	MaxMessageSize int
	MaxBuffered    int

	partial  map[uint64]*partialMessage
	buffered int
}

type partialMessage struct {
	nextFragment uint64
	data         []byte
}

func (d *Defragmenter) limits() (int, int) {
	msg, buf := d.MaxMessageSize, d.MaxBuffered
	if msg <= 0 {
		msg = DefaultMaxMessageSize
	}
	if buf <= 0 {
		buf = DefaultMaxBuffered
	}
	return msg, buf
}

// Pending reports how many messages are partly received.
func (d *Defragmenter) Pending() int { return len(d.partial) }

// Feed takes one payload (any number of whole fragments) and returns the
// messages it completed, in the order they completed. A returned message
// may alias payload. After an error the Defragmenter's state is undefined:
// the stream is broken.
func (d *Defragmenter) Feed(payload []byte) ([][]byte, error) {
	maxMsg, maxBuf := d.limits()
	var out [][]byte
	if n := countEnds(payload); n > 0 {
		out = make([][]byte, 0, n) // a Receive can carry hundreds of messages
	}
	for off := 0; off < len(payload); {
		if len(payload)-off < FragmentHeaderLen {
			return out, fmt.Errorf("psrp: truncated fragment: %d bytes left at offset %d, a fragment header needs %d", len(payload)-off, off, FragmentHeaderLen)
		}
		h := payload[off : off+FragmentHeaderLen]
		oid := binary.BigEndian.Uint64(h[0:])
		fid := binary.BigEndian.Uint64(h[8:])
		flags := h[16]
		blen := uint64(binary.BigEndian.Uint32(h[17:]))
		off += FragmentHeaderLen
		if uint64(len(payload)-off) < blen {
			return out, fmt.Errorf("psrp: truncated fragment: object %d fragment %d says %d blob bytes, %d left", oid, fid, blen, len(payload)-off)
		}
		blob := payload[off : off+int(blen)]
		off += int(blen)
		if flags&^(FlagStart|FlagEnd) != 0 {
			return out, fmt.Errorf("psrp: object %d fragment %d has unknown flag bits 0x%02X", oid, fid, flags)
		}
		if oid == 0 {
			return out, fmt.Errorf("psrp: fragment %d has ObjectId 0; ObjectIds start at 1", fid)
		}
		p := d.partial[oid]
		if flags&FlagStart != 0 {
			if p != nil {
				return out, fmt.Errorf("psrp: object %d started again while %d fragments of it are buffered", oid, p.nextFragment)
			}
			if fid != 0 {
				return out, fmt.Errorf("psrp: object %d starts with fragment %d, want 0", oid, fid)
			}
			if int(blen) > maxMsg {
				return out, fmt.Errorf("psrp: object %d is larger than the %d-byte message limit", oid, maxMsg)
			}
			if flags&FlagEnd != 0 {
				out = append(out, blob)
				continue
			}
			if d.buffered+int(blen) > maxBuf {
				return out, fmt.Errorf("psrp: partial messages would hold more than the %d-byte buffer limit", maxBuf)
			}
			if d.partial == nil {
				d.partial = make(map[uint64]*partialMessage)
			}
			d.partial[oid] = &partialMessage{nextFragment: 1, data: append([]byte(nil), blob...)}
			d.buffered += int(blen)
			continue
		}
		if p == nil {
			return out, fmt.Errorf("psrp: object %d fragment %d continues a message that was never started", oid, fid)
		}
		if fid != p.nextFragment {
			return out, fmt.Errorf("psrp: object %d fragment %d out of order, want fragment %d", oid, fid, p.nextFragment)
		}
		if len(p.data)+int(blen) > maxMsg {
			return out, fmt.Errorf("psrp: object %d is larger than the %d-byte message limit", oid, maxMsg)
		}
		if d.buffered+int(blen) > maxBuf {
			return out, fmt.Errorf("psrp: partial messages would hold more than the %d-byte buffer limit", maxBuf)
		}
		p.data = append(p.data, blob...)
		p.nextFragment++
		d.buffered += int(blen)
		if flags&FlagEnd != 0 {
			out = append(out, p.data)
			d.buffered -= len(p.data)
			delete(d.partial, oid)
		}
	}
	return out, nil
}

// countEnds counts the fragments of payload that end a message, as far as
// its headers can be followed: Feed's estimate of how many messages it
// returns.
func countEnds(payload []byte) int {
	n := 0
	for off := 0; len(payload)-off >= FragmentHeaderLen; {
		h := payload[off : off+FragmentHeaderLen]
		if h[16]&FlagEnd != 0 {
			n++
		}
		blen := uint64(binary.BigEndian.Uint32(h[17:]))
		if uint64(len(payload)-off-FragmentHeaderLen) < blen {
			break
		}
		off += FragmentHeaderLen + int(blen)
	}
	return n
}
