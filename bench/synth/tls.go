package synth

import (
	"crypto/ed25519"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"math/rand/v2"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// A session upgraded with STARTTLS (Options.TLS) goes on in TLS records
// whose framing is real and whose contents are opaque: the handshake
// messages sent in clear (ClientHello, ServerHello, the TLS 1.2
// Certificate, key exchange and hello-done) are well formed, with a real
// certificate chain made with crypto/x509; every protected record (the
// Finished messages, TLS 1.3's encrypted server flight and session
// tickets, the SMTP commands, replies and message bodies) is noise of the
// length the negotiated suite gives its plaintext. Nothing is encrypted:
// no key exists. An analyser without keys sees what it would see on a
// real hub and must infer each message's fate from the records' shape.

// TLS versions and record content types (RFC 8446 §5.1, §4.2.1).
const (
	tls12 = 0x0303
	tls13 = 0x0304

	recordChangeCipherSpec = 20
	recordAlert            = 21
	recordHandshake        = 22
	recordApplicationData  = 23

	// maxPlaintext is the largest record plaintext (RFC 8446 §5.1).
	maxPlaintext = 16384
)

// tlsSuite is a cipher suite the generator negotiates, with the bytes
// its protection adds to each record's plaintext.
type tlsSuite struct {
	version  uint16
	id       uint16
	name     string
	overhead int
	// finished is the length of a Finished message's verify_data.
	finished int
}

// suites: TLS 1.3 AEAD adds the inner content type and a 16-byte tag
// (RFC 8446 §5.2); TLS 1.2 GCM an 8-byte explicit nonce and the tag (RFC
// 5288), ChaCha20-Poly1305 the tag alone (RFC 7905).
var suites = []tlsSuite{
	{tls13, 0x1301, "TLS_AES_128_GCM_SHA256", 17, 32},
	{tls13, 0x1302, "TLS_AES_256_GCM_SHA384", 17, 48},
	{tls13, 0x1303, "TLS_CHACHA20_POLY1305_SHA256", 17, 32},
	{tls12, 0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 24, 12},
	{tls12, 0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", 24, 12},
	{tls12, 0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", 16, 12},
}

// recordSizes are the plaintext sizes clients write a body in: Postfix
// flushes 4 KiB buffers, others fill records.
var recordSizes = []int{4096, 8192, maxPlaintext}

// tlsPlan is what is decided about a session's TLS when it is planned.
type tlsPlan struct {
	suite      tlsSuite
	recordSize int
}

// tlsState is a session's TLS once its handshake is done.
type tlsState struct {
	plan  tlsPlan
	noise []byte
	off   int
}

// noiseSize is the size of the pool protected records are cut from.
const noiseSize = 64 << 10

// newNoise makes the pool of bytes that stand for ciphertext.
func newNoise(r *rand.Rand) []byte {
	b := make([]byte, noiseSize)
	for i := 0; i < len(b); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// fillNoise copies the next len(p) bytes of the pool into p.
func (t *tlsState) fillNoise(p []byte) {
	for len(p) > 0 {
		if t.off == len(t.noise) {
			t.off = 0
		}
		n := copy(p, t.noise[t.off:])
		t.off += n
		p = p[n:]
	}
}

// seal returns the protected record that carries plaintext of n bytes.
func (t *tlsState) seal(typ byte, n int) []byte {
	if t.plan.suite.version == tls13 {
		typ = recordApplicationData // the true type is inside (RFC 8446 §5.2)
	}
	body := n + t.plan.suite.overhead
	b := make([]byte, 5+body)
	b[0], b[1], b[2], b[3], b[4] = typ, 3, 3, byte(body>>8), byte(body)
	t.fillNoise(b[5:])
	return b
}

// record frames a clear record of type typ around body.
func record(typ byte, version uint16, body []byte) []byte {
	b := make([]byte, 5, 5+len(body))
	b[0], b[1], b[2], b[3], b[4] = typ, byte(version>>8), byte(version), byte(len(body)>>8), byte(len(body))
	return append(b, body...)
}

// handshakeMessage frames a handshake message (RFC 8446 §4).
func handshakeMessage(typ uint8, body func(*cryptobyte.Builder)) []byte {
	var b cryptobyte.Builder
	b.AddUint8(typ)
	b.AddUint24LengthPrefixed(body)
	return b.BytesOrPanic()
}

// Handshake message types (RFC 8446 §4).
const (
	hsClientHello       = 1
	hsServerHello       = 2
	hsCertificate       = 11
	hsServerKeyExchange = 12
	hsServerHelloDone   = 14
	hsClientKeyExchange = 16
)

// randomBytes draws n bytes from r.
func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// clientHello is a TLS 1.3-capable client's hello to server name sni
// (RFC 8446 §4.1.2), offering every suite of the list.
func clientHello(r *rand.Rand, sni string) []byte {
	return handshakeMessage(hsClientHello, func(b *cryptobyte.Builder) {
		b.AddUint16(tls12)
		b.AddBytes(randomBytes(r, 32))
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(randomBytes(r, 32)) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, s := range suites {
				b.AddUint16(s.id)
			}
		})
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(0) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			extension(b, 0, func(b *cryptobyte.Builder) { // server_name
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
					b.AddUint8(0)
					b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(sni)) })
				})
			})
			extension(b, 10, func(b *cryptobyte.Builder) { // supported_groups: x25519, secp256r1
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint16(0x001d); b.AddUint16(0x0017) })
			})
			extension(b, 11, func(b *cryptobyte.Builder) { // ec_point_formats: uncompressed
				b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(0) })
			})
			extension(b, 13, func(b *cryptobyte.Builder) { // signature_algorithms
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
					b.AddUint16(0x0807) // ed25519
					b.AddUint16(0x0403) // ecdsa_secp256r1_sha256
					b.AddUint16(0x0804) // rsa_pss_rsae_sha256
				})
			})
			extension(b, 23, func(*cryptobyte.Builder) {}) // extended_master_secret
			extension(b, 43, func(b *cryptobyte.Builder) { // supported_versions
				b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint16(tls13); b.AddUint16(tls12) })
			})
			extension(b, 45, func(b *cryptobyte.Builder) { // psk_key_exchange_modes: psk_dhe_ke
				b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(1) })
			})
			extension(b, 51, func(b *cryptobyte.Builder) { // key_share: x25519
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
					b.AddUint16(0x001d)
					b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(randomBytes(r, 32)) })
				})
			})
			extension(b, 0xff01, func(b *cryptobyte.Builder) { // renegotiation_info
				b.AddUint8LengthPrefixed(func(*cryptobyte.Builder) {})
			})
		})
	})
}

