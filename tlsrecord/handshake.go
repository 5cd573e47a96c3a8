package tlsrecord

import (
	"bytes"
	"crypto/x509"
	"errors"
	"net"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// Handshake messages are parsed with cryptobyte: every length-prefixed
// vector is read through a bounds-checked String, so a lying length fails
// the read instead of indexing past the message.

const (
	// maxHandshakeMessage bounds a handshake message reassembled from clear
	// records; a long certificate chain fits.
	maxHandshakeMessage = 1 << 18
	// maxCertificates bounds the certificates kept of a chain.
	maxCertificates = 10
	// maxAlerts bounds the alerts kept.
	maxAlerts = 16
	// maxHostName is the longest DNS name (RFC 1035 §2.3.4).
	maxHostName = 255
)

// Extension types (RFC 8446 §4.2, RFC 6066, RFC 7301) this package reads.
const (
	extServerName        = 0
	extALPN              = 16
	extSupportedVersions = 43
)

// helloRetryRandom is SHA-256("HelloRetryRequest"), the random of a
// HelloRetryRequest (RFC 8446 §4.1.3).
var helloRetryRandom = [32]byte{
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
}

var errMalformed = errors.New("malformed handshake message")

// handshakeReader reassembles handshake messages (RFC 8446 §4: type,
// 3-byte length, body) from the fragments of clear handshake records.
type handshakeReader struct {
	buf []byte
	// skip counts bytes of an over-long message still to drop.
	skip int
	// broken is set when a gap took handshake bytes: message boundaries
	// are unknown from there on.
	broken bool
}

// add appends a fragment and calls each for every message it completes.
// It reports whether a message was longer than maxHandshakeMessage.
func (h *handshakeReader) add(frag []byte, each func(typ uint8, body []byte)) (tooLong bool) {
	if h.broken {
		return false
	}
	if h.skip > 0 {
		n := min(h.skip, len(frag))
		h.skip -= n
		frag = frag[n:]
	}
	h.buf = append(h.buf, frag...)
	b := h.buf
	for len(b) >= 4 {
		n := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		if n > maxHandshakeMessage {
			tooLong = true
			h.skip = 4 + n - len(b)
			b = nil
			break
		}
		if len(b) < 4+n {
			break
		}
		each(b[0], b[4:4+n])
		b = b[4+n:]
	}
	if len(b) == 0 {
		h.buf = h.buf[:0]
	} else if len(b) < len(h.buf) {
		h.buf = append(h.buf[:0], b...)
	}
	return tooLong
}

// parseClientHello parses a ClientHello body (RFC 8446 §4.1.2; RFC 5246
// §7.4.1.2, where extensions may be absent).
func parseClientHello(body []byte) (*ClientHello, error) {
	s := cryptobyte.String(body)
	h := &ClientHello{}
	var random, sid, suites, comp cryptobyte.String
	if !s.ReadUint16(&h.LegacyVersion) || !s.ReadBytes((*[]byte)(&random), 32) ||
		!s.ReadUint8LengthPrefixed(&sid) || !s.ReadUint16LengthPrefixed(&suites) ||
		!s.ReadUint8LengthPrefixed(&comp) {
		return nil, errMalformed
	}
	copy(h.Random[:], random)
	h.SessionID = bytes.Clone(sid)
	for !suites.Empty() {
		var cs uint16
		if !suites.ReadUint16(&cs) {
			return nil, errMalformed
		}
		h.CipherSuites = append(h.CipherSuites, cs)
	}
	exts, err := readExtensions(s, h.readExtension)
	if err != nil {
		return nil, err
	}
	h.Extensions = exts
	return h, nil
}

// readExtensions reads the extensions block that ends a hello (absent in
// some TLS ≤ 1.2 hellos), calls each for every extension in order and
// returns their types.
func readExtensions(s cryptobyte.String, each func(typ uint16, ext cryptobyte.String) error) ([]uint16, error) {
	if s.Empty() {
		return nil, nil
	}
	var exts cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&exts) {
		return nil, errMalformed
	}
	var types []uint16
	for !exts.Empty() {
		var typ uint16
		var ext cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&ext) {
			return types, errMalformed
		}
		types = append(types, typ)
		if err := each(typ, ext); err != nil {
			return types, err
		}
	}
	return types, nil
}

// readExtension reads one ClientHello extension this package keeps.
func (h *ClientHello) readExtension(typ uint16, ext cryptobyte.String) error {
	switch typ {
	case extServerName: // RFC 6066 §3
		var list cryptobyte.String
		if !ext.ReadUint16LengthPrefixed(&list) {
			return errMalformed
		}
		for !list.Empty() {
			var nameType uint8
			var name cryptobyte.String
			if !list.ReadUint8(&nameType) || !list.ReadUint16LengthPrefixed(&name) {
				return errMalformed
			}
			if nameType == 0 && h.ServerName == "" && isHostName(name) {
				h.ServerName = string(name)
			}
		}
	case extALPN: // RFC 7301 §3.1
		alpn, err := readALPN(ext)
		if err != nil {
			return err
		}
		h.ALPN = alpn
	case extSupportedVersions: // RFC 8446 §4.2.1
		var list cryptobyte.String
		if !ext.ReadUint8LengthPrefixed(&list) {
			return errMalformed
		}
		h.SupportedVersions = []uint16{}
		for !list.Empty() {
			var v uint16
			if !list.ReadUint16(&v) {
				return errMalformed
			}
			h.SupportedVersions = append(h.SupportedVersions, v)
		}
	}
	return nil
}

