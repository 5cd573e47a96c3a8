package tlsrecord

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/reassembly"
)

// The capture tests read real captures through the product's capture and
// reassembly packages and compare what this package reads with tshark's
// reading in testdata/tshark/<capture>.tsv (written by testdata/tshark.sh).
//
// Where TLS begins is SMTP's business (the smtp package knows STARTTLS);
// here a direction's TLS begins at its first Data call that starts with
// a record header (content type 20-24, major version 3). That is how the
// lab's and these captures' TLS begins: the ClientHello after a 220, the
// server's first record, or a session captured after its handshake.

// captures lists the captures with TLS, found by `tshark -Y tls`.
var captures = []string{
	"../testdata/captures/chrissanders__mail_receiver_server_3.pcapng",
	"../testdata/captures/nDPI__emotet.pcap",
	"../testdata/captures/nDPI__smtp-starttls.pcap",
	"../testdata/captures/nDPI__smtps.pcapng",
	"../testdata/captures/suricata-verify__smtp-startssl-input.pcap",
	"../testdata/captures/suricata-verify__smtperr.pcap",
	"../testdata/captures/zeek__smtp-starttls.pcap",
	"../testdata/captures/zeek__smtp.pcap",
	"../testdata/scenarios/captures/starttls.pcapng",
	"../testdata/scenarios/captures/tls-cert-rejected-12.pcapng",
	"../testdata/scenarios/captures/tls-cert-rejected-13.pcapng",
	"../testdata/scenarios/captures/tls-implicit-stall.pcapng",
	"../testdata/scenarios/captures/tls-openssl-delivered.pcapng",
	"../testdata/scenarios/captures/tls-stall-12.pcapng",
	"../testdata/scenarios/captures/tls-stall-13.pcapng",
	"../testdata/scenarios/captures/tls-version-mismatch.pcapng",
	"../tlskeys/testdata/tls-sessions.pcapng",
}

// frameView is what one frame shows, in tshark's terms: lists joined by
// commas in the order tshark gives them.
type frameView struct {
	stream                                       int
	types, lengths, hsTypes, versions, supported string
	suites, sni, alpn, alertLevels, alertDescs   string
	randoms, dnsNames                            string
}

// tlsConn is the test's shim between reassembly and a Conn.
type tlsConn struct {
	stream  int
	conn    *Conn
	started [2]bool
	views   map[int]*frameView
	records []Record
	// watch checks Changes and Counts after every call.
	watch changeWatch
	t     testing.TB
}

func (h *tlsConn) view(frame int) *frameView {
	v := h.views[frame]
	if v == nil {
		v = &frameView{stream: h.stream}
		h.views[frame] = v
	}
	return v
}

func (h *tlsConn) Data(dir reassembly.Direction, p []byte, at reassembly.Marker) {
	if !h.started[dir] {
		if len(p) < 3 || p[0] < 20 || p[0] > 24 || p[1] != 3 {
			return
		}
		h.started[dir] = true
	}
	h.conn.Data(dir, p, at)
	h.watch.check(h.t, h.conn)
}

func (h *tlsConn) Gap(dir reassembly.Direction, n int, at reassembly.Mark) {
	if h.started[dir] {
		h.conn.Gap(dir, n, at)
		h.watch.check(h.t, h.conn)
	}
}

func (h *tlsConn) Control(k reassembly.EventKind, dir reassembly.Direction, at reassembly.Mark) {
	if h.started[0] || h.started[1] {
		h.conn.Control(k, dir, at)
		h.watch.check(h.t, h.conn)
	}
}

func (h *tlsConn) End(at reassembly.Mark) {
	h.conn.End(at)
	h.watch.check(h.t, h.conn)
}

