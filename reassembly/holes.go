package reassembly

import (
	"github.com/gopacket/gopacket"

	"github.com/smtpscope/smtpscope/capture"
)

// holes follows, per direction of a connection, how far gopacket has
// delivered the byte stream, to spot a hole the receiver has already
// acknowledged: the missing bytes were never captured and no
// retransmission will fill the hole, so waiting GapWait for it only
// delays the data queued behind it. Delayed, that data would reach the
// handler after the other direction's later bytes (a reply before the
// end-of-data it answers). Tracker.skipAckedHoles skips such a hole for
// its own connection and direction only.
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

// skipAckedHoles pushes out the data of c queued in dir behind a hole
// that ack, an acknowledgment from the other side, proves permanent,
// and only that data: hole after hole (as gopacket's flush would, a gap
// then the contiguous data behind it), for as long as ack covers the
// next hole. A hole beyond ack may still be filled by a retransmission,
// and so may every other connection's and direction's holes: they keep
// waiting (GapWait). f is the frame of the ACK; the caller has checked
// that it proves a hole (holes.ackedHole).
//
// gopacket skips a hole on its own only when it flushes by age, which it
// does over every connection, or when a connection holds more queued
// pages than MaxBufferedPagesPerConnection: it then hands on its first
// queued page and what follows it, after a gap. skipHole uses the latter
// for this connection alone.
func (t *Tracker) skipAckedHoles(c *Conn, dir Direction, ack uint32, f *capture.Frame) {
	t.stats.AckedHoles++
	// Each round delivers at least one queued page; the bound only guards
	// against a round that delivers nothing.
	for range maxSkipRounds {
		before := c.holes.delivered[dir]
		t.skipHole(c, dir, f)
		if c.holes.delivered[dir] == before || !c.holes.ackedHole(dir, ack) {
			return
		}
	}
}

// maxSkipRounds bounds the holes one ACK skips; gopacket's page limit
// (MaxBufferedPagesPerConnection) bounds them anyway.
const maxSkipRounds = 1 << 12

// skipHole makes gopacket skip the first hole of c's stream in dir: it
// hands gopacket a segment of its own for that direction, without
// payload or flags, beyond the queued data (so that it is queued, and
// queues nothing), with the page limit lowered to 1 for that one call,
// so that gopacket hands on the first queued page and the pages
// contiguous to it, after a gap (stream.ReassembledSG). The segment is
// not a frame: it bypasses the L4 analysis, the overlap check and the
// hole bookkeeping, and gopacket keeps nothing of it.
func (t *Tracker) skipHole(c *Conn, dir Direction, f *capture.Frame) {
	if c.stream == nil || c.ended || c.Handler == nil {
		return
	}
	src, dst := c.Client, c.Server
	if dir == ServerToClient {
		src, dst = dst, src
	}
	// seenEnd lies beyond every queued byte, and beyond gopacket's next
	// sequence number whenever it holds queued data.
	tcp, ok := t.bareSegment(src.Port(), dst.Port(), 0, c.holes.seenEnd[dir], 0)
	if !ok {
		return
	}
	ctx := &frameContext{ci: gopacket.CaptureInfo{Timestamp: f.Time}}
	limit := t.assembler.MaxBufferedPagesPerConnection
	t.assembler.MaxBufferedPagesPerConnection = 1
	// t.current stays nil: should gopacket have forgotten the connection,
	// the segment must not make it a new one (streamFactory.New).
	defer func() {
		t.assembler.MaxBufferedPagesPerConnection = limit
		if r := recover(); r != nil {
			t.stats.Recovered++
		}
	}()
	t.assembler.AssembleWithContext(c.flow[dir], tcp, ctx)
}
