package reassembly

import (
	"testing"
	"time"
)

// healthAfter runs synthetic segments through an Analyzer.
func healthAfter(segs []ss, tweak func(i int, s *Segment)) Health {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var a Analyzer
	for n, x := range segs {
		s := x.segment(n+1, start)
		if tweak != nil {
			tweak(n, &s)
		}
		a.Observe(&s)
	}
	return a.Health()
}

func TestHealthFacts(t *testing.T) {
	t.Run("zero Analyzer", func(t *testing.T) {
		var a Analyzer
		h := a.Health()
		if h.Handshake.State != HandshakeNotCaptured || h.Packets != 0 || h.Handshake.WindowScale != [2]int{-1, -1} || h.Handshake.Scaling != ScalingUnknown {
			t.Errorf("Health() = %+v", h)
		}
	})

	t.Run("SYN retried, then answered", func(t *testing.T) {
		h := healthAfter([]ss{
			{0, 'c', "S", isnC, 0, 0, 1000, 0, 0},
			{1000, 'c', "S", isnC, 0, 0, 1000, 0, 0},
			{3000, 'c', "S", isnC, 0, 0, 1000, 0, 0},
			{3005, 's', "SA", isnS, c1, 0, 1000, 0, 0},
			{3006, 's', "SA", isnS, c1, 0, 1000, 0, 0},
			{3010, 'c', "A", c1, s1, 0, 1000, 0, 0},
		}, nil)
		hs := h.Handshake
		if hs.SYNRetries != 2 || hs.SYNACKRetries != 1 || hs.LastSYN.Frame != 3 || hs.ACK.Frame != 6 {
			t.Errorf("handshake %+v", hs)
		}
		if hs.InitialRTT != 10*time.Millisecond {
			t.Errorf("InitialRTT = %v, want 10ms from the last SYN", hs.InitialRTT)
		}
		if h.Handshake.State != HandshakeAnswered || h.SYNRetransmissions != 3 || h.Retransmission.Count != 3 { // two SYNs, one SYN+ACK
			t.Errorf("state %v, %d SYN retransmissions of %d", h.Handshake.State, h.SYNRetransmissions, h.Retransmission.Count)
		}
	})

	t.Run("idle gaps", func(t *testing.T) {
		h := healthAfter(withHandshake(
			ss{20, 'c', "PA", c1, s1, 10, 1000, 0, 0},
			ss{8020, 's', "PA", s1, c1 + 10, 10, 1000, 0, 0},
			ss{8030, 'c', "A", c1 + 10, s1 + 10, 0, 1000, 0, 0},
			ss{20030, 'c', "FA", c1 + 10, s1 + 10, 0, 1000, 0, 0},
		), nil)
		if h.IdleGapCount != 2 || len(h.IdleGaps) != 2 || h.LongestGap.From.Frame != 6 || h.LongestGap.Duration() != 12*time.Second {
			t.Errorf("gaps %d %+v longest %+v", h.IdleGapCount, h.IdleGaps, h.LongestGap)
		}
		if h.IdleThreshold != DefaultIdleThreshold {
			t.Errorf("IdleThreshold = %v, want %v", h.IdleThreshold, DefaultIdleThreshold)
		}
	})

	t.Run("RTT samples skip retransmitted data (Karn)", func(t *testing.T) {
		h := healthAfter(withHandshake(
			ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
			ss{25, 's', "A", s1, c1 + 100, 0, 1000, 0, 0},
			ss{30, 'c', "PA", c1 + 100, s1, 100, 1000, 0, 0},
			ss{500, 'c', "PA", c1 + 100, s1, 100, 1000, 0, 0},
			ss{505, 's', "A", s1, c1 + 200, 0, 1000, 0, 0},
			ss{510, 'c', "PA", c1 + 200, s1, 100, 1000, 0, 0},
			ss{517, 's', "A", s1, c1 + 300, 0, 1000, 0, 0},
		), nil)
		rtt := h.Sides[ClientToServer].RTT
		if rtt.Samples != 2 || rtt.Min != 5*time.Millisecond || rtt.Max != 7*time.Millisecond {
			t.Errorf("RTT %+v, want 2 samples of 5 and 7 ms", rtt)
		}
	})

	t.Run("zero window still open at the last packet", func(t *testing.T) {
		h := healthAfter(withHandshake(
			ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
			ss{25, 's', "A", s1, c1 + 100, 0, 0, 0, 0},
			ss{1025, 's', "A", s1, c1 + 100, 0, 0, 0, 0},
			ss{2025, 'c', "A", c1 + 99, s1, 0, 1000, 0, 0},
		), nil)
		s := h.Sides[ServerToClient]
		if s.ZeroWindowTime != 2*time.Second || s.LongestZeroWindow != 2*time.Second {
			t.Errorf("zero window %v longest %v, want 2s", s.ZeroWindowTime, s.LongestZeroWindow)
		}
		if h.LinuxZeroWindowProbes != 1 {
			t.Errorf("probes %d", h.LinuxZeroWindowProbes)
		}
	})

	t.Run("a short zero window is only a note", func(t *testing.T) {
		h := healthAfter(withHandshake(
			ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
			ss{25, 's', "A", s1, c1 + 100, 0, 0, 0, 0},
			ss{125, 's', "A", s1, c1 + 100, 0, 1000, 0, 0},
		), nil)
		if s := h.Sides[ServerToClient]; s.ZeroWindowTime != 100*time.Millisecond || s.LongestZeroWindow != 100*time.Millisecond {
			t.Errorf("zero window %v longest %v, want 100ms", s.ZeroWindowTime, s.LongestZeroWindow)
		}
	})

	t.Run("evidence keeps the first frames, counts go on", func(t *testing.T) {
		segs := withHandshake(ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0})
		for i := 0; i < 20; i++ {
			segs = append(segs, ss{float64(1000 * (i + 1)), 'c', "PA", c1, s1, 100, 1000, 0, 0})
		}
		h := healthAfter(segs, nil)
		if h.Retransmission.Count != 20 || len(h.Retransmission.Frames) != MaxEvidenceFrames || h.Retransmission.Frames[0] != 5 || h.Retransmission.Frames[7] != 12 {
			t.Errorf("Retransmission = %+v", h.Retransmission)
		}
	})

	t.Run("a RST before any FIN after data aborts; its usual TTL is not injected", func(t *testing.T) {
		h := healthAfter(withHandshake(
			ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
			ss{25, 's', "A", s1, c1 + 100, 0, 1000, 0, 0},
			ss{30, 's', "RA", s1, c1 + 100, 0, 0, 0, 0},
		), nil)
		r := h.Sides[ServerToClient].Resets
		if len(r) != 1 || r[0].Injected || r[0].DataInFlight || r[0].SinceData != 10*time.Millisecond || r[0].Kind != ResetAfterData {
			t.Errorf("resets %+v", r)
		}
	})

	t.Run("a RST with an odd TTL mid-transfer is probably injected", func(t *testing.T) {
		h := healthAfter(withHandshake(
			ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
			ss{25, 's', "A", s1, c1 + 100, 0, 1000, 0, 0},
			ss{30, 's', "R", s1, 0, 0, 0, 0, 0},
		), func(i int, s *Segment) {
			if s.RST {
				s.TTL = 250
			}
		})
		r := h.Sides[ServerToClient].Resets
		if len(r) != 1 || !r[0].Injected || r[0].Kind != ResetOddTTL {
			t.Errorf("resets %+v", r)
		}
	})

	t.Run("data in flight at the RST", func(t *testing.T) {
		h := healthAfter(withHandshake(
			ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
			ss{21, 'c', "PA", c1 + 100, s1, 100, 1000, 0, 0},
			ss{25, 's', "A", s1, c1 + 100, 0, 1000, 0, 0},
			ss{26, 's', "RA", s1, c1 + 100, 0, 0, 0, 0},
		), nil)
		if r := h.Sides[ServerToClient].Resets; len(r) != 1 || !r[0].DataInFlight || r[0].Kind != ResetDataInFlight {
			t.Errorf("resets %+v", r)
		}
	})

	t.Run("a RST before any data is only told", func(t *testing.T) {
		h := healthAfter(withHandshake(
			ss{30, 'c', "RA", c1, s1, 0, 0, 0, 0},
		), nil)
		if r := h.Sides[ClientToServer].Resets; len(r) != 1 || r[0].Kind != ResetBeforeData {
			t.Errorf("resets %+v", r)
		}
	})

	t.Run("a SYN with a new ISN is noted", func(t *testing.T) {
		h := healthAfter(withHandshake(
			ss{5000, 'c', "S", isnC + 99999, 0, 0, 1000, 0, 0},
		), nil)
		if h.Handshake.NewISNSYNs != 1 {
			t.Errorf("NewISNSYNs = %d, want 1", h.Handshake.NewISNSYNs)
		}
	})

	t.Run("retransmission reported by D-SACK", func(t *testing.T) {
		h := healthAfter(withHandshake(
			ss{20, 'c', "PA", c1, s1, 100, 1000, 0, 0},
			ss{500, 'c', "PA", c1, s1, 100, 1000, 0, 0},
			ss{501, 's', "A", s1, c1 + 100, 0, 1000, 0, 0},
		), func(i int, s *Segment) {
			if i == 5 {
				s.SACK, s.SACKBlocks = true, [][2]uint32{{c1, c1 + 100}}
			}
		})
		if h.Sides[ClientToServer].DSACKed != 1 || h.Retransmission.Count != 1 {
			t.Errorf("D-SACKed %d of %d retransmissions", h.Sides[ClientToServer].DSACKed, h.Retransmission.Count)
		}
	})

	t.Run("bytes, segments and truncation per side", func(t *testing.T) {
		h := healthAfter(withHandshake(
			ss{20, 'c', "PA", c1, s1, 1000, 1000, 0, 0},
			ss{21, 'c', "PA", c1 + 1000, s1, 500, 1000, 0, 0},
			ss{25, 's', "PA", s1, c1 + 1500, 30, 1000, 0, 0},
		), func(i int, s *Segment) {
			if i == 3 {
				s.CapturedLen = 64
			}
		})
		c := h.Sides[ClientToServer]
		if c.Segments != 4 || c.DataSegments != 2 || c.Bytes != 1500 || c.LargestSegment != 1000 || c.Truncated != 1 || c.TruncatedBytes != 936 {
			t.Errorf("client side %+v", c)
		}
		if s := h.Sides[ServerToClient]; s.Bytes != 30 || s.Segments != 2 {
			t.Errorf("server side %+v", s)
		}
	})
}

