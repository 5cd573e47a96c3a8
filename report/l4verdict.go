package report

import (
	"fmt"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
)

// l4Verdict is the judgement on one connection's TCP.
type l4Verdict int

const (
	// l4Healthy: the handshake (if captured) completed and nothing in the
	// segments points to loss, stalls or aborts.
	l4Healthy l4Verdict = iota
	// l4Degraded: the connection worked but the network or a receiver
	// struggled (retransmissions, SYN retries, long zero windows).
	l4Degraded
	// l4Broken: the connection failed at L4: refused, unanswered, or
	// aborted by a RST before either side sent a FIN once data had flowed
	// (or by a RST that looks injected). A RST after a FIN is not broken.
	l4Broken
)

// String returns "healthy", "degraded" or "broken", as L4.Verdict spells it.
func (v l4Verdict) String() string {
	switch v {
	case l4Degraded:
		return "degraded"
	case l4Broken:
		return "broken"
	}
	return "healthy"
}

// longZeroWindow is how long a zero-window stretch must last to make a
// connection degraded: shorter ones are flow control at work.
const longZeroWindow = time.Second

// l4Judgement is the verdict on a connection's TCP with the plain-words
// reasons behind it, and notes: facts worth telling that do not change
// the verdict.
type l4Judgement struct {
	verdict l4Verdict
	reasons []string
	notes   []string
}

// worse raises the verdict to at least v, for reason.
func (j *l4Judgement) worse(v l4Verdict, reason string) {
	j.verdict = max(j.verdict, v)
	j.reasons = append(j.reasons, reason)
}

func (j *l4Judgement) note(format string, args ...any) {
	j.notes = append(j.notes, fmt.Sprintf(format, args...))
}

// judgeL4 applies the L4 rules to h, each one concern, in the order their
// reasons and notes are told. They judge L4 only: they do not know what
// the bytes meant, so a RST after the application said goodbye is left to
// the SMTP rules to excuse (REFERENCE §4). The rules are called directly,
// not through a table of functions: an indirect call would make h escape,
// and buildConnection's copy of the connection's Health (1.2 KB) go to the
// heap for every connection.
func judgeL4(h *reassembly.Health) l4Judgement {
	var j l4Judgement
	judgeHandshake(h, &j)
	judgeResets(h, &j)
	judgeLoss(h, &j)
	judgeCaptureGaps(h, &j)
	judgeWindows(h, &j)
	judgeSilence(h, &j)
	return j
}

// judgeHandshake: a refused or unanswered SYN breaks the connection; SYNs
// or SYN+ACKs sent again degrade it.
func judgeHandshake(h *reassembly.Health, j *l4Judgement) {
	hs := &h.Handshake
	server := 1 - hs.Opener
	switch {
	case hs.State == reassembly.HandshakeRefused:
		j.worse(l4Broken, fmt.Sprintf("connection refused: the SYN in frame %d was answered by a RST from the %s in frame %d",
			hs.SYN.Frame, server, hs.RefusedBy.Frame))
	case hs.State == reassembly.HandshakeUnanswered:
		j.worse(l4Broken, fmt.Sprintf("connection not answered: %d SYN(s) from frame %d to frame %d (%s) got no SYN+ACK",
			hs.SYNRetries+1, hs.SYN.Frame, hs.LastSYN.Frame, roundDur(hs.LastSYN.Time.Sub(hs.SYN.Time))))
	case hs.SYNRetries > 0:
		j.worse(l4Degraded, fmt.Sprintf("the SYN was sent %d times before it was answered (first in frame %d, last in frame %d, %s later)",
			hs.SYNRetries+1, hs.SYN.Frame, hs.LastSYN.Frame, roundDur(hs.LastSYN.Time.Sub(hs.SYN.Time))))
	}
	if hs.SYNACKRetries > 0 {
		j.worse(l4Degraded, fmt.Sprintf("the SYN+ACK was sent %d times", hs.SYNACKRetries+1))
	}
	if hs.State == reassembly.HandshakeSYNACKNotCaptured {
		j.note("the SYN+ACK was not captured")
	}
	if hs.MidStream {
		j.note("the capture starts after the connection opened (frame %d): handshake, MSS and window scale unknown", h.First.Frame)
	}
	if hs.NewISNSYNs > 0 {
		j.note("%d SYN(s) with a new initial sequence number reuse this connection's ports", hs.NewISNSYNs)
	}
}

// sideTTLs is the TTL range of a side's packets other than its RSTs
// (reassembly.Side.TTLMin, TTLMax).
type sideTTLs struct{ TTLMin, TTLMax uint8 }

