package reassembly

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

// pmtuWatch follows one sending side for the PMTU pattern.
type pmtuWatch struct {
	largest     int    // largest segment sent
	stuckSeq    uint32 // sequence number of the large segment retransmitted
	stuckLen    int
	stuck       int // times it was retransmitted with no ACK progress
	first, last Mark
	ackAtStuck  uint32 // the peer's highest ACK when it got stuck
	smallAcked  int    // largest segment the peer has ACKed in full
	otherRetx   int    // retransmissions of other, smaller segments
	// unacked segment sizes, to learn which sizes got through: the last
	// few data segments sent, with their ends.
	recent [8]struct {
		end uint32
		n   int
	}
	nRecent int
}

// sent notes a data segment from this side with its analysis flags.
func (w *pmtuWatch) sent(s *Segment, f Flag) {
	if s.Len <= 0 {
		return
	}
	w.recent[w.nRecent%len(w.recent)] = struct {
		end uint32
		n   int
	}{s.Seq + uint32(s.Len), s.Len}
	w.nRecent++
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
	for i := 0; i < min(w.nRecent, len(w.recent)); i++ {
		if r := w.recent[i]; int32(ack-r.end) >= 0 {
			w.smallAcked = max(w.smallAcked, r.n)
		}
	}
	if w.stuck > 0 && int32(ack-w.stuckSeq) > 0 {
		// The stuck segment got through after all: plain loss.
		w.stuck = 0
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
