package tlskeys

import (
	"errors"
	"fmt"
)

// Sentinel errors: the reasons a record or a connection is not decrypted.
// Errors returned by this package wrap one of them; test with errors.Is.
var (
	// ErrNoKey means the key log has no line for the connection's
	// ClientHello random.
	ErrNoKey = errors.New("no key for this client random")
	// ErrMissingSecret means the key log knows the client random but not
	// the secret this version needs (say, TLS 1.3 lines for a TLS 1.2
	// session), or gave one of the wrong length for the suite.
	ErrMissingSecret = errors.New("the key log lacks the secret this session needs")
	// ErrBadRecordMAC means a record failed authentication: a wrong
	// secret, a record lost or altered, or records fed out of order.
	ErrBadRecordMAC = errors.New("bad record MAC")
	// ErrUnknownSuite means the cipher suite is not one this package
	// decrypts, or does not fit the version.
	ErrUnknownSuite = errors.New("unknown cipher suite")
	// ErrUnsupportedVersion means a protocol version other than TLS 1.0
	// to 1.3.
	ErrUnsupportedVersion = errors.New("unsupported TLS version")
	// ErrMalformedRecord means a record whose length cannot hold its
	// protection, or a header that does not match the record's size.
	ErrMalformedRecord = errors.New("malformed record")
	// ErrRenegotiation means a TLS 1.2 renegotiation (a second
	// ChangeCipherSpec under encryption), which is not followed.
	ErrRenegotiation = errors.New("renegotiation is not decrypted")
)

// ContentType is a record's content type (RFC 8446 §5.1).
type ContentType uint8

// Content types.
const (
	ChangeCipherSpec ContentType = 20
	Alert            ContentType = 21
	Handshake        ContentType = 22
	ApplicationData  ContentType = 23
)

// Handshake message types this package acts on (RFC 8446 §4).
const (
	handshakeFinished  = 20
	handshakeKeyUpdate = 24
)

// Direction says whose records a Decrypter reads.
type Direction int

const (
	// ClientToServer is the client's records, protected with the
	// client's write keys.
	ClientToServer Direction = iota
	// ServerToClient is the server's records.
	ServerToClient
)

func (d Direction) String() string {
	if d == ServerToClient {
		return "server"
	}
	return "client"
}

// Session is what a Decrypter needs to know of a handshake, all of it
// visible in clear in ClientHello and ServerHello.
type Session struct {
	// Version is the negotiated version: ServerHello's
	// supported_versions for TLS 1.3, its legacy_version otherwise.
	Version uint16
	// Suite is the cipher suite ServerHello chose.
	Suite Suite
	// ClientRandom and ServerRandom are the Hello randoms. Only TLS ≤ 1.2
	// needs ServerRandom.
	ClientRandom, ServerRandom Random
	// EncryptThenMAC is set when ServerHello echoed the encrypt_then_mac
	// extension (22) for a CBC suite (RFC 7366).
	EncryptThenMAC bool
}

// Epoch says which keys protect a record.
type Epoch int

// Epochs, in the order a connection goes through them.
const (
	// EpochClear is the records sent before protection starts.
	EpochClear Epoch = iota
	// EpochHandshake is TLS 1.3's handshake traffic keys.
	EpochHandshake
	// EpochApplication is the application traffic keys (TLS 1.3, the
	// first generation and each one after a KeyUpdate) or the key block's
	// keys (TLS ≤ 1.2).
	EpochApplication
)

func (e Epoch) String() string {
	switch e {
	case EpochHandshake:
		return "handshake"
	case EpochApplication:
		return "application"
	}
	return "clear"
}

// Record is one record after decryption.
type Record struct {
	// Type is the content type: the outer one of a record sent in clear
	// or under TLS ≤ 1.2, the inner one of a TLS 1.3 protected record.
	Type ContentType
	// Data is the plaintext (for a record sent in clear, its body). It is
	// valid until the next call to Decrypt.
	Data []byte
	// Epoch says which keys protected the record.
	Epoch Epoch
	// Seq is the record's sequence number within its epoch (0 for
	// records in clear).
	Seq uint64
	// Generation counts TLS 1.3 KeyUpdates before this record.
	Generation int
}

// Protected reports whether the record was encrypted on the wire.
func (r Record) Protected() bool { return r.Epoch != EpochClear }

