package reassembly

import (
	"path/filepath"
	"testing"
	"time"
)

// healthOf runs the Analyzer over one lab capture and returns the Health
// of each connection, in tcp.stream order.
func healthOf(t *testing.T, name string) []Health {
	t.Helper()
	_, conns, _, err := analyseCapture(filepath.Join(analysisOwnData, name))
	if err != nil {
		t.Fatal(err)
	}
	var hs []Health
	for _, c := range conns {
		hs = append(hs, c.an.Health())
	}
	return hs
}

// TestHealthLab checks the verdicts and facts on the lab captures made by
// testdata/analysis/make_captures.sh.
func TestHealthLab(t *testing.T) {
	tests := []struct {
		capture string
		streams int
		check   func(t *testing.T, h Health)
	}{
		{"lab_bulk.pcap", 1, func(t *testing.T, h Health) {
			hs := h.Handshake
			if hs.SYN.Frame != 1 || hs.SYNACK.Frame != 2 || hs.ACK.Frame != 3 || hs.MidStream {
				t.Errorf("handshake frames %d/%d/%d midstream %v, want 1/2/3 false", hs.SYN.Frame, hs.SYNACK.Frame, hs.ACK.Frame, hs.MidStream)
			}
			if hs.MSS != [2]int{1460, 1460} || hs.WindowScale != [2]int{10, 10} || hs.Scaling != ScalingOn || !hs.SACKPermitted[0] || !hs.SACKPermitted[1] {
				t.Errorf("options: MSS %v WS %v scaling %v SACK %v", hs.MSS, hs.WindowScale, hs.Scaling, hs.SACKPermitted)
			}
			if hs.InitialRTT <= 0 || hs.InitialRTT > 10*time.Millisecond {
				t.Errorf("InitialRTT = %v, want a loopback RTT", hs.InitialRTT)
			}
			c := h.Sides[ClientToServer]
			if c.Bytes < 1_000_000 || c.LargestSegment != 1448 || c.FIN.Frame == 0 || h.Sides[ServerToClient].FIN.Frame == 0 {
				t.Errorf("client side %+v", c)
			}
			if c.RTT.Samples == 0 || c.RTT.Min > c.RTT.Median || c.RTT.Median > c.RTT.Max {
				t.Errorf("client RTT %+v", c.RTT)
			}
			if h.Resets != 0 || h.Retransmissions != 0 {
				t.Errorf("resets %d retransmissions %d", h.Resets, h.Retransmissions)
			}
		}},
		{"lab_loss.pcap", 1, func(t *testing.T, h Health) {
			if h.Retransmissions != h.Retransmission.Count || h.FastRetransmission.Count == 0 || h.DuplicateAck.Count == 0 {
				t.Errorf("retransmissions %d, fast %d, dup ACKs %d", h.Retransmissions, h.FastRetransmission.Count, h.DuplicateAck.Count)
			}
			if len(h.Retransmission.Frames) != MaxEvidenceFrames {
				t.Errorf("evidence frames %v, want the first %d", h.Retransmission.Frames, MaxEvidenceFrames)
			}
			if h.AckLostSegment.Count != 0 || h.Sides[0].UnseenBytes != 0 || h.Sides[1].UnseenBytes != 0 {
				t.Errorf("network loss seen as capture loss: %d ACKed-unseen, %d+%d bytes", h.AckLostSegment.Count, h.Sides[0].UnseenBytes, h.Sides[1].UnseenBytes)
			}
		}},
		{"lab_captureloss.pcap", 1, func(t *testing.T, h Health) {
			if h.AckLostSegment.Count == 0 || h.Sides[ClientToServer].UnseenBytes == 0 {
				t.Errorf("capture loss not told: %d ACKed-unseen, %d bytes", h.AckLostSegment.Count, h.Sides[ClientToServer].UnseenBytes)
			}
		}},
		{"lab_zerowindow.pcap", 1, func(t *testing.T, h Health) {
			s := h.Sides[ServerToClient]
			if s.ZeroWindowTime < 2*time.Second || s.LongestZeroWindow != s.ZeroWindowTime {
				t.Errorf("server zero window %v (longest %v), want about 2.9 s", s.ZeroWindowTime, s.LongestZeroWindow)
			}
			if h.LinuxZeroWindowProbes != 3 || h.KeepAlive.Count != 3 || h.WindowFull.Count == 0 {
				t.Errorf("probes %d keep-alives %d window-full %d", h.LinuxZeroWindowProbes, h.KeepAlive.Count, h.WindowFull.Count)
			}
		}},
		{"lab_midstream.pcap", 1, func(t *testing.T, h Health) {
			hs := h.Handshake
			if !hs.MidStream || hs.Scaling != ScalingUnknown || hs.InitialRTT != 0 || hs.SYN.Frame != 0 {
				t.Errorf("handshake %+v", hs)
			}
			if h.WindowFull.Count != 0 {
				t.Errorf("window full with unknown scale: %d", h.WindowFull.Count)
			}
		}},
		{"lab_keepalive.pcap", 1, func(t *testing.T, h Health) {
			if h.KeepAlive.Count != 3 || h.KeepAliveAck.Count != 3 || h.LinuxZeroWindowProbes != 0 {
				t.Errorf("keep-alives %d, ACKs %d, probes %d", h.KeepAlive.Count, h.KeepAliveAck.Count, h.LinuxZeroWindowProbes)
			}
		}},
		{"lab_refused.pcap", 1, func(t *testing.T, h Health) {
			if h.Handshake.RefusedBy.Frame != 2 || h.Resets != 1 || h.Handshake.State != HandshakeRefused ||
				h.Sides[ServerToClient].Resets[0].Kind != ResetRefusal {
				t.Errorf("refused by %d, resets %d", h.Handshake.RefusedBy.Frame, h.Resets)
			}
		}},
		{"lab_syntimeout.pcap", 1, func(t *testing.T, h Health) {
			if h.Handshake.SYNRetries != 3 || h.Handshake.LastSYN.Frame != 4 {
				t.Errorf("SYN retries %d, last SYN %d", h.Handshake.SYNRetries, h.Handshake.LastSYN.Frame)
			}
			if h.Handshake.State != HandshakeUnanswered || h.SYNRetransmissions != h.Retransmission.Count {
				t.Errorf("state %v, %d SYN retransmissions of %d", h.Handshake.State, h.SYNRetransmissions, h.Retransmission.Count)
			}
		}},
		{"lab_abort.pcap", 1, func(t *testing.T, h Health) {
			r := h.Sides[ClientToServer].Resets
			if len(r) == 0 || !r[0].DataInFlight || r[0].AfterFIN || r[0].Injected || r[0].Kind != ResetDataInFlight {
				t.Errorf("client resets %+v", r)
			}
		}},
		{"lab_injectedrst.pcap", 1, func(t *testing.T, h Health) {
			r := h.Sides[ServerToClient].Resets
			if len(r) != 1 || r[0].TTL != 33 || !r[0].Injected || r[0].Kind != ResetOddTTL || h.Sides[ServerToClient].TTLMin != 64 {
				t.Errorf("server resets %+v", r)
			}
		}},
		{"lab_rstafterclose.pcap", 1, func(t *testing.T, h Health) {
			r := h.Sides[ServerToClient].Resets
			if len(r) != 1 || !r[0].AfterFIN || r[0].Kind != ResetClosing {
				t.Errorf("server resets %+v", r)
			}
			if h.Retransmissions != 1 || h.Sides[ServerToClient].DSACKed != 1 {
				t.Errorf("the FIN's tail-loss probe: retransmissions %d, D-SACKed %d", h.Retransmissions, h.Sides[ServerToClient].DSACKed)
			}
		}},
		{"lab_portreuse.pcap", 2, func(t *testing.T, h Health) {
			if h.Handshake.SYN.Frame == 0 || h.Handshake.MidStream {
				t.Errorf("each reuse has its own handshake: %+v", h.Handshake)
			}
		}},
		{"lab_snaplen.pcap", 1, func(t *testing.T, h Health) {
			c := h.Sides[ClientToServer]
			if c.Truncated == 0 || c.TruncatedBytes == 0 {
				t.Errorf("truncation: %d segments, %d bytes", c.Truncated, c.TruncatedBytes)
			}
		}},
		{"lab_reorder.pcap", 1, func(t *testing.T, h Health) {
			if h.OutOfOrder.Count == 0 {
				t.Errorf("out of order %d", h.OutOfOrder.Count)
			}
		}},
		{"lab_wrap.pcap", 1, func(t *testing.T, h Health) {
			loss := healthOf(t, "lab_loss.pcap")[0]
			if h.Retransmission.Count != loss.Retransmission.Count || h.OutOfOrder.Count != loss.OutOfOrder.Count ||
				h.DuplicateAck.Count != loss.DuplicateAck.Count || h.Sides[0].Bytes != loss.Sides[0].Bytes {
				t.Errorf("wrapped sequence numbers changed the analysis: %+v vs %+v", h.Retransmission, loss.Retransmission)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.capture, func(t *testing.T) {
			hs := healthOf(t, tc.capture)
			if len(hs) != tc.streams {
				t.Fatalf("%d connections, want %d", len(hs), tc.streams)
			}
			for _, h := range hs {
				tc.check(t, h)
			}
		})
	}
}
