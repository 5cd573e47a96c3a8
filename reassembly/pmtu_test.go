package reassembly

import (
	"testing"
	"time"
)

// pmtuAfter runs segments through an Analyzer and the two pmtuWatches as
// the Tracker does, and returns the evidence.
func pmtuAfter(segs []ss) PMTU {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var a Analyzer
	var ws [2]pmtuWatch
	for n, x := range segs {
		s := x.segment(n+1, start)
		f := a.Observe(&s)
		ws[s.Dir].sent(&s, f)
		if s.ACK {
			ws[1-s.Dir].acked(s.Ack)
		}
	}
	return pmtuOf(&ws)
}

// TestPMTUShapes: a path that drops every segment above 1,100 bytes, and
// the ways TCP stacks retransmit into it. Two 500-byte segments get
// through; then a flight of four 1,448-byte segments (A to D) is never
// acknowledged, however it is retransmitted.
func TestPMTUShapes(t *testing.T) {
	const full = 1448
	a, b, c, d := uint32(c1+1000), uint32(c1+1000+full), uint32(c1+1000+2*full), uint32(c1+1000+3*full)
	seg := func(ms float64, seq uint32) ss { return ss{ms, 'c', "PA", seq, s1, full, 1000, 0, 0} }
	ack := func(ms float64, n uint32) ss { return ss{ms, 's', "A", s1, n, 0, 1000, 0, 0} }
	before := withHandshake(
		ss{20, 'c', "PA", c1, s1, 500, 1000, 0, 0},
		ack(21, c1+500),
		ss{30, 'c', "PA", c1 + 500, s1, 500, 1000, 0, 0},
		ack(31, c1+1000),
		seg(40, a), seg(40.1, b), seg(40.2, c), seg(40.3, d),
	)
	// The peer is still there: it closes after a timeout of its own.
	fin := ss{9000, 's', "FA", s1, c1 + 1000, 0, 1000, 0, 0}
	shape := func(rest ...ss) []ss { return append(append(append([]ss{}, before...), rest...), fin) }
	tests := []struct {
		name    string
		segs    []ss
		suspect bool
	}{
		{"whole flight once, then the first with backoff (Linux)", shape(
			seg(250, a), seg(250.1, b), seg(250.2, c), seg(250.3, d), seg(700, a), seg(1600, a), seg(3400, a)), true},
		{"the first only", shape(seg(250, a), seg(700, a), seg(1600, a), seg(3400, a)), true},
		{"a tail-loss probe first", shape(seg(90, d), seg(300, a), seg(750, a), seg(1650, a)), true},
		{"any order", shape(seg(250, c), seg(250.1, a), seg(250.2, d), seg(250.3, b), seg(700, a), seg(1600, a)), true},
		{"duplicate ACKs in between", shape(ack(41, c1+1000), seg(250, a), ack(251, c1+1000), seg(700, a), seg(1600, a)), true},
		{"plain loss: the retransmission is acknowledged", shape(seg(250, a), ack(251, d+full), seg(700, a), seg(1600, a), seg(3400, a)), false},
		{"lost once, then again: acknowledged in between", shape(seg(250, a), seg(700, a), ack(701, b), seg(900, b), seg(1600, b)), false},
		{"too few retransmissions", shape(seg(250, a), seg(700, a)), false},
		{"nothing from the peer after the loss: an outage, or a cut", append(append([]ss{}, before...), seg(250, a), seg(700, a), seg(1600, a)), false},
		{"nothing small got through", append(withHandshake(seg(40, c1), seg(40.1, c1+full)), seg(250, c1), seg(700, c1), seg(1600, c1), fin), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := pmtuAfter(tc.segs)
			if p.Suspected != tc.suspect {
				t.Fatalf("Suspected = %v, want %v (%+v)", p.Suspected, tc.suspect, p)
			}
			if p.Suspected && (p.Sender != ClientToServer || p.Size != full || p.SmallAcked != 500 || p.Retransmissions < minPMTURetransmissions) {
				t.Errorf("evidence %+v", p)
			}
		})
	}
}
