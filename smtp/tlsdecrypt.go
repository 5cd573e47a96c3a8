package smtp

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/tlskeys"
	"github.com/smtpscope/smtpscope/tlsrecord"
)

// With Options.TLSKeys, the records of a TLS session are decrypted
// (tlskeys) and their application data goes through the same line readers
// and state machines as plaintext: the session's commands, replies and
// transactions are what a plaintext session gives. Each decrypted record's
// bytes are marked with the frame and time of the record's last byte, where
// a reader of the wire could first read them. Until the first plaintext
// byte, or when the connection cannot be decrypted (no key, an unknown
// suite, a wrong key), the records are read as without keys
// (tlsinfer.go) and TLS.Decryption says why.

// Decryption states, in TLS.Decryption.State.
const (
	// DecryptionDecrypted: every protected record was decrypted.
	DecryptionDecrypted = "decrypted"
	// DecryptionPartial: some records were decrypted, and a capture gap
	// took others or some did not open.
	DecryptionPartial = "partly-decrypted"
	// DecryptionFailed: records were tried and none decrypted (a wrong
	// key: bad record MAC); what the session carried is inferred.
	DecryptionFailed = "failed"
	// DecryptionInferred: no key (or no usable key) for the connection;
	// what it carried is inferred from the records.
	DecryptionInferred = "inferred"
)

// Decryption is what came of decrypting a TLS connection with the key log
// (Options.TLSKeys). It never holds key material.
type Decryption struct {
	// State is one of the Decryption* constants.
	State string
	// Reason says why records were not decrypted ("no key for this client
	// random", "bad record MAC"...), "" when all were.
	Reason string
	// Decrypted and Failed count the protected records per direction
	// (client, server).
	Decrypted, Failed [2]int
	// Alerts are the alerts read from decrypted records (Decrypted set),
	// in order: a TLS 1.3 certificate alert, a TLS 1.2 alert after
	// ChangeCipherSpec, each side's close_notify. At most maxDecryptedAlerts.
	Alerts []tlsrecord.Alert
	// HeldForKey counts the records (those after the ServerHello that
	// the capture holds) held while the session waited for its secrets
	// to reach a followed key log (Options.TLSKeyWait), and read when
	// they came; KeyWait is the capture time it waited, from its first
	// record held to the look that found them. Both are zero when the key
	// log had the secrets in time, or never gave them (Reason says so).
	HeldForKey int
	KeyWait    time.Duration
}

// maxDecryptedAlerts bounds the decrypted alerts kept per connection: a
// peer may send any number of warnings.
const maxDecryptedAlerts = 8

// decryptTrack is the decryption of one connection's TLS.
type decryptTrack struct {
	conn    *tlskeys.Connection
	started bool
	// plain holds decrypted application data not yet read as SMTP.
	plain []plainChunk
	// smtp is set once plaintext reached the SMTP readers: from then on
	// the raw bytes go to the TLS reader only.
	smtp bool
	// feeding is set while plaintext is read, so that no plaintext is
	// taken for records.
	feeding bool
	// gaps counts the capture gaps in the TLS bytes since decryption
	// started: records they took were neither decrypted nor failed.
	gaps int
	// alerts are the alerts read from decrypted records.
	alerts []tlsrecord.Alert
	// reason is the Status's last Reason, and reasonText its words.
	reason     error
	reasonText string
	// wait is how the wait for a late key stands (Options.TLSKeyWait);
	// session is the session waited for, since the capture time of its
	// first record held, held the records held meanwhile (heldBytes their
	// bytes).
	wait      keyWait
	session   tlskeys.Session
	since     time.Time
	held      []heldRecord
	heldBytes int
	// gaveUp says which bound of the wait passed ("within 2s").
	gaveUp string
	// heldForKey and keyWait are Decryption's, set when the key came.
	heldForKey int
	keyWait    time.Duration
}

// KeyWait lets a connection whose secrets are not in the key log yet wait
// for them: a live run follows a key log that the peer appends to as it
// makes each session (tlskeys.Follower), and the peer may write a
// session's line after the capture saw the session's first protected
// records. Until the key arrives or a bound passes, the connection's
// records are held (and read by the inference meanwhile); when it
// arrives, they are decrypted in order and the plaintext read as SMTP;
// when a bound passes first, they are let go and the session stays
// inferred, its Decryption.Reason saying so. The zero value waits for
// nothing, as a file's analysis, whose key logs are whole, needs.
type KeyWait struct {
	// Records and Bytes bound the records held per connection and their
	// bytes; Time the capture time from the first record held. Waiting is
	// on when Records is positive.
	Records, Bytes int
	Time           time.Duration
	// Refresh, if set, is called before the key log is looked at again
	// for a waiting connection: to read what was appended to its file.
	Refresh func()
}

