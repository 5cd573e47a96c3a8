package smtp

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
)

// helloWithConfig returns the first record crypto/tls sends with cfg.
func helloWithConfig(t *testing.T, cfg *tls.Config) []byte {
	t.Helper()
	c, s := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tls.Client(c, cfg).Handshake()
	}()
	defer func() {
		s.Close()
		c.Close()
		<-done
	}()
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(s, hdr); err != nil {
		t.Fatal(err)
	}
	rec := make([]byte, 5+(int(hdr[3])<<8|int(hdr[4])))
	copy(rec, hdr)
	if _, err := io.ReadFull(s, rec[5:]); err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestParseClientHello(t *testing.T) {
	sni := helloWithConfig(t, &tls.Config{ServerName: "mx1.example.org", InsecureSkipVerify: true})
	tls12 := helloWithConfig(t, &tls.Config{ServerName: "a.example", MaxVersion: tls.VersionTLS12, InsecureSkipVerify: true})
	ipOnly := helloWithConfig(t, &tls.Config{ServerName: "192.0.2.1", InsecureSkipVerify: true}) // no SNI for IPs (RFC 6066 §3)
	// A minimal SSL 3.0-style hello: no extensions at all.
	bare := []byte{0x16, 3, 0, 0, 45, 1, 0, 0, 41, 3, 0}
	bare = append(bare, make([]byte, 32)...)
	bare = append(bare, 0, 0, 2, 0, 0x2f, 1, 0)

	valid := []struct {
		name    string
		in      []byte
		version string
		sni     string
	}{
		{"TLS 1.3 with SNI", sni, "TLS 1.3", "mx1.example.org"},
		{"TLS 1.2 only", tls12, "TLS 1.2", "a.example"},
		{"IP address: no SNI", ipOnly, "TLS 1.3", ""},
		{"no extensions", bare, "SSL 3.0", ""},
	}
	for _, tc := range valid {
		h, err := parseClientHello(tc.in)
		if err != nil || tlsVersionName(h.version) != tc.version || h.serverName != tc.sni {
			t.Errorf("parseClientHello(%s) = %s %q, %v, want %s %q", tc.name, tlsVersionName(h.version), h.serverName, err, tc.version, tc.sni)
		}
	}
	invalid := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, errHelloShort},
		{"header only", sni[:5], errHelloShort},
		{"cut short", sni[:len(sni)-1], errHelloShort},
		{"application data", []byte{0x17, 3, 3, 0, 1, 0}, errNotHello},
		{"SSLv2 hello", []byte{0x80, 0x2e, 1, 3, 1, 0}, errNotHello},
		{"server hello", []byte{0x16, 3, 3, 0, 4, 2, 0, 0, 0}, errNotHello},
		{"empty record", []byte{0x16, 3, 1, 0, 0}, errNotHello},
	}
	for _, tc := range invalid {
		if _, err := parseClientHello(tc.in); err != tc.want {
			t.Errorf("parseClientHello(%s) error %v, want %v", tc.name, err, tc.want)
		}
	}
	// Lengths that lie must not panic, whatever they claim.
	for i := 5; i < len(sni); i++ {
		for _, v := range []byte{0, 0x7f, 0xff} {
			b := append([]byte(nil), sni...)
			b[i] = v
			_, _ = parseClientHello(b)
		}
	}
}

// TestImplicitTLSPort: on a port of implicit TLS (Options.ImplicitTLS) the
// connection is read as TLS from its first byte, whoever sends it — a
// ClientHello, a client's or a server's record when the capture missed
// the handshake, even bytes that are no TLS (a plaintext client) — except
// a server that greets in plaintext SMTP: that is read as SMTP, and the
// client's ClientHello after it as the client starting TLS (a server on
// the port without TLS, as suricata-verify's smtperr capture shows with
// Postfix on 465).
func TestImplicitTLSPort(t *testing.T) {
	hello := string(helloWithConfig(t, &tls.Config{ServerName: "mx.example", InsecureSkipVerify: true}))
	appData := "\x17\x03\x03\x00\x20" + strings.Repeat("\xaa", 32)
	tests := []struct {
		name   string
		steps  []step
		isSMTP bool
		banner bool
		ending string
	}{
		{"ClientHello first", []step{C(hello)}, false, false, "capture-end"},
		{"server's record first", []step{S(appData), C(appData)}, false, false, "not-captured"},
		{"client's record first", []step{C(appData), S(appData)}, false, false, "not-captured"},
		{"plaintext client", []step{C("EHLO client.example\r\n")}, false, false, "not-tls"},
		{"plaintext server greets", []step{S("220 mx.example ESMTP Postfix\r\n"), C(hello), S("402 4.5.2 Error: command not recognized\r\n")}, true, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(Options{ImplicitTLS: true})
			feed(d, tc.steps)
			d.End(markOf(len(tc.steps) + 1))
			s := d.Session()
			if s.IsSMTP != tc.isSMTP || (s.Banner != nil) != tc.banner {
				t.Errorf("IsSMTP %v, banner %v; want %v, %v", s.IsSMTP, s.Banner, tc.isSMTP, tc.banner)
			}
			ending := ""
			if s.TLS != nil && s.TLS.Handshake != nil {
				ending = s.TLS.Handshake.Ending.String()
			}
			if s.TLS == nil || s.TLS.How != "implicit" || ending != tc.ending {
				t.Errorf("TLS %+v, handshake ending %q; want implicit, %q", s.TLS, ending, tc.ending)
			}
		})
	}
}
