package reassembly

import "math/bits"

// PMTU is the evidence for a suspected path-MTU black hole on one side of
// a connection: its full-size segments are retransmitted again and again
// and never acknowledged, while its smaller segments got through. Routers
// on such paths drop packets above their MTU and their "fragmentation
// needed" ICMP never reaches the sender (RFC 2923 §2.1).
type PMTU struct {
	// Suspected is set when the pattern holds.
	Suspected bool
	// Sender is the side whose large segments vanish.
	Sender Direction
	// Size is the size of the segment retransmitted, Retransmissions how
	// often, First and Last the first and last of those retransmissions.
	Size            int
	Retransmissions int
	First, Last     Mark
	// SmallAcked is the largest segment of the sender the peer did ACK.
	SmallAcked int
}

// minPMTURetransmissions is how many retransmissions of segments larger
// than any the peer acknowledged must go unanswered, and
// minPMTURepeats how often the lowest of them must be sent again: a lone
// loss is retransmitted once and then acknowledged.
const (
	minPMTURetransmissions = 3
	minPMTURepeats         = 2
)

// pmtuRecent is how many of its last data segments a pmtuWatch remembers
// to learn which sizes got through; pmtuWatch.pending has a bit per slot.
const pmtuRecent = 8

// pmtuWatch follows one sending side for the PMTU pattern, whatever order
// the sender's stack retransmits in: Linux resends its whole flight once
// and then backs off on the first segment alone, other stacks resend only
// the first, or send a tail-loss probe (the last segment) first (RFC 8985
// §7). What they share: after the first loss, segments larger than any the
// peer acknowledged are sent again and again, and the peer's ACK never
// moves past the lowest of them, while smaller segments got through
// before. The Tracker calls it for every packet, so the common cases
// return at once: a segment without payload, and an ACK that can teach
// nothing new.
type pmtuWatch struct {
	largest    int // largest segment sent
	smallAcked int // largest segment the peer has ACKed in full
	// stuck counts the retransmissions of segments larger than smallAcked
	// since the peer's ACK last moved past stuckSeq, the lowest of them;
	// repeats counts those of stuckSeq itself and stuckLen is the largest.
	stuck    int
	stuckSeq uint32
	stuckLen int
	repeats  int
	// peerSeen is set when the peer sent an ACK after the first of those
	// retransmissions: the path from it still works (a dead path or host
	// sends nothing), and it is the large segments that do not arrive.
	peerSeen bool
	// recent are the last data segments sent, with their ends. Only those
	// larger than smallAcked can raise it when acknowledged: pending has
	// a bit set for each of their slots, and an ACK while it is zero
	// skips the look.
	recent  [pmtuRecent]sentSize
	nRecent int
	pending uint8

	first, last Mark
}

// sentSize is a data segment's end and length.
type sentSize struct {
	end uint32
	n   int
}

// sent notes a data segment from this side with its analysis flags.
func (w *pmtuWatch) sent(s *Segment, f Flag) {
	if s.Len <= 0 {
		return
	}
	w.data(s, f)
}

func (w *pmtuWatch) data(s *Segment, f Flag) {
	i := w.nRecent % pmtuRecent
	w.recent[i] = sentSize{end: s.Seq + uint32(s.Len), n: s.Len}
	w.nRecent++
	if s.Len > w.smallAcked {
		w.pending |= 1 << i
	} else {
		w.pending &^= 1 << i
	}
	w.largest = max(w.largest, s.Len)
	// A spurious retransmission resends data the peer had acknowledged:
	// it shows a lost or late ACK, not a lost segment.
	if f&FlagRetransmission == 0 || f&FlagSpuriousRetransmission != 0 {
		return
	}
	mark := Mark{Frame: s.Frame, Time: s.Time}
	switch {
	case s.Len <= w.smallAcked:
		// A small segment resent behind the large ones (a stack without
		// SACK resends the whole flight) tells nothing either way.
	case w.stuck == 0 || seqLT(s.Seq, w.stuckSeq):
		if w.stuck == 0 {
			w.first, w.stuckLen, w.peerSeen = mark, 0, false
		}
		w.stuck++
		w.stuckSeq, w.repeats = s.Seq, 1
	default:
		w.stuck++
		if s.Seq == w.stuckSeq {
			w.repeats++
		}
	}
	if s.Len > w.smallAcked {
		w.stuckLen = max(w.stuckLen, s.Len)
		w.last = mark
	}
}

// waiting tells whether an ACK of the peer can change the watch: a data
// segment waits to be acknowledged, or retransmissions are being counted.
// Otherwise acked does nothing.
func (w *pmtuWatch) waiting() bool { return w.pending != 0 || w.stuck > 0 }

// acked notes the peer's ACK number.
func (w *pmtuWatch) acked(ack uint32) {
	if w.pending != 0 {
		w.learn(ack)
	}
	if w.stuck > 0 && seqGT(ack, w.stuckSeq) {
		// The lowest retransmitted segment got through after all: plain
		// loss.
		w.stuck, w.repeats = 0, 0
	} else if w.stuck > 0 {
		w.peerSeen = true
	}
}

// learn raises smallAcked to the largest pending segment the ACK covers.
func (w *pmtuWatch) learn(ack uint32) {
	for m := w.pending; m != 0; m &= m - 1 {
		if r := w.recent[bits.TrailingZeros8(m)]; int32(ack-r.end) >= 0 {
			w.smallAcked = max(w.smallAcked, r.n)
		}
	}
	for m := w.pending; m != 0; m &= m - 1 {
		if i := bits.TrailingZeros8(m); w.recent[i].n <= w.smallAcked {
			w.pending &^= 1 << i
		}
	}
}

// PMTU returns the path-MTU black-hole evidence of the connection.
func (c *Conn) PMTU() PMTU {
	if c.l4 == nil {
		var l connL4
		c.replay(&l)
		return pmtuOf(&l.pmtu)
	}
	return pmtuOf(&c.l4.pmtu)
}

// pmtuOf returns the evidence of the first side whose watch shows the
// pattern.
func pmtuOf(ws *[2]pmtuWatch) PMTU {
	for d := range ws {
		w := &ws[d]
		if w.stuck >= minPMTURetransmissions && w.repeats >= minPMTURepeats && w.peerSeen &&
			w.smallAcked > 0 && w.smallAcked < w.stuckLen {
			return PMTU{Suspected: true, Sender: Direction(d), Size: w.stuckLen, Retransmissions: w.stuck,
				First: w.first, Last: w.last, SmallAcked: w.smallAcked}
		}
	}
	return PMTU{}
}
