package smtp

// The preamble detector: bytes a proxy puts in front of SMTP, recognised
// and set aside before content detection, so that SMTP starts at the
// server's greeting.

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strconv"

	"github.com/smtpscope/smtpscope/reassembly"
)

// Preamble kinds (Preamble.Kind).
const (
	// PreambleHTTPConnect: an HTTP CONNECT request (RFC 9110 §9.3.6) and
	// the proxy's answer, after which the tunnel carries SMTP.
	PreambleHTTPConnect = "http-connect"
	// PreambleProxyV1: a PROXY protocol version 1 header (HAProxy's
	// proxy-protocol.txt §2.1), one text line.
	PreambleProxyV1 = "proxy-v1"
	// PreambleProxyV2: a PROXY protocol version 2 header (§2.2), binary.
	PreambleProxyV2 = "proxy-v2"
)

// Preamble is what came before SMTP on a connection and was set aside.
type Preamble struct {
	// Kind is one of the Preamble* constants.
	Kind string
	// Frame is where the preamble began.
	Frame int
	// ClientBytes and ServerBytes count the bytes set aside in each
	// direction: the CONNECT request and its headers, the proxy's status
	// line and headers, or the PROXY header.
	ClientBytes, ServerBytes int
	// Target is the authority a CONNECT request names ("mx.example.com:25").
	Target string
	// Status is the code of the proxy's status line ("HTTP/1.0 200
	// Connection established"), 0 if none was seen.
	Status int
	// Source and Destination are the endpoints of the original connection
	// a PROXY header names, "" when it names none (UNKNOWN, LOCAL, or a
	// family other than TCP over IPv4 or IPv6).
	Source, Destination string
}

// Preamble limits.
const (
	// maxPreambleHead bounds the HTTP head set aside; a longer one is not
	// read as a preamble any further.
	maxPreambleHead = 16 << 10
	// maxPreambleLine bounds the first line kept of an HTTP head.
	maxPreambleLine = 512
	// proxyV2HeaderLen is the fixed part of a PROXY v2 header.
	proxyV2HeaderLen = 16
)

// proxyV2Signature opens every PROXY protocol v2 header (§2.2).
var proxyV2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

// preambleState says what a direction's next bytes are, before SMTP.
type preambleState int

const (
	// preambleFirst: the direction's first bytes are still to come.
	preambleFirst preambleState = iota
	// preambleHead: inside an HTTP head, skipped up to its empty line.
	preambleHead
	// preambleLine: inside a PROXY v1 line, skipped through its LF.
	preambleLine
	// preambleBytes: inside a PROXY v2 header, skipped by its length.
	preambleBytes
	// preambleNone: no preamble (any more); the bytes are the protocol's.
	preambleNone
)

// preambleSide is one direction's preamble reader.
type preambleSide struct {
	state preambleState
	// held and marks keep the direction's first bytes while they may
	// still begin a preamble (at most preambleProbe of them).
	held  []byte
	marks []reassembly.Mark
	// remaining is what is left of a PROXY v2 header.
	remaining int
	// lineLen is the length, without CR, of the head's current line, and
	// lines the number of its lines that ended.
	lineLen, lines int
	// first keeps the start of the head's first line (the request or
	// status line), the PROXY v1 line, or the PROXY v2 header.
	first []byte
	// seen counts the bytes set aside.
	seen int
}

// preambleProbe is how many first bytes tell a preamble: a PROXY v2
// header's signature, version, family and length.
const preambleProbe = proxyV2HeaderLen

// preambles sets aside the preamble bytes at the start of data in dir and
// returns how many of data it took; the caller decodes the rest.
func (d *Decoder) preambles(dir reassembly.Direction, data []byte, at reassembly.Marker) int {
	off := 0
	for off < len(data) {
		n := d.preamble(dir, data[off:], shiftedMarker{m: at, off: off})
		if n == 0 {
			break
		}
		off += n
	}
	return off
}

// preamble takes the next preamble bytes at the start of data; it returns
// 0 once the direction's bytes are the protocol's.
func (d *Decoder) preamble(dir reassembly.Direction, data []byte, at reassembly.Marker) int {
	p := d.preambleOf(dir)
	switch p.state {
	case preambleNone:
		return 0
	case preambleFirst:
		return d.preambleFirst(dir, p, data, at)
	}
	return d.preambleSkip(dir, p, data)
}

func (d *Decoder) preambleOf(dir reassembly.Direction) *preambleSide {
	if dir == reassembly.ServerToClient {
		return &d.serverPre
	}
	return &d.clientPre
}

