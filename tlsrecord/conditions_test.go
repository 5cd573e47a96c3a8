package tlsrecord

import (
	"bytes"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
)

const (
	client = reassembly.ClientToServer
	server = reassembly.ServerToClient
)

// rec builds a record of type t with fragment frag.
func rec(t ContentType, frag []byte) []byte {
	return append([]byte{byte(t), 3, 3, byte(len(frag) >> 8), byte(len(frag))}, frag...)
}

// hsMsg builds a handshake message.
func hsMsg(typ byte, body []byte) []byte {
	n := len(body)
	return append([]byte{typ, byte(n >> 16), byte(n >> 8), byte(n)}, body...)
}

// minimalHello is a ClientHello body offering one suite, no extensions.
func minimalHello() []byte {
	b := []byte{3, 3}
	b = append(b, bytes.Repeat([]byte{7}, 32)...)
	return append(b, 0, 0, 2, 0x13, 0x01, 1, 0)
}

func certList(certs ...[]byte) []byte {
	var l []byte
	for _, c := range certs {
		l = append(l, byte(len(c)>>16), byte(len(c)>>8), byte(len(c)))
		l = append(l, c...)
	}
	return append([]byte{byte(len(l) >> 16), byte(len(l) >> 8), byte(len(l))}, l...)
}

// step is one input to a Conn in the tests below.
type step struct {
	dir  reassembly.Direction
	data []byte
	gap  int  // with data nil: a gap of gap bytes
	rst  bool // with data nil and gap 0: an RST from dir
}

func run(steps []step) Facts {
	c := NewConn(Options{})
	for i, s := range steps {
		m := reassembly.Mark{Frame: i + 1, Time: t0.Add(time.Duration(i) * time.Millisecond)}
		switch {
		case s.data != nil:
			c.Data(s.dir, s.data, reassembly.ConstMarker(m))
		case s.gap != 0:
			c.Gap(s.dir, s.gap, m)
		case s.rst:
			c.Control(reassembly.EventRST, s.dir, m)
		}
	}
	c.End(reassembly.Mark{Frame: len(steps) + 1, Time: t0.Add(time.Second)})
	return c.Facts()
}

func conditions(f Facts) []Condition {
	var out []Condition
	for _, m := range f.Conditions {
		out = append(out, m.Condition)
	}
	return out
}

func TestConditionsAndEndings(t *testing.T) {
	hello := rec(TypeHandshake, hsMsg(1, minimalHello()))
	data := rec(TypeApplicationData, bytes.Repeat([]byte{0xaa}, 1000))
	tests := []struct {
		name    string
		steps   []step
		ending  Ending
		conds   []Condition
		records [2]int
	}{
		{"not-tls", []step{{dir: client, data: []byte("EHLO x\r\n")}}, EndNotTLS, []Condition{CondNotARecord}, [2]int{}},
		{"hello-unanswered", []step{{dir: client, data: hello}}, EndCaptureEnd, nil, [2]int{1, 0}},
		{"hello-reset", []step{{dir: client, data: hello}, {dir: server, rst: true}}, EndRST, nil, [2]int{1, 0}},
		{"hello-then-gap", []step{{dir: client, data: hello}, {dir: server, gap: 100}, {dir: server, data: data}},
			EndGap, []Condition{CondSyncLost}, [2]int{1, 0}},
		{"record-too-long", []step{{dir: client, data: hello}, {dir: server, data: append(rec(TypeAlert, []byte{1, 112}), 22, 3, 3, 0xff, 0xff)}},
			EndCaptureEnd, []Condition{CondRecordTooLong, CondSyncLost}, [2]int{1, 1}},
		{"handshake-too-long", []step{{dir: client, data: rec(TypeHandshake, []byte{1, 0x10, 0, 0, 1, 2})}},
			EndCaptureEnd, []Condition{CondHandshakeTooLong}, [2]int{1, 0}},
		{"hello-unparsable", []step{{dir: client, data: rec(TypeHandshake, hsMsg(1, []byte{3, 3, 1}))}},
			EndCaptureEnd, []Condition{CondHandshakeUnparsable}, [2]int{1, 0}},
		{"certificate-unparsable", []step{{dir: client, data: hello},
			{dir: server, data: rec(TypeHandshake, hsMsg(11, certList([]byte("not a certificate"))))}},
			EndCaptureEnd, []Condition{CondCertificateUnparsable}, [2]int{1, 1}},
		{"certificate-chain-too-long", []step{{dir: client, data: hello},
			{dir: server, data: rec(TypeHandshake, hsMsg(11, certList(manyCerts(maxCertificates+1)...)))}},
			EndCaptureEnd, []Condition{CondCertificateChainTooLong, CondCertificateUnparsable}, [2]int{1, 1}},
		// A gap of known size inside a record keeps the framing: the
		// record is partial, the next one whole.
		{"gap-inside-record", []step{{dir: client, data: hello}, {dir: server, data: data[:300]},
			{dir: server, gap: 500}, {dir: server, data: data[800:]}, {dir: server, data: data}},
			EndGap, nil, [2]int{1, 2}},
		// A gap of unknown size loses the framing until two chained
		// headers come: the rest of the record the gap cut is skipped.
		{"resync", []step{{dir: client, data: hello}, {dir: client, gap: -1}, {dir: client, data: data[7:]},
			{dir: client, data: data}, {dir: client, data: data}, {dir: client, data: data}},
			EndGap, []Condition{CondSyncLost, CondResynchronised}, [2]int{4, 0}},
	}
	for _, tc := range tests {
		f := run(tc.steps)
		got := conditions(f)
		if f.Ending != tc.ending || len(got) != len(tc.conds) || f.Records != tc.records {
			t.Errorf("%s: ending %s, conditions %v, records %v; want %s, %v, %v", tc.name, f.Ending, got, f.Records, tc.ending, tc.conds, tc.records)
			continue
		}
		for i := range got {
			if got[i] != tc.conds[i] {
				t.Errorf("%s: conditions %v, want %v", tc.name, got, tc.conds)
			}
		}
	}
}

