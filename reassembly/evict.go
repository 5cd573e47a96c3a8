package reassembly

import (
	"cmp"
	"container/heap"
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The Tracker's memory caps, as Suricata's stream.memcap and Zeek's
// connection timeouts shed load: at most Options.MaxConnections
// connections are followed at once. A new one beyond that evicts a
// half-open connection (SYN or SYN-ACK only: a SYN flood's) if there is
// one, the oldest first, or else the connection due soonest on the idle
// heap (closed and lingering, or the least recently active). Every
// eviction is counted per server in Stats.Evictions.

// Defaults for the memory caps of Options.
const (
	// DefaultMaxConnections is how many connections are followed at once.
	// An open connection costs about 5 KB here and in package smtp, so
	// the default fits, with DefaultMaxBufferedBytes, in the 48 MiB the
	// program asks the Go runtime to stay within; it is also Exchange's
	// default MaxInboundConnection of a receive connector.
	DefaultMaxConnections = 5000
	// DefaultMaxBufferedBytes caps the out-of-order data held over all
	// connections while it waits for a missing segment (Suricata's
	// stream.reassembly.memcap): beyond it, the hole is given up as a gap.
	DefaultMaxBufferedBytes = 8 << 20
	// DefaultMaxBufferedBytesPerConnection caps that data per connection.
	DefaultMaxBufferedBytesPerConnection = 2 << 20
)

// bufferPageBytes is the payload a page of gopacket's reassembly buffers
// holds, by which the byte caps are turned into page counts.
const bufferPageBytes = 1900

// maxEvictionServers bounds Stats.Evictions: a flood to many servers is
// counted under the first ones and one entry with no server for the rest.
const maxEvictionServers = 16

// EvictionKind says what kind of connection was evicted.
type EvictionKind int

const (
	// EvictedHalfOpen is a connection that had sent only SYN or SYN-ACK
	// segments: its handshake never completed (a SYN flood, or a server
	// that does not answer). It is not handed to Options.Retire: only the
	// count says it was there.
	EvictedHalfOpen EvictionKind = iota
	// EvictedIdle is an established (or closing) connection, the one due
	// soonest to idle out or be retired. It is ended and, with
	// Options.Retire, retired with Conn.Evicted set.
	EvictedIdle
)

// Eviction counts the connections to one server that the Tracker stopped
// following to stay within Options.MaxConnections.
type Eviction struct {
	// Server is the connections' server end; the zero AddrPort counts the
	// servers beyond the first maxEvictionServers.
	Server netip.AddrPort
	// HalfOpen and Idle count the evictions of each EvictionKind.
	HalfOpen, Idle int
}

// Total is the number of connections evicted.
func (e Eviction) Total() int { return e.HalfOpen + e.Idle }

// evictions counts evictions per server, for Stats.
type evictions struct {
	byServer map[netip.AddrPort]*Eviction
	other    Eviction
}

func (e *evictions) count(server netip.AddrPort, kind EvictionKind) {
	ev := e.byServer[server]
	if ev == nil {
		if len(e.byServer) >= maxEvictionServers {
			ev = &e.other
		} else {
			if e.byServer == nil {
				e.byServer = make(map[netip.AddrPort]*Eviction)
			}
			ev = &Eviction{Server: server}
			e.byServer[server] = ev
		}
	}
	if kind == EvictedHalfOpen {
		ev.HalfOpen++
	} else {
		ev.Idle++
	}
}

// list returns the counts, most evictions first (then by server), with
// the servers beyond the first last.
func (e *evictions) list() []Eviction {
	if len(e.byServer) == 0 {
		return nil
	}
	l := make([]Eviction, 0, len(e.byServer)+1)
	for _, ev := range e.byServer {
		l = append(l, *ev)
	}
	slices.SortFunc(l, func(a, b Eviction) int {
		return cmp.Or(cmp.Compare(b.Total(), a.Total()), a.Server.Compare(b.Server))
	})
	if e.other.Total() > 0 {
		l = append(l, e.other)
	}
	return l
}

// MergeEvictions adds up several Trackers' eviction counts (a Sharder's
// workers), in the order Stats.Evictions has.
func MergeEvictions(lists ...[]Eviction) []Eviction {
	var e evictions
	for _, l := range lists {
		for _, ev := range l {
			var into *Eviction
			switch {
			case !ev.Server.IsValid():
				into = &e.other
			case e.byServer[ev.Server] != nil:
				into = e.byServer[ev.Server]
			case len(e.byServer) >= maxEvictionServers:
				into = &e.other
			default:
				if e.byServer == nil {
					e.byServer = make(map[netip.AddrPort]*Eviction)
				}
				into = &Eviction{Server: ev.Server}
				e.byServer[ev.Server] = into
			}
			into.HalfOpen += ev.HalfOpen
			into.Idle += ev.Idle
		}
	}
	return e.list()
}

// makeRoom evicts one connection if MaxConnections are followed already.
func (t *Tracker) makeRoom() {
	if len(t.idle) < t.opts.MaxConnections {
		return
	}
	if c := t.oldestHalfOpen(); c != nil {
		t.evicted.count(c.Server, EvictedHalfOpen)
		t.stats.Evicted++
		c.Evicted = true
		t.end(c)
		// Nothing of it goes to the report, and its 4-tuple is forgotten:
		// a flood must not grow the flow table either.
		if c.flow4 != nil && c.flow4.conn == c {
			t.num.forget(c.key)
			c.flow4 = nil
		}
		t.drop(c)
		return
	}
	if len(t.idle) == 0 {
		return
	}
	// The heap's keys are never later than the connections' due times
	// but may be earlier: bring the first up to date until it is.
	c := t.idle[0]
	for due := c.due(&t.opts); due.After(c.idleKey); due = c.due(&t.opts) {
		c.idleKey = due
		heap.Fix(&t.idle, 0)
		c = t.idle[0]
	}
	t.evicted.count(c.Server, EvictedIdle)
	t.stats.Evicted++
	c.Evicted = true
	t.end(c)
	if t.opts.Retire != nil {
		t.retire(c)
	}
}

// oldestHalfOpen returns the half-open connection that started first, or
// nil, dropping from the queue those that are no longer half-open.
func (t *Tracker) oldestHalfOpen() *Conn {
	for t.halfOpenHead < len(t.halfOpenQ) {
		c := t.halfOpenQ[t.halfOpenHead]
		t.halfOpenQ[t.halfOpenHead] = nil
		t.halfOpenHead++
		if c.halfOpen && !c.ended {
			return c
		}
	}
	t.halfOpenQ, t.halfOpenHead = t.halfOpenQ[:0], 0
	return nil
}

// queueHalfOpen adds a connection that starts with a SYN to the queue of
// half-open ones, first closing up the queue if most of it no longer is.
func (t *Tracker) queueHalfOpen(c *Conn) {
	c.halfOpen = true
	t.halfOpen++
	if live := len(t.halfOpenQ) - t.halfOpenHead; live > 64 && live > 2*t.halfOpen {
		kept := t.halfOpenQ[:0]
		for _, q := range t.halfOpenQ[t.halfOpenHead:] {
			if q != nil && q.halfOpen && !q.ended {
				kept = append(kept, q)
			}
		}
		clear(t.halfOpenQ[len(kept):])
		t.halfOpenQ, t.halfOpenHead = kept, 0
	}
	t.halfOpenQ = append(t.halfOpenQ, c)
}

// established notes that c is no longer half-open.
func (t *Tracker) established(c *Conn) {
	if c.halfOpen {
		c.halfOpen = false
		t.halfOpen--
	}
}

// release makes gopacket drop its state of c now rather than when its
// idle flush comes to it (IdleTimeout after the connection's last packet,
// however many connections are made meanwhile; a live capture of short
// connections would hold every one ended in the last five minutes): an
// RST on each direction, at the sequence number gopacket expects
// (stream.Accept puts it there), closes both halves, and
// ReassemblyComplete then lets the pool take the connection back. A
// connection whose halves gopacket has closed already (FIN both ways) no
// longer takes an RST: a SYN removes it instead, as gopacket replaces a
// closed connection when a new one starts on its 4-tuple, and the
// streamFactory makes none in its place. Nothing reaches the Handler.
func (t *Tracker) release(c *Conn) {
	s := c.stream
	if s == nil {
		return
	}
	s.releasing = true
	ctx := &frameContext{ci: gopacket.CaptureInfo{Timestamp: t.now}}
	flags, dirs := byte(0x04), 2 // an RST each way
	if s.complete {
		flags, dirs = 0x02, 1 // one SYN
	}
	for dir := range dirs {
		src, dst := c.Client, c.Server
		if Direction(dir) == ServerToClient {
			src, dst = dst, src
		}
		tcp, ok := t.bareSegment(src.Port(), dst.Port(), flags, 0, 0)
		if !ok {
			return
		}
		func() {
			defer func() {
				if recover() != nil {
					t.stats.Recovered++
				}
			}()
			t.assembler.AssembleWithContext(c.flow[dir], tcp, ctx)
		}()
	}
}

// bareSegment returns a TCP header without options or payload, decoded
// from bytes so that its TransportFlow knows the ports. It is the
// Tracker's own, valid until the next call: gopacket keeps nothing of a
// segment without payload.
func (t *Tracker) bareSegment(src, dst uint16, flags byte, seq, ack uint32) (*layers.TCP, bool) {
	hdr := &t.bareHdr
	*hdr = [20]byte{}
	binary.BigEndian.PutUint16(hdr[0:2], src)
	binary.BigEndian.PutUint16(hdr[2:4], dst)
	binary.BigEndian.PutUint32(hdr[4:8], seq)
	binary.BigEndian.PutUint32(hdr[8:12], ack)
	hdr[12], hdr[13] = 5<<4, flags // header length 20
	err := t.bare.DecodeFromBytes(hdr[:], gopacket.NilDecodeFeedback)
	return &t.bare, err == nil
}
