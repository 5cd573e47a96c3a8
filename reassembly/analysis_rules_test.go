package reassembly

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Synthetic-segment tests of each tcp.analysis rule and of their
// precedence. Every case is also written to a small pcap and, when tshark
// is installed, run through it: the expectations below are tshark 4.0's
// own answers, not our reading of its source.

// ss is one synthetic segment: ms after the start, from the client (c) or
// server (s), with flags among S A F R P.
type ss struct {
	ms       float64
	from     byte
	flags    string
	seq, ack uint32
	len      int
	win      uint16
	ws       int // window scale option; 0 means absent, n>0 means shift n-1
	want     Flag
}

func (x ss) segment(frame int, start time.Time) Segment {
	s := Segment{
		Frame: frame, Time: start.Add(time.Duration(x.ms * float64(time.Millisecond))),
		Seq: x.seq, Ack: x.ack, Len: x.len, CapturedLen: x.len, Window: x.win,
		WindowScale: x.ws - 1, TTL: 64,
		SYN: strings.Contains(x.flags, "S"), ACK: strings.Contains(x.flags, "A"),
		FIN: strings.Contains(x.flags, "F"), RST: strings.Contains(x.flags, "R"), PSH: strings.Contains(x.flags, "P"),
	}
	if x.from == 's' {
		s.Dir = ServerToClient
	}
	return s
}

const (
	isnC = 1000     // client ISN in the cases
	isnS = 5000     // server ISN
	c1   = isnC + 1 // client's first data byte
	s1   = isnS + 1
)

// handshake returns a three-way handshake 10 ms long, windows 1000 (no
// scaling), then the ms of its end.
func ruleHandshake() []ss {
	return []ss{
		{0, 'c', "S", isnC, 0, 0, 1000, 0, 0},
		{5, 's', "SA", isnS, c1, 0, 1000, 0, 0},
		{10, 'c', "A", c1, s1, 0, 1000, 0, 0},
	}
}

func withHandshake(rest ...ss) []ss { return append(ruleHandshake(), rest...) }

