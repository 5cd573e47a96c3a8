package reassembly

// The Analyzer reproduces tshark 4.0.17's tcp.analysis flags frame for frame
// (epan/dissectors/packet-tcp.c, tcp_analyze_sequence_number, and the parts
// of dissect_tcp around it). In the order Wireshark checks them:
//
//   - zero_window_probe: 1 byte at the next sequence number into a zero
//     window; it ends the checks on the segment's own history.
//   - zero_window, lost_segment, keep_alive (0–1 byte one below the next
//     sequence number), window_update, window_full (only with a known
//     window scale), then keep_alive_ack or zero_window_probe_ack, else
//     duplicate_ack.
//   - ack_lost_segment, from the peer's contiguous data seen.
//   - for data, SYN or FIN: nothing if keep-alive; else spurious (all of it
//     acknowledged already) before fast (≥2 duplicate ACKs, seq at the
//     peer's ACK, <20 ms after it) before out_of_order (within the initial
//     RTT, or 3 ms) before plain retransmission.
//
// What was checked against tshark rather than read: the ack_lost_segment
// bookkeeping, and that data of more than one byte from one below the next
// sequence number is new data; see analysis_rules_test.go.

import (
	"math"
	"time"
)

// Timing constants of Wireshark's TCP analysis (packet-tcp.c,
// tcp_analyze_sequence_number).
const (
	// fastRetransmitWindow: a fast retransmission comes less than this
	// after the peer's last (duplicate) ACK.
	fastRetransmitWindow = 20 * time.Millisecond
	// defaultOutOfOrderThreshold is the out-of-order threshold when the
	// initial RTT is unknown.
	defaultOutOfOrderThreshold = 3 * time.Millisecond
	// maxWindowShift is the largest window scale shift RFC 7323 §2.3
	// allows; Wireshark caps larger ones to it too.
	maxWindowShift = 14
)

// DefaultIdleThreshold is the gap between two packets of a connection
// from which Health lists it as an idle gap.
const DefaultIdleThreshold = 5 * time.Second

// Window-scale states of one direction, as Wireshark keeps them
// (tcp_flow_t.win_scale): a shift count ≥ 0, or one of these.
const (
	scaleUnknown = -1 // no SYN seen yet: the scale cannot be known
	scaleNone    = -2 // the handshake showed scaling is not in use
)

// noWindow is the window of a direction that has sent nothing yet
// (Wireshark starts tcp_flow_t.window at G_MAXUINT32).
const noWindow = math.MaxUint32

// flowState is Wireshark's per-direction analysis state (tcp_flow_t and
// tcp_analyze_seq_flow_info_t), for the segments one side sends. As in
// Wireshark, a nextSeq, lastAck or maxSeqToBeAcked of 0 means "not known
// yet", even when the real number has wrapped to 0.
type flowState struct {
	baseSeqSet bool
	baseSeq    uint32

	nextSeq     uint32 // highest sequence number sent, plus its length
	nextSeqTime int64  // capture time of nextSeq's segment (see nanos)
	// maxSeqToBeAcked is the end of the contiguous data seen from this
	// side: an ACK beyond it covers bytes the capture never held.
	maxSeqToBeAcked uint32

	lastAck     uint32 // the ack field of this side's last segment
	lastAckTime int64  // capture time of this side's last segment (see nanos)
	window      uint32 // raw window of this side's last segment
	winScale    int
	// isFirstAck is set from this side's SYN until its first ACK without
	// SYN: its window is still the SYN's, which is never scaled.
	isFirstAck bool

	dupAckNum int  // duplicate ACKs in a row; -1 after an ACKed-unseen
	lastFlags Flag // flags of this side's last segment
	unacked   unackedList
}

// Analyzer runs Wireshark's TCP analysis over the segments of one
// connection, once per packet in file order, and keeps the facts Health
// summarises. It states facts and passes no judgement: package report
// turns them into verdicts and words. The zero value is ready to use; one Analyzer serves one
// connection (one tcp.stream). Its memory is bounded whatever the
// connection's length.
type Analyzer struct {
	// IdleThreshold is the gap between packets from which Health lists an
	// idle gap; zero means DefaultIdleThreshold.
	IdleThreshold time.Duration

	started bool
	// epoch is the Unix second of the first segment's time, from which
	// nanos counts.
	epoch int64
	flow  [2]flowState
	// mruSYN is the time of the most recent SYN, valid with mruSYNKnown
	// (a SYN stamped with the zero time.Time leaves it unknown), and
	// initialRTT the time from it to the first ACK without SYN
	// (tcp.analysis.initial_rtt); zero while unknown.
	mruSYN      int64
	mruSYNKnown bool
	initialRTT  time.Duration

	rec recorder
}