// Decrypter removes the protection of one direction of one TLS connection.
// Feed it every record of that direction, in order, from the first one
// (the ClientHello or ServerHello) on; it knows from the records
// themselves when protection starts and when keys change. It is not safe
// for concurrent use.
type Decrypter struct {
	session Session
	info    suiteInfo
	dir     Direction
	tls13   bool

	epoch      Epoch
	seq        uint64
	generation int
	current    opener // the opener of epoch; nil if its keys are missing
	// next13 is TLS 1.3's application opener, made from the key log's
	// traffic secret 0 (nil if missing); appSecret is the secret of the
	// current generation, for KeyUpdate.
	next13    opener
	appSecret Secret
	// pending12 is TLS ≤ 1.2's opener for after ChangeCipherSpec.
	pending12 opener

	messages messageScanner
	buf      []byte
	lost     bool  // records were lost since the last one that authenticated
	missing  error // why a keyless Decrypter has no keys
	failed   error // a condition that ends decryption (renegotiation)
}

// NewDecrypter returns the Decrypter of direction dir of the connection
// described by s, with its secrets from keys. It fails with an error
// wrapping ErrUnsupportedVersion, ErrUnknownSuite, ErrNoKey or
// ErrMissingSecret when the connection cannot be decrypted at all.
func NewDecrypter(keys *KeyLog, s Session, dir Direction) (*Decrypter, error) {
	if s.Version < VersionTLS10 || s.Version > VersionTLS13 {
		return nil, fmt.Errorf("%w: 0x%04x", ErrUnsupportedVersion, s.Version)
	}
	info, ok := suites[s.Suite]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownSuite, s.Suite)
	}
	tls13 := s.Version == VersionTLS13
	if info.tls13 != tls13 || (s.Version < VersionTLS12 && info.cipher != cipherAESCBC && info.cipher != cipher3DESCBC) {
		return nil, fmt.Errorf("%w: %s cannot be used with version 0x%04x", ErrUnknownSuite, s.Suite, s.Version)
	}
	k, ok := keys.Lookup(s.ClientRandom)
	if !ok {
		return nil, fmt.Errorf("%w %s", ErrNoKey, s.ClientRandom)
	}
	d := &Decrypter{session: s, info: info, dir: dir, tls13: tls13}
	var err error
	if tls13 {
		err = d.init13(k)
	} else {
		err = d.init12(k)
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Decrypter) init13(k Keys) error {
	hs, app := k.ClientHandshake, k.ClientTraffic0
	if d.dir == ServerToClient {
		hs, app = k.ServerHandshake, k.ServerTraffic0
	}
	if hs == nil && app == nil {
		return fmt.Errorf("%w: no %s traffic secrets (TLS 1.3) for client random %s", ErrMissingSecret, d.dir, d.session.ClientRandom)
	}
	if hs != nil {
		o, err := newAEAD13(d.session.Suite, hs)
		if err != nil {
			return err
		}
		d.current = o
	}
	if app != nil {
		o, err := newAEAD13(d.session.Suite, app)
		if err != nil {
			return err
		}
		d.next13, d.appSecret = o, app
	}
	return nil
}

func (d *Decrypter) init12(k Keys) error {
	if k.MasterSecret == nil {
		return fmt.Errorf("%w: no CLIENT_RANDOM master secret (TLS ≤ 1.2) for client random %s", ErrMissingSecret, d.session.ClientRandom)
	}
	c, s, err := keyBlock(d.session.Version, d.session.Suite, k.MasterSecret, d.session.ClientRandom, d.session.ServerRandom)
	if err != nil {
		return err
	}
	bk := c
	if d.dir == ServerToClient {
		bk = s
	}
	if d.info.cipher == cipherAESGCM || d.info.cipher == cipherChaCha20 {
		d.pending12, err = newAEAD12(d.info, bk)
	} else {
		d.pending12, err = newCBC(d.session.Version, d.info, bk, d.session.EncryptThenMAC)
	}
	return err
}

// keyless returns a Decrypter for a direction whose keys are missing: it
// follows the epochs, passes the records sent in clear and fails every
// protected one with why.
func keyless(s Session, dir Direction, why error) *Decrypter {
	return &Decrypter{session: s, info: suites[s.Suite], dir: dir, tls13: s.Version == VersionTLS13, missing: why}
}

// Epoch returns the epoch the next record is expected in.
func (d *Decrypter) Epoch() Epoch { return d.epoch }

