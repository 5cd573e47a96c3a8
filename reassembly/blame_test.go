package reassembly

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTrackerTellsUnseenTail: bytes the peer acknowledged but no captured
// segment carried, at the end of a direction, reach the handler as a gap
// before the close is told (and before End), never silently; bytes the
// snaplen cut or an ACK of the FIN alone are not told as unseen.
func TestTrackerTellsUnseenTail(t *testing.T) {
	body := seg{seq: cISN + 1, ack: sISN + 1, flags: "PA", payload: "MAIL FROM:<a@b>\r\n"} // 17 bytes
	cases := []struct {
		name string
		segs []seg
		want []string // the events from the first gap or close on
	}{{
		name: "20 unseen bytes acknowledged, then the server closes",
		segs: join(handshake, []seg{body,
			{fromServer: true, seq: sISN + 1, ack: cISN + 1 + 17 + 20, flags: "A"},
			{fromServer: true, seq: sISN + 1, ack: cISN + 1 + 17 + 20, flags: "FA", after: time.Second}}),
		want: []string{"gap client 19 at 6", "FIN server at 6", "end at 6"},
	}, {
		name: "acknowledged unseen bytes told at the end of the capture",
		segs: join(handshake, []seg{body,
			{fromServer: true, seq: sISN + 1, ack: cISN + 1 + 17 + 100, flags: "A"}}),
		want: []string{"gap client 99 at 5", "end at 5"},
	}, {
		name: "the client's FIN acknowledged: nothing unseen",
		segs: join(handshake, []seg{body,
			{seq: cISN + 18, ack: sISN + 1, flags: "FA"},
			{fromServer: true, seq: sISN + 1, ack: cISN + 19, flags: "FA"}}),
		want: []string{"FIN client at 5", "FIN server at 6", "end at 6"},
	}, {
		name: "everything acknowledged was seen",
		segs: join(handshake, []seg{body,
			{fromServer: true, seq: sISN + 1, ack: cISN + 18, flags: "FA"}}),
		want: []string{"FIN server at 5", "end at 5"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, recs := runSegs(t, tc.segs)
			ev := recs[0].events
			i := slices.IndexFunc(ev, func(e string) bool { return !strings.HasPrefix(e, "data ") })
			if i < 0 || !slices.Equal(ev[i:], tc.want) {
				t.Errorf("events %q, want them to end %q", ev, tc.want)
			}
		})
	}
}

// TestTrackerConflicts: a retransmission with other bytes than the
// segment it repeats is a Conflict naming both frames; one with the same
// bytes, or a copy of the frame, is not.
func TestTrackerConflicts(t *testing.T) {
	first := seg{seq: cISN + 1, ack: sISN + 1, flags: "PA", payload: "DATA\r\n"}
	resend := func(payload string) seg {
		return seg{seq: cISN + 1, ack: sISN + 1, flags: "PA", payload: payload, after: 300 * time.Millisecond}
	}
	cases := []struct {
		name string
		segs []seg
		want []Conflict
	}{
		{"other bytes", join(handshake, []seg{first, resend("RSET\r\n")}),
			[]Conflict{{Dir: ClientToServer, Original: Mark{Frame: 4, Time: t0}, Retransmission: Mark{Frame: 5, Time: t0.Add(300 * time.Millisecond)}, Offset: 0, Len: 6}}},
		{"same bytes", join(handshake, []seg{first, resend("DATA\r\n")}), nil},
		{"a shorter resend is not compared", join(handshake, []seg{first, resend("RSET")}), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, _ := runSegs(t, tc.segs)
			c := tr.Conns()[0]
			if !slices.Equal(c.Conflicts, tc.want) || c.ConflictCount != len(tc.want) {
				t.Errorf("Conflicts %+v (count %d), want %+v", c.Conflicts, c.ConflictCount, tc.want)
			}
		})
	}
}

// TestDuplicateFrames: a frame captured twice is counted as a duplicate
// (and, flagged as a retransmission as Wireshark flags it, as a duplicate
// retransmission); a real retransmission a timeout later is not.
func TestDuplicateFrames(t *testing.T) {
	data := seg{seq: cISN + 1, ack: sISN + 1, flags: "PA", payload: "EHLO x\r\n", after: time.Millisecond}
	later := data
	later.after = 300 * time.Millisecond
	cases := []struct {
		name             string
		segs             []seg
		dups, dupRetrans int
		retrans          int
	}{
		{"data frame twice", join(handshake, []seg{data, data}), 1, 1, 1},
		{"retransmitted after a timeout", join(handshake, []seg{data, later}), 0, 0, 1},
		{"every handshake frame twice", []seg{handshake[0], handshake[0], handshake[1], handshake[1], handshake[2], handshake[2]}, 2, 1, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, _ := runSegs(t, tc.segs)
			h := tr.Conns()[0].Health()
			s := h.Sides[ClientToServer]
			if s.Duplicates != tc.dups || s.DuplicateRetransmissions != tc.dupRetrans {
				t.Errorf("client: %d duplicates, %d duplicate retransmissions; want %d, %d", s.Duplicates, s.DuplicateRetransmissions, tc.dups, tc.dupRetrans)
			}
			if h.Retransmission.Count != tc.retrans {
				t.Errorf("%d retransmissions flagged, want %d (as Wireshark flags them)", h.Retransmission.Count, tc.retrans)
			}
			if h.Handshake.SYNRetries != 0 || h.SYNRetransmissions != 0 {
				t.Errorf("SYN retries %d, SYN retransmissions %d: a copy of a frame is no retry", h.Handshake.SYNRetries, h.SYNRetransmissions)
			}
		})
	}
}