// resetWords are what each kind of RST does to the verdict, and how it is
// told: a RST after a FIN (either side's) ends a closing connection and is
// usually harmless; before any FIN, a RST aborts the connection, Broken
// once data had flowed, since L4 cannot know whether the application had
// finished (the SMTP rules may excuse a RST after the 221 reply). The
// words take the reset and its side by value, so that the Health judged
// does not escape through the indirect call.
var resetWords = map[reassembly.ResetKind]struct {
	verdict l4Verdict // l4Healthy: a note
	words   func(who reassembly.Direction, r reassembly.Reset, s sideTTLs) string
}{
	reassembly.ResetClosing: {l4Healthy, func(who reassembly.Direction, r reassembly.Reset, _ sideTTLs) string {
		return fmt.Sprintf("the %s sent a RST in frame %d after a FIN (usually harmless at the end of a session)", who, r.Frame)
	}},
	reassembly.ResetOddTTL: {l4Broken, func(who reassembly.Direction, r reassembly.Reset, s sideTTLs) string {
		return fmt.Sprintf("the connection was reset in frame %d by a RST with TTL %d, while the %s's other packets have TTL %d–%d: probably injected by a middlebox",
			r.Frame, r.TTL, who, s.TTLMin, s.TTLMax)
	}},
	reassembly.ResetSenderContinued: {l4Broken, func(who reassembly.Direction, r reassembly.Reset, _ sideTTLs) string {
		return fmt.Sprintf("the connection was reset in frame %d by a RST from the %s's address, yet the %s went on sending after it: probably injected by a middlebox",
			r.Frame, who, who)
	}},
	reassembly.ResetDataInFlight: {l4Broken, func(who reassembly.Direction, r reassembly.Reset, _ sideTTLs) string {
		return fmt.Sprintf("the %s reset the connection in frame %d while data was unacknowledged", who, r.Frame)
	}},
	reassembly.ResetAfterData: {l4Broken, func(who reassembly.Direction, r reassembly.Reset, _ sideTTLs) string {
		return fmt.Sprintf("the %s reset the connection in frame %d, %s after the last data, before either side closed it",
			who, r.Frame, roundDur(r.SinceData))
	}},
	reassembly.ResetBeforeData: {l4Healthy, func(who reassembly.Direction, r reassembly.Reset, _ sideTTLs) string {
		return fmt.Sprintf("the %s reset the connection in frame %d before any data", who, r.Frame)
	}},
}

// judgeResets judges the first RST of each side by its kind (the refusal
// is the handshake's) and counts the others.
func judgeResets(h *reassembly.Health, j *l4Judgement) {
	for d := range h.Sides {
		who := reassembly.Direction(d)
		side := &h.Sides[d]
		if len(side.Resets) > 0 {
			rst := &side.Resets[0]
			if w, ok := resetWords[rst.Kind]; ok {
				if text := w.words(who, *rst, sideTTLs{side.TTLMin, side.TTLMax}); w.verdict == l4Healthy {
					j.note("%s", text)
				} else {
					j.worse(w.verdict, text)
				}
			}
			if rst.OddTTL && rst.Kind == reassembly.ResetClosing {
				j.note("the RST in frame %d has TTL %d while the %s's other packets have TTL %d–%d: probably injected",
					rst.Frame, rst.TTL, who, side.TTLMin, side.TTLMax)
			}
		}
		if side.ResetCount > 1 {
			j.note("the %s sent %d RSTs in all", who, side.ResetCount)
		}
	}
}

// lossRetransmissions counts the retransmissions that show a segment
// lost in the network: not the spurious ones (Wireshark's
// spurious_retransmission: the peer had acknowledged all of it already,
// so an ACK was late or lost, not the data), nor those the receiver
// reported as duplicates (D-SACK, RFC 2883). Retransmitted SYNs count.
func lossRetransmissions(h *reassembly.Health) int {
	dsacked := h.Sides[0].DSACKed + h.Sides[1].DSACKed
	return max(h.Retransmission.Count-h.SpuriousRetransmission.Count-dsacked-duplicateRetransmissions(h), 0)
}

// duplicateRetransmissions counts the frames flagged as retransmissions
// that are copies of a frame captured twice (Side.Duplicates): the
// capture's doing, not the network's.
func duplicateRetransmissions(h *reassembly.Health) int {
	return h.Sides[0].DuplicateRetransmissions + h.Sides[1].DuplicateRetransmissions
}

