package reassembly

import (
	"encoding/binary"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	gpr "github.com/gopacket/gopacket/reassembly"

	"github.com/smtpscope/smtpscope/capture"
)

// The adaptor between the Tracker and gopacket's reassembly: the flows
// gopacket keys connections by, the context that carries each frame's
// number through its buffers, and the gpr.Stream that hands ordered bytes,
// gaps and their frames to a connection's Handler.

// assemble hands the segment to gopacket's reassembly under a flow made
// unique per tcp.stream, so that a new connection on a reused 4-tuple
// never meets the old one's state.
func (t *Tracker) assemble(c *Conn, dir Direction, tcp *layers.TCP, f *capture.Frame) {
	ctx := t.ctx
	// Field by field: AncillaryData leads back to ctx from the start
	// (newFrameContext), and the rest is all this frame's.
	ci := &ctx.ci
	ci.Timestamp, ci.CaptureLength, ci.Length, ci.InterfaceIndex = f.Time, len(f.Data), f.Length, f.Number
	ctx.acked, ctx.ackKnown = 0, false
	if tcp.ACK && c.holes.known[1-dir] {
		ctx.acked, ctx.ackKnown = tcp.Ack-c.holes.start[1-dir], true
	}
	t.current, t.ctxKept = c, false
	defer func() {
		t.current = nil
		r := recover()
		if t.ctxKept || r != nil {
			// gopacket holds on to ctx: the next segment needs its own.
			t.ctx = newFrameContext()
		}
		if r != nil {
			// A reassembly library fault must not take down the analysis
			// of every other connection: stop feeding this one.
			t.stats.Recovered++
			c.ended = true
			c.Handler.End(Mark{Frame: f.Number, Time: f.Time})
		}
	}()
	t.assembler.AssembleWithContext(c.flow[dir], tcp, ctx)
}

// streamFlow is the network flow gopacket keys a connection by: the
// Conn's serial number and the direction, instead of the addresses.
func streamFlow(serial uint64, dir Direction) gopacket.Flow {
	var a, b [16]byte
	binary.BigEndian.PutUint64(a[:8], serial)
	binary.BigEndian.PutUint64(b[:8], serial)
	a[15], b[15] = 1, 2 // client, server
	if dir == ServerToClient {
		a, b = b, a
	}
	return gopacket.NewFlow(layers.EndpointIPv6, a[:], b[:])
}

// frameContext carries a frame's capture info, with the frame number in
// InterfaceIndex, through gopacket's reassembly: gopacket keeps the
// context of buffered out-of-order data, so every byte it delivers can
// still name its frame. A segment delivered at once leaves no reference
// behind (gopacket's own copy of the current segment is overwritten by the
// next one), so the Tracker reuses one context until a segment is buffered.
//
// The context also carries the segment's acknowledgment number, as an
// offset in the other direction's stream (Acker): gopacket hands back only
// the CaptureInfo of a byte, so its AncillaryData holds the context itself
// (self, set up once, so that no segment allocates).
type frameContext struct {
	ci gopacket.CaptureInfo
	// acked is the segment's ACK minus the first sequence number of the
	// other direction's stream; ackKnown is false without the ACK flag or
	// before that stream's first segment.
	acked    uint32
	ackKnown bool
	self     [1]any
}

// newFrameContext returns a context whose CaptureInfo leads back to it.
func newFrameContext() *frameContext {
	c := new(frameContext)
	c.self[0] = c
	c.ci.AncillaryData = c.self[:]
	return c
}

func (c *frameContext) GetCaptureInfo() gopacket.CaptureInfo { return c.ci }

type streamFactory struct{ t *Tracker }

func (f *streamFactory) New(netFlow, _ gopacket.Flow, _ *layers.TCP, _ gpr.AssemblerContext) gpr.Stream {
	c := f.t.current
	if c == nil || c.Handler == nil {
		return nil
	}
	// gopacket's "client" is whoever sent the first packet it saw.
	first := ClientToServer
	if raw := netFlow.Src().Raw(); len(raw) == 16 && raw[15] == 2 {
		first = ServerToClient
	}
	c.stream = &stream{tracker: f.t, conn: c, first: first}
	return c.stream
}

