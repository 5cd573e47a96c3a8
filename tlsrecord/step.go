package tlsrecord

import "github.com/smtpscope/smtpscope/reassembly"

// offsetMarker shifts a Marker by base bytes.
type offsetMarker struct {
	m    reassembly.Marker
	base int
}

func (o offsetMarker) Mark(off int) reassembly.Mark { return o.m.Mark(o.base + off) }

// feed frames p, the next bytes of s. It is the framing transition
// function: every change of s.state happens here or in the helpers it
// calls (header, complete, lose, resync).
func (c *Conn) feed(s *stream, p []byte, at reassembly.Marker) {
	off := 0
	for off < len(p) {
		switch s.state {
		case frameDead:
			return
		case frameLost:
			rest, m, ok := c.resync(s, p[off:], offsetMarker{at, off})
			if !ok {
				return
			}
			p, at, off = rest, m, 0
		case frameHeader:
			if s.nhdr == 0 {
				s.rec.Start = at.Mark(off)
			}
			n := copy(s.hdr[s.nhdr:], p[off:])
			s.nhdr += n
			off += n
			if s.nhdr == Overhead {
				c.header(s, at.Mark(off-1))
			}
		case frameBody:
			n := min(s.need, len(p)-off)
			if s.keep {
				s.body = append(s.body, p[off:off+n]...)
			}
			s.need -= n
			off += n
			if s.need == 0 {
				c.complete(s, at.Mark(off-1))
			}
		}
	}
}

// header reads a complete record header in s.hdr.
func (c *Conn) header(s *stream, at reassembly.Mark) {
	s.nhdr = 0
	ok, tooLong := validHeader(s.hdr[:])
	switch {
	case !ok && !s.seen && c.opts.Implicit && c.state == hsIdle:
		// Maybe the middle of a record: the capture began later.
		c.condition(s, CondNotARecord, s.rec.Start)
		if c.notTLS[s.dir].Frame == 0 {
			c.notTLS[s.dir] = s.rec.Start
		}
		c.lose(s, at)
		return
	case !ok && !s.seen:
		c.condition(s, CondNotARecord, s.rec.Start)
		s.state = frameDead
		c.transition(event{kind: evNotTLS, dir: s.dir, at: s.rec.Start})
		return
	case tooLong:
		c.condition(s, CondRecordTooLong, s.rec.Start)
		c.lose(s, at)
		return
	case !ok:
		c.condition(s, CondNotARecord, s.rec.Start)
		c.lose(s, at)
		return
	}
	s.seen = true
	s.version = [2]byte{s.hdr[1], s.hdr[2]}
	t := ContentType(s.hdr[0])
	s.rec = Record{
		Dir:     s.dir,
		Index:   s.records,
		Type:    t,
		Version: uint16(s.hdr[1])<<8 | uint16(s.hdr[2]),
		Length:  int(s.hdr[3])<<8 | int(s.hdr[4]),
		Start:   s.rec.Start,
	}
	s.rec.Protected = c.protected(s, t)
	s.need = s.rec.Length
	s.keep = c.opts.Record != nil && c.opts.RecordBytes || (!s.rec.Protected && t != TypeApplicationData && t != TypeHeartbeat)
	s.body = s.body[:0]
	if s.keep {
		s.body = append(s.body, s.hdr[:]...)
	}
	s.state = frameBody
	if s.need == 0 {
		c.complete(s, at)
	}
}

// protected reports whether a record of type t that s sends now is
// encrypted. In TLS 1.3 every protected record is application_data on the
// outside (RFC 8446 §5.2); in TLS 1.2 all records after the sender's
// ChangeCipherSpec are protected (RFC 5246 §7.1). application_data before
// a ServerHello is TLS 1.3 early data.
func (c *Conn) protected(s *stream, t ContentType) bool {
	switch {
	case t == TypeChangeCipherSpec:
		return false
	case c.facts.Version() == VersionTLS13:
		return t == TypeApplicationData
	case s.ccs:
		return true
	}
	return t == TypeApplicationData
}

