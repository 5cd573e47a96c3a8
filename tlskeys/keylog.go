package tlskeys

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Random is a ClientHello or ServerHello random, the 32 bytes a key log
// line is keyed by.
type Random [32]byte

// String returns the random in hex, as key log lines and Wireshark show it.
// A random is public (it is sent in clear), unlike a [Secret].
func (r Random) String() string { return hex.EncodeToString(r[:]) }

// Secret is key material: a master secret or a traffic secret. It formats
// as a redaction under every fmt verb, so that it cannot reach a report, a
// log line or an error by accident.
type Secret []byte

// String returns "[secret, N bytes]", never the bytes.
func (s Secret) String() string { return fmt.Sprintf("[secret, %d bytes]", len(s)) }

// GoString is String, so that %#v redacts too.
func (s Secret) GoString() string { return s.String() }

// Format writes String for every verb (%x and %s included).
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// Label is the first field of a key log line.
type Label int

// The key log labels of the NSS key log format. LabelClientRandom is TLS
// 1.0–1.2's master secret; the others are TLS 1.3 secrets (RFC 8446 §7.1).
const (
	LabelUnknown Label = iota
	// LabelClientRandom is CLIENT_RANDOM: the 48-byte master secret.
	LabelClientRandom
	// LabelClientEarlyTrafficSecret is CLIENT_EARLY_TRAFFIC_SECRET (0-RTT;
	// read but not used).
	LabelClientEarlyTrafficSecret
	// LabelClientHandshakeTrafficSecret is CLIENT_HANDSHAKE_TRAFFIC_SECRET.
	LabelClientHandshakeTrafficSecret
	// LabelServerHandshakeTrafficSecret is SERVER_HANDSHAKE_TRAFFIC_SECRET.
	LabelServerHandshakeTrafficSecret
	// LabelClientTrafficSecret0 is CLIENT_TRAFFIC_SECRET_0.
	LabelClientTrafficSecret0
	// LabelServerTrafficSecret0 is SERVER_TRAFFIC_SECRET_0.
	LabelServerTrafficSecret0
	// LabelExporterSecret is EXPORTER_SECRET (read but not used).
	LabelExporterSecret
)

var labelNames = map[string]Label{
	"CLIENT_RANDOM":                   LabelClientRandom,
	"CLIENT_EARLY_TRAFFIC_SECRET":     LabelClientEarlyTrafficSecret,
	"CLIENT_HANDSHAKE_TRAFFIC_SECRET": LabelClientHandshakeTrafficSecret,
	"SERVER_HANDSHAKE_TRAFFIC_SECRET": LabelServerHandshakeTrafficSecret,
	"CLIENT_TRAFFIC_SECRET_0":         LabelClientTrafficSecret0,
	"SERVER_TRAFFIC_SECRET_0":         LabelServerTrafficSecret0,
	"EXPORTER_SECRET":                 LabelExporterSecret,
}

// String returns the label as a key log spells it.
func (l Label) String() string {
	for name, v := range labelNames {
		if v == l {
			return name
		}
	}
	return "unknown label"
}

// Keys are the secrets a key log holds for one client random. A field is
// nil when no line gave it.
type Keys struct {
	// MasterSecret is the TLS ≤ 1.2 master secret (CLIENT_RANDOM).
	MasterSecret Secret
	// ClientHandshake and ServerHandshake are the TLS 1.3 handshake
	// traffic secrets.
	ClientHandshake, ServerHandshake Secret
	// ClientTraffic0 and ServerTraffic0 are the first TLS 1.3 application
	// traffic secrets.
	ClientTraffic0, ServerTraffic0 Secret
}

// slot returns the field of k that label fills, or nil for labels that are
// read but not kept.
func (k *Keys) slot(l Label) *Secret {
	switch l {
	case LabelClientRandom:
		return &k.MasterSecret
	case LabelClientHandshakeTrafficSecret:
		return &k.ClientHandshake
	case LabelServerHandshakeTrafficSecret:
		return &k.ServerHandshake
	case LabelClientTrafficSecret0:
		return &k.ClientTraffic0
	case LabelServerTrafficSecret0:
		return &k.ServerTraffic0
	}
	return nil
}

// Limits of the key log reader.
const (
	// MaxLineLength is the longest key log line read; a longer one is
	// reported and skipped. The longest valid line (a 48-byte TLS 1.3
	// secret) is 31 + 1 + 64 + 1 + 96 characters.
	MaxLineLength = 1024
	// MaxProblems is how many bad lines a KeyLog keeps to report; more
	// are only counted.
	MaxProblems = 100
	// masterSecretLength is the length of a TLS ≤ 1.2 master secret
	// (RFC 5246 §8.1).
	masterSecretLength = 48
)

