package reassembly

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/smtpscope/smtpscope/capture"
)

// FuzzTracker feeds arbitrary frames through decoding, the flow table, the
// L4 analyser and gopacket's reassembly. The input is a sequence of
// records: a link-type byte, a 2-byte time step in ms, a 2-byte length,
// then that many frame bytes. Nothing may panic, every handler call must
// name a frame that was fed, and none may come after End. The connection
// cap is 3, so that evictions (and gopacket's release) happen too.
func FuzzTracker(f *testing.F) {
	for _, seed := range synthSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		linkTypes := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkTypeNull,
			layers.LinkTypeLinuxSLL, 276, layers.LinkTypeIPv4, layers.LinkTypeIPv6}
		frames := 0
		var bad []string
		tr := NewTracker(Options{MaxConnections: 3, Retire: func(*Conn) {},
			NewHandler: func(*Conn) Handler { return &checkHandler{frames: &frames, bad: &bad} }})
		now := time.Unix(1_700_000_000, 0)
		for len(data) >= 5 && frames < 512 {
			lt := linkTypes[int(data[0])%len(linkTypes)]
			now = now.Add(time.Duration(binary.BigEndian.Uint16(data[1:3])) * time.Millisecond)
			n := int(binary.BigEndian.Uint16(data[3:5]))
			data = data[5:]
			n = min(n, len(data))
			frames++
			fr := capture.Frame{Number: frames, Time: now, LinkType: lt, Data: data[:n], Length: n}
			tr.Add(&fr)
			data = data[n:]
		}
		tr.Close()
		for _, b := range bad {
			t.Error(b)
		}
	})
}

// checkHandler checks that every mark names a frame already fed.
type checkHandler struct {
	frames *int
	bad    *[]string
	ended  bool
}

func (h *checkHandler) check(m Mark) {
	if m.Frame < 1 || m.Frame > *h.frames {
		*h.bad = append(*h.bad, "mark names frame out of range")
	}
	if h.ended {
		*h.bad = append(*h.bad, "handler called after End")
	}
}
func (h *checkHandler) Data(_ Direction, data []byte, at Marker) {
	if len(data) == 0 {
		*h.bad = append(*h.bad, "empty Data call")
		return
	}
	h.check(at.Mark(0))
	h.check(at.Mark(len(data) - 1))
	a, ok := at.(Acker)
	if !ok {
		*h.bad = append(*h.bad, "a Data Marker without Acker")
		return
	}
	a.Acked(0)
	a.Acked(len(data) - 1)
}
func (h *checkHandler) Gap(_ Direction, _ int, at Mark)           { h.check(at) }
func (h *checkHandler) Control(_ EventKind, _ Direction, at Mark) { h.check(at) }
func (h *checkHandler) End(at Mark)                               { h.check(at); h.ended = true }

// synthSeeds builds seed inputs from the synthetic-segment test cases.
func synthSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	build := func(segs []seg) []byte {
		var out []byte
		for i, s := range segs {
			fr := frameOf(tb, i+1, s)
			var hdr [5]byte
			hdr[0] = 0 // Ethernet
			binary.BigEndian.PutUint16(hdr[1:], 1)
			binary.BigEndian.PutUint16(hdr[3:], uint16(len(fr.Data)))
			out = append(append(out, hdr[:]...), fr.Data...)
		}
		return out
	}
	seeds = append(seeds, build(append(append([]seg{}, handshake...),
		seg{seq: cISN + 1, ack: sISN + 1, flags: "PA", payload: "EHLO x\r\n"},
		seg{fromServer: true, seq: sISN + 1, ack: cISN + 9, flags: "PA", payload: "250 ok\r\n"},
		seg{seq: cISN + 20, ack: sISN + 9, flags: "PA", payload: "later\r\n"},
		seg{seq: cISN + 9, ack: sISN + 9, flags: "PA", payload: "hole filled"},
		seg{seq: cISN + 27, ack: sISN + 9, flags: "FA"},
		seg{fromServer: true, seq: sISN + 9, ack: cISN + 28, flags: "RA"},
	)))
	seeds = append(seeds, build(twoHoles()))
	seeds = append(seeds, build([]seg{{seq: 0xfffffff0, flags: "S"}, {seq: 0xfffffff1, flags: "PA", payload: "0123456789abcdefXYZ"}}))
	return seeds
}