// judgeLoss: retransmitted data degrades the connection, except
// retransmissions that were needless (lossRetransmissions): they show no
// loss. Retransmitted SYNs are the handshake's.
func judgeLoss(h *reassembly.Health, j *l4Judgement) {
	retrans := h.Retransmission.Count - h.SYNRetransmissions - duplicateRetransmissions(h)
	dsacked := h.Sides[0].DSACKed + h.Sides[1].DSACKed
	if n := h.Sides[0].Duplicates + h.Sides[1].Duplicates; n > 0 {
		j.note("%d frame(s) captured twice (exact copies: a capture on both members of a bond, or at two points), %d of them flagged as retransmissions by Wireshark: not sent twice, not loss", n, duplicateRetransmissions(h))
	}
	switch {
	case retrans-h.SpuriousRetransmission.Count > dsacked:
		j.worse(l4Degraded, fmt.Sprintf("%d retransmitted segment(s) (%d fast, %d spurious, %d reported as duplicates by the receiver), first in frame %d",
			retrans, h.FastRetransmission.Count, h.SpuriousRetransmission.Count, dsacked, h.Retransmission.Frames[0]))
	case retrans > 0 && h.SpuriousRetransmission.Count == 0:
		j.note("%d retransmitted segment(s), all reported as duplicates by the receiver (D-SACK, RFC 2883): needless, not loss", retrans)
	case retrans > 0:
		j.note("%d retransmitted segment(s), all spurious (the data had been acknowledged already: an ACK was late or lost, not the data) or reported as duplicates by the receiver: needless, not loss", retrans)
	}
	if n := h.OutOfOrder.Count; n > 0 {
		j.note("%d segment(s) out of order, first in frame %d", n, h.OutOfOrder.Frames[0])
	}
	if n := h.DuplicateAck.Count; n > 0 && h.Retransmission.Count == 0 {
		j.note("%d duplicate ACK(s) without retransmission, first in frame %d", n, h.DuplicateAck.Frames[0])
	}
}

// judgeCaptureGaps tells what the capture, not the network, lost: holes
// in the sequence space, acknowledged bytes never captured, payload the
// snaplen cut.
func judgeCaptureGaps(h *reassembly.Health, j *l4Judgement) {
	if n := h.LostSegment.Count; n > 0 {
		j.note("%d segment(s) follow a hole in the sequence space (previous segment not captured), first in frame %d",
			n, h.LostSegment.Frames[0])
	}
	unseen := h.Sides[0].UnseenBytes + h.Sides[1].UnseenBytes
	switch n := h.AckLostSegment.Count; {
	case unseen > 0:
		j.note("capture loss, not network loss: %d acknowledged byte(s) are not in the capture (%d ACKed-unseen segment flag(s))", unseen, n)
	case n > 0:
		j.note("%d ACKed-unseen segment flag(s), first in frame %d, yet every acknowledged byte is in the capture (retransmissions cut at other boundaries)",
			n, h.AckLostSegment.Frames[0])
	}
	for d := range h.Sides {
		if s := &h.Sides[d]; s.Truncated > 0 {
			j.note("the snaplen cut %d %s segment(s): %d payload bytes are not in the file", s.Truncated, reassembly.Direction(d), s.TruncatedBytes)
		}
	}
}

// judgeWindows: a zero window that lasts longZeroWindow degrades the
// connection; a window filled is flow control at work, not a fault
// (REFERENCE §4).
func judgeWindows(h *reassembly.Health, j *l4Judgement) {
	for d := range h.Sides {
		s := &h.Sides[d]
		if s.ZeroWindowTime == 0 && s.LongestZeroWindow == 0 {
			continue
		}
		msg := fmt.Sprintf("the %s advertised a zero window for %s in total (longest %s)",
			reassembly.Direction(d), roundDur(s.ZeroWindowTime), roundDur(s.LongestZeroWindow))
		if s.LongestZeroWindow >= longZeroWindow {
			j.worse(l4Degraded, msg)
		} else {
			j.note("%s", msg)
		}
	}
	if h.ZeroWindow.Count > 0 && h.Sides[0].ZeroWindowTime == 0 && h.Sides[1].ZeroWindowTime == 0 {
		j.note("%d zero-window segment(s), first in frame %d", h.ZeroWindow.Count, h.ZeroWindow.Frames[0])
	}
	if n := h.WindowFull.Count; n > 0 {
		j.note("%d segment(s) filled the receiver's window, first in frame %d (flow control at work; not a fault on its own)",
			n, h.WindowFull.Frames[0])
	}
	if n := h.KeepAlive.Count; n > 0 {
		if h.LinuxZeroWindowProbes > 0 {
			j.note("%d keep-alive(s), %d of them probing a zero window", n, h.LinuxZeroWindowProbes)
		} else {
			j.note("%d keep-alive(s), first in frame %d", n, h.KeepAlive.Frames[0])
		}
	}
}

// judgeSilence tells idle gaps.
func judgeSilence(h *reassembly.Health, j *l4Judgement) {
	if h.IdleGapCount > 0 {
		g := h.LongestGap
		j.note("%d idle gap(s) over %s; the longest lasted %s, between frames %d and %d",
			h.IdleGapCount, h.IdleThreshold, roundDur(g.Duration()), g.From.Frame, g.To.Frame)
	}
}

// roundDur shortens a duration for the L4 reasons and notes.
func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Microsecond)
	}
	return d
}