// Decrypt removes the protection of record, a whole record with its
// 5-byte header, and returns its plaintext. A record sent in clear is
// returned as it is. On error the record still counts: the next one is
// decrypted with the next sequence number, so that one damaged record
// does not stop the rest (an error wrapping ErrRenegotiation is final).
func (d *Decrypter) Decrypt(record []byte) (Record, error) {
	if d.failed != nil {
		return Record{}, d.failed
	}
	header, body, err := splitRecord(record)
	if err != nil {
		return Record{}, err
	}
	typ := ContentType(header[0])
	before := d.epoch
	d.transition(inputRecord, typ)
	if d.failed != nil {
		return Record{}, d.failed
	}
	if d.inClear(before, typ) {
		return Record{Type: typ, Data: body, Epoch: EpochClear}, nil
	}
	seq, epoch, gen := d.seq, d.epoch, d.generation
	out, got, epoch, err := d.openNext(header, body, epoch)
	if err != nil {
		return Record{}, fmt.Errorf("%s record %d of the %s epoch: %w", d.dir, seq, epoch, err)
	}
	seq, d.seq, d.lost = got, got+1, false
	d.buf = out
	rec := Record{Type: typ, Data: out, Epoch: epoch, Seq: seq, Generation: gen}
	if !d.tls13 {
		return rec, nil
	}
	if rec.Type, rec.Data, err = innerPlaintext(out); err != nil {
		return Record{}, fmt.Errorf("%s record %d of the %s epoch: %w", d.dir, seq, epoch, err)
	}
	if rec.Type == Handshake {
		d.followHandshake(rec.Data)
		if d.failed != nil {
			return rec, d.failed
		}
	}
	return rec, nil
}

// splitRecord checks that record is one whole record and splits it into
// its 5-byte header and its body.
func splitRecord(record []byte) (header, body []byte, err error) {
	if len(record) < HeaderLength {
		return nil, nil, fmt.Errorf("%w: %d bytes, shorter than a record header", ErrMalformedRecord, len(record))
	}
	header, body = record[:HeaderLength], record[HeaderLength:]
	if n := int(header[3])<<8 | int(header[4]); n != len(body) {
		return nil, nil, fmt.Errorf("%w: the header says %d bytes, the record has %d", ErrMalformedRecord, n, len(body))
	}
	return header, body, nil
}

// inClear says whether a record of type typ, which arrived in epoch
// before, was sent without protection.
func (d *Decrypter) inClear(before Epoch, typ ContentType) bool {
	// In TLS ≤ 1.2 the ChangeCipherSpec that starts protection is itself
	// in clear. A protected TLS 1.3 record is always of outer type 23
	// (RFC 8446 §5.2): anything else, such as the middlebox-compatibility
	// ChangeCipherSpec (appendix D.4) or an alert sent before the sender
	// had keys, is in clear.
	return d.epoch == EpochClear || (!d.tls13 && before == EpochClear) || (d.tls13 && typ != ApplicationData)
}

// openNext removes the protection of the next record, looking past lost
// records after Lost. It returns the plaintext, the sequence number it
// opened at and the epoch whose keys opened it.
func (d *Decrypter) openNext(header, body []byte, epoch Epoch) ([]byte, uint64, Epoch, error) {
	seq := d.seq
	tries := 1
	if d.lost {
		tries = MaxLostRecords + 1
	}
	d.seq++
	out, got, err := d.open(seq, tries, header, body)
	if err != nil && d.epoch == EpochHandshake && d.next13 != nil {
		// The handshake keys are missing or the switch to application
		// keys was missed (a lost Finished): try the application keys
		// at the start of their epoch.
		if out2, got2, err2 := d.next13.open(d.buf, 0, tries, header, body); err2 == nil {
			d.transition(inputApplicationRecord, 0)
			return out2, got2, EpochApplication, nil
		}
	}
	return out, got, epoch, err
}

// innerPlaintext splits a TLS 1.3 TLSInnerPlaintext, content ‖ type ‖
// zero padding (RFC 8446 §5.2), into its type and content.
func innerPlaintext(out []byte) (ContentType, []byte, error) {
	i := len(out) - 1
	for i >= 0 && out[i] == 0 {
		i--
	}
	if i < 0 {
		return 0, nil, fmt.Errorf("%w: no content type inside", ErrMalformedRecord)
	}
	return ContentType(out[i]), out[:i], nil
}

// followHandshake moves the TLS 1.3 key epochs on the Finished and
// KeyUpdate messages in a decrypted handshake record.
func (d *Decrypter) followHandshake(data []byte) {
	for _, m := range d.messages.scan(data) {
		switch m {
		case handshakeFinished:
			d.transition(inputFinished, 0)
		case handshakeKeyUpdate:
			d.transition(inputKeyUpdate, 0)
		}
	}
}

