package smtp

import (
	"strings"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/tlskeys"
	"github.com/smtpscope/smtpscope/tlsrecord"
)

// Inside an established TLS session the SMTP dialogue cannot be read, but
// its shape can: who sent records, how large, when. A message body is a
// client flight far longer than any command (RFC 5321 §4.5.3.1.4: a command
// line is at most 512 octets); its end-of-data is the flight's last record;
// the final reply is the server's next record. Without one until the
// client's next flight (its QUIT), a close or the end of the capture, the
// server never answered: no-reply. With one, the transaction was answered,
// but a 250 and a 5xx look alike encrypted: unknown, with the latency.

const (
	// flightPause ends a client flight: records sent this long after the
	// previous one start a new flight (a QUIT after a timeout, say).
	flightPause = time.Second
	// minBodyPlaintext is the smallest flight taken for a message body:
	// more than one command line (RFC 5321 §4.5.3.1.4, 512 octets).
	minBodyPlaintext = 512
)

// Inference holds what a transaction inferred from TLS records rests on.
type Inference struct {
	// Records and Bytes count the client records of the body flight and
	// their length on the wire (record headers included).
	Records int
	Bytes   int64
	// SizeMin and SizeMax bound the plaintext those records carried (the
	// DATA or BDAT stream: the message, dot-stuffing and the end-of-data
	// line, or chunk commands), from the suite's per-record overhead.
	SizeMin, SizeMax int64
	// Answered is set when the server sent a record after the body
	// flight; AnswerFrame, AnswerTime and AnswerLength locate and size it.
	Answered     bool
	AnswerFrame  int
	AnswerTime   time.Time
	AnswerLength int
	// NextLength is the length of the client's record that ended the
	// silence (its QUIT, usually; 0 when a close or the capture's end did).
	NextLength int
	// Version names the TLS version ("TLS 1.3").
	Version string
}

// Latency is the time from the body's last record to the server's answer.
func (i *Inference) Latency(eod time.Time) time.Duration {
	if !i.Answered {
		return 0
	}
	return i.AnswerTime.Sub(eod)
}

// inferState is where the inference from a connection's records stands.
type inferState int

const (
	// inferHandshake: no record came after the handshake completed.
	inferHandshake inferState = iota
	// inferEstablished: the records after the handshake are read for the
	// shape of the SMTP dialogue.
	inferEstablished
	// inferCut: the connection ended inside a client record, which
	// cutShort counted in the flight. A FIN, an RST and the capture's end
	// each end it; only the first counts the record. Records that still
	// come are read as in inferEstablished.
	inferCut
)

// inferInput is what moves the inference from one state to another.
type inferInput int

const (
	// inferRecord: a record came after the handshake completed.
	inferRecord inferInput = iota
	// inferEndedInRecord: the connection ended inside a client record of
	// application data, counted in the flight.
	inferEndedInRecord
)

// update is the one place the inference's state changes: it moves it by
// the transition table nextInferState.
func (t *tlsTrack) update(in inferInput) {
	t.state = nextInferState(t.state, in)
}

// nextInferState is the inference's transition table: the state that
// follows s on in. Inputs a state does not expect leave it unchanged.
func nextInferState(s inferState, in inferInput) inferState {
	switch {
	case in == inferRecord && s == inferHandshake:
		return inferEstablished
	case in == inferEndedInRecord && s == inferEstablished:
		return inferCut
	}
	return s
}

// tlsTrack reads a connection's TLS (tlsrecord) and infers its
// transactions from the records.
type tlsTrack struct {
	conn  *tlsrecord.Conn
	state inferState
	// flight is the client flight under way.
	flight flight
	// inferred holds the transactions inferred so far.
	inferred []Transaction
	// dec decrypts the records when Options.TLSKeys is set (tlsdecrypt.go).
	dec *decryptTrack
	// facts, decryption and pending hold what the Session's TLS points
	// to, rewritten by each sync without allocating.
	facts            tlsrecord.Facts
	decryption       Decryption
	pending          Transaction
	pendingInference Inference
	// overheadOf is the version and suite overheadLo and overheadHi are
	// for.
	overheadOf             [2]uint16
	overheadLo, overheadHi int
	// synced is what the last sync wrote the Session's TLS from.
	synced tlsSynced
}

