package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"time"
)

// host is one machine: a client MTA or a mail server.
type host struct {
	addr netip.Addr
	mac  [6]byte
	name string
	// ttl is the IP TTL its packets have at the capture point.
	ttl uint8
	// rtt is the round-trip time between the host and the hub, and
	// serialize the time a full-size frame takes on its bottleneck link
	// (clients only).
	rtt, serialize time.Duration
	// synWindow, window and wscale are the receive window it advertises
	// in its SYN, after the handshake (scaled), and its window scale.
	synWindow, window uint16
	wscale            uint8
	// nextPort is the ephemeral port of the client's next connection.
	nextPort uint16
}

// routerMAC is the hub's gateway: every client frame comes through it.
var routerMAC = [6]byte{0x02, 0x00, 0x5e, 0x00, 0x00, 0x01}

// Port ranges and addressing. Hosts are numbered in the RFC 2544
// benchmarking range 198.18.0.0/15: clients in 198.18/16, servers in 198.19.0/24.
const (
	smtpPort      = 25
	ephemeralLow  = 32768
	ephemeralHigh = 60999
	mss           = 1460
)

func newClients(n int, seed uint64) []host {
	r := rand.New(rand.NewPCG(seed, 0xc11e))
	hs := make([]host, n)
	bandwidths := []float64{20e6, 50e6, 100e6, 200e6, 1e9} // bit/s
	for i := range hs {
		h := &hs[i]
		h.addr = netip.AddrFrom4([4]byte{198, 18, byte(i / 250), byte(i%250 + 1)})
		h.mac = routerMAC
		h.name = fmt.Sprintf("c%d.example.org", i)
		// A lognormal round-trip time around 25 ms, between 2 and 300 ms.
		rtt := math.Exp(math.Log(25e6) + 0.9*r.NormFloat64())
		h.rtt = time.Duration(min(max(rtt, 2e6), 300e6))
		bw := bandwidths[r.IntN(len(bandwidths))]
		h.serialize = time.Duration(float64((ethLen+ipv4Len+tcpLen+mss)*8) / bw * 1e9)
		if r.IntN(4) == 0 { // a Windows sender
			h.ttl = uint8(128 - 6 - r.IntN(14))
			h.synWindow, h.window, h.wscale = 64240, 1026, 8
		} else {
			h.ttl = uint8(64 - 6 - r.IntN(14))
			h.synWindow, h.window, h.wscale = 64240, 502, 7
		}
		h.nextPort = uint16(ephemeralLow + r.IntN(ephemeralHigh-ephemeralLow))
	}
	return hs
}

func newServers(n int) []host {
	hs := make([]host, n)
	for i := range hs {
		h := &hs[i]
		h.addr = netip.AddrFrom4([4]byte{198, 19, 0, byte(10 + i%240)})
		h.mac = [6]byte{0x02, 0x00, 0x5e, 0x00, 0x01, byte(i)}
		h.name = fmt.Sprintf("mx%d.example.net", i+1)
		h.ttl = 64
		// A large, constant receive window (3000 << 7 = 384000 bytes):
		// no flight of the generator ever fills it.
		h.synWindow, h.window, h.wscale = 65160, 3000, 7
	}
	return hs
}

// Server receive window of a session with a zero-window fault: exactly
// zeroWindowSegments full segments, with a window scale that makes every
// step of it exact, so the window reaches 0 and the right edge never moves.
const (
	zeroWindowSegments = 44
	zeroWindowScale    = 2
	zeroWindowValue    = zeroWindowSegments * mss >> zeroWindowScale
	// zeroWindowFlight caps the other flights of such a session below the
	// window, so that only the stall fills it.
	zeroWindowFlight = 40
)

// pathMTUs are the MTUs of the black-hole paths: IPv6 minimum, tunnels
// (GRE, IPsec, WireGuard, VXLAN) and PPPoE.
var pathMTUs = []int{1280, 1400, 1420, 1450, 1476, 1492}

// refusalPlace is where a message is refused, if it is.
type refusalPlace int