func (d *Decrypter) open(seq uint64, tries int, header, body []byte) ([]byte, uint64, error) {
	if d.current == nil {
		if d.missing != nil {
			return nil, seq, d.missing
		}
		return nil, seq, fmt.Errorf("%w: %v", ErrMissingSecret, errNoOpener)
	}
	return d.current.open(d.buf, seq, tries, header, body)
}

// MaxLostRecords is how many lost records Decrypt looks past after Lost:
// it tries that many sequence numbers beyond the expected one.
const MaxLostRecords = 64

// Lost tells the Decrypter that records of its direction were lost before
// the next one it will be given: a capture gap took them, or they were
// captured only in part. Their number is unknown, so Decrypt then tries up
// to MaxLostRecords sequence numbers past the expected one and goes on
// from the one under which the record authenticates. A lost TLS 1.3
// Finished is found the same way (by the application keys), but not a lost
// KeyUpdate; and in TLS 1.0, whose CBC IV is the previous record's last
// block, the first record after the loss cannot be decrypted.
func (d *Decrypter) Lost() {
	d.lost = true
	d.messages = messageScanner{}
}

// input is what moves a Decrypter from one epoch to the next.
type input int

const (
	// inputRecord is a record about to be decrypted, with its outer type.
	inputRecord input = iota
	// inputFinished is a Finished message completed in TLS 1.3's
	// decrypted handshake stream.
	inputFinished
	// inputKeyUpdate is a KeyUpdate message completed likewise.
	inputKeyUpdate
	// inputApplicationRecord is a TLS 1.3 record found to open under the
	// application keys while the handshake epoch was expected.
	inputApplicationRecord
)

// transition owns every change of epoch, keys and sequence number.
func (d *Decrypter) transition(in input, typ ContentType) {
	switch {
	case in == inputRecord && d.epoch == EpochClear && d.tls13 && typ == ApplicationData:
		// TLS 1.3: the first protected record starts the handshake
		// epoch (RFC 8446 §2: everything after ServerHello is
		// encrypted; the client's after its second flight starts).
		d.epoch, d.seq = EpochHandshake, 0
	case in == inputRecord && d.epoch == EpochClear && !d.tls13 && typ == ChangeCipherSpec:
		// TLS ≤ 1.2: the records after ChangeCipherSpec are protected,
		// from sequence number 0 (RFC 5246 §6.1, §7.1); the CCS
		// itself is in clear.
		d.epoch, d.seq, d.current = EpochApplication, 0, d.pending12
		d.pending12 = nil
	case in == inputRecord && d.epoch == EpochApplication && !d.tls13 && typ == ChangeCipherSpec:
		d.failed = fmt.Errorf("%s: %w", d.dir, ErrRenegotiation)
	case (in == inputFinished || in == inputApplicationRecord) && d.epoch == EpochHandshake:
		// The Finished ends the handshake epoch: the next record is
		// under the application keys, from 0 (RFC 8446 §7.2). No
		// handshake message may span the change (RFC 8446 §5.1).
		d.epoch, d.seq, d.current, d.next13 = EpochApplication, 0, d.next13, nil
		d.messages = messageScanner{}
	case in == inputKeyUpdate && d.epoch == EpochApplication && d.tls13:
		// A KeyUpdate: the sender's next records use the next
		// generation of its traffic secret (RFC 8446 §4.6.3, §7.2).
		d.generation++
		d.seq = 0
		d.current = nil
		if d.appSecret == nil {
			return
		}
		next, err := NextTrafficSecret(d.session.Suite, d.appSecret)
		if err != nil {
			d.appSecret = nil
			return
		}
		d.appSecret = next
		if o, err := newAEAD13(d.session.Suite, next); err == nil {
			d.current = o
		}
	}
}

// messageScanner finds the boundaries of handshake messages in a decrypted
// handshake stream that records may cut anywhere: it reads the 4-byte
// headers (type, 24-bit length) and counts the bodies without keeping them.
type messageScanner struct {
	header  [4]byte
	have    int // bytes of header read
	remains int // body bytes still to skip
}

// scan consumes data and returns the types of the messages it completes.
func (m *messageScanner) scan(data []byte) []byte {
	var done []byte
	for len(data) > 0 {
		if m.have < len(m.header) {
			n := copy(m.header[m.have:], data)
			m.have += n
			data = data[n:]
			if m.have < len(m.header) {
				break
			}
			m.remains = int(m.header[1])<<16 | int(m.header[2])<<8 | int(m.header[3])
		}
		n := min(m.remains, len(data))
		m.remains -= n
		data = data[n:]
		if m.remains == 0 {
			done = append(done, m.header[0])
			m.have = 0
		}
	}
	return done
}