// tlsSynced is what syncTLS last wrote the Session's TLS from, but for the
// decryption (synced every time) and the record counts (read from the
// facts written): the TLS it wrote to, the Conn's count of changes to the
// other facts, the transactions inferred, the flight under way and the
// decoder's life. The flight and the inferred transactions change only on
// a record, a gap, a FIN, an RST or the end; the flight's record count and
// gap are kept too, so that a change of the flight without one still
// shows.
type tlsSynced struct {
	tls      *TLS
	changes  uint64
	inferred int
	records  int
	gapped   bool
	life     lifeState
}

// flight is a run of client records with no server record between them
// and no pause of flightPause.
type flight struct {
	records          int
	bytes            int64
	sizeMin, sizeMax int64
	first, last      reassembly.Mark
	// cut is set when the connection ended inside the flight's last
	// record (cutShort); cutBody when that record, whole, would have
	// carried more than a command line; gapped when a gap came during
	// the flight.
	cut, cutBody, gapped bool
}

func (f *flight) body() bool { return f.sizeMax >= minBodyPlaintext || f.cutBody }

// newTLSTrack starts reading TLS for d.
func (d *Decoder) newTLSTrack() *tlsTrack {
	t := &tlsTrack{}
	if d.opts.TLSKeys != nil {
		t.dec = &decryptTrack{conn: tlskeys.NewConnection(d.opts.TLSKeys)}
	}
	t.conn = tlsrecord.NewConn(tlsrecord.Options{Implicit: d.opts.ImplicitTLS, Certificates: d.opts.Certificates,
		RecordBytes: t.dec != nil, Record: func(r tlsrecord.Record, raw []byte) {
			if !d.decryptRecord(t, r, raw) {
				d.tlsRecord(t, r)
			}
		}})
	return t
}

// overhead bounds the bytes a protected record adds to its plaintext:
// TLS 1.3 AEAD, 16-byte tag and the inner content type (RFC 8446 §5.2;
// padding, rarely used, would add more); TLS 1.2 GCM and CCM an 8-byte
// explicit nonce and the tag (RFC 5288 §3), ChaCha20-Poly1305 the tag
// alone (RFC 7905); CBC suites an IV, a MAC and 1-256 bytes of padding.
func overhead(version, suite uint16) (lo, hi int) {
	name := tlsrecord.SuiteName(suite)
	switch {
	case version == tlsrecord.VersionTLS13:
		return 17, 17
	case strings.Contains(name, "_GCM_") || strings.Contains(name, "_CCM"):
		return 24, 24
	case strings.Contains(name, "CHACHA20"):
		return 16, 16
	}
	return 16 + 20 + 1, 16 + 48 + 256
}

// overhead is overhead(version, suite), worked out once per connection:
// naming the suite costs an allocation (crypto/tls.CipherSuites).
func (t *tlsTrack) overhead(version, suite uint16) (lo, hi int) {
	if k := [2]uint16{version, suite}; k != t.overheadOf {
		t.overheadOf = k
		t.overheadLo, t.overheadHi = overhead(version, suite)
	}
	return t.overheadLo, t.overheadHi
}

// tlsRecord runs one record through the inference.
func (d *Decoder) tlsRecord(t *tlsTrack, r tlsrecord.Record) {
	c := t.conn // its facts are not copied: this runs for every record
	if !c.Established() {
		return
	}
	if t.state == inferHandshake {
		t.update(inferRecord)
		if c.Ending() == tlsrecord.EndComplete {
			return // the record that completed the handshake is a Finished
		}
	}
	if r.Type != tlsrecord.TypeApplicationData || !r.Protected {
		return
	}
	if r.Dir == reassembly.ServerToClient {
		if c.Version() == tlsrecord.VersionTLS13 && r.Length <= tlsrecord.MaxAlertRecord {
			return // the size of a close_notify, not of a reply
		}
		d.flightAnswered(t, r)
		return
	}
	fl := &t.flight
	if fl.records > 0 && r.Start.Time.Sub(fl.last.Time) >= flightPause {
		d.flightEnded(t, r.Start, EndClientClosed, r.Length)
	}
	lo, hi := t.overhead(c.Version(), c.CipherSuite())
	if fl.records == 0 {
		fl.first = r.Start
	}
	fl.records++
	fl.bytes += int64(tlsrecord.Overhead + r.Length)
	fl.sizeMin += int64(max(0, r.Length-hi))
	fl.sizeMax += int64(max(0, r.Length-lo))
	fl.last = r.End
}

