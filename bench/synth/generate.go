package synth

import (
	"bytes"
	"container/heap"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
)

// PacketWriter is where frames go: pcapgo.Writer and pcapgo.NgWriter
// both are.
type PacketWriter interface {
	WritePacket(ci gopacket.CaptureInfo, data []byte) error
}

// arenaSize is the payload room of one session step: a full flight and
// the commands around it.
const arenaSize = maxFlight*mss + 16<<10

// Generator plays the sessions and writes their frames in capture-time order.
type Generator struct {
	opts    Options
	plan    *rand.Rand
	clients []host
	servers []host
	lines   *lineSet
	// certs holds each server's certificate chain and noise the bytes
	// protected records are made of, when Options.TLS is set.
	certs [][][]byte
	noise []byte

	active   sessionHeap
	launched int
	estimate int64
	// nextStream numbers connections by their first frame, as tcp.stream.
	nextStream int
	// pending holds finished sessions' encoded expectations until every
	// lower stream is written, so the expect file is in stream order. It
	// is bounded by the sessions that start while the longest one lasts
	// (an unanswered end-of-data waits up to two minutes), not by Size.
	pending    map[int][]byte
	line       bytes.Buffer
	nextExpect int
	arenas     [][]byte

	frameBuf []byte
	pw       PacketWriter
	ew       io.Writer
	enc      *json.Encoder
	stats    Stats
	faults   map[Fault]int
	last     time.Duration
}

// New returns a Generator for opts.
func New(opts Options) *Generator {
	opts = opts.withDefaults()
	g := &Generator{opts: opts, plan: rand.New(rand.NewPCG(opts.Seed, 0x91a7)),
		clients: newClients(opts.Clients, opts.Seed), servers: newServers(opts.Servers),
		lines:   newLineSet(rand.New(rand.NewPCG(opts.Seed, 0x11e5))),
		pending: make(map[int][]byte), faults: make(map[Fault]int),
		frameBuf: make([]byte, headerRoom+mss)}
	return g
}

// Run writes the capture's frames to pw and one Expectation per session,
// as a JSON line, to ew (nil: none). It returns what it wrote.
func (g *Generator) Run(pw PacketWriter, ew io.Writer) (Stats, error) {
	g.pw, g.ew = pw, ew
	if g.opts.TLS > 0 && g.certs == nil {
		certs, err := certificates(g.opts.Seed, g.servers)
		if err != nil {
			return g.stats, err
		}
		g.certs, g.noise = certs, newNoise(rand.New(rand.NewPCG(g.opts.Seed, 0x7150)))
	}
	if ew != nil {
		// Message-IDs keep their angle brackets unescaped.
		g.enc = json.NewEncoder(&g.line)
		g.enc.SetEscapeHTML(false)
	}
	// Open the first sessions over the first second, then keep
	// Concurrency of them open: each one that ends makes room for the next.
	for i := 0; i < g.opts.Concurrency && g.more(); i++ {
		start := time.Duration(i) * time.Second / time.Duration(g.opts.Concurrency)
		g.launch(start + time.Duration(g.plan.IntN(int(time.Second)/g.opts.Concurrency)))
	}
	for len(g.active) > 0 {
		s := g.active[0]
		f := &s.frames[s.head]
		s.head++
		if err := g.write(s, f); err != nil {
			return g.stats, err
		}
		if s.head < len(s.frames) {
			heap.Fix(&g.active, 0)
			continue
		}
		if s.advance() {
			heap.Fix(&g.active, 0)
			continue
		}
		heap.Pop(&g.active)
		if err := g.finish(s); err != nil {
			return g.stats, err
		}
		if g.more() {
			g.launch(g.last + time.Duration(g.plan.ExpFloat64()*float64(5*time.Millisecond)))
		}
	}
	if len(g.pending) > 0 {
		return g.stats, fmt.Errorf("synth: %d expectations never written", len(g.pending))
	}
	g.stats.Duration = g.last
	for _, f := range faultWeights {
		g.stats.Faults = append(g.stats.Faults, FaultCount{Fault: f.fault, Sessions: g.faults[f.fault]})
	}
	return g.stats, nil
}

// more tells whether another session is to be launched.
func (g *Generator) more() bool {
	if g.opts.Sessions > 0 {
		return g.launched < g.opts.Sessions
	}
	return g.estimate < g.opts.Size
}

