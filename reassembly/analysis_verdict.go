package reassembly

import (
	"fmt"
	"time"
)

// judge sets h.Verdict, h.Reasons and h.Notes from the facts in h. It
// judges L4 only: it does not know what the bytes meant, so a RST after
// the application said goodbye is left to the caller to excuse
// (REFERENCE §4).
func (a *Analyzer) judge(h *Health) {
	worst := func(v Verdict, reason string) {
		h.Verdict = max(h.Verdict, v)
		h.Reasons = append(h.Reasons, reason)
	}
	note := func(format string, args ...any) {
		h.Notes = append(h.Notes, fmt.Sprintf(format, args...))
	}
	hs := &h.Handshake
	client := Direction(a.rec.synDir)
	server := 1 - client

	// The handshake.
	switch {
	case hs.SYN.Frame != 0 && hs.RefusedBy.Frame != 0:
		worst(Broken, fmt.Sprintf("connection refused: the SYN in frame %d was answered by a RST from the %s in frame %d",
			hs.SYN.Frame, server, hs.RefusedBy.Frame))
	case hs.SYN.Frame != 0 && hs.SYNACK.Frame == 0 && h.Sides[server].Segments == 0 && h.Sides[client].DataSegments == 0:
		worst(Broken, fmt.Sprintf("connection not answered: %d SYN(s) from frame %d to frame %d (%s) got no SYN+ACK",
			hs.SYNRetries+1, hs.SYN.Frame, hs.LastSYN.Frame, round(hs.LastSYN.Time.Sub(hs.SYN.Time))))
	case hs.SYNRetries > 0:
		worst(Degraded, fmt.Sprintf("the SYN was sent %d times before it was answered (first in frame %d, last in frame %d, %s later)",
			hs.SYNRetries+1, hs.SYN.Frame, hs.LastSYN.Frame, round(hs.LastSYN.Time.Sub(hs.SYN.Time))))
	}
	if hs.SYNACKRetries > 0 {
		worst(Degraded, fmt.Sprintf("the SYN+ACK was sent %d times", hs.SYNACKRetries+1))
	}
	if hs.SYN.Frame != 0 && hs.SYNACK.Frame == 0 && hs.RefusedBy.Frame == 0 && h.Sides[server].Segments > 0 {
		note("the SYN+ACK was not captured")
	}
	if hs.MidStream {
		note("the capture starts after the connection opened (frame %d): handshake, MSS and window scale unknown", h.First.Frame)
	}
	if a.rec.newISNSYNs > 0 {
		note("%d SYN(s) with a new initial sequence number reuse this connection's ports", a.rec.newISNSYNs)
	}

	// Resets. A RST after a FIN (either side's) ends a closing connection
	// and is usually harmless. Before any FIN, a RST aborts the connection:
	// Broken once data had flowed, since L4 cannot know whether the
	// application had finished (REFERENCE §4: the SMTP layer may excuse a
	// RST after the 221 reply from the facts in Reset). Only the first RST
	// of each side is judged; the others are counted.
	for d := range h.Sides {
		who := Direction(d)
		side := &h.Sides[d]
		for i, rst := range side.Resets {
			if i > 0 {
				break
			}
			closing := rst.AfterFIN || rst.PeerFIN
			switch {
			case hs.RefusedBy.Frame == rst.Frame:
			case closing:
				note("the %s sent a RST in frame %d after a FIN (usually harmless at the end of a session)", who, rst.Frame)
			case rst.OddTTL:
				worst(Broken, fmt.Sprintf("the connection was reset in frame %d by a RST with TTL %d, while the %s's other packets have TTL %d–%d: probably injected by a middlebox",
					rst.Frame, rst.TTL, who, side.TTLMin, side.TTLMax))
			case rst.Injected:
				worst(Broken, fmt.Sprintf("the connection was reset in frame %d by a RST from the %s's address, yet the %s went on sending after it: probably injected by a middlebox",
					rst.Frame, who, who))
			case rst.DataInFlight:
				worst(Broken, fmt.Sprintf("the %s reset the connection in frame %d while data was unacknowledged", who, rst.Frame))
			case rst.SinceData > 0:
				worst(Broken, fmt.Sprintf("the %s reset the connection in frame %d, %s after the last data, before either side closed it",
					who, rst.Frame, round(rst.SinceData)))
			default:
				note("the %s reset the connection in frame %d before any data", who, rst.Frame)
			}
			if rst.OddTTL && closing {
				note("the RST in frame %d has TTL %d while the %s's other packets have TTL %d–%d: probably injected",
					rst.Frame, rst.TTL, who, side.TTLMin, side.TTLMax)
			}
		}
		if side.ResetCount > 1 {
			note("the %s sent %d RSTs in all", who, side.ResetCount)
		}
	}

	// Loss and retransmission. Retransmitted SYNs are told above;
	// retransmissions the receiver reported as duplicates (D-SACK) were
	// needless and show no loss.
	retrans := h.Retransmission.Count - a.rec.synRetrans
	dsacked := h.Sides[0].DSACKed + h.Sides[1].DSACKed
	switch {
	case retrans > dsacked:
		worst(Degraded, fmt.Sprintf("%d retransmitted segment(s) (%d fast, %d spurious, %d reported as duplicates by the receiver), first in frame %d",
			retrans, h.FastRetransmission.Count, h.SpuriousRetransmission.Count, dsacked, h.Retransmission.Frames[0]))
	case retrans > 0:
		note("%d retransmitted segment(s), all reported as duplicates by the receiver (D-SACK, RFC 2883): needless, not loss", retrans)
	}
	if n := h.OutOfOrder.Count; n > 0 {
		note("%d segment(s) out of order, first in frame %d", n, h.OutOfOrder.Frames[0])
	}
	if n := h.DuplicateAck.Count; n > 0 && h.Retransmission.Count == 0 {
		note("%d duplicate ACK(s) without retransmission, first in frame %d", n, h.DuplicateAck.Frames[0])
	}
	if n := h.LostSegment.Count; n > 0 {
		note("%d segment(s) follow a hole in the sequence space (previous segment not captured), first in frame %d",
			n, h.LostSegment.Frames[0])
	}
	unseen := h.Sides[0].UnseenBytes + h.Sides[1].UnseenBytes
	switch n := h.AckLostSegment.Count; {
	case unseen > 0:
		note("capture loss, not network loss: %d acknowledged byte(s) are not in the capture (%d ACKed-unseen segment flag(s))", unseen, n)
	case n > 0:
		note("%d ACKed-unseen segment flag(s), first in frame %d, yet every acknowledged byte is in the capture (retransmissions cut at other boundaries)",
			n, h.AckLostSegment.Frames[0])
	}
	for d := range h.Sides {
		if s := &h.Sides[d]; s.Truncated > 0 {
			note("the snaplen cut %d %s segment(s): %d payload bytes are not in the file", s.Truncated, Direction(d), s.TruncatedBytes)
		}
	}

	// Receive windows.
	for d := range h.Sides {
		s := &h.Sides[d]
		if s.ZeroWindowTime == 0 && s.LongestZeroWindow == 0 {
			continue
		}
		msg := fmt.Sprintf("the %s advertised a zero window for %s in total (longest %s)",
			Direction(d), round(s.ZeroWindowTime), round(s.LongestZeroWindow))
		if s.LongestZeroWindow >= a.longZeroWindow() {
			worst(Degraded, msg)
		} else {
			note("%s", msg)
		}
	}
	if h.ZeroWindow.Count > 0 && h.Sides[0].ZeroWindowTime == 0 && h.Sides[1].ZeroWindowTime == 0 {
		note("%d zero-window segment(s), first in frame %d", h.ZeroWindow.Count, h.ZeroWindow.Frames[0])
	}
	if n := h.WindowFull.Count; n > 0 {
		note("%d segment(s) filled the receiver's window, first in frame %d (flow control at work; not a fault on its own)",
			n, h.WindowFull.Frames[0])
	}
	if n := h.KeepAlive.Count; n > 0 {
		if h.LinuxZeroWindowProbes > 0 {
			note("%d keep-alive(s), %d of them probing a zero window", n, h.LinuxZeroWindowProbes)
		} else {
			note("%d keep-alive(s), first in frame %d", n, h.KeepAlive.Frames[0])
		}
	}

	// Silence.
	if h.IdleGapCount > 0 {
		g := h.LongestGap
		note("%d idle gap(s) over %s; the longest lasted %s, between frames %d and %d",
			h.IdleGapCount, a.idleThreshold(), round(g.Duration()), g.From.Frame, g.To.Frame)
	}
}

// round shortens a duration for prose.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Microsecond)
	}
	return d
}