// Observe analyses one segment and returns the tcp.analysis flags it earns,
// as tshark 4.0 sets them for that frame. Call it once per packet of the
// connection, in file order. It keeps nothing of s (nor of its
// SACKBlocks), so the caller may reuse the Segment.
func (a *Analyzer) Observe(s *Segment) Flag {
	if !a.started {
		a.started = true
		a.epoch = s.Time.Unix()
		for i := range a.flow {
			a.flow[i].window = noWindow
			a.flow[i].winScale = scaleUnknown
		}
	}
	now := a.nanos(s.Time)
	d := dirIndex(s.Dir)
	fwd, rev := &a.flow[d], &a.flow[1-d]

	// dissect_tcp: a SYN repeating the ISN already seen restores nextseq
	// (Wireshark issue 17616: a RST may have moved it).
	if s.SYN && !s.ACK && fwd.baseSeqSet && s.Seq == fwd.baseSeq {
		fwd.nextSeq = fwd.maxSeqToBeAcked
	}

	f := a.analyze(s, now, fwd, rev)

	// What dissect_tcp does after the analysis of the packet.
	if s.SYN {
		if !s.ACK {
			a.mruSYN, a.mruSYNKnown = now, !s.Time.IsZero()
		}
		fwd.isFirstAck = true
	}
	if s.ACK && !s.SYN {
		if a.mruSYNKnown && a.initialRTT == 0 {
			a.initialRTT = since(now, a.mruSYN)
		}
		fwd.isFirstAck = false
	}
	if s.WindowScale >= 0 {
		fwd.winScale = min(s.WindowScale, maxWindowShift)
	}
	if s.SYN {
		verifyWindowScaling(s.ACK, fwd, rev)
	}

	a.rec.record(a, s, now, d, f)
	return f
}

// dirIndex maps a Direction to 0 or 1, whatever its value.
func dirIndex(d Direction) int {
	if d == ClientToServer {
		return 0
	}
	return 1
}

// verifyWindowScaling runs on each SYN, after its options: scaling is on
// only if both SYNs carried the option (Wireshark's
// verify_tcp_window_scaling).
func verifyWindowScaling(synack bool, fwd, rev *flowState) {
	switch {
	case fwd.winScale == scaleUnknown:
		fwd.winScale, rev.winScale = scaleNone, scaleNone
	case synack && rev.winScale == scaleNone:
		fwd.winScale = scaleNone
	}
}

// Sequence-space comparisons (RFC 9293 §3.4), as Wireshark's GT_SEQ etc.
func seqLT(a, b uint32) bool { return int32(a-b) < 0 }
func seqGT(a, b uint32) bool { return int32(b-a) < 0 }
func seqLE(a, b uint32) bool { return int32(a-b) <= 0 }

// maxEpochSeconds bounds the times nanos counts exactly: 285 years either
// side of the connection's first segment, within int64 nanoseconds.
const maxEpochSeconds = 9_000_000_000

// nanos turns a capture time into the Analyzer's clock: nanoseconds since
// the Unix second of the connection's first segment. Differences of these
// are what time.Time.Sub gives, without its cost (issue #8: it ran
// several times per packet); a time more than maxEpochSeconds away from
// the first segment, which no capture holds, is taken as that far.
func (a *Analyzer) nanos(t time.Time) int64 {
	sec := min(max(t.Unix()-a.epoch, -maxEpochSeconds), maxEpochSeconds)
	return sec*int64(time.Second) + int64(t.Nanosecond())
}