// LineError is a key log line that was skipped. It never holds the line's
// secret.
type LineError struct {
	// Name is the name of the key log (a file name, or the pcapng block
	// it came from).
	Name string
	// Line is the 1-based line number; 0 for a conflict found merging
	// key logs (KeyLog.Merge).
	Line int
	// Reason says what is wrong, without quoting the secret.
	Reason string
}

func (e LineError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.Name, e.Reason) // found merging key logs (KeyLog.Merge)
	}
	return fmt.Sprintf("%s:%d: %s", e.Name, e.Line, e.Reason)
}

// KeyLog is a store of secrets keyed by client random, filled from NSS key
// log lines. The zero value is not usable; make one with [NewKeyLog]. A
// KeyLog is not safe for concurrent use while it is being filled.
type KeyLog struct {
	keys     map[Random]*Keys
	unknown  map[string]int
	problems []LineError
	bad      int // bad lines, including those not kept in problems
	entries  int // lines that gave a secret
}

// NewKeyLog returns an empty key log.
func NewKeyLog() *KeyLog {
	return &KeyLog{keys: make(map[Random]*Keys), unknown: make(map[string]int)}
}

// String describes the key log without any secret.
func (k *KeyLog) String() string {
	return fmt.Sprintf("key log: %d client randoms, %d secrets, %d bad lines", len(k.keys), k.entries, k.bad)
}

// Read adds the lines of r to the key log. name is used in line errors.
// Bad lines are recorded (see [KeyLog.Problems]) and skipped; Read returns
// an error only when r fails.
func (k *KeyLog) Read(name string, r io.Reader) error {
	_, err := k.readFrom(name, 1, r)
	return err
}

// readFrom is Read with the lines of r numbered from first; it returns
// how many lines it read.
func (k *KeyLog) readFrom(name string, first int, r io.Reader) (int, error) {
	br := bufio.NewReaderSize(r, MaxLineLength+1)
	for n := first; ; n++ {
		line, err := br.ReadSlice('\n')
		tooLong := false
		for errors.Is(err, bufio.ErrBufferFull) {
			tooLong = true
			_, err = br.ReadSlice('\n')
		}
		if tooLong {
			k.problem(LineError{name, n, fmt.Sprintf("line longer than %d bytes", MaxLineLength)})
		} else if len(line) > 0 {
			k.line(name, n, line)
		}
		if err == io.EOF {
			if len(line) == 0 && !tooLong {
				n--
			}
			return n - first + 1, nil
		}
		if err != nil {
			return n - first, fmt.Errorf("%s: line %d: %w", name, n, err)
		}
	}
}

// Add adds key log lines held in memory, such as the payload of a pcapng
// Decryption Secrets Block.
func (k *KeyLog) Add(name string, data []byte) {
	// Reading from a bytes.Reader cannot fail.
	_ = k.Read(name, bytes.NewReader(data))
}

// line parses one line: LABEL <client random hex> <secret hex>.
func (k *KeyLog) line(name string, n int, line []byte) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] == '#' {
		return
	}
	fields := bytes.Fields(line)
	label, ok := labelNames[string(fields[0])]
	if !ok {
		if len(k.unknown) < MaxProblems {
			k.unknown[printable(fields[0])]++
		} else {
			k.unknown["(other)"]++
		}
		return
	}
	if len(fields) != 3 {
		k.problem(LineError{name, n, fmt.Sprintf("%s: %d fields, want 3 (label, client random, secret)", label, len(fields))})
		return
	}
	var random Random
	if len(fields[1]) != 2*len(random) {
		k.problem(LineError{name, n, fmt.Sprintf("%s: the client random has %d hex digits, want 64", label, len(fields[1]))})
		return
	}
	if _, err := hex.Decode(random[:], fields[1]); err != nil {
		k.problem(LineError{name, n, fmt.Sprintf("%s: the client random is not hex", label)})
		return
	}
	secret := make(Secret, hex.DecodedLen(len(fields[2])))
	if len(fields[2])%2 != 0 {
		k.problem(LineError{name, n, fmt.Sprintf("%s: the secret has an odd number of hex digits", label)})
		return
	}
	if _, err := hex.Decode(secret, fields[2]); err != nil {
		k.problem(LineError{name, n, fmt.Sprintf("%s: the secret is not hex", label)})
		return
	}
	switch {
	case label == LabelClientRandom && len(secret) != masterSecretLength:
		k.problem(LineError{name, n, fmt.Sprintf("%s: the master secret is %d bytes, want %d", label, len(secret), masterSecretLength)})
		return
	case label != LabelClientRandom && len(secret) != 32 && len(secret) != 48:
		k.problem(LineError{name, n, fmt.Sprintf("%s: the secret is %d bytes, want 32 (SHA-256 suites) or 48 (SHA-384)", label, len(secret))})
		return
	}
	keys := k.keys[random]
	if keys == nil {
		keys = new(Keys)
	}
	slot := keys.slot(label)
	if slot == nil {
		return // a label read but not used
	}
	if *slot != nil {
		if !bytes.Equal(*slot, secret) {
			k.problem(LineError{name, n, fmt.Sprintf("%s: a different secret for client random %s was given before; the first is kept", label, random)})
		}
		return
	}
	*slot = secret
	k.keys[random] = keys
	k.entries++
}