func extension(b *cryptobyte.Builder, typ uint16, body func(*cryptobyte.Builder)) {
	b.AddUint16(typ)
	b.AddUint16LengthPrefixed(body)
}

// serverHello answers a ClientHello with suite s (RFC 8446 §4.1.3; RFC
// 5246 §7.4.1.3 for TLS 1.2, where the server echoes the session ID).
func serverHello(r *rand.Rand, s tlsSuite) []byte {
	return handshakeMessage(hsServerHello, func(b *cryptobyte.Builder) {
		b.AddUint16(tls12)
		b.AddBytes(randomBytes(r, 32))
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(randomBytes(r, 32)) })
		b.AddUint16(s.id)
		b.AddUint8(0)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			if s.version == tls13 {
				extension(b, 43, func(b *cryptobyte.Builder) { b.AddUint16(tls13) })
				extension(b, 51, func(b *cryptobyte.Builder) {
					b.AddUint16(0x001d)
					b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(randomBytes(r, 32)) })
				})
				return
			}
			extension(b, 23, func(*cryptobyte.Builder) {})
			extension(b, 0xff01, func(b *cryptobyte.Builder) { b.AddUint8LengthPrefixed(func(*cryptobyte.Builder) {}) })
			extension(b, 11, func(b *cryptobyte.Builder) {
				b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddUint8(0) })
			})
		})
	})
}

// certificateMessage is a TLS 1.2 Certificate message with chain (RFC
// 5246 §7.4.2).
func certificateMessage(chain [][]byte) []byte {
	return handshakeMessage(hsCertificate, func(b *cryptobyte.Builder) {
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, der := range chain {
				b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(der) })
			}
		})
	})
}