// preambleFirst reads a direction's first bytes until they tell whether a
// preamble begins. Bytes held from earlier calls that turn out not to be
// one are decoded (replayed) before data.
func (d *Decoder) preambleFirst(dir reassembly.Direction, p *preambleSide, data []byte, at reassembly.Marker) int {
	n := min(len(data), preambleProbe-len(p.held))
	if len(p.held) == 0 {
		// The common case: the first bytes already say there is no
		// preamble (a banner, an EHLO). Nothing needs holding then, and
		// what the general path below does comes to the same.
		if kind, decided := d.preambleKind(dir, data[:n]); decided && kind == preambleNone {
			p.state = preambleNone
			return 0
		}
	}
	prior := len(p.held)
	p.held = append(p.held, data[:n]...)
	for i := 0; i < n; i++ {
		p.marks = append(p.marks, at.Mark(i))
	}
	kind, decided := d.preambleKind(dir, p.held)
	if !decided {
		return n
	}
	held, marks := p.held, p.marks
	p.held, p.marks = nil, nil
	k := 0
	if kind == preambleNone {
		p.state = preambleNone
	} else {
		p.state = kind
		if dir == reassembly.ClientToServer {
			d.s.Preamble = &Preamble{Kind: preambleKindName(kind), Frame: marks[0].Frame}
		}
		k = d.preambleSkip(dir, p, held)
	}
	if k < prior {
		d.read(dir, held[k:prior], heldMarker(marks[k:prior]))
	}
	return max(k-prior, 0)
}

// preambleKind tells from a direction's first bytes which preamble they
// begin (preambleNone for none), or that more bytes are needed. A client
// may open with an HTTP CONNECT request or a PROXY header; the server's
// answer is a preamble only after a CONNECT.
func (d *Decoder) preambleKind(dir reassembly.Direction, b []byte) (preambleState, bool) {
	if d.detect != detectUndecided {
		return preambleNone, true
	}
	if dir == reassembly.ServerToClient {
		if d.s.Preamble == nil || d.s.Preamble.Kind != PreambleHTTPConnect {
			return preambleNone, true
		}
		return startsWith(b, []byte("HTTP/"), preambleHead)
	}
	undecided := false
	for _, c := range []struct {
		prefix []byte
		kind   preambleState
	}{{[]byte("CONNECT "), preambleHead}, {[]byte("PROXY "), preambleLine}, {proxyV2Signature, preambleBytes}} {
		kind, decided := startsWith(b, c.prefix, c.kind)
		switch {
		case !decided:
			undecided = true
		case kind == preambleBytes:
			if len(b) < proxyV2HeaderLen {
				undecided = true
			} else if b[12]>>4 == 2 {
				return kind, true
			}
		case kind != preambleNone:
			return kind, true
		}
	}
	return preambleNone, !undecided
}

// startsWith tells whether b begins with prefix (kind), does not (none),
// or is too short to tell.
func startsWith(b, prefix []byte, kind preambleState) (preambleState, bool) {
	n := min(len(b), len(prefix))
	switch {
	case !bytes.Equal(b[:n], prefix[:n]):
		return preambleNone, true
	case n < len(prefix):
		return preambleNone, false
	}
	return kind, true
}

// preambleKindName names the preamble a state reads.
func preambleKindName(kind preambleState) string {
	switch kind {
	case preambleLine:
		return PreambleProxyV1
	case preambleBytes:
		return PreambleProxyV2
	}
	return PreambleHTTPConnect
}

// preambleSkip sets aside the preamble bytes at the start of data and
// returns how many it took.
func (d *Decoder) preambleSkip(dir reassembly.Direction, p *preambleSide, data []byte) int {
	n := 0
	switch p.state {
	case preambleHead:
		n = p.skipHead(data)
	case preambleLine:
		n = len(data)
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			n, p.state = i+1, preambleNone
		}
		p.keep(data[:n], maxPreambleLine)
		if p.seen+n > maxPreambleLine {
			p.state = preambleNone // too long for a PROXY line (§2.1: 107 bytes)
		}
	case preambleBytes:
		if p.remaining == 0 {
			p.remaining = proxyV2HeaderLen + int(binary.BigEndian.Uint16(data[14:16]))
		}
		n = min(len(data), p.remaining)
		p.keep(data[:n], proxyV2HeaderLen+36)
		if p.remaining -= n; p.remaining == 0 {
			p.state = preambleNone
		}
	}
	p.seen += n
	d.preambleFacts(dir, p)
	return n
}

// keep adds b to the first bytes kept, up to limit.
func (p *preambleSide) keep(b []byte, limit int) {
	if room := limit - len(p.first); room > 0 {
		p.first = append(p.first, b[:min(len(b), room)]...)
	}
}