// TestSplitAnywhere feeds a whole recorded TLS 1.2 session cut at every
// byte offset into two Data calls: the facts never depend on the cut.
func TestSplitAnywhere(t *testing.T) {
	good := testCert(t, t0.Add(-time.Hour), t0.Add(time.Hour), "relay.example")
	writes := session(t, clientConfig12(), serverConfig(good))
	whole := feedWrites(writes, 0, Options{}).Facts()
	for i, w := range writes {
		for cut := 1; cut < len(w.p); cut += 3 {
			c := NewConn(Options{})
			for j, x := range writes {
				m := reassembly.ConstMarker{Frame: j + 1, Time: t0.Add(time.Duration(j) * time.Millisecond)}
				if j == i {
					c.Data(x.dir, x.p[:cut], m)
					c.Data(x.dir, x.p[cut:], m)
				} else {
					c.Data(x.dir, x.p, m)
				}
			}
			last := reassembly.Mark{Frame: len(writes) + 1, Time: t0.Add(time.Duration(len(writes)) * time.Millisecond)}
			c.Control(reassembly.EventFIN, client, last)
			c.End(last)
			f := c.Facts()
			if f.Ending != whole.Ending || f.Records != whole.Records || f.Version() != whole.Version() || len(f.Certificates) != len(whole.Certificates) {
				t.Fatalf("write %d cut at %d: %+v, want %+v", i, cut, f, whole)
			}
		}
	}
}

func manyCerts(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte{1}
	}
	return out
}