// keyWait is how a connection's wait for a late key stands.
type keyWait int

const (
	// keyNotWaited: no wait (not asked for, not needed yet, or the key
	// log held the secrets at the ServerHello).
	keyNotWaited keyWait = iota
	// keyWaiting: the key log lacks the session's secrets; its records
	// are held.
	keyWaiting
	// keyArrived: the secrets came while records were held; those were
	// decrypted.
	keyArrived
	// keyTooLate: a bound passed (or the connection ended) first; the
	// records held were let go and the session is inferred.
	keyTooLate
)

// heldRecord is a record held while waiting for a key: its raw bytes, or
// nil for records a capture gap took.
type heldRecord struct {
	r   tlsrecord.Record
	raw []byte
}

// plainChunk is the application data of one record, or (lost set) the
// place of a record that did not decrypt once plaintext had begun.
type plainChunk struct {
	dir  reassembly.Direction
	data []byte
	at   reassembly.Mark
	lost bool
}

// decryptRecord decrypts record r when keys are given; it returns whether
// decryption has taken the session over (the inference then skips r).
func (d *Decoder) decryptRecord(t *tlsTrack, r tlsrecord.Record, raw []byte) bool {
	x := t.dec
	if x == nil {
		return false
	}
	if x.wait == keyWaiting {
		return d.holdRecord(t, r, raw)
	}
	if raw == nil {
		x.conn.Lost(tlskeys.Direction(r.Dir))
		return x.smtp
	}
	if !x.started {
		f := t.conn.Facts()
		if f.ServerHello == nil || f.ClientHello == nil {
			return false // records before the ServerHello are in clear
		}
		ch := f.ClientHello
		if f.SecondClientHello != nil {
			ch = f.SecondClientHello
		}
		s := tlskeys.Session{Version: f.ServerHello.Version(), Suite: tlskeys.Suite(f.ServerHello.CipherSuite),
			ClientRandom: ch.Random, ServerRandom: f.ServerHello.Random,
			EncryptThenMAC: slices.Contains(f.ServerHello.Extensions, 22)}
		if d.opts.TLSKeyWait.Records > 0 && x.wait == keyNotWaited && lateKeyMayCome(d.opts.TLSKeys.Ready(s)) {
			x.wait, x.session, x.since = keyWaiting, s, r.Start.Time
			return d.holdRecord(t, r, raw)
		}
		x.started = true
		if x.conn.Start(s) != nil {
			return false
		}
	}
	d.decryptOne(x, r, raw)
	return x.smtp
}

// lateKeyMayCome reports whether the key log's answer for a session may
// change as the key log grows: it lacks the session's secrets, not its
// suite or version.
func lateKeyMayCome(err error) bool {
	return errors.Is(err, tlskeys.ErrNoKey) || errors.Is(err, tlskeys.ErrMissingSecret)
}

// holdRecord holds record r (raw nil: records a gap took) of a connection
// waiting for its key, then looks at the key log again.
func (d *Decoder) holdRecord(t *tlsTrack, r tlsrecord.Record, raw []byte) bool {
	x := t.dec
	x.held = append(x.held, heldRecord{r: r, raw: slices.Clone(raw)})
	x.heldBytes += len(raw)
	return d.retryKey(t, r.End.Time, false)
}