var ruleCases = []struct {
	name string
	segs []ss
}{
	{"in order: no flags", withHandshake(
		ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
		ss{25, 's', "A", s1, c1 + 100, 0, 1000, 0, 0},
		ss{30, 's', "PA", s1, c1 + 100, 50, 1000, 0, 0},
		ss{35, 'c', "A", c1 + 100, s1 + 50, 0, 1000, 0, 0},
	)},
	{"retransmission after a timeout", withHandshake(
		ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
		ss{21, 'c', "PA", c1 + 100, s1, 100, 1000, 0, 0},
		ss{500, 'c', "PA", c1, s1, 100, 1000, 0, FlagRetransmission},
	)},
	{"out of order within the initial RTT", withHandshake(
		ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
		ss{21, 'c', "PA", c1 + 200, s1, 100, 1000, 0, FlagLostSegment},
		ss{22, 'c', "PA", c1 + 100, s1, 100, 1000, 0, FlagOutOfOrder},
	)},
	{"late fill of a hole is a retransmission", withHandshake(
		ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
		ss{21, 'c', "PA", c1 + 200, s1, 100, 1000, 0, FlagLostSegment},
		ss{40, 'c', "PA", c1 + 100, s1, 100, 1000, 0, FlagRetransmission},
	)},
	{"fast retransmission after two duplicate ACKs", withHandshake(
		ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
		ss{20.1, 'c', "PA", c1 + 100, s1, 100, 1000, 0, 0},
		ss{20.2, 'c', "PA", c1 + 200, s1, 100, 1000, 0, 0},
		ss{20.3, 'c', "PA", c1 + 300, s1, 100, 1000, 0, 0},
		ss{25, 's', "A", s1, c1 + 100, 0, 1000, 0, 0},
		ss{25.1, 's', "A", s1, c1 + 100, 0, 1000, 0, FlagDuplicateAck},
		ss{25.2, 's', "A", s1, c1 + 100, 0, 1000, 0, FlagDuplicateAck},
		ss{30, 'c', "PA", c1 + 100, s1, 100, 1000, 0, FlagFastRetransmission | FlagRetransmission},
	)},
	{"too late for fast: 20 ms after the last duplicate ACK", withHandshake(
		ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
		ss{20.1, 'c', "PA", c1 + 100, s1, 100, 1000, 0, 0},
		ss{25, 's', "A", s1, c1 + 100, 0, 1000, 0, 0},
		ss{25.1, 's', "A", s1, c1 + 100, 0, 1000, 0, FlagDuplicateAck},
		ss{25.2, 's', "A", s1, c1 + 100, 0, 1000, 0, FlagDuplicateAck},
		ss{46, 'c', "PA", c1 + 100, s1, 100, 1000, 0, FlagRetransmission},
	)},
	{"spurious beats fast: the data was already acknowledged", withHandshake(
		ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
		ss{20.1, 'c', "PA", c1 + 100, s1, 100, 1000, 0, 0},
		ss{25, 's', "A", s1, c1 + 200, 0, 1000, 0, 0},
		ss{25.1, 's', "A", s1, c1 + 200, 0, 1000, 0, FlagDuplicateAck},
		ss{25.2, 's', "A", s1, c1 + 200, 0, 1000, 0, FlagDuplicateAck},
		ss{26, 'c', "PA", c1 + 100, s1, 100, 1000, 0, FlagSpuriousRetransmission | FlagRetransmission},
	)},
	{"spurious beats out of order", withHandshake(
		ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
		ss{20.5, 's', "A", s1, c1 + 100, 0, 1000, 0, 0},
		ss{21, 'c', "PA", c1 + 100, s1, 100, 1000, 0, 0},
		ss{21.5, 'c', "PA", c1, s1, 100, 1000, 0, FlagSpuriousRetransmission | FlagRetransmission},
	)},
	{"keep-alive and its ACK", withHandshake(
		ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
		ss{25, 's', "A", s1, c1 + 100, 0, 1000, 0, 0},
		ss{2000, 'c', "A", c1 + 99, s1, 0, 1000, 0, FlagKeepAlive},
		ss{2001, 's', "A", s1, c1 + 100, 0, 1000, 0, FlagKeepAliveAck},
	)},
	{"keep-alive beats retransmission: one garbage byte", withHandshake(
		ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
		ss{25, 's', "A", s1, c1 + 100, 0, 1000, 0, 0},
		ss{2000, 'c', "A", c1 + 99, s1, 1, 1000, 0, FlagKeepAlive},
	)},
	{"zero window, Linux probe as keep-alive, window update", withHandshake(
		ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
		ss{25, 's', "A", s1, c1 + 100, 0, 0, 0, FlagZeroWindow},
		ss{300, 'c', "A", c1 + 99, s1, 0, 1000, 0, FlagKeepAlive},
		ss{301, 's', "A", s1, c1 + 100, 0, 0, 0, FlagZeroWindow},
		ss{900, 's', "A", s1, c1 + 100, 0, 1000, 0, FlagWindowUpdate},
	)},
	{"zero-window probe of one byte and its ACK", withHandshake(
		ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
		ss{25, 's', "A", s1, c1 + 100, 0, 0, 0, FlagZeroWindow},
		ss{300, 'c', "A", c1 + 100, s1, 1, 1000, 0, FlagZeroWindowProbe},
		ss{301, 's', "A", s1, c1 + 100, 0, 0, 0, FlagZeroWindow | FlagZeroWindowProbeAck},
		ss{600, 'c', "A", c1 + 100, s1, 1, 1000, 0, FlagZeroWindowProbe},
	)},
	{"duplicate ACK needs an unchanged, non-zero window", withHandshake(
		ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
		ss{25, 's', "A", s1, c1 + 100, 0, 1000, 0, 0},
		ss{26, 's', "A", s1, c1 + 100, 0, 900, 0, FlagWindowUpdate},
		ss{27, 's', "A", s1, c1 + 100, 0, 900, 0, FlagDuplicateAck},
	)},
	{"window full without scaling", withHandshake(
		ss{20, 'c', "PA", c1, s1, 600, 1000, 0, 0},
		ss{21, 'c', "PA", c1 + 600, s1, 400, 1000, 0, FlagWindowFull},
	)},
	{"window full with scaling: the SYN+ACK's window is not scaled", []ss{
		{0, 'c', "S", isnC, 0, 0, 1000, 3, 0},
		{5, 's', "SA", isnS, c1, 0, 1000, 3, 0},
		{10, 'c', "A", c1, s1, 0, 250, 0, 0},
		{20, 'c', "PA", c1, s1, 1000, 250, 0, FlagWindowFull},
		{25, 's', "A", s1, c1 + 1000, 0, 250, 0, 0},
		{30, 'c', "PA", c1 + 1000, s1, 1000, 250, 0, FlagWindowFull},
	}},
	{"scale unknown mid-stream: no window full", []ss{
		{0, 'c', "PA", c1, s1, 600, 1000, 0, 0},
		{5, 's', "A", s1, c1 + 600, 0, 10, 0, 0},
		{10, 'c', "PA", c1 + 600, s1, 10, 1000, 0, 0},
	}},
	{"lost segment and ACKed unseen segment", withHandshake(
		ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
		ss{21, 'c', "PA", c1 + 200, s1, 100, 1000, 0, FlagLostSegment},
		ss{25, 's', "A", s1, c1 + 300, 0, 1000, 0, FlagAckLostSegment},
		ss{26, 's', "PA", s1, c1 + 300, 10, 1000, 0, 0},
	)},
	{"ACKs beyond all data seen: flagged once, until the peer's ACK moves", []ss{
		{0, 'c', "PA", c1, s1, 100, 1000, 0, 0},
		{5, 's', "A", s1, c1 + 300, 0, 1000, 0, FlagAckLostSegment},
		{6, 's', "A", s1, c1 + 400, 0, 1000, 0, 0},
		{7, 's', "A", s1, c1 + 400, 0, 1000, 0, FlagDuplicateAck},
		{8, 'c', "PA", c1 + 100, s1 + 10, 100, 1000, 0, FlagSpuriousRetransmission | FlagRetransmission},
		{9, 's', "A", s1, c1 + 500, 0, 1000, 0, FlagAckLostSegment},
	}},
	{"ACKs over a hole in the data seen: each hole flagged", withHandshake(
		ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
		ss{21, 'c', "PA", c1 + 200, s1, 100, 1000, 0, FlagLostSegment},
		ss{25, 's', "A", s1, c1 + 300, 0, 1000, 0, FlagAckLostSegment},
		ss{26, 'c', "PA", c1 + 300, s1, 100, 1000, 0, 0},
		ss{27, 's', "A", s1, c1 + 400, 0, 1000, 0, 0},
		ss{28, 'c', "PA", c1 + 500, s1, 100, 1000, 0, FlagLostSegment},
		ss{29, 's', "A", s1, c1 + 600, 0, 1000, 0, FlagAckLostSegment},
	)},
	{"ACK beyond a hole and beyond the data seen", withHandshake(
		ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
		ss{21, 'c', "PA", c1 + 200, s1, 100, 1000, 0, FlagLostSegment},
		ss{25, 's', "A", s1, c1 + 500, 0, 1000, 0, FlagAckLostSegment},
		ss{26, 's', "A", s1, c1 + 600, 0, 1000, 0, FlagAckLostSegment},
		ss{27, 's', "A", s1, c1 + 700, 0, 1000, 0, 0},
	)},
	{"holes across the sequence wrap", []ss{
		{0, 'c', "S", math.MaxUint32 - 150, 0, 0, 1000, 0, 0},
		{5, 's', "SA", isnS, math.MaxUint32 - 149, 0, 1000, 0, 0},
		{10, 'c', "A", math.MaxUint32 - 149, s1, 0, 1000, 0, 0},
		{20, 'c', "PA", math.MaxUint32 - 149, s1, 100, 1000, 0, 0},
		{21, 'c', "PA", 50, s1, 100, 1000, 0, FlagLostSegment},
		{25, 's', "A", s1, 150, 0, 1000, 0, FlagAckLostSegment},
		{26, 'c', "PA", 150, s1, 100, 1000, 0, 0},
		{27, 'c', "PA", 350, s1, 100, 1000, 0, FlagLostSegment},
		{28, 's', "A", s1, 450, 0, 1000, 0, FlagAckLostSegment},
	}},
	{"fast beats out of order", withHandshake(
		ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
		ss{20.1, 'c', "PA", c1 + 100, s1, 100, 1000, 0, 0},
		ss{20.2, 'c', "PA", c1 + 200, s1, 100, 1000, 0, 0},
		ss{20.3, 's', "A", s1, c1 + 100, 0, 1000, 0, 0},
		ss{20.4, 's', "A", s1, c1 + 100, 0, 1000, 0, FlagDuplicateAck},
		ss{20.5, 's', "A", s1, c1 + 100, 0, 1000, 0, FlagDuplicateAck},
		ss{20.6, 'c', "PA", c1 + 100, s1, 100, 1000, 0, FlagFastRetransmission | FlagRetransmission},
	)},
	{"a retransmission ending at the highest sequence number is not out of order", withHandshake(
		ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
		ss{20.5, 'c', "PA", c1, s1, 100, 1000, 0, FlagRetransmission},
	)},
	{"data from one byte before the next sequence number is not a retransmission (it may follow a probe)", withHandshake(
		ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
		ss{25, 's', "A", s1, c1 + 100, 0, 1000, 0, 0},
		ss{400, 'c', "PA", c1 + 99, s1, 50, 1000, 0, 0},
	)},
	{"a repeated ACK with a changed window is a window update, not a duplicate ACK", withHandshake(
		ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
		ss{20.1, 'c', "PA", c1 + 200, s1, 100, 1000, 0, FlagLostSegment},
		ss{21, 's', "A", s1, c1 + 100, 0, 900, 0, 0},
		ss{21.1, 's', "A", s1, c1 + 100, 0, 800, 0, FlagWindowUpdate},
	)},
	{"SYN carrying data, FIN carrying data", []ss{
		{0, 'c', "S", isnC, 0, 20, 1000, 0, 0},
		{5, 's', "SA", isnS, c1 + 20, 0, 1000, 0, 0},
		{10, 'c', "FPA", c1 + 20, s1, 30, 1000, 0, 0},
		{15, 's', "FA", s1, c1 + 51, 0, 1000, 0, 0},
		{20, 'c', "A", c1 + 51, s1 + 1, 0, 1000, 0, 0},
	}},
	{"zero window on a RST is not flagged", withHandshake(
		ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
		ss{25, 's', "RA", s1, c1 + 100, 0, 0, 0, 0},
	)},
	{"keep-alive before any data", withHandshake(
		ss{2000, 'c', "A", isnC, s1, 0, 1000, 0, FlagKeepAlive},
		ss{2001, 's', "A", s1, c1, 0, 1000, 0, FlagKeepAliveAck},
	)},
	{"window full from the server's side", withHandshake(
		ss{20, 'c', "A", c1, s1, 0, 300, 0, FlagWindowUpdate},
		ss{25, 's', "PA", s1, c1, 300, 1000, 0, FlagWindowFull},
	)},
	{"a SYN repeating the ISN restores the next sequence number a RST moved", []ss{
		{0, 'c', "S", isnC, 0, 0, 1000, 0, 0},
		{5, 's', "SA", isnS, c1, 0, 1000, 0, 0},
		{10, 'c', "R", c1 + 1000, 0, 0, 0, 0, 0},
		{1000, 'c', "S", isnC, 0, 0, 1000, 0, FlagRetransmission},
		{1005, 's', "SA", isnS, c1, 0, 1000, 0, FlagRetransmission},
		{1010, 'c', "A", c1, s1, 0, 1000, 0, 0},
		{1020, 'c', "PA", c1, s1, 100, 1000, 0, 0},
	}},
	{"SYN retransmitted and answered", []ss{
		{0, 'c', "S", isnC, 0, 0, 1000, 0, 0},
		{1000, 'c', "S", isnC, 0, 0, 1000, 0, FlagRetransmission},
		{1005, 's', "SA", isnS, c1, 0, 1000, 0, 0},
		{1010, 'c', "A", c1, s1, 0, 1000, 0, 0},
	}},
	{"refused: RST+ACK to the SYN", []ss{
		{0, 'c', "S", isnC, 0, 0, 1000, 0, 0},
		{0.1, 's', "RA", 0, c1, 0, 0, 0, 0},
	}},
	{"a RST beyond the next sequence number is not a lost segment", withHandshake(
		ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
		ss{30, 'c', "R", c1 + 5000, 0, 0, 0, 0, 0},
	)},
	{"FIN retransmitted", withHandshake(
		ss{20, 'c', "FA", c1, s1, 0, 1000, 0, 0},
		ss{400, 'c', "FA", c1, s1, 0, 1000, 0, FlagRetransmission},
	)},
	{"sequence numbers wrap", []ss{
		{0, 'c', "S", math.MaxUint32 - 150, 0, 0, 1000, 0, 0},
		{5, 's', "SA", isnS, math.MaxUint32 - 149, 0, 1000, 0, 0},
		{10, 'c', "A", math.MaxUint32 - 149, s1, 0, 1000, 0, 0},
		{20, 'c', "PA", math.MaxUint32 - 149, s1, 100, 1000, 0, 0},
		{21, 'c', "PA", math.MaxUint32 - 49, s1, 100, 1000, 0, 0},
		{22, 'c', "PA", 50, s1, 100, 1000, 0, 0},
		{25, 's', "A", s1, 150, 0, 1000, 0, 0},
		{500, 'c', "PA", math.MaxUint32 - 49, s1, 100, 1000, 0, FlagSpuriousRetransmission | FlagRetransmission},
		{501, 'c', "PA", 150, s1, 100, 1000, 0, 0},
		{900, 'c', "PA", 150, s1, 100, 1000, 0, FlagRetransmission},
	}},
	{"next sequence number exactly 0 reads as unknown (Wireshark quirk)", []ss{
		{0, 'c', "S", math.MaxUint32 - 100, 0, 0, 1000, 0, 0},
		{5, 's', "SA", isnS, math.MaxUint32 - 99, 0, 1000, 0, 0},
		{10, 'c', "A", math.MaxUint32 - 99, s1, 0, 1000, 0, 0},
		{20, 'c', "PA", math.MaxUint32 - 99, s1, 100, 1000, 0, 0},
		{500, 'c', "PA", math.MaxUint32 - 99, s1, 100, 1000, 0, 0},
	}},
}