// TestResyncAfterGapWithoutLag: after a gap that took whole records, a
// header with this side's version right after the gap is taken at once:
// its record is handed on as soon as it is whole (before the other side's
// answer), not only once a second chained header comes, and so whether the
// bytes come in one Data call or byte by byte. After a gap followed by
// another version or by bytes that are no header, it still waits for two
// chained headers.
func TestResyncAfterGapWithoutLag(t *testing.T) {
	hello := rec(TypeHandshake, hsMsg(1, minimalHello()))
	data := rec(TypeApplicationData, bytes.Repeat([]byte{0xaa}, 100))
	other := append([]byte(nil), data...)
	other[2] = 1 // TLS 1.0's legacy version, not this side's 3,3
	tests := []struct {
		name  string
		after []byte // the client's segment after the gap
		want  int    // client records handed on before the server's answer
	}{
		{"one whole record", data, 2},
		{"two whole records", append(append([]byte(nil), data...), data...), 3},
		{"another version", other, 1},
		{"a record cut short", data[:50], 1},
		{"mid-record", append(bytes.Repeat([]byte{0xaa}, 7), data...), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []Record
			c := NewConn(Options{Record: func(r Record, raw []byte) { got = append(got, r) }})
			m := func(f int) reassembly.ConstMarker { return reassembly.ConstMarker{Frame: f, Time: t0} }
			c.Data(client, hello, m(1))
			c.Gap(client, len(data), reassembly.Mark{Frame: 2, Time: t0})
			c.Data(client, tc.after, m(3))
			if len(got) != tc.want {
				t.Fatalf("%d client records before the server's answer, want %d", len(got), tc.want)
			}
			bytewise := NewConn(Options{})
			bytewise.Data(client, hello, m(1))
			bytewise.Gap(client, len(data), reassembly.Mark{Frame: 2, Time: t0})
			for i := range tc.after {
				bytewise.Data(client, tc.after[i:i+1], m(3))
			}
			if f := bytewise.Facts(); f.Records[client] != tc.want {
				t.Errorf("byte by byte: %d client records, want %d", f.Records[client], tc.want)
			}
			if tc.want > 1 && (got[1].Start.Frame != 3 || got[1].Partial) {
				t.Errorf("record after the gap: %+v", got[1])
			}
			c.Data(server, data, m(4))
			c.Data(client, data, m(5))
			c.Data(client, data, m(6))
			f := c.Facts()
			if f.Records[client] < 2 {
				t.Errorf("client records %d: never resynchronised", f.Records[client])
			}
		})
	}
}

// TestImplicitPickedUpLater: with Options.Implicit (a port of implicit
// TLS, where the capture may begin after the connection's first byte),
// bytes that are no record header at the start are resynchronised, and
// records before any hello mean the handshake was not captured — not that
// it failed. Bytes that never turn into records are still not TLS.
func TestImplicitPickedUpLater(t *testing.T) {
	hello := rec(TypeHandshake, hsMsg(1, minimalHello()))
	data := rec(TypeApplicationData, bytes.Repeat([]byte{0xaa}, 1000))
	tests := []struct {
		name     string
		steps    []step
		implicit Ending // with Options.Implicit
		plain    Ending // without (a STARTTLS boundary)
		records  [2]int
	}{
		{"mid-record start", []step{{dir: client, data: data[300:]}, {dir: client, data: data}, {dir: server, data: data}, {dir: client, data: data}},
			EndNotCaptured, EndNotTLS, [2]int{2, 1}},
		{"record-aligned start", []step{{dir: server, data: data}, {dir: client, data: data}},
			EndNotCaptured, EndCaptureEnd, [2]int{1, 1}},
		{"plaintext SMTP on a TLS port", []step{{dir: client, data: []byte("EHLO client.example\r\n")}, {dir: client, data: []byte("QUIT\r\n")}},
			EndNotTLS, EndNotTLS, [2]int{0, 0}},
		{"hello first", []step{{dir: client, data: hello}, {dir: server, rst: true}},
			EndRST, EndRST, [2]int{1, 0}},
	}
	for _, tc := range tests {
		for _, implicit := range []bool{true, false} {
			c := NewConn(Options{Implicit: implicit})
			for i, s := range tc.steps {
				m := reassembly.Mark{Frame: i + 1, Time: t0.Add(time.Duration(i) * time.Millisecond)}
				switch {
				case s.data != nil:
					c.Data(s.dir, s.data, reassembly.ConstMarker(m))
				case s.rst:
					c.Control(reassembly.EventRST, s.dir, m)
				}
			}
			c.End(reassembly.Mark{Frame: len(tc.steps) + 1, Time: t0.Add(time.Second)})
			f := c.Facts()
			want := tc.plain
			if implicit {
				want = tc.implicit
			}
			if f.Ending != want {
				t.Errorf("%s (implicit %v): ending %s, want %s", tc.name, implicit, f.Ending, want)
			}
			if implicit && f.Records != tc.records {
				t.Errorf("%s: records %v, want %v", tc.name, f.Records, tc.records)
			}
			if implicit && want == EndNotCaptured && !f.Established() {
				t.Errorf("%s: not established: the records after it are not read", tc.name)
			}
		}
	}
}
