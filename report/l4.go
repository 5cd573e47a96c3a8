package report

import (
	"github.com/smtpscope/smtpscope/reassembly"
)

// analysisNames maps each tcp.analysis flag to its Wireshark field name.
var analysisNames = []struct {
	flag reassembly.Flag
	name string
}{
	{reassembly.FlagRetransmission, "retransmission"},
	{reassembly.FlagFastRetransmission, "fast_retransmission"},
	{reassembly.FlagSpuriousRetransmission, "spurious_retransmission"},
	{reassembly.FlagOutOfOrder, "out_of_order"},
	{reassembly.FlagLostSegment, "lost_segment"},
	{reassembly.FlagAckLostSegment, "ack_lost_segment"},
	{reassembly.FlagDuplicateAck, "duplicate_ack"},
	{reassembly.FlagZeroWindow, "zero_window"},
	{reassembly.FlagZeroWindowProbe, "zero_window_probe"},
	{reassembly.FlagZeroWindowProbeAck, "zero_window_probe_ack"},
	{reassembly.FlagWindowFull, "window_full"},
	{reassembly.FlagWindowUpdate, "window_update"},
	{reassembly.FlagKeepAlive, "keep_alive"},
	{reassembly.FlagKeepAliveAck, "keep_alive_ack"},
}

// l4Of copies the L4 facts into the report's shape, with the verdict of
// the L4 rules (judgeL4).
func l4Of(h *reassembly.Health, missed [2]int64) L4 {
	j := judgeL4(h)
	l := L4{Retransmissions: h.Retransmissions, Resets: h.Resets, ZeroWindows: h.ZeroWindows,
		Verdict: j.verdict.String(), Reasons: j.reasons, Notes: j.notes}
	for _, a := range analysisNames {
		if fc := h.Count(a.flag); fc.Count > 0 {
			if l.Analysis == nil {
				l.Analysis = map[string]FlagCount{}
			}
			l.Analysis[a.name] = FlagCount{Count: fc.Count, Frames: fc.Frames}
		}
	}
	hs := &h.Handshake
	l.Handshake = Handshake{SYNFrame: hs.SYN.Frame, SYNACKFrame: hs.SYNACK.Frame, ACKFrame: hs.ACK.Frame,
		SYNRetries: hs.SYNRetries, RefusedFrame: hs.RefusedBy.Frame, InitialRTTMS: ms(hs.InitialRTT),
		ClientMSS: hs.MSS[reassembly.ClientToServer], ServerMSS: hs.MSS[reassembly.ServerToClient],
		WindowScaling: hs.Scaling.String(), MidStream: hs.MidStream}
	l.Client = sideOf(&h.Sides[reassembly.ClientToServer])
	l.Server = sideOf(&h.Sides[reassembly.ServerToClient])
	l.Client.MissedBytes = missed[reassembly.ClientToServer]
	l.Server.MissedBytes = missed[reassembly.ServerToClient]
	return l
}

func sideOf(s *reassembly.Side) Side {
	out := Side{Segments: s.Segments, Bytes: s.Bytes, LargestSegment: s.LargestSegment, FINFrame: s.FIN.Frame, FINTime: s.FIN.Time,
		ZeroWindowMS: ms(s.ZeroWindowTime), UnseenBytes: s.UnseenBytes, TruncatedBytes: s.TruncatedBytes}
	for _, r := range s.Resets {
		out.Resets = append(out.Resets, Reset{Frame: r.Frame, Time: r.Time, TTL: int(r.TTL), Injected: r.Injected, OddTTL: r.OddTTL, SenderContinued: r.SenderContinued, DataInFlight: r.DataInFlight})
	}
	if s.RTT.Samples > 0 {
		out.RTT = &RTT{Samples: s.RTT.Samples, MinMS: ms(s.RTT.Min), MedianMS: ms(s.RTT.Median), MaxMS: ms(s.RTT.Max)}
	}
	return out
}
