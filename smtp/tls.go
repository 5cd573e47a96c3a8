package smtp

import (
	"errors"
	"fmt"

	"github.com/smtpscope/smtpscope/reassembly"
)

// A small, bounded reader for the first TLS record a client sends: the
// ClientHello (RFC 8446 §4.1.2; RFC 5246 §7.4.1.2), for the version offered
// and the server name (SNI, RFC 6066 §3). crypto/tls has no public parser
// for it. Nothing here decrypts or keeps anything else.

const (
	// maxClientHello bounds the bytes buffered to read a ClientHello: a
	// record header and the largest record (RFC 8446 §5.1: 2^14 bytes).
	// A longer or fragmented hello is read as far as the first record goes.
	maxClientHello = 5 + 1<<14
	// maxServerName is the longest DNS name (RFC 1035 §2.3.4).
	maxServerName = 255
)

var (
	// errHelloShort means more bytes are needed to read the record.
	errHelloShort = errors.New("tls: record incomplete")
	// errNotHello means the bytes are not a TLS handshake record holding a
	// ClientHello.
	errNotHello = errors.New("tls: not a ClientHello")
)

// clientHello is what the decoder keeps of a ClientHello.
type clientHello struct {
	// version is the highest version offered: the largest non-GREASE entry
	// of supported_versions (RFC 8446 §4.2.1) if present, else the
	// legacy client_version.
	version uint16
	// serverName is the host_name of server_name, "" if absent.
	serverName string
}

// isTLSRecordStart reports whether p may begin a TLS handshake record,
// whose content type is 22 (RFC 8446 §5.1). The first byte decides alone,
// so that the answer never depends on where a segment ends; 0x16 (SYN)
// begins no SMTP line, and bytes that are not a ClientHello after all raise
// "tls-not-clienthello".
func isTLSRecordStart(p []byte) bool {
	return len(p) > 0 && p[0] == 0x16
}

// parseClientHello reads the ClientHello in the first record of b. It
// returns errHelloShort while b does not yet hold the whole record (and
// b is shorter than maxClientHello), errNotHello for anything else than a
// ClientHello. A handshake message longer than its record (fragmented
// over records) is read as far as the record goes.
func parseClientHello(b []byte) (clientHello, error) {
	var h clientHello
	if len(b) < 5 {
		return h, errHelloShort
	}
	if b[0] != 0x16 || b[1] != 3 {
		return h, errNotHello
	}
	n := int(b[3])<<8 | int(b[4])
	if len(b) < 5+n {
		if len(b) < maxClientHello {
			return h, errHelloShort
		}
		n = len(b) - 5
	}
	r := tlsReader{b: b[5 : 5+n]}
	if typ, ok := r.u8(); !ok || typ != 1 { // client_hello
		return h, errNotHello
	}
	r.skip(3) // handshake length
	v, ok := r.u16()
	if !ok {
		return h, errNotHello
	}
	h.version = v
	r.skip(32)                              // random
	r.skip(r.len8())                        // legacy_session_id
	r.skip(r.len16())                       // cipher_suites
	r.skip(r.len8())                        // legacy_compression_methods
	exts := tlsReader{b: r.take(r.len16())} // absent in SSL 3.0 hellos
	for len(exts.b) >= 4 {
		typ, _ := exts.u16()
		body := tlsReader{b: exts.take(exts.len16())}
		switch typ {
		case 0: // server_name, RFC 6066 §3
			list := tlsReader{b: body.take(body.len16())}
			for len(list.b) >= 3 {
				nameType, _ := list.u8()
				name := list.take(list.len16())
				if nameType == 0 && h.serverName == "" && isHostName(name) {
					h.serverName = string(name)
				}
			}
		case 43: // supported_versions, RFC 8446 §4.2.1
			list := tlsReader{b: body.take(body.len8())}
			for len(list.b) >= 2 {
				sv, _ := list.u16()
				if sv&0x0f0f != 0x0a0a && sv > h.version { // skip GREASE, RFC 8701
					h.version = sv
				}
			}
		}
	}
	return h, nil
}

// implicitTLS decides, on a port of implicit TLS, how the connection's
// first bytes (p, sent by dir) are read. As TLS from the first byte, as
// the client's first bytes being a ClientHello would have it (clientTLS),
// but without waiting for one: the capture may have missed it, or begin
// with the server's records. Only a server that speaks first with an
// SMTP reply ("220 ...") is read as the plaintext SMTP it is: a server
// on the port without TLS, which the client's ClientHello then shows.
func (d *Decoder) implicitTLS(dir reassembly.Direction, p []byte) {
	d.tlsPort = false
	if dir == reassembly.ServerToClient && replyStart(p) {
		return
	}
	d.detect = detectTLS
	d.startTLS("implicit")
}

// replyStart reports whether p may begin an SMTP reply line: three
// digits, then a space, a hyphen or a line end (RFC 5321 §4.2), as far
// as p goes. No TLS record begins with a digit (content types 20-24).
func replyStart(p []byte) bool {
	for i := range min(3, len(p)) {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return len(p) < 4 || p[3] == ' ' || p[3] == '-' || p[3] == '\r' || p[3] == '\n'
}

// tlsVersionName names a TLS protocol version as reports show it.
func tlsVersionName(v uint16) string {
	switch v {
	case 0:
		return ""
	case 0x0300:
		return "SSL 3.0"
	case 0x0301:
		return "TLS 1.0"
	case 0x0302:
		return "TLS 1.1"
	case 0x0303:
		return "TLS 1.2"
	case 0x0304:
		return "TLS 1.3"
	}
	return fmt.Sprintf("0x%04x", v)
}

// isHostName accepts the printable ASCII of a DNS name, so that no binary
// junk ends up in a report.
func isHostName(b []byte) bool {
	if len(b) == 0 || len(b) > maxServerName {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// tlsReader reads big-endian fields from a bounded slice; reading past its
// end yields zeros and empty slices, never a panic.
type tlsReader struct{ b []byte }

func (r *tlsReader) take(n int) []byte {
	if n < 0 || n > len(r.b) {
		n = len(r.b)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *tlsReader) skip(n int) { r.take(n) }

func (r *tlsReader) u8() (uint8, bool) {
	if len(r.b) < 1 {
		return 0, false
	}
	return r.take(1)[0], true
}

func (r *tlsReader) u16() (uint16, bool) {
	if len(r.b) < 2 {
		r.b = nil
		return 0, false
	}
	p := r.take(2)
	return uint16(p[0])<<8 | uint16(p[1]), true
}

func (r *tlsReader) len8() int {
	v, _ := r.u8()
	return int(v)
}

func (r *tlsReader) len16() int {
	v, _ := r.u16()
	return int(v)
}
