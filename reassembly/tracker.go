package reassembly

import (
	"container/heap"
	"fmt"
	"hash/maphash"
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
	// retiredMemory times Options.MaxConnections is how many retired
	// 4-tuples the flow table remembers for their stream numbers.
	retiredMemory = 4
	// DefaultCloseLinger is how long, in capture time, a connection that
	// closed (FIN both ways, or a RST) is kept for late packets (a
	// retransmitted FIN, the last ACK) before Options.Retire gets it: Zeek's
	// tcp_close_delay and tcp_reset_delay are also 5 s. A packet later
	// than that resumes the stream as a new Conn (see Options.Retire).
	DefaultCloseLinger = 5 * time.Second
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
	// MaxConnections caps the connections followed at once (zero:
	// DefaultMaxConnections; negative: no cap). A new connection beyond it
	// evicts another: half-open ones first, then the one due soonest to
	// idle out (see EvictionKind); Stats.Evictions counts them.
	MaxConnections int
	// MaxBufferedBytes and MaxBufferedBytesPerConnection cap the
	// out-of-order data held while it waits for a missing segment, over
	// all connections and per connection (zero: the defaults); beyond
	// them, the hole is given up as a gap (Conn.MissedBytes).
	MaxBufferedBytes, MaxBufferedBytesPerConnection int
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

// Stats counts what the tracker saw.
type Stats struct {
	Frames      int // frames given to Add
	TCPFrames   int // frames that decoded to TCP over IP
	OtherFrames int // frames that are not TCP over IP (or too damaged)
	// UnsupportedLink counts frames of a link type that is not decoded.
	UnsupportedLink int
	// Expired counts connections ended by the idle timeout.
	Expired int
	// Evicted counts connections evicted to stay within
	// Options.MaxConnections; Evictions counts them per server, most
	// first (at most 16 servers, then one entry for the others).
	Evicted   int
	Evictions []Eviction
	// AckedHoles counts ACKs that proved a hole in the other direction's
	// byte stream permanent (capture loss): the data queued behind it was
	// pushed out at once, after a gap.
	AckedHoles int
	// Recovered counts library panics caught while reassembling.
	Recovered int
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
	// halfOpenQ lists the connections that began with a SYN, oldest first
	// from halfOpenHead, of which halfOpen are still half-open (see
	// makeRoom); evicted counts the evictions.
	halfOpenQ    []*Conn
	halfOpenHead int
	halfOpen     int
	evicted      evictions
	// retired queues the retired 4-tuples the flow table remembers,
	// oldest first from retiredHead (see rememberRetired).
	retired     []flowKey
	retiredHead int
	// seed hashes segments for checkOverlap.
	seed maphash.Seed
	// bare and bareHdr hold the segments the Tracker makes up for
	// gopacket (bareSegment).
	bare    layers.TCP
	bareHdr [20]byte
}

// NewTracker returns a Tracker configured by opts.
func NewTracker(opts Options) *Tracker {
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.GapWait <= 0 {
		opts.GapWait = DefaultGapWait
	}
	switch {
	case opts.MaxConnections == 0:
		opts.MaxConnections = DefaultMaxConnections
	case opts.MaxConnections < 0:
		opts.MaxConnections = math.MaxInt
	}
	if opts.MaxBufferedBytes <= 0 {
		opts.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	if opts.MaxBufferedBytesPerConnection <= 0 {
		opts.MaxBufferedBytesPerConnection = DefaultMaxBufferedBytesPerConnection
	}
	if opts.CloseLinger <= 0 {
		opts.CloseLinger = DefaultCloseLinger
	}
	t := &Tracker{opts: opts, dec: newDecoder(), num: newNumbering(), seed: maphash.MakeSeed(),
		ctx:       newFrameContext(),
		nextFlush: time.Time{}.Add(flushEvery)}
	t.nowNS, t.nextFlushNS = unixNano(t.now), unixNano(t.nextFlush)
	t.assembler = gpr.NewAssembler(gpr.NewStreamPool(&streamFactory{t}))
	t.assembler.MaxBufferedPagesPerConnection = max(opts.MaxBufferedBytesPerConnection/bufferPageBytes, 1)
	t.assembler.MaxBufferedPagesTotal = max(opts.MaxBufferedBytes/bufferPageBytes, 1)
	return t
}

// Stats returns the tracker's counters.
func (t *Tracker) Stats() Stats {
	st := t.stats
	st.Evictions = t.evicted.list()
	return st
}

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
	var p packet
	ok, err := t.dec.decodeInto(&p, f.LinkType, f.Data)
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
	k, side := keyOf(p.src, p.dst)
	fl, fresh := t.num.flow(k)
	n := t.num.number(fl, fresh, side, &p)
	c, dir := t.lookup(&p, f, k, fl, n, ns)
	t.touch(c, dir, p.tcp, f, ns)
	var seg Segment
	p.fillSegment(&seg, f.Number, f.Time, t.sack[:0])
	seg.Dir = dir
	if c.pendingSYN(&seg) {
		seg.SACKBlocks = slices.Clone(seg.SACKBlocks)
		if c.pending == nil {
			// Room for a handshake's SYN and SYN-ACK in one allocation.
			c.pending = make([]Segment, 0, 2)
		}
		c.pending = append(c.pending, seg)
		t.maybeFlush()
		return nil
	}
	l4 := c.l4
	if l4 == nil {
		l4 = c.analysis()
	}
	l4.observe(&seg)
	if c.Handler != nil && !c.ended {
		if len(c.pending) > 0 {
			t.replaySYNs(c)
		}
		t.deliver(c, dir, p.tcp, f, &seg, ns)
	}
	if c.pending != nil {
		c.pending = nil
	}
	if t.nowNS >= t.nextFlushNS { // most frames come before the next flush
		t.maybeFlush()
	}
	return nil
}

// touch notes a packet of c in its counters, its last frame and its close
// (FIN both ways, or a RST), and moves c on the idle heap if it is due
// sooner.
func (t *Tracker) touch(c *Conn, dir Direction, tcp *layers.TCP, f *capture.Frame, ns int64) {
	c.Packets++
	if c.Process == nil && f.Process != nil {
		c.Process = f.Process
	}
	if c.halfOpen && (!tcp.SYN || len(tcp.Payload) > 0) {
		t.established(c)
	}
	// idleKey is never later than the due time (LastTime plus the
	// timeout), so it can only need moving sooner if the packet is earlier
	// than the last one or if it closes the connection (a shorter timeout).
	recheck := ns < c.lastNS || ns == c.lastNS && saturated(ns) && f.Time.Before(c.LastTime)
	c.LastFrame, c.LastTime, c.lastNS = f.Number, f.Time, ns
	if tcp.FIN {
		c.finSeen[dir] = true
	}
	if (tcp.RST || c.finSeen[0] && c.finSeen[1]) && c.closed.IsZero() {
		c.closed = f.Time
		recheck = true
	}
	if tcp.ACK {
		c.ackedBy(1-dir, tcp.Ack)
	}
	if recheck && c.idleIndex >= 0 {
		if d := c.due(&t.opts); d.Before(c.idleKey) {
			c.idleKey = d
			heap.Fix(&t.idle, c.idleIndex)
		}
	}
}

// replaySYNs hands gopacket the pending SYN and SYN-ACK segments of c
// (analysed already), so that it knows where each direction's stream
// starts before the segment that ended c's wait.
func (t *Tracker) replaySYNs(c *Conn) {
	for i := range c.pending {
		seg := &c.pending[i]
		src, dst := c.Client, c.Server
		if seg.Dir == ServerToClient {
			src, dst = dst, src
		}
		flags := byte(0x02) // SYN
		if seg.ACK {
			flags |= 0x10
		}
		tcp, ok := t.bareSegment(src.Port(), dst.Port(), flags, seg.Seq, seg.Ack)
		if !ok {
			continue
		}
		f := capture.Frame{Number: seg.Frame, Time: seg.Time}
		t.deliver(c, seg.Dir, tcp, &f, seg, unixNano(seg.Time))
	}
}

// deliver takes one segment of c to its Handler: through gopacket's
// reassembly for the bytes, then the gaps the capture shows that gopacket
// cannot see (an acknowledged hole, the snaplen's cut, bytes acknowledged
// but never captured before a close), then the FIN or RST. ns is f.Time
// by unixNano.
func (t *Tracker) deliver(c *Conn, dir Direction, tcp *layers.TCP, f *capture.Frame, seg *Segment, ns int64) {
	if tcp.ACK && c.holes.ackedHole(1-dir, tcp.Ack) {
		t.skipAckedHoles(c, 1-dir, tcp.Ack, f)
	}
	c.holes.observe(dir, tcp.Seq, tcp.SYN, len(tcp.Payload))
	if len(tcp.Payload) > 0 && len(tcp.Payload) == seg.Len {
		t.checkOverlap(c, dir, tcp.Seq, tcp.Payload, f, ns)
	}
	t.assemble(c, dir, tcp, f)
	tail := &c.tail[dir]
	tail.segment(tcp.Seq, seg.Len, seg.CapturedLen)
	if !tcp.FIN && !tcp.RST {
		if tail.cut > 0 {
			// The snaplen cut the end of what this side has sent so far:
			// say so now, before the other side's answer to it.
			c.tellCut(dir, Mark{Frame: f.Number, Time: f.Time})
		}
		return
	}
	mark := Mark{Frame: f.Number, Time: f.Time}
	c.tellCut(dir, mark)
	// Bytes acknowledged but never captured are missing before the
	// close, whichever side closes.
	c.tellUnseen(ClientToServer, mark)
	c.tellUnseen(ServerToClient, mark)
	if tcp.FIN {
		c.Handler.Control(EventFIN, dir, mark)
	}
	if tcp.RST {
		c.Handler.Control(EventRST, dir, mark)
	}
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
	t.makeRoom()
	c = &Conn{Stream: n.Stream, Resumed: !n.New, key: k, FirstFrame: f.Number, FirstTime: f.Time, LastTime: f.Time, lastNS: ns}
	c.idleKey = c.due(&t.opts)
	c.flow = [2]gopacket.Flow{streamFlow(t.made, ClientToServer), streamFlow(t.made, ServerToClient)}
	t.made++
	heap.Push(&t.idle, c)
	if p.tcp.SYN {
		t.queueHalfOpen(c)
	}
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

// retire hands an ended connection to Options.Retire and forgets it,
// keeping its 4-tuple's stream number.
func (t *Tracker) retire(c *Conn) {
	if c.flow4 != nil && c.flow4.conn == c {
		c.flow4.conn = nil
		t.rememberRetired(c.key)
	}
	t.drop(c)
	t.opts.Retire(c)
}

// rememberRetired queues a retired 4-tuple, whose entry the flow table
// keeps for its stream number, and forgets the oldest of them beyond
// retiredMemory times MaxConnections: a long live capture must not grow
// the table with every connection it ever saw. A packet on a forgotten
// 4-tuple starts a new stream number where Wireshark would continue the
// old one; only a 4-tuple that many retirements old is forgotten.
func (t *Tracker) rememberRetired(k flowKey) {
	t.retired = append(t.retired, k)
	limit := retiredMemory * min(t.opts.MaxConnections, math.MaxInt/retiredMemory)
	if len(t.retired)-t.retiredHead <= limit {
		return
	}
	old := t.retired[t.retiredHead]
	t.retiredHead++
	if f := t.num.flows[old]; f != nil && f.conn == nil {
		t.num.forget(old)
	}
	if t.retiredHead > len(t.retired)/2 {
		n := copy(t.retired, t.retired[t.retiredHead:])
		t.retired, t.retiredHead = t.retired[:n], 0
	}
}

// drop removes c from the list Conns returns and from gopacket's reach.
func (t *Tracker) drop(c *Conn) {
	t.release(c)
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

// end finishes a connection: its handler gets End once.
func (t *Tracker) end(c *Conn) {
	if c.ended {
		return
	}
	c.ended = true
	t.established(c)
	if c.idleIndex >= 0 {
		heap.Remove(&t.idle, c.idleIndex)
	}
	if c.Handler != nil {
		mark := Mark{Frame: c.LastFrame, Time: c.LastTime}
		for dir := range c.tail {
			c.tellCut(Direction(dir), mark)
			c.tellUnseen(Direction(dir), mark)
		}
		c.Handler.End(mark)
	}
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