// complete handles a record whose last byte (or the gap that took it) is
// at at, then readies s for the next header.
func (c *Conn) complete(s *stream, at reassembly.Mark) {
	r := s.rec
	r.End = at
	s.records++
	s.bytes += int64(Overhead + r.Length)
	var frag []byte
	if s.keep && !r.Partial {
		frag = s.body[Overhead:]
	}
	c.content(s, r, frag)
	if c.opts.Record != nil {
		var raw []byte
		if c.opts.RecordBytes && !r.Partial {
			raw = s.body
		}
		c.opts.Record(r, raw)
	}
	s.state = frameHeader
	s.rec = Record{}
	s.body = s.body[:0]
	if cap(s.body) > 4*(Overhead+maxCiphertext) {
		s.body = nil
	}
}

// content reads what a record carries: frag is its fragment, nil when a
// gap took part of it or it was not kept.
func (c *Conn) content(s *stream, r Record, frag []byte) {
	switch {
	case r.Type == TypeChangeCipherSpec:
		s.ccs = true
		c.transition(event{kind: evChangeCipherSpec, dir: s.dir, at: r.End})
	case r.Type == TypeAlert && r.Protected:
		c.transition(event{kind: evAlert, dir: s.dir, at: r.End,
			alert: Alert{Dir: s.dir, At: r.End, Protected: true}})
	case r.Protected || r.Type == TypeApplicationData:
		c.transition(event{kind: evProtected, dir: s.dir, at: r.End, rec: r})
	case r.Type == TypeAlert:
		if r.Partial {
			s.alert = nil
			return
		}
		c.alerts(s, r, frag)
	case r.Type == TypeHandshake:
		if r.Partial {
			s.hs.broken = true
			return
		}
		tooLong := s.hs.add(frag, func(typ uint8, body []byte) { c.message(s, typ, body, r.End) })
		if tooLong {
			c.condition(s, CondHandshakeTooLong, r.End)
		}
	}
}

// alerts reads the 2-byte alerts of a clear alert record, one split over
// records included.
func (c *Conn) alerts(s *stream, r Record, frag []byte) {
	b := append(s.alert, frag...)
	for len(b) >= 2 {
		c.transition(event{kind: evAlert, dir: s.dir, at: r.End,
			alert: Alert{Dir: s.dir, At: r.End, Level: b[0], Description: b[1]}})
		b = b[2:]
	}
	s.alert = append([]byte(nil), b...)
}

// message reads one clear handshake message of s.
func (c *Conn) message(s *stream, typ uint8, body []byte, at reassembly.Mark) {
	switch {
	case s.dir == reassembly.ClientToServer && typ == msgClientHello:
		h, err := parseClientHello(body)
		if err != nil {
			c.condition(s, CondHandshakeUnparsable, at)
			return
		}
		h.At = at
		c.transition(event{kind: evClientHello, dir: s.dir, at: at, ch: h})
	case s.dir == reassembly.ServerToClient && typ == msgServerHello:
		h, err := parseServerHello(body)
		if err != nil {
			c.condition(s, CondHandshakeUnparsable, at)
			return
		}
		h.At = at
		k := evServerHello
		if h.RetryRequest {
			k = evRetryRequest
		}
		c.transition(event{kind: k, dir: s.dir, at: at, sh: h})
	case s.dir == reassembly.ServerToClient && typ == msgCertificate:
		if c.facts.Certificates != nil || c.facts.Version() >= VersionTLS13 {
			return
		}
		certs, tooMany, bad, err := parseCertificates(body, at.Time, c.opts.Certificates)
		if err != nil {
			c.condition(s, CondHandshakeUnparsable, at)
		}
		if tooMany {
			c.condition(s, CondCertificateChainTooLong, at)
		}
		if bad {
			c.condition(s, CondCertificateUnparsable, at)
		}
		if certs == nil {
			certs = []Certificate{}
		}
		c.facts.Certificates, c.facts.CertificateAt = certs, at
		c.changes++
	}
}