func TestCoverageCountsOnlyUncapturedBytes(t *testing.T) {
	type op struct {
		seen       bool
		start, end uint32 // seen: [start, end); ack: start
	}
	tests := []struct {
		name string
		ops  []op
		want int64
	}{
		{"all seen", []op{{true, 100, 200}, {true, 200, 300}, {false, 300, 0}}, 0},
		{"a hole", []op{{true, 100, 200}, {true, 300, 400}, {false, 400, 0}}, 100},
		{"re-cut retransmission fills the hole", []op{{true, 100, 260}, {true, 300, 400}, {true, 250, 310}, {false, 400, 0}}, 0},
		{"ACK beyond all data", []op{{true, 100, 200}, {false, 250, 0}, {false, 260, 0}}, 60},
		{"old and duplicate ACKs", []op{{true, 100, 200}, {false, 200, 0}, {false, 150, 0}, {false, 200, 0}}, 0},
		{"started by an ACK", []op{{false, 1000, 0}, {false, 1500, 0}, {true, 1500, 1600}, {false, 1600, 0}}, 500},
		{"across the wrap", []op{{true, 1<<32 - 50, 1<<32 - 1}, {true, 49, 100}, {false, 100, 0}}, 50},
		{"many holes merge, never overcount", []op{
			{true, 0, 10}, {true, 20, 30}, {true, 40, 50}, {true, 60, 70}, {true, 80, 90},
			{true, 100, 110}, {true, 120, 130}, {true, 140, 150}, {true, 160, 170}, {true, 180, 190}, {false, 190, 0}}, 80},
		{"an implausible ACK is ignored", []op{{true, 100, 200}, {false, 100 + 1<<31 - 1, 0}}, 0},
	}
	for _, tc := range tests {
		var c coverage
		for _, o := range tc.ops {
			if o.seen {
				c.seen(o.start, o.end)
			} else {
				c.acked(o.start)
			}
		}
		if tc.name == "many holes merge, never overcount" {
			if c.unseen > tc.want {
				t.Errorf("%s: unseen = %d, want at most %d", tc.name, c.unseen, tc.want)
			}
			continue
		}
		if c.unseen != tc.want {
			t.Errorf("%s: unseen = %d, want %d", tc.name, c.unseen, tc.want)
		}
	}
}