// stream adapts one connection's Handler to gopacket's reassembly.Stream.
type stream struct {
	tracker *Tracker
	conn    *Conn
	first   Direction // our direction of gopacket's TCPDirClientToServer
	// marker is the Marker of the current Data call, kept here so that
	// handing it to the Handler allocates nothing.
	marker sgMarker
	// releasing is set when the Tracker closes gopacket's connection to
	// free it (Tracker.release); complete once gopacket has closed both
	// halves and kept the connection in its pool (ReassemblyComplete).
	releasing, complete bool
}

func (s *stream) direction(d gpr.TCPFlowDirection) Direction {
	if d == gpr.TCPDirClientToServer {
		return s.first
	}
	return 1 - s.first
}

// noSequence is gopacket's next sequence number of a direction that has
// not started.
const noSequence gpr.Sequence = -1

func (s *stream) Accept(tcp *layers.TCP, _ gopacket.CaptureInfo, _ gpr.TCPFlowDirection, nextSeq gpr.Sequence, start *bool, _ gpr.AssemblerContext) bool {
	// Connections picked up mid-stream start at their first segment.
	*start = true
	if s.releasing {
		// The Tracker's closing RST: put it where gopacket takes it.
		if nextSeq != noSequence {
			tcp.Seq = uint32(nextSeq)
		}
		return true
	}
	// gopacket buffers a segment that starts beyond the next expected
	// byte, and the segment's context with it. (A direction that has not
	// started takes its first segment at once, since start is forced; it is
	// counted as kept all the same, which costs one context per direction.)
	if nextSeq == noSequence || nextSeq.Difference(gpr.Sequence(tcp.Seq)) > 0 {
		s.tracker.ctxKept = true
	}
	return true
}

func (s *stream) ReassembledSG(sg gpr.ScatterGather, _ gpr.AssemblerContext) {
	if s.conn == nil || s.conn.ended || s.releasing {
		return
	}
	d, _, _, skip := sg.Info()
	dir := s.direction(d)
	n, _ := sg.Lengths()
	s.conn.holes.deliver(dir, n, skip)
	if tail := &s.conn.tail[dir]; skip > 0 && tail.told > 0 {
		// A gap told ahead (tellCut) is not told again.
		told := min(tail.told, skip)
		tail.told -= told
		skip -= told
	}
	if skip > 0 {
		s.conn.MissedBytes[dir] += int64(skip)
	}
	m := &s.marker
	*m = sgMarker{sg: sg, n: n}
	if skip > 0 {
		s.conn.Handler.Gap(dir, skip, m.Mark(0))
	}
	if n == 0 {
		return
	}
	s.conn.Handler.Data(dir, sg.Fetch(n), m)
}

func (s *stream) ReassemblyComplete(gpr.AssemblerContext) bool {
	// Keep the connection in gopacket's pool so that a late ACK does not
	// re-create it (gopacket #427); the Tracker removes it when it
	// retires or forgets the connection (Tracker.release), else the idle
	// flush.
	s.complete = !s.releasing
	return s.releasing
}

// sgMarker gives each delivered byte the frame and time it came in.
type sgMarker struct {
	sg gpr.ScatterGather
	n  int
}

func (m sgMarker) Mark(off int) Mark {
	ci := m.sg.CaptureInfo(m.clamp(off))
	return Mark{Frame: ci.InterfaceIndex, Time: ci.Timestamp}
}

// Acked implements Acker from the context of the segment that carried the
// byte at off.
func (m sgMarker) Acked(off int) (uint32, bool) {
	ci := m.sg.CaptureInfo(m.clamp(off))
	if len(ci.AncillaryData) != 1 {
		return 0, false
	}
	c, ok := ci.AncillaryData[0].(*frameContext)
	if !ok {
		return 0, false
	}
	return c.acked, c.ackKnown
}

func (m sgMarker) clamp(off int) int {
	return max(min(off, m.n-1), 0)
}