// readCapture runs a capture through reassembly into one Conn per TCP
// connection and returns the shims by stream.
func readCapture(t testing.TB, path string) map[int]*tlsConn {
	t.Helper()
	f, err := capture.OpenFile(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	views := map[int]*frameView{}
	conns := map[int]*tlsConn{}
	tr := reassembly.NewTracker(reassembly.Options{
		ServerPorts: []uint16{25, 465, 587},
		NewHandler: func(c *reassembly.Conn) reassembly.Handler {
			h := &tlsConn{stream: c.Stream, views: views, t: t}
			h.conn = NewConn(Options{Record: func(r Record, raw []byte) {
				h.records = append(h.records, r)
				v := h.view(r.End.Frame)
				v.types = join(v.types, strconv.Itoa(int(r.Type)))
				v.lengths = join(v.lengths, strconv.Itoa(r.Length))
			}})
			conns[c.Stream] = h
			return h
		},
	})
	for {
		fr, err := f.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		tr.Add(&fr)
	}
	tr.Close()
	return conns
}

func join(list, s string) string {
	if s == "" {
		return list
	}
	if list == "" {
		return s
	}
	return list + "," + s
}

func hex4(v uint16) string { return fmt.Sprintf("0x%04x", v) }

// handshakeViews adds the handshake facts of h to its frames, as tshark
// lists them: per frame, the messages in order.
func handshakeViews(h *tlsConn) {
	f := h.conn.Facts()
	type msg struct {
		frame, order int
		add          func(v *frameView)
	}
	var msgs []msg
	hello := func(ch *ClientHello) {
		if ch == nil {
			return
		}
		msgs = append(msgs, msg{ch.At.Frame, len(msgs), func(v *frameView) {
			v.hsTypes = join(v.hsTypes, "1")
			v.versions = join(v.versions, hex4(ch.LegacyVersion))
			for _, s := range ch.SupportedVersions {
				v.supported = join(v.supported, hex4(s))
			}
			for _, s := range ch.CipherSuites {
				v.suites = join(v.suites, hex4(s))
			}
			if ch.ServerName != "" {
				v.sni = join(v.sni, ch.ServerName)
			}
			for _, a := range ch.ALPN {
				v.alpn = join(v.alpn, a)
			}
			v.randoms = join(v.randoms, hex.EncodeToString(ch.Random[:]))
		}})
	}
	server := func(sh *ServerHello) {
		if sh == nil {
			return
		}
		msgs = append(msgs, msg{sh.At.Frame, len(msgs), func(v *frameView) {
			v.hsTypes = join(v.hsTypes, "2")
			v.versions = join(v.versions, hex4(sh.LegacyVersion))
			if sh.SupportedVersion != 0 {
				v.supported = join(v.supported, hex4(sh.SupportedVersion))
			}
			v.suites = join(v.suites, hex4(sh.CipherSuite))
			if sh.ALPN != "" {
				v.alpn = join(v.alpn, sh.ALPN)
			}
			v.randoms = join(v.randoms, hex.EncodeToString(sh.Random[:]))
		}})
	}
	hello(f.ClientHello)
	server(f.HelloRetryRequest)
	hello(f.SecondClientHello)
	server(f.ServerHello)
	if f.Certificates != nil {
		certs := f.Certificates
		msgs = append(msgs, msg{f.CertificateAt.Frame, len(msgs), func(v *frameView) {
			v.hsTypes = join(v.hsTypes, "11")
			for _, c := range certs {
				for _, n := range c.DNSNames {
					v.dnsNames = join(v.dnsNames, n)
				}
			}
		}})
	}
	for _, a := range f.Alerts {
		if a.Protected {
			continue
		}
		msgs = append(msgs, msg{a.At.Frame, len(msgs), func(v *frameView) {
			v.alertLevels = join(v.alertLevels, strconv.Itoa(int(a.Level)))
			v.alertDescs = join(v.alertDescs, strconv.Itoa(int(a.Description)))
		}})
	}
	sort.SliceStable(msgs, func(i, j int) bool { return msgs[i].frame < msgs[j].frame })
	for _, m := range msgs {
		m.add(h.view(m.frame))
	}
}

// tsharkViews reads testdata/tshark/<name>.tsv. Handshake types other
// than those this package parses in clear (1, 2, 11) are dropped, and the
// record types of TLS 1.3 (opaque_type) are merged into types; both lists
// of types are then sorted, since tshark splits them over two fields.
func tsharkViews(t *testing.T, name string) map[int]*frameView {
	t.Helper()
	fh, err := os.Open(filepath.Join("testdata", "tshark", name+".tsv"))
	if err != nil {
		t.Fatalf("tshark truth: %v (make it with testdata/tshark.sh)", err)
	}
	defer fh.Close()
	views := map[int]*frameView{}
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		c := strings.Split(line, "\t")
		for len(c) < 16 {
			c = append(c, "")
		}
		frame, _ := strconv.Atoi(c[0])
		stream, _ := strconv.Atoi(c[1])
		var hs []string
		for _, x := range strings.Split(c[6], ",") {
			if x == "1" || x == "2" || x == "11" {
				hs = append(hs, x)
			}
		}
		views[frame] = &frameView{
			stream: stream, types: join(c[3], c[4]), lengths: c[5],
			hsTypes: strings.Join(hs, ","), versions: c[7], supported: c[8], suites: c[9],
			sni: c[10], alpn: c[11], alertLevels: c[12], alertDescs: c[13],
			randoms: c[14], dnsNames: c[15],
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return views
}

func sortedList(s string) string {
	if s == "" {
		return s
	}
	l := strings.Split(s, ",")
	sort.Strings(l)
	return strings.Join(l, ",")
}

// TestTshark compares, frame by frame, the records and handshake fields
// this package reads with tshark's on every capture with TLS.
func TestTshark(t *testing.T) {
	for _, path := range captures {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("capture: %v", err)
			}
			want := tsharkViews(t, name)
			conns := readCapture(t, path)
			got := map[int]*frameView{}
			for _, h := range conns {
				handshakeViews(h)
				for fr, v := range h.views {
					got[fr] = v
				}
			}
			frames := map[int]bool{}
			for fr := range want {
				frames[fr] = true
			}
			for fr := range got {
				frames[fr] = true
			}
			var list []int
			for fr := range frames {
				list = append(list, fr)
			}
			sort.Ints(list)
			for _, fr := range list {
				w, g := want[fr], got[fr]
				if w == nil {
					w = &frameView{}
				}
				if g == nil {
					g = &frameView{}
				}
				w.types, g.types = sortedList(w.types), sortedList(g.types)
				w.stream, g.stream = 0, 0
				if *w != *g {
					t.Errorf("frame %d:\n got %+v\nwant %+v", fr, *g, *w)
				}
			}
		})
	}
}