// since is now-ref on the Analyzer's clock, saturated at the limits of a
// Duration as time.Time.Sub is.
func since(now, ref int64) time.Duration {
	d := now - ref
	if (now^ref)&(now^d) < 0 { // overflow: the signs of now and ref differ
		if now < ref {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	return time.Duration(d)
}

// sinceNs is Wireshark's unsigned nanosecond difference: a time earlier
// than ref gives a huge value, never a small one.
func sinceNs(now, ref int64) uint64 {
	return uint64(since(now, ref))
}

// analyze is tcp_analyze_sequence_number for one segment.
func (a *Analyzer) analyze(s *Segment, now int64, fwd, rev *flowState) Flag {
	var f Flag
	seglen := uint32(max(s.Len, 0))
	window := uint32(s.Window)
	synFinRst := s.SYN || s.FIN || s.RST

	if !fwd.baseSeqSet {
		fwd.baseSeq = s.Seq
		if !s.SYN {
			fwd.baseSeq--
		}
		fwd.baseSeqSet = true
	}
	if !rev.baseSeqSet && s.ACK {
		rev.baseSeq = s.Ack - 1
		rev.baseSeqSet = true
	}

	f |= a.forwardChecks(s, fwd, rev, seglen, window, synFinRst)

	// A new ack number starts a new run of duplicate ACKs.
	if s.Ack != fwd.lastAck {
		fwd.dupAckNum = 0
	}

	if s.ACK {
		f |= ackedLost(s.Ack, rev)
	}

	if seglen > 0 || s.SYN || s.FIN {
		f |= a.retransmissionType(s, now, fwd, rev, seglen, f)
	}

	// Wireshark lists each segment with data, SYN or FIN until it is
	// acknowledged, up to maxUnackedSegments; only a listed SYN or FIN
	// counts one sequence number (a quirk of one-sided captures).
	nextSeq := s.Seq + seglen
	if (seglen > 0 || s.SYN || s.FIN) && fwd.unacked.count < maxUnackedSegments {
		if s.SYN || s.FIN {
			nextSeq++
		}
		fwd.unacked.add(nextSeq)
	}
	if f&FlagZeroWindowProbe == 0 {
		// Zero-window probes do not advance the sequence space.
		fwd.advance(s.Seq, nextSeq, now)
	}

	fwd.window = window
	fwd.lastAck = s.Ack
	fwd.lastAckTime = now
	fwd.lastFlags = f
	// The ack field (whether or not the ACK flag is set, as in Wireshark)
	// takes the peer's segments it covers off the list.
	rev.unacked.ack(s.Ack)
	return f
}

// ackedLost is the ACKED LOST PACKET check of an ACK: it covers bytes
// beyond the contiguous data seen from the peer (rev). If the peer's data
// seen has a hole, the hole is flagged and forgotten (maxSeqToBeAcked
// jumps to nextSeq). Otherwise the ACK is beyond everything seen; that is
// flagged once, and the peer's duplicate-ACK counter, set to -1, keeps it
// quiet until the peer's ACK moves. (tshark 4.0.17's behaviour, found with
// the synthetic captures in analysis_rules_test.go; later Wireshark
// compares the other way round.)
func ackedLost(ack uint32, rev *flowState) Flag {
	if rev.maxSeqToBeAcked == 0 || !seqGT(ack, rev.maxSeqToBeAcked) {
		return 0
	}
	if seqLT(rev.maxSeqToBeAcked, rev.nextSeq) {
		rev.maxSeqToBeAcked = rev.nextSeq
		return FlagAckLostSegment
	}
	var f Flag
	if rev.dupAckNum == 0 {
		f = FlagAckLostSegment
	}
	rev.dupAckNum = -1
	return f
}

// advance keeps the highest sequence number seen, to notice holes, and
// the end of the contiguous data, to notice ACKs of unseen bytes, after a
// segment from seq to end.
func (fwd *flowState) advance(seq, end uint32, now int64) {
	if seqGT(end, fwd.nextSeq) || fwd.nextSeq == 0 {
		fwd.nextSeq = end
		fwd.nextSeqTime = now
	}
	if seq == fwd.maxSeqToBeAcked || fwd.maxSeqToBeAcked == 0 {
		fwd.maxSeqToBeAcked = fwd.nextSeq
	}
}

// maxUnackedSegments is Wireshark's TCP_MAX_UNACKED_SEGMENTS: how many
// unacknowledged segments per direction its analysis lists.
const maxUnackedSegments = 10000

// unackedRing is the size of unackedList's memory of recent segments.
const unackedRing = 64

// unackedList counts Wireshark's list of unacknowledged segments of one
// direction (tcp_analyze_seq_flow_info_t.segments) without keeping it: it
// remembers the ends of the last unackedRing segments and the highest end
// of the older ones. That is exact as long as the older segments end in
// increasing order, which holds for all but a retransmission followed by
// more than unackedRing segments before any ACK.
type unackedList struct {
	count     int // segments listed, as Wireshark's segment_count
	ends      [unackedRing]uint32
	head, n   int
	olderMax  uint32 // highest end among listed segments not in ends
	haveOlder bool
}

func (u *unackedList) add(end uint32) {
	u.count++
	if u.n == unackedRing {
		u.olderMax, u.haveOlder = u.ends[u.head], true
		u.head = (u.head + 1) % unackedRing
		u.n--
	}
	u.ends[(u.head+u.n)%unackedRing] = end
	u.n++
}

// ack drops every listed segment whose end is at or before ack.
func (u *unackedList) ack(ack uint32) {
	if u.n == 0 && !u.haveOlder {
		return // nothing listed: the peer has no segment outstanding
	}
	kept := 0
	for i := 0; i < u.n; i++ {
		e := u.ends[(u.head+i)%unackedRing]
		if seqGT(e, ack) {
			u.ends[(u.head+kept)%unackedRing] = e
			kept++
		}
	}
	u.count -= u.n - kept
	u.n = kept
	if u.haveOlder && !seqGT(u.olderMax, ack) {
		u.count = u.n
		u.haveOlder = false
	}
}

// forwardChecks are the checks that look at the segment's own sequence
// number, window and ack against its direction's history: zero window
// (probe), lost segment, keep-alive, window update and full, and the ACK
// kinds. A zero-window probe, keep-alive ACK or zero-window-probe ACK ends
// them early, as Wireshark's "goto finished_fwd" does.
func (a *Analyzer) forwardChecks(s *Segment, fwd, rev *flowState, seglen, window uint32, synFinRst bool) Flag {
	var f Flag
	// ZERO WINDOW PROBE: one byte at the next expected sequence number
	// into a zero window.
	if seglen == 1 && s.Seq == fwd.nextSeq && rev.window == 0 {
		return FlagZeroWindowProbe
	}
	if window == 0 && !synFinRst {
		f |= FlagZeroWindow
	}
	// LOST PACKET: the segment starts beyond the next expected sequence
	// number (RSTs are not checked).
	if fwd.nextSeq != 0 && seqGT(s.Seq, fwd.nextSeq) && !s.RST {
		f |= FlagLostSegment
	}
	// KEEP ALIVE: 0 or 1 byte, one before the next expected sequence
	// number.
	if seglen <= 1 && s.Seq == fwd.nextSeq-1 && !synFinRst {
		f |= FlagKeepAlive
	}
	sameSeqAck := seglen == 0 && s.Seq == fwd.nextSeq && s.Ack == fwd.lastAck && !synFinRst
	// WINDOW UPDATE: same seq/ack as before, a new non-zero window.
	if sameSeqAck && window != 0 && window != fwd.window {
		f |= FlagWindowUpdate
	}
	if seglen > 0 && !synFinRst && windowFull(s.Seq+seglen, rev) {
		f |= FlagWindowFull
	}
	if sameSeqAck && window == fwd.window {
		f |= ackKind(window, fwd, rev)
	}
	return f
}

// windowFull is the WINDOW FULL check of data ending at end: it reaches
// exactly the right edge of the peer's window. It is skipped while the
// peer's scale is unknown.
func windowFull(end uint32, rev *flowState) bool {
	if rev.winScale == scaleUnknown {
		return false
	}
	shift := 0
	if !rev.isFirstAck && rev.winScale > 0 {
		shift = rev.winScale
	}
	return end == rev.lastAck+rev.window<<shift
}

// ackKind tells what a segment repeating its side's last seq, ack and
// window acknowledges: a keep-alive, a zero-window probe, or else it is a
// duplicate ACK (counted in fwd.dupAckNum).
func ackKind(window uint32, fwd, rev *flowState) Flag {
	switch {
	case window != 0 && rev.lastFlags&FlagKeepAlive != 0:
		return FlagKeepAliveAck
	case window == 0 && rev.lastFlags&FlagZeroWindowProbe != 0:
		return FlagZeroWindowProbeAck
	case window != 0:
		if fwd.dupAckNum == -1 {
			fwd.dupAckNum = 1
		} else {
			fwd.dupAckNum++
		}
		return FlagDuplicateAck
	}
	return 0
}

// retransmissionType decides whether a segment with data, SYN or FIN is a
// spurious, fast or plain retransmission or out of order. A keep-alive is
// none of them.
func (a *Analyzer) retransmissionType(s *Segment, now int64, fwd, rev *flowState, seglen uint32, f Flag) Flag {
	if f&FlagKeepAlive != 0 {
		return 0
	}
	notAdvanced := fwd.nextSeq != 0 && seqLT(s.Seq, fwd.nextSeq)
	// More than one byte from one before the next sequence number really
	// adds data: it may follow a zero-window probe or keep-alive byte.
	if seglen > 1 && fwd.nextSeq-1 == s.Seq {
		notAdvanced = false
	}

	// SPURIOUS: every byte was already acknowledged by the peer.
	if seglen > 0 && rev.lastAck != 0 && seqLE(s.Seq+seglen, rev.lastAck) {
		return FlagSpuriousRetransmission | FlagRetransmission
	}
	// FAST: the sequence number the peer duplicate-ACKed at least twice,
	// within 20 ms of its last ACK.
	if notAdvanced && rev.dupAckNum >= 2 && rev.lastAck == s.Seq &&
		sinceNs(now, rev.lastAckTime) < uint64(fastRetransmitWindow) {
		return FlagFastRetransmission | FlagRetransmission
	}
	// OUT OF ORDER: an older segment that came soon after the highest one
	// and does not end where the highest one did.
	threshold := defaultOutOfOrderThreshold
	if a.initialRTT != 0 {
		threshold = a.initialRTT
	}
	end := s.Seq + seglen
	if s.SYN || s.FIN {
		end++
	}
	if notAdvanced && sinceNs(now, fwd.nextSeqTime) < uint64(threshold) && fwd.nextSeq != end {
		return FlagOutOfOrder
	}
	if notAdvanced {
		return FlagRetransmission
	}
	return 0
}