func (g *Generator) launch(start time.Duration) {
	id := g.launched
	g.launched++
	p := g.planSession(g.plan, id, start)
	g.estimate += p.estimate
	c := &g.clients[p.client]
	port := c.nextPort
	c.nextPort += uint16(1 + g.plan.IntN(4))
	if c.nextPort > ephemeralHigh || c.nextPort < ephemeralLow {
		c.nextPort = ephemeralLow + c.nextPort%16
	}
	var arena []byte
	if n := len(g.arenas); n > 0 {
		arena, g.arenas = g.arenas[n-1], g.arenas[:n-1]
	} else {
		arena = make([]byte, 0, arenaSize)
	}
	s := newSession(id, p, c, &g.servers[p.server], port, g.opts.Seed, g.lines, arena)
	if g.certs != nil {
		s.certs, s.noise = g.certs[p.server], g.noise
	}
	s.chunking = g.opts.BDAT > 0
	s.exp.Client = netip.AddrPortFrom(c.addr, port).String()
	if g.opts.Duplicate {
		s.exp.Copies = 2
	}
	s.exp.SACK = p.sack
	s.exp.Server = netip.AddrPortFrom(g.servers[p.server].addr, smtpPort).String()
	s.advance()
	heap.Push(&g.active, s)
}

// write assembles and writes one frame.
func (g *Generator) write(s *session, f *frame) error {
	if s.stream < 0 {
		s.stream = g.nextStream
		g.nextStream++
		s.exp.Stream = s.stream
	}
	seg := segment{seq: f.seq, ack: f.ack, flags: f.flags, window: f.window, mss: mss,
		sackPerm: s.plan.sack, sack: f.sack, nsack: int(f.nsack)}
	srcPort, dstPort := s.cport, uint16(smtpPort)
	if f.fromClient {
		seg.srcMAC, seg.dstMAC = routerMAC, s.server.mac
		seg.src = netip.AddrPortFrom(s.client.addr, srcPort)
		seg.dst = netip.AddrPortFrom(s.server.addr, dstPort)
		seg.ttl, seg.ipID, seg.wscale = s.client.ttl, s.c.ipID, s.client.wscale
		seg.padded = true // received at the hub: padded by the client's side
		s.c.ipID++
		if f.copy {
			seg.ipID = s.c.ipID - 2
			s.c.ipID--
		}
	} else {
		seg.srcMAC, seg.dstMAC = s.server.mac, routerMAC
		seg.src = netip.AddrPortFrom(s.server.addr, dstPort)
		seg.dst = netip.AddrPortFrom(s.client.addr, srcPort)
		seg.ttl, seg.ipID, seg.wscale = s.server.ttl, s.s.ipID, s.serverScale()
		s.s.ipID++
		if f.copy {
			seg.ipID = s.s.ipID - 2
			s.s.ipID--
		}
	}
	if f.lost {
		return nil // on the wire, not in the capture
	}
	data := assemble(g.frameBuf, &seg, s.arena[f.off:f.off+f.n])
	ci := gopacket.CaptureInfo{Timestamp: g.opts.Start.Add(f.t), CaptureLength: len(data), Length: len(data)}
	if f.t < g.last {
		return fmt.Errorf("synth: session %d: frame at %v before %v", s.id, f.t, g.last)
	}
	g.last = f.t
	g.stats.Frames++
	g.stats.Bytes += int64(len(data))
	if g.opts.Duplicate {
		if err := g.pw.WritePacket(ci, data); err != nil {
			return err
		}
		g.stats.Frames++
		g.stats.Bytes += int64(len(data))
	}
	return g.pw.WritePacket(ci, data)
}

// finish files a session's expectation and writes those now in order.
func (g *Generator) finish(s *session) error {
	g.stats.Sessions++
	g.stats.Messages += len(s.exp.Messages)
	g.faults[s.exp.Fault]++
	if s.exp.BDAT {
		g.stats.BDAT++
	}
	if s.exp.CaptureLoss != LossNone {
		g.stats.CaptureLoss++
	}
	switch {
	case s.exp.Fault.tcpHealthy():
		s.exp.L4Verdict = "healthy"
	case s.exp.Fault == FaultLossFast || s.exp.Fault == FaultLossRTO:
		s.exp.L4Verdict = "degraded"
	}
	g.arenas = append(g.arenas, s.arena[:0])
	s.arena = nil
	var line []byte
	if g.ew != nil {
		g.line.Reset()
		if err := g.enc.Encode(&s.exp); err != nil {
			return err
		}
		line = bytes.Clone(g.line.Bytes())
	}
	g.pending[s.stream] = line
	for {
		line, ok := g.pending[g.nextExpect]
		if !ok {
			return nil
		}
		delete(g.pending, g.nextExpect)
		g.nextExpect++
		if g.ew == nil {
			continue
		}
		if _, err := g.ew.Write(line); err != nil {
			return err
		}
	}
}

// sessionHeap orders active sessions by their next frame's time, then by
// launch order, so that ties never depend on anything but the seed.
type sessionHeap []*session

func (h sessionHeap) Len() int { return len(h) }
func (h sessionHeap) Less(i, j int) bool {
	a, b := &h[i].frames[h[i].head], &h[j].frames[h[j].head]
	if a.t != b.t {
		return a.t < b.t
	}
	return h[i].id < h[j].id
}
func (h sessionHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *sessionHeap) Push(x any)   { *h = append(*h, x.(*session)) }
func (h *sessionHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	*h = old[:len(old)-1]
	return s
}