// retryKey looks at the key log again for a connection waiting for its
// key at capture time now: when the secrets are there, the records held
// are decrypted; when a bound of Options.TLSKeyWait has passed (or last
// is set: the connection ended), they are let go. It returns whether
// decryption has taken the session over.
func (d *Decoder) retryKey(t *tlsTrack, now time.Time, last bool) bool {
	x := t.dec
	if x == nil || x.wait != keyWaiting {
		return x != nil && x.smtp
	}
	w := &d.opts.TLSKeyWait
	if w.Refresh != nil {
		w.Refresh()
	}
	err := d.opts.TLSKeys.Ready(x.session)
	switch {
	case err == nil:
		x.wait, x.keyWait = keyArrived, now.Sub(x.since)
		for _, h := range x.held {
			if h.raw != nil {
				x.heldForKey++
			}
		}
	case !lateKeyMayCome(err):
		x.wait, x.gaveUp = keyTooLate, "it could use"
	case last:
		x.wait, x.gaveUp = keyTooLate, "before the connection ended"
	case len(x.held) > w.Records:
		x.wait, x.gaveUp = keyTooLate, fmt.Sprintf("within %d records", w.Records)
	case x.heldBytes > w.Bytes:
		x.wait, x.gaveUp = keyTooLate, fmt.Sprintf("within %d bytes of records", w.Bytes)
	case now.Sub(x.since) >= w.Time:
		x.wait, x.gaveUp = keyTooLate, fmt.Sprintf("within %s of the handshake", w.Time)
	default:
		return false
	}
	x.started = true
	// Without the key, Start and the records held give the Status its
	// reason and counts, as a session without a wait would have them.
	x.conn.Start(x.session)
	for _, h := range x.held {
		if h.raw == nil {
			x.conn.Lost(tlskeys.Direction(h.r.Dir))
			x.gaps++
			continue
		}
		d.decryptOne(x, h.r, h.raw)
	}
	x.held, x.heldBytes = nil, 0
	return x.smtp
}

// RetryTLSKeys looks at the key log again (Options.TLSKeyWait) for a
// connection whose TLS session waits for its key, at capture time now:
// when the key log has gained its secrets, the records held are decrypted
// and read as SMTP; when the wait's time has passed, the session is left
// to the inference. A live run calls it when its key log grew and on its
// sweeps; on any other connection it does nothing.
func (d *Decoder) RetryTLSKeys(now time.Time) {
	if d.life == lifeEnded || d.tls == nil || d.tls.dec == nil || d.tls.dec.wait != keyWaiting {
		return
	}
	d.retryKey(d.tls, now, false)
	d.readPlain()
	d.syncTLS()
}

// lastKeyRetry looks at the key log a last time for a session still
// waiting for its key when the connection ends, before its end is read.
func (d *Decoder) lastKeyRetry(at reassembly.Mark) {
	if d.tls == nil || d.tls.dec == nil || d.tls.dec.wait != keyWaiting {
		return
	}
	d.retryKey(d.tls, at.Time, true)
	d.readPlain()
}

// WaitingForTLSKey reports whether the connection's TLS session waits for
// its key (Options.TLSKeyWait).
func (d *Decoder) WaitingForTLSKey() bool {
	return d.tls != nil && d.tls.dec != nil && d.tls.dec.wait == keyWaiting
}

// lostRecords tells the decryption that records of dir were lost to a
// capture gap: in order among the records held while a key is waited for.
func (d *Decoder) lostRecords(dir reassembly.Direction, at reassembly.Mark) {
	x := d.tls.dec
	if x.wait == keyWaiting {
		d.holdRecord(d.tls, tlsrecord.Record{Dir: dir, Start: at, End: at}, nil)
		return
	}
	// Records may have gone with the gap, headers and all: the
	// decrypter looks for the next one's sequence number.
	x.conn.Lost(tlskeys.Direction(dir))
	if x.started {
		x.gaps++
	}
}

// decryptOne decrypts record r of a started session and keeps what it
// gave.
func (d *Decoder) decryptOne(x *decryptTrack, r tlsrecord.Record, raw []byte) {
	rec, err := x.conn.Decrypt(tlskeys.Direction(r.Dir), raw)
	switch {
	case err != nil:
		if (x.smtp || len(x.plain) > 0) && len(x.plain) < maxPlainChunks {
			// Its plaintext is missing from the SMTP streams, as if a
			// capture gap took it: the readers must not join what came
			// before it to what comes after, nor wait for what it held.
			x.plain = append(x.plain, plainChunk{dir: r.Dir, at: r.End, lost: true})
		}
	case rec.Type == tlskeys.ApplicationData && len(rec.Data) > 0 && len(x.plain) < maxPlainChunks:
		x.plain = append(x.plain, plainChunk{dir: r.Dir, data: slices.Clone(rec.Data), at: r.End})
	case rec.Type == tlskeys.Alert && rec.Protected():
		x.alert(r, rec.Data)
	}
}

// alert keeps the alerts of a decrypted alert record (RFC 8446 §6: level
// and description, two bytes each; a record may hold several).
func (x *decryptTrack) alert(r tlsrecord.Record, b []byte) {
	for ; len(b) >= 2 && len(x.alerts) < maxDecryptedAlerts; b = b[2:] {
		x.alerts = append(x.alerts, tlsrecord.Alert{Dir: r.Dir, At: r.End, Level: b[0], Description: b[1], Decrypted: true})
	}
}

