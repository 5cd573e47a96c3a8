package tlsrecord

import (
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
)

// Options configures a Conn. The zero value frames records and reads the
// handshake without handing records to anyone.
type Options struct {
	// Record, if not nil, is called with every record once its last byte
	// is read, in byte order within a direction and in the order of the
	// Data calls between directions. raw is the header and fragment as
	// sent, valid only during the call, with RecordBytes; it is nil when
	// r.Partial, and without RecordBytes.
	Record func(r Record, raw []byte)
	// RecordBytes has Record given each record's bytes: a Conn then
	// copies every record whole, which it otherwise does only for those
	// it reads itself (the clear handshake and alerts), not the
	// protected records and application data that make up most of a
	// session.
	RecordBytes bool
	// Implicit says TLS began with the connection (implicit TLS, RFC 8314
	// §3, on a port taken for it), where nothing in the capture marks its
	// first byte: the capture may have picked the connection up later. A
	// side whose first bytes are no record header is then resynchronised,
	// and called not TLS only if no record is ever found; records before
	// any hello mean the handshake was not captured (EndNotCaptured), not
	// that it failed.
	Implicit bool
	// Certificates, if not nil, keeps the certificates read for other
	// connections (a run's), so that each is parsed once.
	Certificates *CertificateCache
}

// Conn reads one connection's TLS: feed it both directions' bytes from
// where TLS begins (the first byte after a STARTTLS go-ahead, or the
// connection's first byte for implicit TLS) through the reassembly.Handler
// methods, then read Facts. It implements reassembly.Handler.
type Conn struct {
	opts    Options
	streams [2]stream
	state   hsState
	facts   Facts
	// gapAt is the first gap during the handshake, and gapDir its side.
	gapAt  reassembly.Mark
	gapDir reassembly.Direction
	// notTLS locates, per side, first bytes that were no record header
	// (Options.Implicit: judged at the end).
	notTLS [2]reassembly.Mark
	// changes counts the changes to the facts but for the record counts
	// (Changes).
	changes uint64
}

// NewConn returns a Conn reading from the first byte of TLS.
func NewConn(opts Options) *Conn {
	c := &Conn{opts: opts}
	c.streams[0].dir = reassembly.ClientToServer
	c.streams[1].dir = reassembly.ServerToClient
	return c
}

// Facts is what the records and the clear handshake showed.
type Facts struct {
	// ClientHello is the first ClientHello, SecondClientHello the one sent
	// after a HelloRetryRequest; nil if not seen.
	ClientHello, SecondClientHello *ClientHello
	// HelloRetryRequest is the server's retry request, nil if none.
	HelloRetryRequest *ServerHello
	// ServerHello is the ServerHello that negotiated, nil if not seen.
	ServerHello *ServerHello
	// Certificates is the server's chain, leaf first, where it was sent in
	// clear (TLS ≤ 1.2); CertificateAt locates its message.
	Certificates  []Certificate
	CertificateAt reassembly.Mark
	// Alerts lists the alerts in clear, and the protected alert records of
	// TLS 1.2 (not those of TLS 1.3, which look like data).
	Alerts []Alert
	// ChangeCipherSpec locates each side's first ChangeCipherSpec
	// (indexed by reassembly.Direction; Frame 0 if none).
	ChangeCipherSpec [2]reassembly.Mark
	// Finished locates each side's Finished as seen from outside: in TLS
	// 1.2 the first record the side protects; in TLS 1.3, for the client
	// its first protected record, for the server the last record of its
	// flight before the client's Finished.
	Finished [2]reassembly.Mark
	// FirstApplicationData locates each side's first protected record after
	// the handshake completed.
	FirstApplicationData [2]reassembly.Mark
	// Ending says how the handshake ended; EndedBy and EndedAt which side
	// ended it and where (the Finished that completed it, the alert, the
	// FIN or RST, the gap, the last byte).
	Ending  Ending
	EndedBy reassembly.Direction
	EndedAt reassembly.Mark
	// Records and Bytes count each side's records and their sizes
	// (headers included).
	Records [2]int
	Bytes   [2]int64
	// Conditions lists the conditions met, in order.
	Conditions []Met
}

// Version is the negotiated version, 0 before a ServerHello. A
// HelloRetryRequest alone means TLS 1.3.
func (f *Facts) Version() uint16 {
	switch {
	case f.ServerHello != nil:
		return f.ServerHello.Version()
	case f.HelloRetryRequest != nil:
		return f.HelloRetryRequest.Version()
	}
	return 0
}

// CipherSuite is the negotiated suite, 0 before a ServerHello.
func (f *Facts) CipherSuite() uint16 {
	if f.ServerHello != nil {
		return f.ServerHello.CipherSuite
	}
	return 0
}

// ClientRandom is the ClientHello's random, the key of a key log line
// (the same in both hellos around a HelloRetryRequest); ok is false
// before a ClientHello.
func (f *Facts) ClientRandom() (r [32]byte, ok bool) {
	if f.ClientHello == nil {
		return r, false
	}
	return f.ClientHello.Random, true
}