// flightAnswered closes the client flight under way with the server's
// record r: a body flight becomes an answered transaction.
func (d *Decoder) flightAnswered(t *tlsTrack, r tlsrecord.Record) {
	if t.flight.body() {
		tx := d.inferred(t)
		tx.Inferred.Answered = true
		tx.Inferred.AnswerFrame, tx.Inferred.AnswerTime, tx.Inferred.AnswerLength = r.End.Frame, r.End.Time, r.Length
	}
	t.flight = flight{}
}

// flightEnded closes a body flight that got no server record before at:
// the client's next flight, a close, or the capture's end.
//
// A flight the connection ended inside a record of (cutShort) never sent
// its end-of-data: the message was aborted, as a body cut short in clear
// text is, never a relay silent after an end-of-data it did not get.
func (d *Decoder) flightEnded(t *tlsTrack, at reassembly.Mark, why EndReason, next int) {
	if t.flight.body() {
		tx := d.inferred(t)
		switch {
		case tx.Incomplete:
		case t.flight.cut:
			tx.Outcome = OutcomeAborted
			tx.EndOfDataFrame, tx.EndOfDataTime = 0, time.Time{}
		default:
			tx.Outcome = OutcomeNoReply
		}
		tx.Ended, tx.EndFrame, tx.EndTime = why, at.Frame, at.Time
		tx.Inferred.NextLength = next
	}
	t.flight = flight{}
}

// cutShort adds to the flight the client record the connection ended in
// the middle of, if any: the bytes of it that were sent (an upper bound of
// its plaintext so far). tlsControl and tlsEnd call it; a pause ends a
// flight at a record boundary.
func (t *tlsTrack) cutShort() {
	r, got, ok := t.conn.Unfinished(reassembly.ClientToServer)
	if !ok || t.state != inferEstablished || r.Type != tlsrecord.TypeApplicationData || !r.Protected {
		return
	}
	t.update(inferEndedInRecord)
	lo, hi := t.overhead(t.conn.Version(), t.conn.CipherSuite())
	fl := &t.flight
	if fl.records == 0 {
		fl.first = r.Start
		fl.last = r.Start
	}
	fl.records++
	fl.bytes += int64(tlsrecord.Overhead + got)
	fl.sizeMin += int64(max(0, got-hi))
	fl.sizeMax += int64(got)
	fl.cut = true
	fl.cutBody = r.Length-lo >= minBodyPlaintext
}

// flightTransaction writes to tx the transaction of the body flight under
// way, not decided yet, with what it rests on in inf. It writes in place:
// syncTLS rewrites the pending transaction after every record of a body.
func (t *tlsTrack) flightTransaction(tx *Transaction, inf *Inference) {
	fl := &t.flight
	*inf = Inference{Records: fl.records, Bytes: fl.bytes, SizeMin: fl.sizeMin, SizeMax: fl.sizeMax,
		Version: tlsrecord.VersionName(t.conn.Version())}
	*tx = Transaction{SizeParam: -1, Size: fl.sizeMax, Outcome: OutcomeUnknown,
		DataFrame: fl.first.Frame, DataTime: fl.first.Time,
		EndOfDataFrame: fl.last.Frame, EndOfDataTime: fl.last.Time, Incomplete: fl.gapped, Inferred: inf}
}

// inferred appends the transaction of the body flight under way.
func (d *Decoder) inferred(t *tlsTrack) *Transaction {
	fl := &t.flight
	var tx Transaction
	t.flightTransaction(&tx, &Inference{})
	if len(t.inferred) >= d.opts.MaxTransactions {
		d.anomalyf(AnomalyTooManyTransactions, fl.first.Frame, "more than %d mail transactions", d.opts.MaxTransactions)
		return &Transaction{Inferred: &Inference{}}
	}
	t.inferred = append(t.inferred, tx)
	return &t.inferred[len(t.inferred)-1]
}