func readALPN(ext cryptobyte.String) ([]string, error) {
	var list cryptobyte.String
	if !ext.ReadUint16LengthPrefixed(&list) {
		return nil, errMalformed
	}
	var out []string
	for !list.Empty() {
		var p cryptobyte.String
		if !list.ReadUint8LengthPrefixed(&p) || p.Empty() {
			return nil, errMalformed
		}
		out = append(out, printable(p))
	}
	return out, nil
}

// parseServerHello parses a ServerHello or HelloRetryRequest body (RFC
// 8446 §4.1.3).
func parseServerHello(body []byte) (*ServerHello, error) {
	s := cryptobyte.String(body)
	h := &ServerHello{}
	var random, sid cryptobyte.String
	var comp uint8
	if !s.ReadUint16(&h.LegacyVersion) || !s.ReadBytes((*[]byte)(&random), 32) ||
		!s.ReadUint8LengthPrefixed(&sid) || !s.ReadUint16(&h.CipherSuite) || !s.ReadUint8(&comp) {
		return nil, errMalformed
	}
	copy(h.Random[:], random)
	h.SessionID = bytes.Clone(sid)
	h.RetryRequest = h.Random == helloRetryRandom
	exts, err := readExtensions(s, h.readExtension)
	if err != nil {
		return nil, err
	}
	h.Extensions = exts
	return h, nil
}

// readExtension reads the ServerHello extensions smtpscope reports.
func (h *ServerHello) readExtension(typ uint16, ext cryptobyte.String) error {
	switch typ {
	case extSupportedVersions:
		if !ext.ReadUint16(&h.SupportedVersion) {
			return errMalformed
		}
	case extALPN:
		alpn, err := readALPN(ext)
		if err != nil {
			return err
		}
		if len(alpn) > 0 {
			h.ALPN = alpn[0]
		}
	}
	return nil
}

// parseCertificates parses a TLS ≤ 1.2 Certificate body (RFC 5246
// §7.4.2): a 3-byte-length list of 3-byte-length DER certificates. at is
// the capture time the validity is judged at; cache, if not nil, keeps
// the certificates read before. It reports whether the chain had more
// than maxCertificates and whether one did not parse.
func parseCertificates(body []byte, at time.Time, cache *CertificateCache) (certs []Certificate, tooMany, bad bool, err error) {
	s := cryptobyte.String(body)
	var list cryptobyte.String
	if !s.ReadUint24LengthPrefixed(&list) || !s.Empty() {
		return nil, false, false, errMalformed
	}
	for !list.Empty() {
		var der cryptobyte.String
		if !list.ReadUint24LengthPrefixed(&der) {
			return certs, tooMany, bad, errMalformed
		}
		if len(certs) == maxCertificates {
			tooMany = true
			continue
		}
		c := certificate(der, at, cache)
		bad = bad || c.ParseError != ""
		certs = append(certs, c)
	}
	return certs, tooMany, bad, nil
}

// certificate keeps the facts of one DER certificate, judged at time at;
// what does not depend on at comes from cache when it holds der.
func certificate(der []byte, at time.Time, cache *CertificateCache) Certificate {
	c, ok := cache.lookup(der)
	if !ok {
		c = parseCertificate(der)
		cache.keep(der, c)
	}
	if c.ParseError == "" && !at.IsZero() {
		c.ExpiredAtCapture = at.After(c.NotAfter)
		c.NotYetValid = at.Before(c.NotBefore)
	}
	return c
}

// parseCertificate reads one DER certificate: all of certificate but what
// depends on the time it was seen.
func parseCertificate(der []byte) Certificate {
	x, err := x509.ParseCertificate(der)
	if err != nil {
		return Certificate{ParseError: err.Error()}
	}
	c := Certificate{
		Subject:    x.Subject.String(),
		Issuer:     x.Issuer.String(),
		CommonName: x.Subject.CommonName,
		DNSNames:   x.DNSNames,
		NotBefore:  x.NotBefore,
		NotAfter:   x.NotAfter,
		x509:       x,
	}
	for _, ip := range x.IPAddresses {
		c.IPs = append(c.IPs, net.IP(ip).String())
	}
	// Self-signed: issued by its own subject and signed by its own key.
	c.SelfSigned = bytes.Equal(x.RawIssuer, x.RawSubject) &&
		x.CheckSignature(x.SignatureAlgorithm, x.RawTBSCertificate, x.Signature) == nil
	return c
}

// isHostName accepts the printable ASCII of a DNS name, so that no binary
// junk reaches a report.
func isHostName(b []byte) bool {
	if len(b) == 0 || len(b) > maxHostName {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// printable returns b with bytes outside printable ASCII replaced by '?'.
func printable(b []byte) string {
	out := []byte(nil)
	for i, c := range b {
		if c < ' ' || c >= 0x7f {
			if out == nil {
				out = bytes.Clone(b)
			}
			out[i] = '?'
		}
	}
	if out == nil {
		return string(b)
	}
	return string(out)
}
