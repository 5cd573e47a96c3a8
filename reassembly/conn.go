package reassembly

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"

	"github.com/smtpscope/smtpscope/capture"
)

// Conn is one TCP connection, numbered like Wireshark's tcp.stream.
type Conn struct {
	// Stream is the 0-based connection index in order of first packet, as
	// Wireshark's tcp.stream.
	Stream int
	// Client opened the connection (sent the SYN); without a captured
	// handshake it is guessed from Options.ServerPorts or the port numbers.
	Client, Server netip.AddrPort
	// FirstFrame, LastFrame and their times bound the connection's packets.
	FirstFrame, LastFrame int
	FirstTime, LastTime   time.Time
	// Packets counts the connection's frames.
	Packets int
	// MissedBytes counts, per direction, the stream bytes handed to the
	// handler as gaps (Zeek's missed_bytes): never captured, or given up
	// on when the out-of-order buffer limits were reached.
	MissedBytes [2]int64
	// Analyzer holds the L4 analysis; use Health for its summary. It is
	// nil while the connection has sent only SYN and SYN-ACK segments
	// without data (a SYN flood's, or one not answered yet): those wait
	// in a small record and are analysed when another segment comes, or
	// when Health asks (see pendingSYN).
	Analyzer *Analyzer
	// Handler receives the connection's bytes (nil: none).
	Handler Handler
	// Process is the program that owned the connection as the capture
	// recorded it per frame (capture.Frame.Process): the first one named
	// by any of its frames; nil when none is.
	Process *capture.Process
	// Resumed is set on a connection whose 4-tuple had been retired (see
	// Options.Retire) when a packet without SYN came on it: its analysis
	// starts at that packet, under the old stream number.
	Resumed bool
	// Conflicts lists the first retransmissions whose bytes differ from
	// the segment they repeat (see Conflict); ConflictCount counts them
	// all.
	Conflicts     []Conflict
	ConflictCount int
	// Evicted is set on a connection the Tracker stopped following before
	// it ended, to stay within Options.MaxConnections: what it sent later
	// is not analysed (see EvictedIdle).
	Evicted bool

	key   flowKey
	flow4 *flow            // the 4-tuple's entry in the Tracker's table
	flow  [2]gopacket.Flow // gopacket's flow per direction (streamFlow)
	// stream is gopacket's Stream of the connection, cut loose when the
	// connection retires: gopacket keeps its connections until they idle
	// out, and must not keep the Conn (and its handler) that long.
	stream *stream
	holes  holes
	// overlaps remembers recent data segments (nil until the first).
	overlaps *overlapWatch
	// l4 is the L4 analysis (Analyzer points into it), nil while the
	// connection's segments wait in pending.
	l4 *connL4
	// pending holds the SYN and SYN-ACK segments not analysed yet (while
	// Analyzer is nil) or not handed to gopacket yet (see pendingSYN).
	pending []Segment
	tail    [2]streamTail
	ended   bool
	// halfOpen is set while the connection has sent only SYN or SYN-ACK
	// segments (see EvictedHalfOpen).
	halfOpen bool
	// finSeen records a FIN per direction; closed is the capture time at
	// which the connection closed (FIN both ways or a RST), zero while open.
	finSeen [2]bool
	closed  time.Time
	// acked is, per direction, the highest acknowledgement the peer sent
	// for that direction's bytes (valid with ackedKnown).
	acked      [2]uint32
	ackedKnown [2]bool
	// lastNS is LastTime by unixNano, which Add compares per packet.
	lastNS int64
	// idleKey is the connection's key in Tracker.idle, never later than
	// the time it is due to idle out or be retired (LastTime, plus the
	// timeout); idleIndex its place there (-1: not queued).
	idleKey   time.Time
	idleIndex int
	// connIndex is the connection's place in Tracker.conns.
	connIndex int
}

// due is when the connection idles out (or, closed, is retired) unless
// another packet comes.
func (c *Conn) due(o *Options) time.Time {
	if !c.closed.IsZero() && o.Retire != nil {
		return c.LastTime.Add(o.CloseLinger)
	}
	return c.LastTime.Add(o.IdleTimeout)
}