// Merge adds to k what from holds: the secrets k lacks, from's bad lines
// and its unknown labels. A secret that differs from the one k holds for
// the same client random and label is a bad line named name (the first
// is kept), as it is when both are read into one KeyLog. It returns how
// many secrets it added. k and from must not be the same.
func (k *KeyLog) Merge(name string, from *KeyLog) int {
	n := 0
	for r, fk := range from.keys {
		keys := k.keys[r]
		if keys == nil {
			keys = new(Keys)
		}
		added := false
		for _, l := range []Label{LabelClientRandom, LabelClientHandshakeTrafficSecret, LabelServerHandshakeTrafficSecret,
			LabelClientTrafficSecret0, LabelServerTrafficSecret0} {
			src, dst := fk.slot(l), keys.slot(l)
			switch {
			case *src == nil:
			case *dst == nil:
				*dst, added = *src, true
				n++
			case !bytes.Equal(*dst, *src):
				k.problem(LineError{name, 0, fmt.Sprintf("%s: a different secret for client random %s was given before; the first is kept", l, r)})
			}
		}
		if added {
			k.keys[r] = keys
		}
	}
	k.entries += n
	k.bad += from.bad - len(from.problems)
	for _, e := range from.problems {
		k.problem(e)
	}
	for label, c := range from.unknown {
		if _, ok := k.unknown[label]; !ok && len(k.unknown) >= MaxProblems {
			label = "(other)"
		}
		k.unknown[label] += c
	}
	return n
}

func (k *KeyLog) problem(e LineError) {
	k.bad++
	if len(k.problems) < MaxProblems {
		k.problems = append(k.problems, e)
	}
}

// printable returns b for a message, with anything but printable ASCII
// replaced and its length capped.
func printable(b []byte) string {
	const max = 40
	out := make([]byte, 0, max)
	for i, c := range b {
		if i == max {
			out = append(out, "..."...)
			break
		}
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out = append(out, c)
	}
	return string(out)
}

// Lookup returns the secrets known for a client random.
func (k *KeyLog) Lookup(r Random) (Keys, bool) {
	keys, ok := k.keys[r]
	if !ok {
		return Keys{}, false
	}
	return *keys, true
}

// Len returns the number of client randoms with at least one secret.
func (k *KeyLog) Len() int { return len(k.keys) }

// Problems returns the first [MaxProblems] bad lines, in the order read.
func (k *KeyLog) Problems() []LineError { return k.problems }

// BadLines counts every bad line, including those Problems leaves out.
func (k *KeyLog) BadLines() int { return k.bad }

// UnknownLabels counts the lines skipped for an unknown label, by label.
func (k *KeyLog) UnknownLabels() map[string]int { return k.unknown }

// AppendLines appends the key log lines known for client random r to dst,
// in NSS key log format, and returns the extended slice: what a pcapng
// Decryption Secrets Block of one connection's keys holds (for
// `--evidence-keys`). It is the one way key material leaves a KeyLog:
// call it only when the user asked for keys to be written.
func (k *KeyLog) AppendLines(dst []byte, r Random) []byte {
	keys, ok := k.keys[r]
	if !ok {
		return dst
	}
	for _, l := range []struct {
		label  string
		secret Secret
	}{
		{"CLIENT_RANDOM", keys.MasterSecret},
		{"CLIENT_HANDSHAKE_TRAFFIC_SECRET", keys.ClientHandshake},
		{"SERVER_HANDSHAKE_TRAFFIC_SECRET", keys.ServerHandshake},
		{"CLIENT_TRAFFIC_SECRET_0", keys.ClientTraffic0},
		{"SERVER_TRAFFIC_SECRET_0", keys.ServerTraffic0},
	} {
		if l.secret == nil {
			continue
		}
		dst = append(dst, l.label...)
		dst = append(dst, ' ')
		dst = hex.AppendEncode(dst, r[:])
		dst = append(dst, ' ')
		dst = hex.AppendEncode(dst, l.secret)
		dst = append(dst, '\n')
	}
	return dst
}