// serverKeyExchange is an ECDHE x25519 key signed with Ed25519 (RFC 8422
// §5.4); the key and the signature are noise.
func serverKeyExchange(r *rand.Rand) []byte {
	return handshakeMessage(hsServerKeyExchange, func(b *cryptobyte.Builder) {
		b.AddUint8(3) // named_curve
		b.AddUint16(0x001d)
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(randomBytes(r, 32)) })
		b.AddUint16(0x0807)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(randomBytes(r, 64)) })
	})
}

func clientKeyExchange(r *rand.Rand) []byte {
	return handshakeMessage(hsClientKeyExchange, func(b *cryptobyte.Builder) {
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(randomBytes(r, 32)) })
	})
}

// certificates makes each server's chain, its certificate and a CA's,
// valid around DefaultStart and naming the server, signed with Ed25519
// keys drawn from seed (Ed25519 signing needs no randomness, so the
// chain is the same for the same seed).
func certificates(seed uint64, servers []host) ([][][]byte, error) {
	r := rand.New(rand.NewPCG(seed, 0xce27))
	caKey := ed25519.NewKeyFromSeed(randomBytes(r, ed25519.SeedSize))
	notBefore, notAfter := DefaultStart.AddDate(0, -2, 0), DefaultStart.AddDate(1, 0, 0)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Example Hub CA", Organization: []string{"Example"}},
		NotBefore: notBefore, NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(nil, ca, ca, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("synth: CA certificate: %w", err)
	}
	chains := make([][][]byte, len(servers))
	for i, h := range servers {
		key := ed25519.NewKeyFromSeed(randomBytes(r, ed25519.SeedSize))
		leaf := &x509.Certificate{SerialNumber: big.NewInt(int64(100 + i)), Subject: pkix.Name{CommonName: h.name},
			DNSNames: []string{h.name}, NotBefore: notBefore, NotAfter: notAfter,
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		der, err := x509.CreateCertificate(nil, leaf, ca, key.Public(), caKey)
		if err != nil {
			return nil, fmt.Errorf("synth: certificate of %s: %w", h.name, err)
		}
		chains[i] = [][]byte{der, caDER}
	}
	return chains, nil
}

// handshakeTimes are how long the server and the client take to compute
// their handshake flights.
func (s *session) crypto() time.Duration {
	return 300*time.Microsecond + time.Duration(s.r.IntN(1500))*time.Microsecond
}

// tlsHandshake plays the TLS handshake after the server's 220 to
// STARTTLS, in TLS 1.2 (two round trips) or TLS 1.3 (one, then the
// server's session tickets), and makes the session's later payloads
// records.
func (s *session) tlsHandshake(chain [][]byte, noise []byte) {
	p := s.plan.tls
	s.tls = &tlsState{plan: *p, noise: noise, off: s.r.IntN(len(noise))}
	ch := record(recordHandshake, 0x0301, clientHello(s.r, s.server.name))
	t := s.t + s.client.rtt + s.think()
	s.sendClient(t, ch)
	t += s.crypto()
	sh := serverHello(s.r, p.suite)
	if p.suite.version == tls13 {
		// ServerHello, a ChangeCipherSpec for middleboxes (RFC 8446
		// Appendix D.4), then EncryptedExtensions, Certificate,
		// CertificateVerify and Finished in one protected record.
		flight := append(record(recordHandshake, tls12, sh), record(recordChangeCipherSpec, tls12, []byte{1})...)
		inner := 6 + 4 + 3 + 3 + len(chain[0]) + 2 + 3 + len(chain[1]) + 2 + 4 + 4 + 64 + 4 + p.suite.finished
		flight = append(flight, s.tls.seal(recordHandshake, inner)...)
		s.sendServer(t, flight)
		t = s.t + s.client.rtt + s.think()
		fin := append(record(recordChangeCipherSpec, tls12, []byte{1}), s.tls.seal(recordHandshake, 4+p.suite.finished)...)
		s.sendClient(t, fin)
		// The server's session tickets, once it has the client's Finished.
		for range 1 + s.r.IntN(2) {
			t += 50 * time.Microsecond
			s.sendServer(t, s.tls.seal(recordHandshake, 4+4+4+1+8+2+192+2))
		}
		return
	}
	flight := append(record(recordHandshake, tls12, sh), record(recordHandshake, tls12, certificateMessage(chain))...)
	flight = append(flight, record(recordHandshake, tls12, append(serverKeyExchange(s.r), hsServerHelloDone, 0, 0, 0))...)
	s.sendServer(t, flight)
	t = s.t + s.client.rtt + s.think() + s.crypto()
	cfin := record(recordHandshake, tls12, clientKeyExchange(s.r))
	cfin = append(cfin, record(recordChangeCipherSpec, tls12, []byte{1})...)
	cfin = append(cfin, s.tls.seal(recordHandshake, 4+p.suite.finished)...)
	s.sendClient(t, cfin)
	t += s.crypto()
	sfin := append(record(recordChangeCipherSpec, tls12, []byte{1}), s.tls.seal(recordHandshake, 4+p.suite.finished)...)
	s.sendServer(t, sfin)
}

// sendClient and sendServer queue payload as MSS-sized segments from t,
// the server ACKing the client's at once, as a command's reply does.
func (s *session) sendClient(t time.Duration, payload []byte) {
	for len(payload) > 0 {
		n := min(len(payload), mss)
		s.clientSend(t, flagPSH|flagACK, payload[:n])
		payload = payload[n:]
		t += s.client.serialize
	}
	s.sAck = s.c.nxt
	s.serverSend(t+ackDelay, flagACK, nil)
}

func (s *session) sendServer(t time.Duration, payload []byte) {
	for len(payload) > 0 {
		n := min(len(payload), mss)
		s.serverSend(t, flagPSH|flagACK, payload[:n])
		payload = payload[n:]
		t += 12 * time.Microsecond
	}
}

// wire is what goes on the wire for an SMTP line block: itself in clear,
// one protected record in TLS.
func (s *session) wire(text string) []byte {
	if s.tls == nil {
		return []byte(text)
	}
	return s.tls.seal(recordApplicationData, len(text))
}

// versionName names a TLS version as reports do.
func versionName(v uint16) string {
	if v == tls13 {
		return "TLS 1.3"
	}
	return "TLS 1.2"
}

// bodySource is what a body flight reads: bodyWriter in clear,
// sealedBody in TLS.
type bodySource interface {
	fill(p []byte) int
	left() int
	peek() byte
}

func (s *session) bodySource() bodySource {
	if s.tls != nil {
		return &s.sealed
	}
	if s.plan.bdat {
		return &s.chunkSrc
	}
	return &s.body
}

// sealedBody streams a message body as TLS records: the plaintext (the
// message and its end-of-data line) cut into records of the session's
// record size, each a header and noise of the protected length. It
// stands in for bodyWriter in TLS sessions.
type sealedBody struct {
	tls     *tlsState
	plain   int // plaintext not yet given a record
	rec     []byte
	off     int
	total   int
	written int
}

func (b *sealedBody) reset(t *tlsState, plain int) {
	*b = sealedBody{tls: t, plain: plain}
	size := t.plan.recordSize
	full := plain / size
	b.total = full * (5 + size + t.plan.suite.overhead)
	if rest := plain % size; rest > 0 {
		b.total += 5 + rest + t.plan.suite.overhead
	}
}

func (b *sealedBody) fill(p []byte) int {
	n := 0
	for n < len(p) {
		if b.off == len(b.rec) {
			if b.plain == 0 {
				break
			}
			k := min(b.plain, b.tls.plan.recordSize)
			b.plain -= k
			b.rec, b.off = b.tls.seal(recordApplicationData, k), 0
		}
		c := copy(p[n:], b.rec[b.off:])
		b.off += c
		n += c
	}
	b.written += n
	return n
}

func (b *sealedBody) left() int { return b.total - b.written }

// peek is the next byte fill would write (a zero-window probe's byte).
func (b *sealedBody) peek() byte {
	if b.off < len(b.rec) {
		return b.rec[b.off]
	}
	return recordApplicationData
}
