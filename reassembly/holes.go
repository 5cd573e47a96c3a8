package reassembly

import (
	"time"

	gpr "github.com/gopacket/gopacket/reassembly"
)

// holes follows, per direction of a connection, how far gopacket has
// delivered the byte stream, to spot a hole the receiver has already
// acknowledged: the missing bytes were never captured and no
// retransmission will fill the hole, so waiting GapWait for it only
// delays the data queued behind it. Delayed, that data would reach the
// handler after the other direction's later bytes (a reply before the
// end-of-data it answers).
type holes struct {
	// start is the sequence number of the first stream byte, as gopacket
	// counts it (the SYN's sequence number + 1, or the first segment's).
	start [2]uint32
	known [2]bool
	// delivered counts bytes handed on or skipped as a gap.
	delivered [2]uint32
	// seenEnd is the end of the highest byte seen in a segment.
	seenEnd [2]uint32
}

// observe notes a segment before it goes to gopacket.
func (h *holes) observe(dir Direction, seq uint32, syn bool, payload int) {
	if !h.known[dir] {
		h.start[dir], h.known[dir] = seq, true
		if syn {
			h.start[dir]++
		}
		h.seenEnd[dir] = h.start[dir]
	}
	if end := seq + uint32(payload); payload > 0 && int32(end-h.seenEnd[dir]) > 0 {
		h.seenEnd[dir] = end
	}
}

// deliver notes bytes gopacket handed on (n) or skipped (skip).
func (h *holes) deliver(dir Direction, n, skip int) {
	h.delivered[dir] += uint32(n + max(skip, 0))
}

// ackedHole tells whether an ACK for the data sent in dir covers bytes
// that were seen but are still queued behind a hole: the hole is
// permanent. The +1 allows for the FIN's sequence number.
func (h *holes) ackedHole(dir Direction, ack uint32) bool {
	if !h.known[dir] {
		return false
	}
	next := h.start[dir] + h.delivered[dir]
	queued := int32(h.seenEnd[dir]-next) > 0
	return queued && int32(ack-(next+1)) > 0
}

// queued tells whether bytes seen from dir wait behind a hole: the
// handler has not had them, nor the gap before them, yet.
func (h *holes) queued(dir Direction) bool {
	return h.known[dir] && int32(h.seenEnd[dir]-(h.start[dir]+h.delivered[dir])) > 0
}

// flushAckedHole pushes out data queued behind a hole the receiver has
// acknowledged. gopacket flushes by age over all connections, so queued
// data of other connections that arrived before now goes out too; holes
// are rare and usually capture loss everywhere at once.
func (t *Tracker) flushAckedHole(now time.Time) {
	t.stats.AckedHoles++
	defer func() {
		if r := recover(); r != nil {
			t.stats.Recovered++
		}
	}()
	t.assembler.FlushWithOptions(gpr.FlushOptions{T: now.Add(time.Nanosecond)})
}