// maxPlainChunks bounds the records decrypted within one Data call: a
// 64 KiB segment holds at most 64 Ki / 6 records of one byte.
const maxPlainChunks = 1 << 14

// decrypting reports whether the raw bytes of the connection are TLS
// records whose plaintext the SMTP readers read.
func (d *Decoder) decrypting() bool {
	return d.tls != nil && d.tls.dec != nil && d.tls.dec.smtp
}

// readPlain hands the decrypted application data to the SMTP readers. The
// first time, both sides leave their TLS states for reading commands and
// replies (RFC 3207 §4.2: after the handshake the client starts over with
// EHLO; with implicit TLS the server's greeting comes first).
func (d *Decoder) readPlain() {
	if d.tls == nil || d.tls.dec == nil || d.tls.dec.feeding || len(d.tls.dec.plain) == 0 {
		return
	}
	x := d.tls.dec
	x.feeding = true
	defer func() { x.feeding = false }()
	for len(x.plain) > 0 && d.life == lifeOpen {
		c := x.plain[0]
		x.plain = x.plain[1:]
		if !x.smtp {
			x.smtp = true
			if d.detect == detectTLS {
				d.detect = detectUndecided
			}
			d.clientUpdate(clientEvent{in: evDecrypted})
			d.serverUpdate(serverEvent{in: evServerDecrypted})
		}
		if d.detect == detectNotSMTP {
			continue
		}
		if c.lost {
			d.undecryptable(c)
			continue
		}
		at := reassembly.ConstMarker(c.at)
		if d.detect == detectUndecided {
			d.undecided += len(c.data)
		}
		if c.dir == reassembly.ClientToServer {
			d.client.last = c.at
			d.clientData(c.data, at)
		} else {
			d.server.last = c.at
			d.server.seen += int64(len(c.data))
			d.serverData(c.data, at)
		}
		if d.detect == detectUndecided && d.undecided > detectLimit {
			d.notSMTP()
		}
	}
	x.plain = x.plain[:0]
}

// undecryptable tells the SMTP reader of c.dir that a record's plaintext
// is missing, of unknown length: a content gap (RFC 5321 gives no way to
// resynchronise but the next line; what was waiting on the record becomes
// unknown, never failed).
func (d *Decoder) undecryptable(c plainChunk) {
	d.anomalyf(AnomalyContentGap, c.at.Frame, "a TLS record of the %s ending in frame %d did not decrypt: its plaintext is missing", c.dir, c.at.Frame)
	if c.dir == reassembly.ClientToServer {
		d.clientGap(-1, c.at)
	} else {
		d.serverGap()
	}
}

// decryptionState states what came of decrypting the connection, in
// t.decryption; nil without keys.
func (t *tlsTrack) decryptionState() *Decryption {
	if t.dec == nil {
		return nil
	}
	st := t.dec.conn.Status()
	if st.Reason != t.dec.reason {
		// Worded once per error: the Session is synced on every call.
		t.dec.reason, t.dec.reasonText = st.Reason, ""
		if st.Reason != nil {
			t.dec.reasonText = st.Reason.Error()
		}
	}
	out := &t.decryption
	*out = Decryption{Decrypted: st.Decrypted, Failed: st.Failed, Alerts: t.dec.alerts[:len(t.dec.alerts):len(t.dec.alerts)], Reason: t.dec.reasonText,
		HeldForKey: t.dec.heldForKey, KeyWait: t.dec.keyWait}
	switch {
	case t.dec.wait == keyWaiting:
		out.State, out.Reason = DecryptionInferred, "waiting for the session's secrets in the followed key log"
		return out
	}
	switch st.Outcome {
	case tlskeys.OutcomeNotStarted:
		out.State, out.Reason = DecryptionInferred, "no ServerHello in the capture"
	case tlskeys.OutcomeNoKeys:
		out.State = DecryptionInferred
		if t.dec.wait == keyTooLate {
			out.Reason += "; the followed key log gave none " + t.dec.gaveUp
		}
	case tlskeys.OutcomeFailed:
		out.State = DecryptionFailed
	case tlskeys.OutcomeDecrypted:
		out.State = DecryptionDecrypted
		if t.dec.gaps > 0 {
			out.State, out.Reason = DecryptionPartial, "capture gaps took records"
		}
	default:
		out.State = DecryptionPartial
	}
	return out
}
