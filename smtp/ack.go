package smtp

// What TCP acknowledgments tell about which requests a reply can answer.
//
// A TCP receiver acknowledges, in every segment it sends, all it has
// received in order (RFC 9293 §3.4), so a reply's segment shows which of
// the client's bytes the server had when it answered, and a request's
// segment which of the server's bytes the client had when it sent it.
// Reassembly hands these facts with the bytes (reassembly.Acker); they
// are exact where time stamps are not (two capture points whose clocks
// differ, #13) and say what a server gap hid (#14).

import "github.com/smtpscope/smtpscope/reassembly"

// streamOffset is a position in one direction's byte stream as
// reassembly counts it, modulo 2^32 as TCP sequence numbers are; ok is
// false when it is unknown.
type streamOffset struct {
	n  uint32
	ok bool
}

// atOrBeyond tells whether both offsets are known and o is at or past p.
func (o streamOffset) atOrBeyond(p streamOffset) bool {
	return o.ok && p.ok && int32(o.n-p.n) >= 0
}

// beyond tells whether both offsets are known and o is past p.
func (o streamOffset) beyond(p streamOffset) bool {
	return o.ok && p.ok && int32(o.n-p.n) > 0
}

// streams follows the offsets of both directions through Data and Gap
// calls, so that a byte handed to the readers can be placed in its stream.
type streams struct {
	// next is, per direction, the offset after the last byte delivered or
	// reported missing; lost is set once a gap of unknown size made it
	// unknown.
	next [2]uint32
	lost [2]bool
	// call marks the bytes of the Data call being read, with their
	// offsets and acknowledgments; the readers get a pointer to it, so no
	// call allocates.
	call streamMarker
}

// begin starts a Data call of dir whose bytes at marks: it returns the
// Marker the readers get.
func (s *streams) begin(dir reassembly.Direction, at reassembly.Marker) reassembly.Marker {
	a, _ := at.(reassembly.Acker)
	s.call = streamMarker{m: at, a: a, base: streamOffset{n: s.next[dir], ok: !s.lost[dir]}}
	return &s.call
}

// offset is the offset after the last byte of dir delivered or reported
// missing.
func (s *streams) offset(dir reassembly.Direction) streamOffset {
	return streamOffset{n: s.next[dir], ok: !s.lost[dir]}
}

// advance counts n bytes of dir delivered or missing (n < 0: an unknown
// number).
func (s *streams) advance(dir reassembly.Direction, n int) {
	if n < 0 {
		s.lost[dir] = true
		return
	}
	s.next[dir] += uint32(n)
}

// streamMarker is the Marker of a Data call's bytes that also places them
// in their stream.
type streamMarker struct {
	m    reassembly.Marker
	a    reassembly.Acker
	base streamOffset
}

// Mark implements reassembly.Marker.
func (s *streamMarker) Mark(i int) reassembly.Mark { return s.m.Mark(i) }

// Acked implements reassembly.Acker.
func (s *streamMarker) Acked(i int) (uint32, bool) {
	if s.a == nil {
		return 0, false
	}
	return s.a.Acked(i)
}

// offset is the stream offset of the byte at i.
func (s *streamMarker) offset(i int) streamOffset {
	return streamOffset{n: s.base.n + uint32(i), ok: s.base.ok}
}

// streamPlacer is a Marker that places bytes in their stream.
type streamPlacer interface {
	reassembly.Acker
	offset(i int) streamOffset
}

// placeOf is the stream offset of the byte at i of at.
func placeOf(at reassembly.Marker, i int) streamOffset {
	if p, ok := at.(streamPlacer); ok {
		return p.offset(i)
	}
	return streamOffset{}
}

// ackOf is the acknowledgment the byte at i of at carried: an offset in
// the other direction's stream.
func ackOf(at reassembly.Marker, i int) streamOffset {
	a, ok := at.(reassembly.Acker)
	if !ok {
		return streamOffset{}
	}
	n, ok := a.Acked(i)
	return streamOffset{n: n, ok: ok}
}

// requestFacts are what the stream says of a request's last byte: the
// offset just past it (the server answers once it has that far) and the
// server bytes the client had acknowledged when it sent it.
type requestFacts struct {
	end, peerAcked streamOffset
}

// requestAt notes the facts of the request whose last byte is at i of
// at; the entries push queues take them.
func (d *Decoder) requestAt(at reassembly.Marker, i int) {
	d.client.req = requestFacts{}
	d.client.req = requestFacts{end: placeOf(at, i+1), peerAcked: ackOf(at, i)}
}

// cutRequestAt notes the facts of a request a client gap cut (a command
// line, a BDAT chunk): it ended inside the gap, so not past the gap's
// end, where the offsets stand now.
func (d *Decoder) cutRequestAt() {
	c := &d.client
	d.client.req = requestFacts{end: d.streams.offset(reassembly.ClientToServer)}
	if c.line.pending() {
		c.req.peerAcked = c.lineAck
	}
}
