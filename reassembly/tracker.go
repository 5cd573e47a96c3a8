package reassembly

import (
	"container/heap"
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	gpr "github.com/gopacket/gopacket/reassembly"

	"github.com/smtpscope/smtpscope/capture"
)

// Defaults for the zero values of Options.
const (
	// DefaultIdleTimeout ends a connection after this much capture time
	// without a packet (Zeek's tcp_inactivity_timeout is also 5 min).
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultGapWait is how long, in capture time, out-of-order data waits
	// for a missing segment before the hole is declared a capture gap.
	DefaultGapWait = 3 * time.Second
	// DefaultMaxPagesPerConnection caps buffered out-of-order data per
	// connection (gopacket pages hold 1900 bytes: about 3.7 MB).
	DefaultMaxPagesPerConnection = 2048
	// DefaultMaxPagesTotal caps buffered out-of-order data over all
	// connections (about 31 MB).
	DefaultMaxPagesTotal = 16384
	// DefaultCloseLinger is how long, in capture time, a connection that
	// closed (FIN both ways, or a RST) is kept for late packets (a
	// retransmitted FIN, the last ACK) before Options.Retire gets it: Zeek's
	// tcp_close_delay and tcp_reset_delay are also 5 s. A packet later
	// than that resumes the stream as a new Conn (see Options.Retire).
	DefaultCloseLinger = 5 * time.Second
	// flushEvery is the capture-time interval between flushes.
	flushEvery = time.Second
)

// Options configures a Tracker. The zero value is ready to use.
type Options struct {
	// NewHandler is called once per new connection and returns the handler
	// that receives its bytes, or nil to analyse only its TCP segments.
	NewHandler func(c *Conn) Handler
	// ServerPorts are ports taken as the server side when a connection's
	// handshake was not captured. Without a match the lower port is the server.
	ServerPorts []uint16
	// IdleTimeout ends connections idle this long in capture time
	// (zero: DefaultIdleTimeout).
	IdleTimeout time.Duration
	// GapWait is how long missing data is waited for (zero: DefaultGapWait).
	GapWait time.Duration
	// MaxPagesPerConnection and MaxPagesTotal bound gopacket's buffers of
	// out-of-order data (zero: the defaults above).
	MaxPagesPerConnection, MaxPagesTotal int
	// Retire, if set, is given each connection once it is over: closed
	// (FIN both ways, or a RST) and quiet for CloseLinger, or idle for
	// IdleTimeout. Its handler has ended; the Tracker then forgets it, so
	// memory holds only open connections however long the capture is. The
	// 4-tuple keeps its stream number: a later packet on it without SYN
	// starts a new Conn with the same Stream and Resumed set (Wireshark
	// would continue the old tcp.stream); a SYN starts a new stream.
	// Without Retire, every connection is kept until Close and Conns
	// returns them all.
	Retire func(c *Conn)
	// NewStream, if set, is told of each new stream number as its first
	// packet comes (not of a retired stream resumed); a Sharder's
	// StreamNumbers renumbers several shards' streams from it.
	NewStream func(c *Conn)
	// CloseLinger is how long a closed connection waits for late packets
	// before it is retired (zero: DefaultCloseLinger).
	CloseLinger time.Duration
}

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
	// Analyzer holds the L4 analysis; use Health for its summary.
	Analyzer Analyzer
	// Handler receives the connection's bytes (nil: none).
	Handler Handler
	// Resumed is set on a connection whose 4-tuple had been retired (see
	// Options.Retire) when a packet without SYN came on it: its analysis
	// starts at that packet, under the old stream number.
	Resumed bool

	key   flowKey
	flow4 *flow            // the 4-tuple's entry in the Tracker's table
	flow  [2]gopacket.Flow // gopacket's flow per direction (streamFlow)
	// stream is gopacket's Stream of the connection, cut loose when the
	// connection retires: gopacket keeps its connections until they idle
	// out, and must not keep the Conn (and its handler) that long.
	stream *stream
	holes  holes
	pmtu   [2]pmtuWatch
	tail   [2]streamTail
	ended  bool
	// finSeen records a FIN per direction; closed is the capture time at
	// which the connection closed (FIN both ways or a RST), zero while open.
	finSeen [2]bool
	closed  time.Time
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

// unixToInternal is the number of seconds from year 1, from which package
// time counts, to 1970.
const unixToInternal = 62135596800