const (
	refuseNone  refusalPlace = iota // accepted after end-of-data
	refuseRcpt                      // every RCPT TO is refused
	refuseEOD                       // refused after end-of-data (or BDAT LAST)
	refuseChunk                     // refused after a BDAT chunk before the LAST one
)

// sessionPlan is everything decided about a session when it is launched.
type sessionPlan struct {
	client, server int
	start          time.Duration
	pipelining     bool
	fault          Fault
	faultMessage   int
	// faultFlight is the first body flight of the fault message the fault
	// may hit.
	faultFlight int
	// shape is how the client's stack retransmits (Fault.shaped faults).
	shape Shape
	// pathPayload is the largest TCP payload the path carries
	// (FaultPMTUBlackhole: its MTU less 40 bytes of headers).
	pathPayload int
	// tls is set for a session that upgrades with STARTTLS.
	tls *tlsPlan
	// bdat is set for a session that sends its messages with BDAT
	// (Options.BDAT).
	bdat bool
	// loss is the frame the capture lacks (Options.CaptureLoss).
	loss lossPlan
	// sack is set when both SYNs offer SACK (Options.SACK).
	sack     bool
	messages []messagePlan
	// estimate is the expected size of the session's frames in the file.
	estimate int64
}

// messagePlan is one mail transaction of a session.
type messagePlan struct {
	size      int
	from      string
	rcpts     []string
	messageID string
	subject   string
	// partial: the first of several recipients is refused, the others
	// accepted; the message is delivered.
	partial bool
	refuse  refusalPlace
	// reply is the line that decides the message: the end-of-data reply,
	// or the refusal of each recipient.
	reply string
	code  int
	// chunks are the BDAT chunk sizes (BDAT sessions), summing to size;
	// the last one is sent as "BDAT n LAST". refuseChunk is the chunk a
	// refuseChunk refusal answers.
	chunks      []int
	refuseChunk int
	// pipelinedRefusal: the refused chunk's later ones, BDAT LAST
	// included, were pipelined behind it (Options.PipelinedChunkRefusal).
	pipelinedRefusal bool
}

// planSession draws a session's plan from r, the generator's plan source.
func (g *Generator) planSession(r *rand.Rand, id int, start time.Duration) sessionPlan {
	p := sessionPlan{client: r.IntN(len(g.clients)), server: r.IntN(len(g.servers)), start: start,
		pipelining: r.IntN(2) == 0, fault: FaultNone}
	if r.Float64() < g.opts.Problems {
		p.fault = drawFault(r)
	}
	n := 1
	switch x := r.IntN(100); {
	case x < 2:
		n = 4 + r.IntN(2)
	case x < 8:
		n = 3
	case x < 25:
		n = 2
	}
	g.planFault(r, &p, n)
	if g.opts.BDAT > 0 && p.tls == nil && r.Float64() < g.opts.BDAT {
		p.bdat = true
	}
	c := &g.clients[p.client]
	for i := range n {
		m := messagePlan{size: drawSize(r)}
		if g.opts.MaxMessageSize > 0 {
			m.size = min(m.size, max(g.opts.MaxMessageSize, minMessageSize))
		}
		if i < p.faultMessage && p.pathPayload > 0 {
			fit := p.pathPayload - len(endOfData)
			if p.bdat {
				fit = p.pathPayload - len("BDAT 99999 LAST\r\n") // the whole message in one chunk
			}
			if p.tls != nil {
				fit -= 5 + p.tls.suite.overhead // one record: its header and protection
			}
			m.size = min(m.size, fit)
		}
		if i == p.faultMessage && p.fault.bodyFault() {
			least := 96 << 10
			if p.fault == FaultZeroWindow || p.fault == FaultZeroWindowStall {
				least = 400 << 10
			}
			m.size = max(m.size, least+r.IntN(least))
		}
		m.from = fmt.Sprintf("user%d@%s", r.IntN(500), c.name)
		rc := 1
		switch x := r.IntN(100); {
		case x < 8:
			rc = 3 + r.IntN(3)
		case x < 20:
			rc = 2
		}
		for range rc {
			m.rcpts = append(m.rcpts, fmt.Sprintf("user%d@%s", r.IntN(20000), []string{"example.net", "example.com"}[r.IntN(2)]))
		}
		m.messageID = fmt.Sprintf("<%d.%d.%d@%s>", g.opts.Seed, id, i, c.name)
		m.subject = fmt.Sprintf("%s %s %d", words[r.IntN(len(words))], words[r.IntN(len(words))], r.IntN(10000))
		m.partial = rc > 1 && r.IntN(10) == 0
		m.reply, m.code = fmt.Sprintf("250 2.0.0 Ok: queued as %s\r\n", queueID(r)), 250
		switch {
		case p.bdat && i == p.faultMessage && p.fault == FaultPMTUBlackhole:
			// One chunk: an earlier one would carry a full-size segment
			// through the black hole.
			m.chunks = []int{m.size}
		case p.bdat:
			m.chunks = drawChunks(r, m.size, i == p.faultMessage && p.fault.bodyFault())
		}
		if i == p.faultMessage {
			g.planRefusal(r, &p, &m)
		}
		p.messages = append(p.messages, m)
		p.estimate += estimateMessage(m.size)
	}
	if g.opts.CaptureLoss > 0 && p.tls == nil && lossSession(p.fault) && r.Float64() < g.opts.CaptureLoss {
		planLoss(r, &p)
	}
	if g.opts.CommandLoss > 0 && p.tls == nil && p.loss.kind == LossNone && lossSession(p.fault) && r.Float64() < g.opts.CommandLoss {
		planCommandLoss(r, &p)
	}
	if g.opts.FaultCaptureLoss > 0 && p.tls == nil && !lossSession(p.fault) && r.Float64() < g.opts.FaultCaptureLoss {
		planFaultLoss(r, &p)
	}
	if g.opts.SACK > 0 && r.Float64() < g.opts.SACK {
		p.sack = true
	}
	p.estimate += 26 * 100 // handshake, dialogue and close
	return p
}