// oneSidedCase is a capture of one side only with more unacknowledged
// segments than Wireshark lists: its FIN then counts no sequence number, so
// the FIN sent again is not a retransmission and the late ACK of the FIN
// covers "unseen" data.
func oneSidedCase() struct {
	name string
	segs []ss
} {
	segs := []ss{{0, 'c', "S", isnC, 0, 0, 1000, 0, 0}, {1, 's', "SA", isnS, c1, 0, 65535, 0, 0}}
	seq := uint32(c1)
	for i := 0; i < maxUnackedSegments+5; i++ {
		segs = append(segs, ss{float64(2 + i), 'c', "PA", seq, s1, 10, 1000, 0, 0})
		seq += 10
	}
	segs = append(segs,
		ss{20000, 'c', "FA", seq, s1, 0, 1000, 0, 0},
		ss{21000, 'c', "FA", seq, s1, 0, 1000, 0, 0},
		ss{21001, 's', "A", s1, seq + 1, 0, 1000, 0, FlagAckLostSegment},
	)
	return struct {
		name string
		segs []ss
	}{"more unacknowledged segments than Wireshark lists", segs}
}

// TestAnalyzerRules checks each case against its expected flags and, with
// tshark installed, checks the expectations against tshark: all cases go
// into one capture, each on its own client port, for a single tshark run.
func TestAnalyzerRules(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := append(slices.Clone(ruleCases), oneSidedCase())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var a Analyzer
			for n, x := range tc.segs {
				s := x.segment(n+1, start)
				if got := a.Observe(&s); got != x.want {
					t.Errorf("frame %d (%s seq %d ack %d len %d): Observe = %s, want %s", n+1, x.flags, x.seq, x.ack, x.len, got, x.want)
				}
			}
		})
	}

	path := filepath.Join(t.TempDir(), "rules.pcap")
	var w syntheticWriter
	w.create(t, path)
	for i, tc := range cases {
		w.add(t, tc.segs, uint16(40000+i), start.Add(time.Duration(i)*time.Minute))
	}
	w.close(t)
	out, version := runTshark(t, path)
	if version == "" {
		t.Log("tshark is not installed: the expectations were not checked against it")
		return
	}
	truth, err := parseTshark(out)
	if err != nil {
		t.Fatal(err)
	}
	frame := 0
	for _, tc := range cases {
		for n, x := range tc.segs {
			frame++
			var got Flag
			for i, f := range tsharkAnalysisFields {
				if truth[frame].set[i] {
					got |= f.flag
				}
			}
			// tshark is not asked for the ACK-kind flags.
			if want := x.want &^ (FlagKeepAliveAck | FlagZeroWindowProbeAck); got != want {
				t.Errorf("%s: frame %d: tshark (%s) says %s, the case expects %s", tc.name, n+1, version, got, want)
			}
		}
	}
}