// unixNano returns t as t.UnixNano does, but saturated, outside the years
// 1678 to 2262, at math.MinInt64 or math.MaxInt64 (which no time inside
// gives): the zero Time is one of those. So a time before or equal to
// another is never greater by unixNano, and times that compare differently
// by unixNano compare the same way as Times; only two saturated values can
// hide an order, which the callers then ask of the Times.
func unixNano(t time.Time) int64 {
	// The seconds from year 1 order Times; t.Unix wraps round far from
	// 1970, and adding back the offset undoes the wrap.
	sec := t.Unix() + unixToInternal
	switch {
	case sec < math.MinInt64/1_000_000_000+unixToInternal:
		return math.MinInt64
	case sec > math.MaxInt64/1_000_000_000-1+unixToInternal:
		return math.MaxInt64
	}
	return (sec-unixToInternal)*1e9 + int64(t.Nanosecond())
}

// saturated reports whether unixNano saturated to give ns.
func saturated(ns int64) bool { return ns == math.MinInt64 || ns == math.MaxInt64 }

// Health returns the connection's L4 summary.
func (c *Conn) Health() Health { return c.Analyzer.Health() }

// Stats counts what the tracker saw.
type Stats struct {
	Frames      int // frames given to Add
	TCPFrames   int // frames that decoded to TCP over IP
	OtherFrames int // frames that are not TCP over IP (or too damaged)
	// UnsupportedLink counts frames of a link type that is not decoded.
	UnsupportedLink int
	// Expired counts connections ended by the idle timeout.
	Expired int
	// AckedHoles counts holes in a byte stream that the receiver had
	// acknowledged (capture loss), whose queued data was pushed out at once.
	AckedHoles int
	// Recovered counts library panics caught while reassembling.
	Recovered int
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

// Tracker follows every TCP connection in a capture: it numbers them,
// runs the L4 analysis per packet in file order, and feeds the payload to
// gopacket's reassembly, which hands ordered bytes to each connection's
// Handler.
type Tracker struct {
	opts  Options
	dec   *decoder
	conns []*Conn
	// dropped counts the places in conns that drop emptied (nil).
	dropped int
	// num numbers the streams and finds each 4-tuple's Conn; it
	// remembers retired 4-tuples too.
	num       numbering
	assembler *gpr.Assembler
	// current is the connection of the packet being assembled, for New.
	current *Conn
	// nextFlush is the capture time from which maybeFlush flushes again.
	nextFlush time.Time
	now       time.Time
	// nowNS and nextFlushNS are now and nextFlush by unixNano: the
	// per-packet comparisons are of these, and of the Times only where
	// unixNano saturated.
	nowNS, nextFlushNS int64
	stats              Stats
	// made counts Conns ever made (a resumed stream is a new Conn under
	// an old number), which names each Conn's flows in gopacket.
	made uint64
	// idle holds the connections not yet ended, soonest to idle out first.
	idle idleQueue
	// ctx is the context handed to gopacket with the next segment, reused
	// from segment to segment as long as gopacket keeps none of them;
	// ctxKept says gopacket may keep the current one (see stream.Accept).
	ctx     *frameContext
	ctxKept bool
	// sack holds the current segment's SACK blocks (at most 4 fit in the
	// 40 bytes of TCP options).
	sack [4][2]uint32
}

// NewTracker returns a Tracker configured by opts.
func NewTracker(opts Options) *Tracker {
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.GapWait <= 0 {
		opts.GapWait = DefaultGapWait
	}
	if opts.MaxPagesPerConnection <= 0 {
		opts.MaxPagesPerConnection = DefaultMaxPagesPerConnection
	}
	if opts.MaxPagesTotal <= 0 {
		opts.MaxPagesTotal = DefaultMaxPagesTotal
	}
	if opts.CloseLinger <= 0 {
		opts.CloseLinger = DefaultCloseLinger
	}
	t := &Tracker{opts: opts, dec: newDecoder(), num: newNumbering(),
		ctx:       new(frameContext),
		nextFlush: time.Time{}.Add(flushEvery)}
	t.nowNS, t.nextFlushNS = unixNano(t.now), unixNano(t.nextFlush)
	t.assembler = gpr.NewAssembler(gpr.NewStreamPool(&streamFactory{t}))
	t.assembler.MaxBufferedPagesPerConnection = opts.MaxPagesPerConnection
	t.assembler.MaxBufferedPagesTotal = opts.MaxPagesTotal
	return t
}

// Stats returns the tracker's counters.
func (t *Tracker) Stats() Stats { return t.stats }

// Conns returns every connection seen so far and not forgotten, in
// tcp.stream order.
func (t *Tracker) Conns() []*Conn {
	t.compact()
	return t.conns
}

// compact closes up the places dropped connections left in t.conns.
func (t *Tracker) compact() {
	if t.dropped == 0 {
		return
	}
	kept := t.conns[:0]
	for _, c := range t.conns {
		if c != nil {
			c.connIndex = len(kept)
			kept = append(kept, c)
		}
	}
	clear(t.conns[len(kept):])
	t.conns, t.dropped = kept, 0
}

// Forget drops a connection the caller has finished with (ending it first
// if it has not ended), so that a long live capture keeps memory only for
// open connections. Its 4-tuple is forgotten too: a later packet on it
// starts a new stream number, where Wireshark would continue the old one.
func (t *Tracker) Forget(c *Conn) {
	t.end(c)
	if c.flow4 != nil && c.flow4.conn == c {
		t.num.forget(c.key)
	}
	t.drop(c)
}

// Add analyses one frame. Frames that are not TCP are counted and skipped;
// the only error is for a frame whose link type is not decoded
// (ErrUnsupportedLink), which is also counted.
func (t *Tracker) Add(f *capture.Frame) error {
	t.stats.Frames++
	p, ok, err := t.dec.decode(f.LinkType, f.Data)
	if err != nil {
		t.stats.UnsupportedLink++
		return fmt.Errorf("frame %d: %w", f.Number, err)
	}
	ns := unixNano(f.Time)
	if ns > t.nowNS || ns == t.nowNS && saturated(ns) && f.Time.After(t.now) {
		t.now, t.nowNS = f.Time, ns
	}
	if !ok {
		t.stats.OtherFrames++
		t.maybeFlush()
		return nil
	}
	t.stats.TCPFrames++
	tcp := p.tcp
	k, side := keyOf(p.src, p.dst)
	fl, fresh := t.num.flow(k)
	n := t.num.number(fl, fresh, side, &p)
	c, dir := t.lookup(&p, f, k, fl, n, ns)
	c.Packets++
	// idleKey is never later than the due time (LastTime plus the
	// timeout), so it can only need moving sooner if the packet is earlier
	// than the last one or if it closes the connection (a shorter timeout).
	recheck := ns < c.lastNS || ns == c.lastNS && saturated(ns) && f.Time.Before(c.LastTime)
	c.LastFrame, c.LastTime, c.lastNS = f.Number, f.Time, ns
	if tcp.FIN {
		c.finSeen[dir] = true
	}
	if c.closed.IsZero() && (tcp.RST || c.finSeen[0] && c.finSeen[1]) {
		c.closed = f.Time
		recheck = true
	}
	if recheck && c.idleIndex >= 0 {
		if d := c.due(&t.opts); d.Before(c.idleKey) {
			c.idleKey = d
			heap.Fix(&t.idle, c.idleIndex)
		}
	}

	seg := p.segment(f.Number, f.Time, t.sack[:0])
	seg.Dir = dir
	flags := c.Analyzer.Observe(&seg)
	c.pmtu[dir].sent(&seg, flags)
	if tcp.ACK {
		c.pmtu[1-dir].acked(tcp.Ack)
	}

	if c.Handler != nil && !c.ended {
		if tcp.ACK && c.holes.ackedHole(1-dir, tcp.Ack) {
			t.flushAckedHole(f.Time)
		}
		c.holes.observe(dir, tcp.Seq, tcp.SYN, len(tcp.Payload))
		t.assemble(c, dir, tcp, f)
		c.tail[dir].segment(tcp.Seq, seg.Len, seg.CapturedLen)
		mark := Mark{Frame: f.Number, Time: f.Time}
		// The snaplen cut the end of what this side has sent so far:
		// say so now, before the other side's answer to it.
		c.tellCut(dir, mark)
		if tcp.FIN {
			c.Handler.Control(EventFIN, dir, mark)
		}
		if tcp.RST {
			c.Handler.Control(EventRST, dir, mark)
		}
	}
	t.maybeFlush()
	return nil
}

// assemble hands the segment to gopacket's reassembly under a flow made
// unique per tcp.stream, so that a new connection on a reused 4-tuple
// never meets the old one's state.
func (t *Tracker) assemble(c *Conn, dir Direction, tcp *layers.TCP, f *capture.Frame) {
	ctx := t.ctx
	ctx.ci = gopacket.CaptureInfo{
		Timestamp: f.Time, CaptureLength: len(f.Data), Length: f.Length, InterfaceIndex: f.Number,
	}
	t.current, t.ctxKept = c, false
	defer func() {
		t.current = nil
		r := recover()
		if t.ctxKept || r != nil {
			// gopacket holds on to ctx: the next segment needs its own.
			t.ctx = new(frameContext)
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

// lookup finds the packet's connection (n is its stream number),
// starting a new one for a new stream, or for packets on a 4-tuple whose
// connection was retired (Resumed).
func (t *Tracker) lookup(p *packet, f *capture.Frame, k flowKey, fl *flow, n streamNumber, ns int64) (*Conn, Direction) {
	c := fl.conn
	if c != nil && !n.New {
		dir := ClientToServer
		if p.src != c.Client {
			dir = ServerToClient
		}
		return c, dir
	}
	if c != nil {
		// A new connection on the same 4-tuple (port reuse).
		t.end(c)
		fl.conn = nil
		if t.opts.Retire != nil {
			t.retire(c)
		}
	}
	c = &Conn{Stream: n.Stream, Resumed: !n.New, key: k, FirstFrame: f.Number, FirstTime: f.Time, LastTime: f.Time, lastNS: ns}
	c.idleKey = c.due(&t.opts)
	c.flow = [2]gopacket.Flow{streamFlow(t.made, ClientToServer), streamFlow(t.made, ServerToClient)}
	t.made++
	heap.Push(&t.idle, c)
	c.Client, c.Server = t.orient(p)
	dir := ClientToServer
	if p.src != c.Client {
		dir = ServerToClient
	}
	fl.conn = c
	c.flow4 = fl
	c.connIndex = len(t.conns)
	t.conns = append(t.conns, c)
	if !c.Resumed && t.opts.NewStream != nil {
		t.opts.NewStream(c)
	}
	if t.opts.NewHandler != nil {
		c.Handler = t.opts.NewHandler(c)
	}
	return c, dir
}

// orient decides which end of a new connection is the client.
func (t *Tracker) orient(p *packet) (client, server netip.AddrPort) {
	switch {
	case p.tcp.SYN && !p.tcp.ACK:
		return p.src, p.dst
	case p.tcp.SYN && p.tcp.ACK:
		return p.dst, p.src
	}
	for _, port := range t.opts.ServerPorts {
		if p.dst.Port() == port {
			return p.src, p.dst
		}
		if p.src.Port() == port {
			return p.dst, p.src
		}
	}
	if p.src.Port() < p.dst.Port() {
		return p.dst, p.src
	}
	return p.src, p.dst
}

// Tick tells the tracker that capture time has reached now even though no
// packet arrived (live capture on a quiet link): buffered data that waited
// too long is pushed out and idle connections end. Capture time is wall
// clock time: a monotonic clock reading in now is not used.
func (t *Tracker) Tick(now time.Time) {
	now = now.Round(0)
	if now.After(t.now) {
		t.now, t.nowNS = now, unixNano(now)
	}
	t.maybeFlush()
}

// maybeFlush pushes out data that waited too long for a missing segment
// and ends idle connections, both by capture time.
func (t *Tracker) maybeFlush() {
	if t.nowNS < t.nextFlushNS || t.nowNS == t.nextFlushNS && saturated(t.nowNS) && t.now.Before(t.nextFlush) {
		return
	}
	t.nextFlush = t.now.Add(flushEvery)
	t.nextFlushNS = unixNano(t.nextFlush)
	t.flush(t.now.Add(-t.opts.GapWait), t.now.Add(-t.opts.IdleTimeout))
	// An idle connection's handler is ended (and frees its buffers), but
	// the 4-tuple keeps its stream number: Wireshark never expires a
	// tcp.stream, and later packets still count in its L4 analysis. Only
	// the connections whose key is before the cut are looked at: those
	// whose last packet is later are queued again under its time.
	for len(t.idle) > 0 && t.idle[0].idleKey.Before(t.now) {
		c := t.idle[0]
		switch due := c.due(&t.opts); {
		case c.ended: // cut short by a reassembly fault
			heap.Pop(&t.idle)
			if t.opts.Retire != nil {
				t.retire(c)
			}
		case due.Before(t.now):
			if c.closed.IsZero() {
				t.stats.Expired++
			}
			t.end(c)
			if t.opts.Retire != nil {
				t.retire(c)
			}
		default:
			c.idleKey = due
			heap.Fix(&t.idle, 0)
		}
	}
}

// retire hands an ended connection to Options.Retire and forgets it,
// keeping its 4-tuple's stream number.
func (t *Tracker) retire(c *Conn) {
	if c.flow4 != nil && c.flow4.conn == c {
		c.flow4.conn = nil
	}
	t.drop(c)
	t.opts.Retire(c)
}

// drop removes c from the list Conns returns and from gopacket's reach.
func (t *Tracker) drop(c *Conn) {
	if c.stream != nil {
		c.stream.conn, c.stream = nil, nil
	}
	if i := c.connIndex; i < len(t.conns) && t.conns[i] == c {
		t.conns[i] = nil
		t.dropped++
		if t.dropped > len(t.conns)/2 {
			t.compact()
		}
	}
}

func (t *Tracker) flush(older, closeOlder time.Time) {
	defer func() {
		if r := recover(); r != nil {
			t.stats.Recovered++
		}
	}()
	t.assembler.FlushWithOptions(gpr.FlushOptions{T: older, TC: closeOlder})
}

// end finishes a connection: its handler gets End once.
func (t *Tracker) end(c *Conn) {
	if c.ended {
		return
	}
	c.ended = true
	if c.idleIndex >= 0 {
		heap.Remove(&t.idle, c.idleIndex)
	}
	if c.Handler != nil {
		mark := Mark{Frame: c.LastFrame, Time: c.LastTime}
		for dir := range c.tail {
			c.tellCut(Direction(dir), mark)
		}
		c.Handler.End(mark)
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

// streamTail follows the end of one direction's byte stream: how many
// bytes of its furthest segment the snaplen cut, and how many cut bytes
// were told ahead of gopacket.
type streamTail struct {
	end   uint32 // sequence number after the furthest segment
	known bool
	cut   int
	told  int
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

// Close flushes all buffered data and ends every connection, and with
// Options.Retire retires them all in stream order. Call it once after the
// last frame.
func (t *Tracker) Close() {
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.stats.Recovered++
			}
		}()
		t.assembler.FlushAll()
	}()
	t.compact()
	open := slices.Clone(t.conns)
	sort.SliceStable(open, func(i, j int) bool { return open[i].Stream < open[j].Stream })
	for _, c := range open {
		t.end(c)
		if c.flow4 != nil && c.flow4.conn == c {
			c.flow4.conn = nil
		}
	}
	if t.opts.Retire != nil {
		t.conns = nil
		for _, c := range open {
			t.opts.Retire(c)
		}
	}
}

// idleQueue is a min-heap of connections on their idleKey, for
// container/heap: finding the idle connections costs their number, not
// that of every connection.
type idleQueue []*Conn

func (q idleQueue) Len() int           { return len(q) }
func (q idleQueue) Less(i, j int) bool { return q[i].idleKey.Before(q[j].idleKey) }
func (q idleQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].idleIndex, q[j].idleIndex = i, j
}

func (q *idleQueue) Push(x any) {
	c := x.(*Conn)
	c.idleIndex = len(*q)
	*q = append(*q, c)
}

func (q *idleQueue) Pop() any {
	old := *q
	c := old[len(old)-1]
	old[len(old)-1] = nil
	c.idleIndex = -1
	*q = old[:len(old)-1]
	return c
}

// readOptions copies the TCP options the analyser uses into seg.
func readOptions(tcp *layers.TCP, seg *Segment) {
	for i := range tcp.Options {
		o := &tcp.Options[i]
		switch o.OptionType {
		case layers.TCPOptionKindMSS:
			if len(o.OptionData) == 2 {
				seg.MSS = int(binary.BigEndian.Uint16(o.OptionData))
			}
		case layers.TCPOptionKindWindowScale:
			if len(o.OptionData) == 1 {
				seg.WindowScale = int(o.OptionData[0])
			}
		case layers.TCPOptionKindSACKPermitted:
			seg.SACKPermitted = true
		case layers.TCPOptionKindSACK:
			seg.SACK = true
			for b := o.OptionData; len(b) >= 8; b = b[8:] {
				seg.SACKBlocks = append(seg.SACKBlocks, [2]uint32{
					binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])})
			}
		}
	}
}

// frameContext carries a frame's capture info, with the frame number in
// InterfaceIndex, through gopacket's reassembly: gopacket keeps the
// context of buffered out-of-order data, so every byte it delivers can
// still name its frame. A segment delivered at once leaves no reference
// behind (gopacket's own copy of the current segment is overwritten by the
// next one), so the Tracker reuses one context until a segment is buffered.
type frameContext struct{ ci gopacket.CaptureInfo }

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
	if s.conn == nil || s.conn.ended {
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
	// re-create it (gopacket #427); the idle flush removes it.
	return false
}

// sgMarker gives each delivered byte the frame and time it came in.
type sgMarker struct {
	sg gpr.ScatterGather
	n  int
}

func (m sgMarker) Mark(off int) Mark {
	if off >= m.n {
		off = m.n - 1
	}
	if off < 0 {
		off = 0
	}
	ci := m.sg.CaptureInfo(off)
	return Mark{Frame: ci.InterfaceIndex, Time: ci.Timestamp}
}
