package smtp

import (
	"encoding/binary"
	"net/netip"
	"path/filepath"
	"testing"
)

// proxyV2 builds a PROXY protocol v2 header (§2.2) for TCP between src and
// dst, with command 1 (PROXY) or 0 (LOCAL).
func proxyV2(cmd byte, src, dst netip.AddrPort) string {
	fam, addrs := byte(0x11), []byte{}
	if src.Addr().Is6() {
		fam = 0x21
	}
	addrs = append(addrs, src.Addr().AsSlice()...)
	addrs = append(addrs, dst.Addr().AsSlice()...)
	addrs = binary.BigEndian.AppendUint16(addrs, src.Port())
	addrs = binary.BigEndian.AppendUint16(addrs, dst.Port())
	h := append([]byte(nil), proxyV2Signature...)
	h = append(h, 0x20|cmd, fam)
	h = binary.BigEndian.AppendUint16(h, uint16(len(addrs)))
	return string(append(h, addrs...))
}

// smtpAfter is a session that must decode whole after a preamble: frames
// n+1 to n+6 after n preamble steps.
var smtpAfter = steps(
	S("220 mx.example.com ESMTP\r\n"),
	C("HELO client.example.com\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
	S("250 hi\r\n250 ok\r\n250 ok\r\n354 go\r\n"),
	C("hello\r\n.\r\n"),
	S("250 queued\r\n"),
	C("QUIT\r\n"),
)

func TestPreamble(t *testing.T) {
	v4src, v4dst := netip.MustParseAddrPort("192.0.2.1:56324"), netip.MustParseAddrPort("198.51.100.2:25")
	v6src, v6dst := netip.MustParseAddrPort("[2001:db8::1]:4000"), netip.MustParseAddrPort("[2001:db8::2]:25")
	tests := []struct {
		name     string
		pre      []step
		want     Preamble
		wantNone bool
	}{
		{name: "HTTP CONNECT and 200", pre: steps(
			C("CONNECT mailin03.example.de:25 / HTTP/1.0\r\nUser-Agent: x\r\n\r\n"), S("HTTP/1.0 200 Connection established\r\n\r\n")),
			want: Preamble{Kind: PreambleHTTPConnect, Frame: 1, ClientBytes: 60, ServerBytes: 39, Target: "mailin03.example.de:25", Status: 200}},
		{name: "HTTP CONNECT split over segments", pre: steps(
			C("CONNECT mx.example.com:25 HTTP/1.1\r\nHo"), C("st: mx.example.com:25\r\n"), C("\r\n"), S("HTTP/1.1 200 OK\r\n"), S("Via: proxy\r\n\r\n")),
			want: Preamble{Kind: PreambleHTTPConnect, Frame: 1, ClientBytes: 63, ServerBytes: 31, Target: "mx.example.com:25", Status: 200}},
		{name: "PROXY v1", pre: steps(C("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n")),
			want: Preamble{Kind: PreambleProxyV1, Frame: 1, ClientBytes: 44, Source: "192.0.2.1:56324", Destination: "198.51.100.2:25"}},
		{name: "PROXY v1 UNKNOWN", pre: steps(C("PROXY UNKNOWN\r\n")),
			want: Preamble{Kind: PreambleProxyV1, Frame: 1, ClientBytes: 15}},
		{name: "PROXY v2 over IPv4", pre: steps(C(proxyV2(1, v4src, v4dst))),
			want: Preamble{Kind: PreambleProxyV2, Frame: 1, ClientBytes: 28, Source: "192.0.2.1:56324", Destination: "198.51.100.2:25"}},
		{name: "PROXY v2 over IPv6", pre: steps(C(proxyV2(1, v6src, v6dst))),
			want: Preamble{Kind: PreambleProxyV2, Frame: 1, ClientBytes: 52, Source: "[2001:db8::1]:4000", Destination: "[2001:db8::2]:25"}},
		{name: "PROXY v2 LOCAL", pre: steps(C(proxyV2(0, v4src, v4dst))),
			want: Preamble{Kind: PreambleProxyV2, Frame: 1, ClientBytes: 28}},
		{name: "no preamble", wantNone: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := run(Options{}, append(append([]step(nil), tc.pre...), smtpAfter...)...)
			if tc.wantNone {
				if s.Preamble != nil {
					t.Errorf("Preamble = %+v, want none", *s.Preamble)
				}
			} else if s.Preamble == nil || *s.Preamble != tc.want {
				t.Errorf("Preamble = %+v, want %+v", s.Preamble, tc.want)
			}
			if s.Banner == nil || s.Banner.Frame != len(tc.pre)+1 || s.MidStream || len(s.Anomalies) != 0 {
				t.Fatalf("SMTP after the preamble not read from its greeting:\n%s", dump(s))
			}
			if s.Hello != "client.example.com" || len(s.Transactions) != 1 || s.Transactions[0].Outcome != OutcomeDelivered {
				t.Errorf("hello %q, transactions:\n%s", s.Hello, dump(s))
			}
		})
	}
}

// TestPreambleNotSMTP: a CONNECT tunnel to something else than SMTP stays
// not SMTP; a server that opens with "HTTP/" without a CONNECT is no
// preamble.
func TestPreambleNotSMTP(t *testing.T) {
	s := run(Options{}, C("CONNECT www.example.com:443 HTTP/1.1\r\n\r\n"), S("HTTP/1.1 200 OK\r\n\r\n"), C("GET / HTTP/1.1\r\n"), C("Host: x\r\n"), C("\r\n"), S("HTTP/1.1 404 no\r\n"), S("a: b\r\n"), S("\r\n"))
	if s.IsSMTP {
		t.Errorf("a CONNECT tunnel carrying HTTP read as SMTP:\n%s", dump(s))
	}
	s = run(Options{}, S("HTTP/1.1 200 OK\r\n\r\n"), C("EHLO a\r\n"))
	if s.Preamble != nil {
		t.Errorf("Preamble = %+v without a CONNECT", *s.Preamble)
	}
}

// TestPreambleZeekConnect reads Zeek's http/connect-with-smtp.pcap: SMTP
// through an HTTP CONNECT proxy on port 8240. Zeek's http-connect baseline
// logs one delivered message (last_reply "250 Message accepted.").
func TestPreambleZeekConnect(t *testing.T) {
	ss := decodeConns(t, filepath.Join("testdata", "peers", "zeek__connect-with-smtp.pcap"),
		[]connSpec{{0, netip.MustParseAddrPort("79.26.245.236:3378"), netip.MustParseAddrPort("254.228.86.79:8240")}})
	s := ss[0]
	if s == nil || !s.IsSMTP {
		t.Fatalf("stream 0 not SMTP")
	}
	want := Preamble{Kind: PreambleHTTPConnect, Frame: 4, ClientBytes: 103, ServerBytes: 39, Target: "mailin03.sul.t-online.de:25", Status: 200}
	if s.Preamble == nil || *s.Preamble != want {
		t.Errorf("Preamble = %+v, want %+v", s.Preamble, want)
	}
	if s.Banner == nil || s.Banner.Code != 220 || s.Hello != "208.191.73.21" || len(s.Unmatched) != 0 {
		t.Errorf("greeting or HELO misread:\n%s", dump(s))
	}
	if len(s.Transactions) != 1 || s.Transactions[0].Outcome != OutcomeDelivered || s.Transactions[0].Reply.Text != "Message accepted." {
		t.Errorf("transactions:\n%s", dump(s))
	}
}