// ServerRandom is the ServerHello's random; ok is false before a
// ServerHello.
func (f *Facts) ServerRandom() (r [32]byte, ok bool) {
	if f.ServerHello == nil {
		return r, false
	}
	return f.ServerHello.Random, true
}

// Duration is the time from the ClientHello to the end of the handshake
// (its completion, or what cut it); 0 when either is unknown.
func (f *Facts) Duration() time.Duration {
	if f.ClientHello == nil || f.Ending == EndOpen || f.EndedAt.Time.IsZero() {
		return 0
	}
	return f.EndedAt.Time.Sub(f.ClientHello.At.Time)
}

// Established reports whether the handshake completed, or was not
// captured while records flow after it (EndNotCaptured).
func (f *Facts) Established() bool { return f.Ending == EndComplete || f.Ending == EndNotCaptured }

// Version is the negotiated version (Facts.Version) without copying the
// facts.
func (c *Conn) Version() uint16 { return c.facts.Version() }

// CipherSuite is the negotiated suite (Facts.CipherSuite) without copying
// the facts.
func (c *Conn) CipherSuite() uint16 { return c.facts.CipherSuite() }

// Ending is how the handshake ended so far (Facts.Ending) without copying
// the facts.
func (c *Conn) Ending() Ending { return c.facts.Ending }

// Established is Facts.Established without copying the facts.
func (c *Conn) Established() bool { return c.facts.Established() }

// Changes counts the events that may have changed what Facts returns but
// for Records and Bytes (Counts): a handshake event (a hello, a
// ChangeCipherSpec, an alert, a gap, a FIN or RST, the end, a protected
// record but those of the established session after each side's first),
// a certificate chain, a condition met. While it stays the same, so does
// everything else Facts returns: a caller that keeps a copy of the Facts
// can bring it up to date with Counts alone. Once the handshake is over,
// records move only the counts.
func (c *Conn) Changes() uint64 { return c.changes }

// Counts returns Facts' Records and Bytes without copying the facts.
func (c *Conn) Counts() (records [2]int, bytes [2]int64) {
	for d := range c.streams {
		records[d], bytes[d] = c.streams[d].records, c.streams[d].bytes
	}
	return records, bytes
}

// Facts returns what was read so far. The slices are shared with the Conn
// but never changed in place by it.
func (c *Conn) Facts() Facts {
	f := c.facts
	f.Alerts = f.Alerts[:len(f.Alerts):len(f.Alerts)]
	f.Certificates = f.Certificates[:len(f.Certificates):len(f.Certificates)]
	f.Conditions = f.Conditions[:len(f.Conditions):len(f.Conditions)]
	f.Records, f.Bytes = c.Counts()
	return f
}

// Data reads bytes dir sent (reassembly.Handler).
func (c *Conn) Data(dir reassembly.Direction, p []byte, at reassembly.Marker) {
	s := c.stream(dir)
	if s == nil {
		return
	}
	c.feed(s, p, at)
}

// Gap notes n bytes of dir missing from the capture (reassembly.Handler).
func (c *Conn) Gap(dir reassembly.Direction, n int, at reassembly.Mark) {
	s := c.stream(dir)
	if s == nil {
		return
	}
	c.gap(s, n, at)
	c.transition(event{kind: evGap, dir: dir, at: at})
}

// Control notes a FIN or RST (reassembly.Handler).
func (c *Conn) Control(kind reassembly.EventKind, dir reassembly.Direction, at reassembly.Mark) {
	k := evFIN
	if kind == reassembly.EventRST {
		k = evRST
	}
	c.transition(event{kind: k, dir: dir, at: at})
}

// End notes that no more bytes will come (reassembly.Handler).
func (c *Conn) End(at reassembly.Mark) {
	c.transition(event{kind: evEnd, at: at})
}

func (c *Conn) stream(dir reassembly.Direction) *stream {
	if dir != reassembly.ClientToServer && dir != reassembly.ServerToClient {
		return nil
	}
	return &c.streams[dir]
}

// condition records cond once per direction.
func (c *Conn) condition(s *stream, cond Condition, at reassembly.Mark) {
	if s.met == nil {
		s.met = make(map[Condition]bool)
	}
	if s.met[cond] {
		return
	}
	s.met[cond] = true
	c.changes++
	c.facts.Conditions = append(c.facts.Conditions, Met{Condition: cond, Dir: s.dir, At: at})
}

var _ reassembly.Handler = (*Conn)(nil)

// Unfinished returns the record dir is in the middle of: its header was
// read but not all of its Length bytes, got of which were. A connection
// that ends here broke off inside that record.
func (c *Conn) Unfinished(dir reassembly.Direction) (r Record, got int, ok bool) {
	s := c.stream(dir)
	if s == nil || s.state != frameBody {
		return Record{}, 0, false
	}
	return s.rec, s.rec.Length - s.need, true
}
