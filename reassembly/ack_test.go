package reassembly

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// ackLog is a Handler that logs, for every Data call, the acknowledgment
// each byte's segment carried (Acker), as "frame:offset", "-" unknown.
type ackLog struct{ acks []string }

func (r *ackLog) Data(dir Direction, data []byte, at Marker) {
	a, ok := at.(Acker)
	if !ok {
		r.acks = append(r.acks, "no Acker")
		return
	}
	for _, off := range []int{0, len(data) - 1} {
		s := "-"
		if n, known := a.Acked(off); known {
			s = fmt.Sprint(n)
		}
		r.acks = append(r.acks, fmt.Sprintf("%s %d:%s", dir, at.Mark(off).Frame, s))
	}
}
func (r *ackLog) Gap(Direction, int, Mark)           {}
func (r *ackLog) Control(EventKind, Direction, Mark) {}
func (r *ackLog) End(Mark)                           {}

// TestTrackerAcked: every delivered byte tells the acknowledgment its own
// segment carried, as an offset in the other direction's stream, also
// when it waited behind a hole and came out with a later segment.
func TestTrackerAcked(t *testing.T) {
	tests := []struct {
		name string
		segs []seg
		want []string
	}{{
		name: "in order",
		segs: append(slices.Clone(handshake),
			seg{seq: cISN + 1, ack: sISN + 1, flags: "PA", payload: "MAIL\r\n"},
			seg{fromServer: true, seq: sISN + 1, ack: cISN + 7, flags: "PA", payload: "250 ok\r\n"},
		),
		want: []string{"client 4:0", "client 4:0", "server 5:6", "server 5:6"},
	}, {
		name: "a server segment held behind a hole keeps its own acknowledgment",
		segs: append(slices.Clone(handshake),
			seg{seq: cISN + 1, ack: sISN + 1, flags: "PA", payload: "MAIL\r\nRCPT\r\n"},
			seg{fromServer: true, seq: sISN + 9, ack: cISN + 13, flags: "PA", payload: "250 b\r\n", after: time.Millisecond},
			seg{seq: cISN + 13, ack: sISN + 1, flags: "PA", payload: "DATA\r\n", after: 2 * time.Millisecond},
			seg{fromServer: true, seq: sISN + 1, ack: cISN + 19, flags: "PA", payload: "250 a\r\n", after: 3 * time.Millisecond},
		),
		want: []string{"client 4:0", "client 4:0", "client 6:0", "client 6:0", "server 7:18", "server 7:18", "server 5:12", "server 5:12"},
	}, {
		name: "no ACK flag, and a server that speaks before the client's first segment",
		segs: []seg{
			{fromServer: true, seq: sISN, flags: "P", payload: "220 x\r\n"},
			{seq: cISN, ack: sISN + 7, flags: "PA", payload: "QUIT\r\n", after: time.Millisecond},
			{fromServer: true, seq: sISN + 7, ack: cISN + 6, flags: "PA", payload: "221 y\r\n", after: 2 * time.Millisecond},
		},
		want: []string{"server 1:-", "server 1:-", "client 2:7", "client 2:7", "server 3:6", "server 3:6"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs []*ackLog
			tr := NewTracker(Options{NewHandler: func(*Conn) Handler {
				r := &ackLog{}
				logs = append(logs, r)
				return r
			}})
			for i, s := range tt.segs {
				if err := tr.Add(frameOf(t, i+1, s)); err != nil {
					t.Fatal(err)
				}
			}
			tr.Close()
			if len(logs) != 1 {
				t.Fatalf("%d connections, want 1", len(logs))
			}
			if !slices.Equal(logs[0].acks, tt.want) {
				t.Errorf("acknowledgments %q, want %q", logs[0].acks, tt.want)
			}
		})
	}
}
