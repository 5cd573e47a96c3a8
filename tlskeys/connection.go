package tlskeys

import (
	"errors"
)

// Outcome is how far decryption of a connection went.
type Outcome int

// Outcomes, from nothing known to every record decrypted.
const (
	// OutcomeNotStarted: no ServerHello was seen, so there is nothing to
	// decrypt with (or nothing protected was sent).
	OutcomeNotStarted Outcome = iota
	// OutcomeNoKeys: neither direction can be decrypted; the Status's
	// Reason says why (ErrNoKey, ErrMissingSecret, ErrUnknownSuite,
	// ErrUnsupportedVersion).
	OutcomeNoKeys
	// OutcomeDecrypted: every protected record given was decrypted (a
	// direction that sent none may lack keys: the Reason then says so).
	OutcomeDecrypted
	// OutcomePartial: some protected records were decrypted and some were
	// not; the Status's Reason is the first record's error.
	OutcomePartial
	// OutcomeFailed: protected records were given and none decrypted
	// (ErrBadRecordMAC for a wrong key, say).
	OutcomeFailed
)

func (o Outcome) String() string {
	switch o {
	case OutcomeNoKeys:
		return "no keys"
	case OutcomeDecrypted:
		return "decrypted"
	case OutcomePartial:
		return "partly decrypted"
	case OutcomeFailed:
		return "failed"
	}
	return "not started"
}

// Status is what decryption of one connection came to: facts for a
// report, never key material.
type Status struct {
	Outcome Outcome
	// Reason is the error that kept the connection, or its first record
	// that failed, from being decrypted; nil when none did. It wraps one
	// of the package's sentinel errors.
	Reason error
	// Decrypted and Failed count the protected records per Direction.
	Decrypted, Failed [2]int
}

// Connection decrypts both directions of one TLS connection with the keys
// of a KeyLog and keeps its Status. Give it the Session once the
// ServerHello is known, then every record of each direction in order.
//
// A direction whose secrets are missing still passes its records in
// clear (a TLS 1.3 client's alert sent before it had keys, say) and fails
// its protected ones with the reason; the other direction is decrypted
// if it can be.
type Connection struct {
	keys *KeyLog
	dec  [2]*Decrypter
	lost [2]bool
	// setup is the error that left each direction without keys.
	setup  [2]error
	status Status
}

// NewConnection returns a Connection that will find its keys in keys.
func NewConnection(keys *KeyLog) *Connection { return &Connection{keys: keys} }

// Start sets up decryption of both directions of the connection s
// describes. It returns the error that leaves a direction without keys
// (the first, also kept as the Status's Reason), nil when both have them.
// A second Start is ignored.
func (c *Connection) Start(s Session) error {
	if c.dec[0] != nil {
		return c.status.Reason
	}
	for _, dir := range []Direction{ClientToServer, ServerToClient} {
		d, err := NewDecrypter(c.keys, s, dir)
		if err != nil {
			d = keyless(s, dir, err)
			c.setup[dir] = err
			if c.status.Reason == nil {
				c.status.Reason = err
			}
		}
		c.dec[dir] = d
		if c.lost[dir] {
			d.Lost()
		}
	}
	c.status.Outcome = c.outcome()
	return c.status.Reason
}

// errNotStarted is Decrypt's error before Start.
var errNotStarted = errors.New("no ServerHello yet: nothing to decrypt with")

// Decrypt removes the protection of one record of direction dir (see
// Decrypter.Decrypt) and counts it in the Status.
func (c *Connection) Decrypt(dir Direction, record []byte) (Record, error) {
	if dir != ClientToServer && dir != ServerToClient {
		return Record{}, errors.New("tlskeys: bad direction")
	}
	d := c.dec[dir]
	if d == nil {
		if c.status.Reason != nil {
			return Record{}, c.status.Reason
		}
		return Record{}, errNotStarted
	}
	rec, err := d.Decrypt(record)
	switch {
	case err != nil:
		c.status.Failed[dir]++
		if c.status.Reason == nil {
			c.status.Reason = err
		}
	case rec.Protected():
		c.status.Decrypted[dir]++
	}
	c.status.Outcome = c.outcome()
	return rec, err
}

// Lost tells direction dir's decrypter that records were lost (see
// Decrypter.Lost); before Start it is remembered until then.
func (c *Connection) Lost(dir Direction) {
	if dir != ClientToServer && dir != ServerToClient {
		return
	}
	if c.dec[dir] != nil {
		c.dec[dir].Lost()
		return
	}
	c.lost[dir] = true
}

func (c *Connection) outcome() Outcome {
	ok := c.status.Decrypted[0] + c.status.Decrypted[1]
	failed := c.status.Failed[0] + c.status.Failed[1]
	switch {
	case c.setup[0] != nil && c.setup[1] != nil:
		return OutcomeNoKeys
	case failed == 0:
		return OutcomeDecrypted
	case ok == 0:
		return OutcomeFailed
	}
	return OutcomePartial
}

// Status returns what decryption came to so far.
func (c *Connection) Status() Status { return c.status }