// Held tells whether bytes captured from dir wait behind a hole in its
// sequence space: the handler has had neither them nor the gap, while
// the FIN or RST after them (Control, in packet order) may already have
// been told.
func (c *Conn) Held(dir Direction) bool { return c.holes.queued(dir) }

// Health returns the connection's L4 summary.
func (c *Conn) Health() Health {
	if c.Analyzer == nil {
		// Asked of a connection of bare SYNs on every live sweep: the
		// analysis is made for the answer, on the stack.
		var l connL4
		c.replay(&l)
		return l.analyzer.Health()
	}
	return c.Analyzer.Health()
}

// maxPendingSYN bounds the segments a connection of bare SYN and SYN-ACK
// segments keeps unanalysed: a client whose SYN goes unanswered sends
// up to 7 of them (Linux's tcp_syn_retries 6), beyond this the
// connection is analysed as any other.
const maxPendingSYN = 4

// pendingSYN tells whether seg, a segment of c, waits in c's small
// record instead of being analysed and reassembled now: a SYN or SYN-ACK
// without data, FIN or RST while c has sent nothing else. A SYN flood's
// connections so cost their Conn without the L4 analysis (Analyzer and
// the PMTU watch, 2.6 KB) and without gopacket's connection; the segments
// are replayed, in order, at c's first other segment.
func (c *Conn) pendingSYN(seg *Segment) bool {
	return c.l4 == nil && seg.SYN && seg.Len == 0 && seg.CapturedLen == 0 && !seg.FIN && !seg.RST &&
		len(c.pending) < maxPendingSYN
}

// connL4 is a connection's L4 analysis, allocated in one piece.
type connL4 struct {
	analyzer Analyzer
	pmtu     [2]pmtuWatch
}

// analysis returns c's L4 analysis, made now if c had only pending
// segments so far.
func (c *Conn) analysis() *connL4 {
	if c.l4 == nil {
		c.l4 = c.replayed()
		c.Analyzer = &c.l4.analyzer
	}
	return c.l4
}

// ackedBy notes an acknowledgement the peer sent for dir's bytes: the
// highest one is kept (see tellUnseen).
func (c *Conn) ackedBy(dir Direction, ack uint32) {
	if i := dir & 1; !c.ackedKnown[i] || int32(ack-c.acked[i]) > 0 {
		c.acked[i], c.ackedKnown[i] = ack, true
	}
}

// replayed returns a new analysis that has seen c's pending segments.
func (c *Conn) replayed() *connL4 {
	l := new(connL4)
	c.replay(l)
	return l
}

// replay has l analyse c's pending segments.
func (c *Conn) replay(l *connL4) {
	for i := range c.pending {
		l.observe(&c.pending[i])
	}
}

// observe runs the analysis of one segment: tshark's tcp.analysis and
// the PMTU watch.
func (l *connL4) observe(seg *Segment) {
	flags := l.analyzer.Observe(seg)
	l.pmtu[seg.Dir].sent(seg, flags)
	if w := &l.pmtu[1-seg.Dir]; seg.ACK && w.waiting() {
		w.acked(seg.Ack)
	}
}

// tellCut hands the handler, as a gap, the bytes the snaplen cut from the
// end of what side dir has sent so far, once gopacket has delivered all
// before them: gopacket sees the hole only when a later segment of that
// side comes (after the other side's answer to these bytes, or after the
// close), or never. When gopacket does report it later, the gap is not
// told twice.
func (c *Conn) tellCut(dir Direction, at Mark) {
	t := &c.tail[dir]
	if t.cut <= 0 || c.Handler == nil || !c.holes.known[dir] {
		return
	}
	if next := c.holes.start[dir] + c.holes.delivered[dir]; next != t.end-uint32(t.cut) {
		// gopacket has not delivered up to the cut (a hole before it is
		// still open) or has already skipped past it.
		return
	}
	c.MissedBytes[dir] += int64(t.cut)
	c.Handler.Gap(dir, t.cut, at)
	t.told += t.cut
	t.cut = 0
}