// tlsData hands bytes of dir to the TLS reader.
func (d *Decoder) tlsData(dir reassembly.Direction, p []byte, off int, at reassembly.Marker) {
	if d.tls == nil || len(p) == 0 || d.tls.dec != nil && d.tls.dec.feeding {
		return
	}
	if off != 0 {
		// Most calls come at a segment's first byte: no shift, and no
		// Marker to allocate (it escapes).
		at = shiftMarker{at, off}
	}
	d.tls.conn.Data(dir, p, at)
	d.syncTLS() // a live view reads the Session between calls
}

// tlsGap tells the TLS reader of a gap; a gap during a flight makes its
// outcome unknown.
func (d *Decoder) tlsGap(dir reassembly.Direction, n int, at reassembly.Mark) {
	if d.tls == nil {
		return
	}
	if d.tls.dec != nil {
		d.lostRecords(dir, at)
	}
	d.tls.conn.Gap(dir, n, at)
	if d.tls.flight.records > 0 {
		d.tls.flight.gapped = true
	}
	d.syncTLS()
}

// tlsControl tells the TLS reader of a FIN or RST, which ends a body
// flight's wait.
func (d *Decoder) tlsControl(kind reassembly.EventKind, dir reassembly.Direction, at reassembly.Mark) {
	if d.tls == nil {
		return
	}
	d.tls.conn.Control(kind, dir, at)
	why := map[[2]bool]EndReason{
		{false, false}: EndClientClosed, {false, true}: EndServerClosed,
		{true, false}: EndClientReset, {true, true}: EndServerReset,
	}[[2]bool{kind == reassembly.EventRST, dir == reassembly.ServerToClient}]
	d.tls.cutShort()
	d.flightEnded(d.tls, at, why, 0)
	d.syncTLS()
}

// tlsEnd ends the TLS reader and the flight under way.
func (d *Decoder) tlsEnd(at reassembly.Mark) {
	if d.tls == nil {
		return
	}
	d.tls.conn.End(at)
	d.tls.cutShort()
	d.flightEnded(d.tls, at, EndCaptureEnded, 0)
	d.syncTLS()
}

// syncTLS copies the TLS reader's facts into the Session. It runs after
// every segment of TLS, so it copies only what changed: the facts' record
// counts alone unless the Conn counted another change (after the
// handshake, records move only the counts), and the rest only when the
// flight, the inferred transactions or the decoder's life changed (a
// record that ends or extends a flight, say; not a segment inside a
// record). With keys it copies everything every time.
func (d *Decoder) syncTLS() {
	if d.tls == nil || d.s.TLS == nil {
		return
	}
	t := d.tls
	now := tlsSynced{tls: d.s.TLS, changes: t.conn.Changes(), inferred: len(t.inferred),
		records: t.flight.records, gapped: t.flight.gapped, life: d.life}
	if t.dec == nil && now.tls == t.synced.tls && now.changes == t.synced.changes {
		t.facts.Records, t.facts.Bytes = t.conn.Counts()
		if now == t.synced {
			return
		}
	} else {
		t.facts = t.conn.Facts()
	}
	t.synced = now
	d.s.TLS.Handshake = &t.facts
	d.s.TLS.Decryption = t.decryptionState()
	d.s.TLS.Pending = nil
	if d.tls.dec != nil && d.tls.dec.smtp {
		// The decrypted commands and replies are the transactions.
		d.s.TLS.Inferred = nil
		return
	}
	d.s.TLS.Inferred = d.tls.inferred[:len(d.tls.inferred):len(d.tls.inferred)]
	if d.life == lifeOpen && t.flight.body() {
		t.flightTransaction(&t.pending, &t.pendingInference)
		d.s.TLS.Pending = &t.pending
	}
}

// shiftMarker shifts a Marker by base bytes.
type shiftMarker struct {
	m    reassembly.Marker
	base int
}

func (s shiftMarker) Mark(off int) reassembly.Mark { return s.m.Mark(s.base + off) }
