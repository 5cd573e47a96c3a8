package reassembly

import (
	"strings"
	"testing"
	"time"
)

// TestTrackerTellsSnaplenCutBeforeClose checks that bytes the snaplen cut
// from a segment reach the handler as a gap right after the segment's
// captured bytes, so before the other side's answer and before the
// sender's FIN, and once, however gopacket reports the hole later.
func TestTrackerTellsSnaplenCutBeforeClose(t *testing.T) {
	reply := "354 Go ahead. End your data with <CR><LF>.<CR><LF>\r\n" // 52 bytes
	const keep = 30
	cases := []struct {
		name string
		tail []seg
		want []string // the server side's events from the cut reply on
	}{
		{"FIN after the cut reply", []seg{
			{seq: cISN + 1, ack: sISN + 1 + uint32(len(reply)), flags: "A", after: time.Second},
			{fromServer: true, seq: sISN + 1 + uint32(len(reply)), ack: cISN + 1, flags: "FA", after: 2 * time.Second},
			{seq: cISN + 1, ack: sISN + 2 + uint32(len(reply)), flags: "FA", after: 2 * time.Second},
		}, []string{"data server→client", "gap server 22 at 4", "FIN server at 6", "end at 7"}},
		{"capture ends after the cut reply", nil, []string{"data server→client", "gap server 22 at 4", "end at 4"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			segs := append(append([]seg(nil), handshake...), seg{fromServer: true, seq: sISN + 1, ack: cISN + 1, flags: "PA", payload: reply})
			segs = append(segs, tc.tail...)
			var rec *eventLog
			tr := NewTracker(Options{NewHandler: func(*Conn) Handler { rec = &eventLog{}; return rec }})
			for i, s := range segs {
				f := frameOf(t, i+1, s)
				if i == 3 { // the reply, cut by a snaplen
					f.Data = f.Data[:len(f.Data)-len(reply)+keep]
				}
				if err := tr.Add(f); err != nil {
					t.Fatal(err)
				}
			}
			tr.Close()
			var got []string
			for _, e := range rec.events {
				if strings.Contains(e, "server") || strings.HasPrefix(e, "end") {
					if strings.HasPrefix(e, "data") {
						e = "data server→client"
					}
					got = append(got, e)
				}
			}
			if strings.Join(got, "; ") != strings.Join(tc.want, "; ") {
				t.Errorf("events %q, want %q", got, tc.want)
			}
			if c := tr.Conns()[0]; c.MissedBytes[ServerToClient] != int64(len(reply)-keep) {
				t.Errorf("missed bytes %d, want %d", c.MissedBytes[ServerToClient], len(reply)-keep)
			}
		})
	}
}