// planFault draws which of a session's n messages its fault hits and
// how, its TLS and, for a black hole, the path's MTU.
func (g *Generator) planFault(r *rand.Rand, p *sessionPlan, n int) {
	switch p.fault {
	case FaultNone:
	case FaultLossAbort, FaultZeroWindowStall, FaultResetByServer, FaultEODNoReply, FaultPMTUBlackhole:
		p.faultMessage = n - 1 // nothing follows a broken connection
	default:
		p.faultMessage = r.IntN(n)
	}
	p.faultFlight = r.IntN(2)
	if g.opts.TLS > 0 && r.Float64() < g.opts.TLS {
		p.tls = &tlsPlan{suite: suites[r.IntN(len(suites))], recordSize: recordSizes[r.IntN(len(recordSizes))]}
		if !p.fault.tlsKeeps() {
			// What TLS lets an analyser tell: the relay's silence.
			p.fault, p.faultMessage = FaultEODNoReply, n-1
		}
	}
	if p.fault.shaped() {
		p.shape = shapes[r.IntN(len(shapes))]
	}
	if p.fault == FaultPMTUBlackhole {
		// The first full-size segment meets the black hole; earlier
		// messages fit in one segment below the path's MTU.
		p.faultFlight = 0
		p.pathPayload = pathMTUs[r.IntN(len(pathMTUs))] - ipv4Len - tcpLen
	}
}