// gap handles n bytes of s missing before the next Data (n < 0: unknown).
func (c *Conn) gap(s *stream, n int, at reassembly.Mark) {
	switch s.state {
	case frameBody:
		s.rec.Partial = true
		s.keep = false
		if n >= 0 && n < s.need {
			// The gap lies inside the fragment: the framing holds.
			s.need -= n
			return
		}
		whole := n == s.need
		s.need = 0
		c.complete(s, at)
		if whole {
			return
		}
		c.lose(s, at)
	case frameHeader:
		if n == 0 && s.nhdr == 0 {
			return
		}
		c.lose(s, at)
	case frameLost:
		// Headers cannot be chained across a gap.
		s.lost, s.lostMarks, s.searchFrom = s.lost[:0], nil, 0
	}
	s.atGap = true
}

// lose enters frameLost: record boundaries are unknown from here.
func (c *Conn) lose(s *stream, at reassembly.Mark) {
	c.condition(s, CondSyncLost, at)
	s.state = frameLost
	s.atGap = false
	s.nhdr = 0
	s.need = 0
	s.lost, s.lostMarks, s.searchFrom = s.lost[:0], nil, 0
	s.hs.broken = true
	s.alert = nil
}

// resync keeps p while s is lost and looks for a record header followed by
// another at the distance its length says. A header right after a gap
// that repeats the record version this side sent before it is taken
// alone: peers write records whole, so a lost segment usually ends at a
// record boundary, and waiting for a second header would hand this record
// on only after the other side's answer to it. Random ciphertext passes
// that test about once in 10^7 gaps (a content type and two version
// bytes), and a false start is lost again at the next header. When found,
// resync leaves frameLost and returns the bytes from that header on, with
// their Marks.
func (c *Conn) resync(s *stream, p []byte, at reassembly.Marker) ([]byte, reassembly.Marker, bool) {
	if len(p) == 0 {
		return nil, nil, false
	}
	s.lostMarks = append(s.lostMarks, chunkMark{off: len(s.lost), first: at.Mark(0), last: at.Mark(len(p) - 1)})
	s.lost = append(s.lost, p...)
	b := s.lost
	i := s.searchFrom
	for ; i+Overhead <= len(b); i++ {
		if ok, _ := validHeader(b[i:]); !ok {
			continue
		}
		j := i + Overhead + (int(b[i+3])<<8 | int(b[i+4]))
		if i == 0 && s.atGap && b[1] == s.version[0] && b[2] == s.version[1] {
			// Taken without waiting for the next header: the record it
			// begins is handed on as soon as it is whole, in order with
			// the other side.
		} else if j+Overhead > len(b) {
			break // wait for the next header's bytes
		} else if ok, _ := validHeader(b[j:]); !ok || b[j+2] != b[i+2] {
			continue
		}
		rest := append([]byte(nil), b[i:]...)
		m := lostMarker{marks: append([]chunkMark(nil), s.lostMarks...), base: i}
		c.condition(s, CondResynchronised, m.Mark(0))
		s.lost, s.lostMarks, s.searchFrom = s.lost[:0], nil, 0
		s.state = frameHeader
		return rest, m, true
	}
	s.searchFrom = i
	if len(s.lost) > maxResync {
		c.trimLost(s, len(s.lost)-maxResync/2)
	}
	return nil, nil, false
}

// trimLost drops the first d bytes kept while lost.
func (c *Conn) trimLost(s *stream, d int) {
	s.lost = append(s.lost[:0], s.lost[d:]...)
	s.searchFrom = max(0, s.searchFrom-d)
	marks := s.lostMarks[:0]
	for i, m := range s.lostMarks {
		end := len(s.lost) + d
		if i+1 < len(s.lostMarks) {
			end = s.lostMarks[i+1].off
		}
		if end <= d {
			continue
		}
		m.off = max(0, m.off-d)
		marks = append(marks, m)
	}
	s.lostMarks = marks
}

// lostMarker gives, for an offset from base into the bytes kept while
// lost, the Mark of the chunk that brought it (the chunk's last byte has
// its own Mark).
type lostMarker struct {
	marks []chunkMark
	base  int
}

func (m lostMarker) Mark(off int) reassembly.Mark {
	o := m.base + off
	for i := len(m.marks) - 1; i >= 0; i-- {
		if m.marks[i].off <= o {
			if i+1 < len(m.marks) && o == m.marks[i+1].off-1 {
				return m.marks[i].last
			}
			return m.marks[i].first
		}
	}
	return reassembly.Mark{}
}