// preambleFacts records what the bytes set aside so far say.
func (d *Decoder) preambleFacts(dir reassembly.Direction, p *preambleSide) {
	pre := d.s.Preamble
	if pre == nil {
		return
	}
	if dir == reassembly.ServerToClient {
		pre.ServerBytes = p.seen
		pre.Status, _ = strconv.Atoi(headWord(p.first, 1))
		return
	}
	pre.ClientBytes = p.seen
	switch pre.Kind {
	case PreambleHTTPConnect:
		pre.Target = headWord(p.first, 1)
	case PreambleProxyV1:
		pre.Source, pre.Destination = proxyV1Endpoints(p.first)
	case PreambleProxyV2:
		pre.Source, pre.Destination = "", ""
		if h := p.first; len(h) >= proxyV2HeaderLen && h[12]&0x0f == 1 { // PROXY, not LOCAL
			pre.Source, pre.Destination = proxyV2Endpoints(h[13], h[proxyV2HeaderLen:])
		}
	}
}

// preambleFlush decodes the first bytes a direction held while they might
// have begun a preamble, when a gap or the end says no more will come.
func (d *Decoder) preambleFlush(dir reassembly.Direction) {
	p := d.preambleOf(dir)
	if p.state != preambleFirst {
		p.state = preambleNone
		return
	}
	held, marks := p.held, p.marks
	p.state, p.held, p.marks = preambleNone, nil, nil
	if len(held) > 0 {
		d.read(dir, held, heldMarker(marks))
	}
}

// heldMarker marks held bytes, one Mark each.
type heldMarker []reassembly.Mark

// Mark implements reassembly.Marker.
func (h heldMarker) Mark(i int) reassembly.Mark { return h[min(max(i, 0), len(h)-1)] }

// skipHead skips the lines of an HTTP head (RFC 9112 §2) up to and
// including the empty line that ends it, keeping the start of the first
// line; it returns how many bytes of data it took.
func (p *preambleSide) skipHead(data []byte) int {
	for i, c := range data {
		switch {
		case c == '\n' && p.lineLen == 0 && p.lines > 0:
			p.state = preambleNone
			return i + 1
		case c == '\n':
			p.lines++
			p.lineLen = 0
		case c == '\r':
		default:
			if p.lines == 0 && len(p.first) < maxPreambleLine {
				p.first = append(p.first, c)
			}
			p.lineLen++
		}
		if p.seen+i+1 >= maxPreambleHead {
			p.state = preambleNone
			return i + 1
		}
	}
	return len(data)
}

// headWord returns the i-th space-separated word of a request or status
// line: the CONNECT target (1), the status code (1).
func headWord(line []byte, i int) string {
	f := bytes.Fields(line)
	if i >= len(f) {
		return ""
	}
	return string(f[i])
}

// proxyV1Endpoints reads the endpoints of a PROXY v1 line ("PROXY TCP4
// 192.0.2.1 198.51.100.2 56324 25").
func proxyV1Endpoints(line []byte) (src, dst string) {
	f := bytes.Fields(line)
	if len(f) != 6 || (string(f[1]) != "TCP4" && string(f[1]) != "TCP6") {
		return "", ""
	}
	s, err1 := netip.ParseAddr(string(f[2]))
	t, err2 := netip.ParseAddr(string(f[3]))
	sp, err3 := strconv.ParseUint(string(f[4]), 10, 16)
	tp, err4 := strconv.ParseUint(string(f[5]), 10, 16)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return "", ""
	}
	return netip.AddrPortFrom(s, uint16(sp)).String(), netip.AddrPortFrom(t, uint16(tp)).String()
}

// proxyV2Endpoints reads the addresses of a PROXY v2 header for TCP over
// IPv4 (family 0x11) or IPv6 (0x21), §2.2.
func proxyV2Endpoints(family byte, b []byte) (src, dst string) {
	n := 4
	switch family {
	case 0x11:
	case 0x21:
		n = 16
	default:
		return "", ""
	}
	if len(b) < 2*n+4 {
		return "", ""
	}
	s, _ := netip.AddrFromSlice(b[:n])
	t, _ := netip.AddrFromSlice(b[n : 2*n])
	sp, tp := binary.BigEndian.Uint16(b[2*n:]), binary.BigEndian.Uint16(b[2*n+2:])
	return netip.AddrPortFrom(s, sp).String(), netip.AddrPortFrom(t, tp).String()
}

// shiftedMarker marks the bytes of a Data call after the first off.
type shiftedMarker struct {
	m   reassembly.Marker
	off int
}

// Mark implements reassembly.Marker.
func (s shiftedMarker) Mark(i int) reassembly.Mark { return s.m.Mark(s.off + i) }

// Acked implements reassembly.Acker, if the shifted Marker does.
func (s shiftedMarker) Acked(i int) (uint32, bool) {
	a := ackOf(s.m, s.off+i)
	return a.n, a.ok
}

// offset places the byte at i in its stream, if the shifted Marker does.
func (s shiftedMarker) offset(i int) streamOffset {
	if p, ok := s.m.(streamPlacer); ok {
		return p.offset(s.off + i)
	}
	return streamOffset{}
}
