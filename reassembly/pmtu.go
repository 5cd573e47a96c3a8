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

// minPMTURetransmissions is how many times the same large segment must be
// retransmitted without an ACK: a lone loss is retransmitted once or twice.
const minPMTURetransmissions = 3

// pmtuRecent is how many of its last data segments a pmtuWatch remembers
// to learn which sizes got through; pmtuWatch.pending has a bit per slot.
const pmtuRecent = 8

// pmtuWatch follows one sending side for the PMTU pattern. The Tracker
// calls it for every packet, so the common cases return at once: a
// segment without payload, and an ACK that can teach nothing new.
type pmtuWatch struct {
	largest    int    // largest segment sent
	smallAcked int    // largest segment the peer has ACKed in full
	stuck      int    // times the large segment was retransmitted with no ACK progress
	stuckSeq   uint32 // sequence number of the large segment retransmitted
	stuckLen   int
	otherRetx  int // retransmissions of other, smaller segments
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
	if f&FlagRetransmission == 0 {
		return
	}
	large := s.Len >= 1000 && s.Len*10 >= w.largest*9
	switch {
	case large && w.stuck > 0 && s.Seq == w.stuckSeq:
		w.stuck++
		w.last = Mark{Frame: s.Frame, Time: s.Time}
	case large && w.stuck == 0:
		w.stuckSeq, w.stuckLen, w.stuck = s.Seq, s.Len, 1
		w.first = Mark{Frame: s.Frame, Time: s.Time}
		w.last = w.first
	default:
		w.otherRetx++
	}
}

// acked notes the peer's ACK number.
func (w *pmtuWatch) acked(ack uint32) {
	if w.pending != 0 {
		w.learn(ack)
	}
	if w.stuck > 0 && int32(ack-w.stuckSeq) > 0 {
		// The stuck segment got through after all: plain loss.
		w.stuck = 0
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
	for d := range c.pmtu {
		w := &c.pmtu[d]
		if w.stuck >= minPMTURetransmissions && w.otherRetx == 0 && w.smallAcked > 0 && w.smallAcked < w.stuckLen {
			return PMTU{Suspected: true, Sender: Direction(d), Size: w.stuckLen, Retransmissions: w.stuck,
				First: w.first, Last: w.last, SmallAcked: w.smallAcked}
		}
	}
	return PMTU{}
}
