package tlsrecord

import "github.com/smtpscope/smtpscope/reassembly"

// MaxAlertRecord is the longest TLS 1.3 protected record that is too short
// for a Finished and holds an alert: 2 bytes of alert, the inner content
// type and a 16-byte AEAD tag (RFC 8446 §5.2) make 19; a little padding is
// allowed. The shortest Finished record is 4 + 32 + 1 + 8 = 45 bytes
// (SHA-256, an 8-byte CCM tag).
const MaxAlertRecord = 24

// hsState is how far the handshake went.
type hsState int

const (
	// hsIdle: no ClientHello yet.
	hsIdle hsState = iota
	// hsClientHello: a ClientHello was sent; the ServerHello is awaited.
	hsClientHello
	// hsRetry: a HelloRetryRequest was sent; the second ClientHello is
	// awaited (RFC 8446 §4.1.4).
	hsRetry
	// hsNegotiated: the ServerHello chose version and suite; each side's
	// Finished is awaited.
	hsNegotiated
	// hsEstablished: both sides finished; records carry application data.
	hsEstablished
	// hsEnded: the handshake ended without completing (Facts.Ending says
	// how).
	hsEnded
)

// eventKind is what moves the handshake.
type eventKind int

const (
	evClientHello eventKind = iota
	evServerHello
	evRetryRequest
	evChangeCipherSpec
	// evProtected: a protected record, or clear application data.
	evProtected
	evAlert
	// evNotTLS: a side's first bytes were not a record.
	evNotTLS
	evGap
	evFIN
	evRST
	evEnd
)

// event is one input of the handshake state machine.
type event struct {
	kind  eventKind
	dir   reassembly.Direction
	at    reassembly.Mark
	ch    *ClientHello
	sh    *ServerHello
	alert Alert
	rec   Record
}

// open reports whether the handshake has not ended yet.
func (s hsState) open() bool { return s < hsEstablished }

// transition is the handshake's one transition function: every change of
// c.state and of the facts it implies happens here or in the helpers it
// calls for one kind of event (hello, protectedRecord, cut).
func (c *Conn) transition(ev event) {
	if ev.kind != evProtected {
		c.changes++ // protectedRecord counts its own
	}
	f := &c.facts
	switch ev.kind {
	case evClientHello, evRetryRequest, evServerHello:
		c.hello(ev)
	case evChangeCipherSpec:
		if f.ChangeCipherSpec[ev.dir].Frame == 0 {
			f.ChangeCipherSpec[ev.dir] = ev.at
		}
	case evAlert:
		if len(f.Alerts) < maxAlerts {
			f.Alerts = append(f.Alerts, ev.alert)
		}
		// A warning such as unrecognized_name does not end a TLS 1.2
		// handshake (RFC 5246 §7.2.2); a fatal alert, a close_notify or an
		// alert that cannot be read does.
		if a := ev.alert; c.state.open() && (a.Level == 2 || a.Protected || a.Description == AlertCloseNotify) {
			c.end(EndAlert, ev.dir, ev.at)
		}
	case evProtected:
		c.protectedRecord(ev.rec)
	case evNotTLS:
		if c.state == hsIdle {
			c.end(EndNotTLS, ev.dir, ev.at)
		}
	case evGap, evFIN, evRST, evEnd:
		c.cut(ev)
	}
}

// hello moves the handshake on a ClientHello, a HelloRetryRequest or a
// ServerHello (RFC 8446 §4.1). A ServerHello is taken from hsIdle too: a
// capture that missed the ClientHello.
func (c *Conn) hello(ev event) {
	f := &c.facts
	switch ev.kind {
	case evClientHello:
		switch {
		case f.ClientHello == nil:
			f.ClientHello = ev.ch
		case c.state == hsRetry && f.SecondClientHello == nil:
			f.SecondClientHello = ev.ch
		}
		if c.state == hsIdle || c.state == hsRetry {
			c.state = hsClientHello
		}
	case evRetryRequest:
		if (c.state == hsClientHello || c.state == hsIdle) && f.HelloRetryRequest == nil {
			f.HelloRetryRequest = ev.sh
			c.state = hsRetry
		}
	case evServerHello:
		if (c.state == hsClientHello || c.state == hsIdle) && f.ServerHello == nil {
			f.ServerHello = ev.sh
			c.state = hsNegotiated
		}
	}
}

// cut ends an open handshake on a FIN, an RST or the end of the data; a
// gap ends it only if nothing else does before the end (a gap hides bytes,
// it does not stop the peers).
func (c *Conn) cut(ev event) {
	if !c.state.open() {
		return
	}
	switch ev.kind {
	case evGap:
		if c.gapAt.Frame == 0 {
			c.gapAt, c.gapDir = ev.at, ev.dir
		}
	case evFIN:
		c.end(EndFIN, ev.dir, ev.at)
	case evRST:
		c.end(EndRST, ev.dir, ev.at)
	case evEnd:
		for d, m := range c.notTLS {
			if m.Frame != 0 && c.streams[d].records == 0 {
				// No record was ever found after those bytes.
				c.end(EndNotTLS, reassembly.Direction(d), m)
				return
			}
		}
		if c.gapAt.Frame != 0 {
			c.end(EndGap, c.gapDir, c.gapAt)
		} else {
			c.end(EndCaptureEnd, ev.dir, ev.at)
		}
	}
}

// protectedRecord moves the handshake on a protected record (or clear
// application data): each side's Finished is the first record it protects
// (RFC 5246 §7.4.9; RFC 8446 §4.4.4, where the server's flight is several
// protected messages ending with its Finished and the client's is its
// Finished alone unless it sends a certificate).
func (c *Conn) protectedRecord(r Record) {
	f := &c.facts
	d := r.Dir
	switch c.state {
	case hsEstablished:
		// Most records: those of the session, which change nothing
		// after each side's first.
		if f.FirstApplicationData[d].Frame == 0 {
			f.FirstApplicationData[d] = r.Start
			c.changes++
		}
	case hsNegotiated:
		c.changes++
		if f.Version() == VersionTLS13 {
			if d == reassembly.ServerToClient {
				if f.Finished[reassembly.ClientToServer].Frame == 0 {
					f.Finished[d] = r.End
				}
				return
			}
			if f.Finished[d].Frame != 0 {
				return
			}
			if r.Length <= MaxAlertRecord {
				c.end(EndProbableAlert, d, r.End)
				return
			}
			f.Finished[d] = r.End
			c.establish(d, r.End)
			return
		}
		if f.Finished[d].Frame == 0 {
			f.Finished[d] = r.End
			if f.Finished[1-d].Frame != 0 {
				c.establish(d, r.End)
			}
		}
	case hsIdle:
		if c.opts.Implicit && r.Type == TypeApplicationData {
			// No hello came before: the handshake is not in the capture.
			c.changes++
			c.state = hsEstablished
			f.Ending, f.EndedBy, f.EndedAt = EndNotCaptured, d, r.Start
			f.FirstApplicationData[d] = r.Start
		}
	}
}

func (c *Conn) establish(d reassembly.Direction, at reassembly.Mark) {
	c.state = hsEstablished
	c.facts.Ending, c.facts.EndedBy, c.facts.EndedAt = EndComplete, d, at
}

func (c *Conn) end(e Ending, d reassembly.Direction, at reassembly.Mark) {
	c.state = hsEnded
	c.facts.Ending, c.facts.EndedBy, c.facts.EndedAt = e, d, at
}