// planRefusal makes m refused as a deferred or rejected fault says.
func (g *Generator) planRefusal(r *rand.Rand, p *sessionPlan, m *messagePlan) {
	var choices []struct {
		place refusalPlace
		code  int
		text  string
	}
	switch p.fault {
	case FaultDeferred:
		choices = []struct {
			place refusalPlace
			code  int
			text  string
		}{
			{refuseRcpt, 450, "4.2.0 <%s>: Recipient address rejected: Greylisted, try again later"},
			{refuseRcpt, 451, "4.3.0 <%s>: Temporary lookup failure"},
			{refuseEOD, 451, "4.3.0 Error: queue file write error"},
			{refuseEOD, 452, "4.3.1 Insufficient system storage"},
		}
	case FaultRejected:
		choices = []struct {
			place refusalPlace
			code  int
			text  string
		}{
			{refuseRcpt, 550, "5.1.1 <%s>: Recipient address rejected: User unknown in virtual mailbox table"},
			{refuseRcpt, 554, "5.7.1 <%s>: Relay access denied"},
			{refuseEOD, 552, "5.3.4 Message size exceeds fixed limit"},
			{refuseEOD, 554, "5.7.1 Message rejected as spam"},
		}
	default:
		return
	}
	c := choices[r.IntN(len(choices))]
	if c.place == refuseRcpt && p.pipelining && c.code < 500 {
		// A pipelined DATA after transient refusals is answered 554 "no
		// valid recipients"; keep the outcome beyond dispute by refusing
		// such messages after end-of-data instead.
		c = choices[2+r.IntN(2)]
	}
	if p.bdat && c.place == refuseEOD && len(m.chunks) > 1 && r.IntN(2) == 0 {
		// The server refuses a chunk before the LAST one (RFC 3030 §2:
		// the client then sends no more chunks).
		c.place, m.refuseChunk = refuseChunk, r.IntN(len(m.chunks)-1)
		if g.opts.PipelinedChunkRefusal > 0 && p.pipelining && r.Float64() < g.opts.PipelinedChunkRefusal {
			m.pipelinedRefusal = true
		}
	}
	m.refuse, m.code, m.partial = c.place, c.code, false
	if c.place == refuseRcpt {
		m.reply = fmt.Sprintf("%d %s\r\n", c.code, c.text) // %s: the recipient, filled per RCPT
		m.size = 0
	} else {
		m.reply = fmt.Sprintf("%d %s\r\n", c.code, c.text)
	}
}

// minChunk is the smallest BDAT chunk the generator splits a message
// into (but for an empty LAST one): the first always holds the headers,
// Message-ID included.
const minChunk = 1024

// drawChunks splits a message of size bytes into one to four BDAT chunk
// sizes, and sometimes adds an empty "BDAT 0 LAST" after them, as
// clients that learn the end only after the last write send. With
// bigLast the chunks before the last are a few KiB at most, so that the
// last one has the many flights a body fault needs.
func drawChunks(r *rand.Rand, size int, bigLast bool) []int {
	n := min(1+r.IntN(4), max(size/minChunk, 1))
	chunks := make([]int, n)
	left := size
	for i := range n - 1 {
		// Leave at least minChunk for each chunk still to come.
		most := left - (n-1-i)*minChunk
		if bigLast {
			most = min(most, 5*minChunk)
		}
		chunks[i] = minChunk + r.IntN(max(most-minChunk, 0)/2+1)
		left -= chunks[i]
	}
	chunks[n-1] = left
	if r.IntN(8) == 0 {
		chunks = append(chunks, 0)
	}
	return chunks
}

func drawFault(r *rand.Rand) Fault {
	total := 0
	for _, f := range faultWeights {
		total += f.weight
	}
	x := r.IntN(total)
	for _, f := range faultWeights {
		if x < f.weight {
			return f.fault
		}
		x -= f.weight
	}
	return FaultNone
}

// drawSize draws a message size: lognormal with a median of 24 KiB, and
// 2% of messages between 1 and 8 MiB.
func drawSize(r *rand.Rand) int {
	if r.IntN(50) == 0 {
		return int(math.Exp(math.Log(1<<20) + r.Float64()*math.Log(8)))
	}
	s := math.Exp(math.Log(24<<10) + r.NormFloat64())
	return int(min(max(s, minMessageSize), 8<<20))
}

// estimateMessage is the file bytes a message of size bytes takes: full
// body frames with their record headers plus one ACK per two segments.
func estimateMessage(size int) int64 {
	segs := int64((size + len(endOfData) + mss - 1) / mss)
	return segs*(16+ethLen+ipv4Len+tcpLen+mss) + (segs+1)/2*(16+ethLen+ipv4Len+tcpLen) + 8*100
}

func queueID(r *rand.Rand) string {
	const alphabet = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz"
	b := make([]byte, 11)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}