// syntheticWriter writes cases as Ethernet/IPv4/TCP frames between
// 127.0.0.1:PORT (client) and 127.0.0.2:25, one client port per case. It
// only writes a file: no packet is sent anywhere.
type syntheticWriter struct {
	f *os.File
	w *pcapgo.Writer
}

func (sw *syntheticWriter) create(t testing.TB, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	sw.f, sw.w = f, pcapgo.NewWriterNanos(f)
	if err := sw.w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
}

func (sw *syntheticWriter) close(t testing.TB) {
	if err := sw.f.Close(); err != nil {
		t.Fatal(err)
	}
}

func (sw *syntheticWriter) add(t testing.TB, segs []ss, port uint16, start time.Time) {
	t.Helper()
	client, server := []byte{127, 0, 0, 1}, []byte{127, 0, 0, 2}
	for n, x := range segs {
		s := x.segment(n+1, start)
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: client, DstIP: server}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(port), DstPort: 25, Seq: s.Seq, Ack: s.Ack, Window: s.Window,
			SYN: s.SYN, ACK: s.ACK, FIN: s.FIN, RST: s.RST, PSH: s.PSH}
		if s.Dir == ServerToClient {
			ip.SrcIP, ip.DstIP = server, client
			tcp.SrcPort, tcp.DstPort = 25, layers.TCPPort(port)
		}
		if s.WindowScale >= 0 {
			tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{byte(s.WindowScale)}})
		}
		tcp.SetNetworkLayerForChecksum(ip)
		eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, tcp, gopacket.Payload(make([]byte, s.Len))); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: s.Time, CaptureLength: len(data), Length: len(data)}
		if err := sw.w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
}