// tellUnseen hands the handler, as a gap, the bytes sent in dir that the
// peer acknowledged but that no captured segment carried, at the end of
// what dir has sent so far (Wireshark's tcp.analysis.ack_lost_segment on
// the tail): gopacket never sees such a hole, since no later segment of
// dir comes after it, and without the gap the handler would take the
// stream as whole (a body that just stopped). It is called before a FIN
// or RST is told and before End, not on the ACK itself: a capture whose
// two directions are merged from two clocks may show the ACK a little
// before the segment it acknowledges. One byte is left out, which may be
// an unseen FIN's sequence number.
func (c *Conn) tellUnseen(dir Direction, at Mark) {
	h, t := &c.holes, &c.tail[dir]
	if c.Handler == nil || !h.known[dir] || !c.ackedKnown[dir] {
		return
	}
	if next := h.start[dir] + h.delivered[dir]; next != h.seenEnd[dir] {
		// A hole before the end is still open: gopacket tells it, with
		// what follows.
		return
	}
	from := h.seenEnd[dir]
	if t.known && int32(t.end-from) > 0 {
		from = t.end // the snaplen's cut is told by tellCut
	}
	if t.unseenKnown && int32(t.unseenEnd-from) > 0 {
		from = t.unseenEnd
	}
	n := int32(c.acked[dir]-from) - 1
	if n <= 0 {
		return
	}
	c.MissedBytes[dir] += int64(n)
	c.Handler.Gap(dir, int(n), at)
	t.told += int(n)
	t.unseenEnd, t.unseenKnown = from+uint32(n), true
}

// streamTail follows the end of one direction's byte stream: how many
// bytes of its furthest segment the snaplen cut, how many cut or unseen
// bytes were told ahead of gopacket, and up to where unseen bytes were
// told (tellUnseen).
type streamTail struct {
	end         uint32 // sequence number after the furthest segment
	known       bool
	cut         int
	told        int
	unseenEnd   uint32
	unseenKnown bool
}

// segment notes a segment of length n (from seq) of which captured bytes
// are in the capture.
func (s *streamTail) segment(seq uint32, n, captured int) {
	if n == 0 {
		return
	}
	end := seq + uint32(n)
	if s.known && int32(end-s.end) <= 0 {
		return // not beyond the furthest: a retransmission or reordering
	}
	s.end, s.known, s.cut = end, true, max(n-captured, 0)
}

// flowKey names a 4-tuple whichever way a packet goes: both endpoints,
// lower first, as plain integers so that the flow table hashes them as one
// block of memory.
type flowKey struct{ lo, hi endpoint }

// endpoint is an address and port in a flowKey: the address as 16 bytes
// (IPv4 mapped into IPv6) in two words, then the port, with bit 16 set
// for an IPv4 address so that it never meets the same address mapped in
// an IPv6 header.
type endpoint struct{ ip0, ip1, port uint64 }

// keyOf returns the key of a packet from a to b, and the side a is on
// (0: the lower endpoint).
func keyOf(a, b netip.AddrPort) (flowKey, int) {
	ea, eb := endpointOf(a), endpointOf(b)
	if eb.less(ea) {
		return flowKey{eb, ea}, 1
	}
	return flowKey{ea, eb}, 0
}

func endpointOf(a netip.AddrPort) endpoint {
	ip := a.Addr().As16()
	e := endpoint{binary.BigEndian.Uint64(ip[:8]), binary.BigEndian.Uint64(ip[8:]), uint64(a.Port())}
	if a.Addr().Is4() {
		e.port |= 1 << 16
	}
	return e
}

func (e endpoint) less(f endpoint) bool {
	if e.ip0 != f.ip0 {
		return e.ip0 < f.ip0
	}
	if e.ip1 != f.ip1 {
		return e.ip1 < f.ip1
	}
	return e.port < f.port
}
