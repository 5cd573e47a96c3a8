package smtp

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/smtpscope/smtpscope/reassembly"
)

// The fuzz input is a list of records, each an op byte and a length byte
// followed (for data) by that many bytes:
//
//	op%8 0-2: client data   3-5: server data   6: gap   7: FIN or RST
//
// For a gap, op&8 picks the direction and the length byte is the number of
// lost bytes minus one (0 means unknown). For a control event, op&8 picks
// the direction and op&16 RST. Record i is frame i+1.

func decodeFuzz(b []byte) []step {
	var out []step
	for len(b) >= 2 && len(out) < 4096 {
		op, n := b[0], int(b[1])
		b = b[2:]
		dir := reassembly.ClientToServer
		if op&8 != 0 {
			dir = reassembly.ServerToClient
		}
		switch op % 8 {
		case 0, 1, 2, 3, 4, 5:
			n = min(n, len(b))
			s := C(string(b[:n]))
			if op%8 >= 3 {
				s = S(string(b[:n]))
			}
			out = append(out, s)
			b = b[n:]
		case 6:
			out = append(out, step{kind: stepGap, dir: dir, n: n - 1})
		case 7:
			k := stepFIN
			if op&16 != 0 {
				k = stepRST
			}
			out = append(out, step{kind: k, dir: dir})
		}
	}
	return out
}

// encodeFuzz is decodeFuzz's inverse, for seeds.
func encodeFuzz(steps []step) []byte {
	var b []byte
	for _, s := range steps {
		switch s.kind {
		case stepData:
			op := byte(0)
			if s.dir == reassembly.ServerToClient {
				op = 3
			}
			data := s.data
			for first := true; first || len(data) > 0; first = false {
				n := min(len(data), 255)
				b = append(b, op, byte(n))
				b = append(b, data[:n]...)
				data = data[n:]
			}
		case stepGap:
			op := byte(6)
			if s.dir == reassembly.ServerToClient {
				op |= 8
			}
			b = append(b, op, byte(min(max(s.n+1, 0), 255)))
		case stepFIN, stepRST:
			op := byte(7)
			if s.dir == reassembly.ServerToClient {
				op |= 8
			}
			if s.kind == stepRST {
				op |= 16
			}
			b = append(b, op, 0)
		}
	}
	return b
}

// fuzzSeeds are conversations from the scenario tests.
func fuzzSeeds(t testing.TB) [][]step {
	hello := string(clientHelloBytes(t, "mx.example.com"))
	return [][]step{
		with(envelope, steps(C("Message-ID: <a@b>\r\n\r\nhi\r\n.\r\n"), S("250 2.0.0 Ok\r\n"), C("QUIT\r\n"), S("221 Bye\r\n"), SFIN, CFIN)),
		with(steps(C("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 19\r\nSubject: x\r\n"), C("\r\nhelloBDAT 8 LAST\r\n world\r\nQUIT\r\n"), S("250 Ok\r\n250 Ok\r\n250 2.0.0 19\r\n250 queued\r\n221 Bye\r\n"))),
		with(envelope, steps(C("line\r"), C("\n."), C("\r\n"), S("250 2.0.0 Ok: queued as 1234"), C("QUIT\r\n"), CRST)),
		with(steps(C("AUTH LOGIN\r\n"), S("334 VXNlcm5hbWU6\r\n"), C("dXNlcg==\r\n"), S("334 UGFzc3dvcmQ6\r\n"), C("cGFzcw==\r\n"), S("235 ok\r\n"))),
		with(steps(C("STARTTLS\r\n"), S("220 go\r\n"), C(hello), S("\x16\x03\x03\x00\x02\x02\x00"))),
		steps(C(hello), S("\x16\x03\x03\x00\x02\x02\x00")),
		with(envelope, steps(C("part\r\n"), CGap(50), C("tail\r\n"), S("250 ok\r\n"), SGap(-1), S("ok\r\n221 x\r\n"))),
		steps(C("body\r\n.\r\n"), S("250 ok\r\n"), C("QUIT\r\n")),
		steps(S("220-a\r\n220 b\r\n"), C("LHLO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\nDATA\r\n"), S("250 x\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"), C("x\r\n.\r\n"), S("250 a\r\n452 b\r\n")),
		steps(C("\x00\x01junk\r\n"), S("220 x\r\n500 no\r\n"), C("XEXCH50 4 2\r\n"), S("354 go\r\n"), C("abcdNOOP\r\n"), S("250 ok\r\n250 ok\r\n")),
		steps(C("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), S("HTTP/1.1 200 OK\r\n\r\n")),
		// A snaplen capture: lines cut on both sides, gaps reported late.
		steps(S("220 mx.example.com ESMTP Postf"), C("EHLO c\r\n"), SGap(8), S("250-mx\r\n250-PIPEL"),
			C("MAIL FROM:<alice@example.c"), SGap(30), S("250 2.1.0 Sender ok, acceptin"), CGap(12),
			C("RCPT TO:<b@x>\r"), SGap(10), S("250 2.1.5 Ok\r\n"), CGap(1), C("DATA\r\n"), S("354 End data with <CR><LF>.<C"),
			C("Subject: x\r\n\r\nhi"), CGap(100), SGap(10), S("250 2.0.0 Ok: queued\r\n"), CGap(3), C("QUIT\r\n"), S("221 Bye\r\n")),
		with(steps(C("MAIL FROM:<a@x>\r\nRCPT TO:<b@exa"), S("250 Ok\r\n250 Ok\r\n"), CGap(10), C("BDAT 10\r\n01234"), CGap(20), CFIN)),
		// Preambles: an HTTP CONNECT tunnel, PROXY v1 and v2 headers.
		steps(C("CONNECT mx:25 HTTP/1.0\r\nA: b\r\n\r\n"), S("HTTP/1.0 200 ok\r\n\r\n220 x\r\n"), C("HELO a\r\n"), S("250 x\r\n")),
		steps(C("PROXY TCP4 192.0.2.1 198.51.100.2 1 25\r\n"), S("220 x\r\n"), C("EHLO a\r\n"), S("250 x\r\n")),
		steps(C(proxyV2(1, netip.MustParseAddrPort("192.0.2.1:1"), netip.MustParseAddrPort("198.51.100.2:25"))), S("220 x\r\n"), C("QUIT\r\n")),
	}
}

func FuzzDecoder(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(encodeFuzz(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st := decodeFuzz(b)
		opts := Options{MaxLineLength: 64, MaxPendingCommands: 8, MaxCommands: 32, MaxTransactions: 4, MaxRecipients: 4, MaxReplyLines: 8, MaxAnomalies: 16, MaxChunkSize: 100}

		whole := NewDecoder(opts)
		feedChecked(t, whole, st, false)
		bytewise := NewDecoder(opts)
		feedChecked(t, bytewise, st, true)

		a, z := whole.Session(), bytewise.Session()
		if !reflect.DeepEqual(a, z) {
			t.Fatalf("the session depends on segment boundaries:\nwhole records:\n%s\nbyte by byte:\n%s", dump(a), dump(z))
		}
		checkSession(t, a, opts)

		// With the acknowledgments a TCP peer gives (ack.go).
		wholeAcked := NewDecoder(opts)
		feedCheckedWith(t, wholeAcked, st, false, true)
		bytewiseAcked := NewDecoder(opts)
		feedCheckedWith(t, bytewiseAcked, st, true, true)
		a, z = wholeAcked.Session(), bytewiseAcked.Session()
		if !reflect.DeepEqual(a, z) {
			t.Fatalf("with acknowledgments, the session depends on segment boundaries:\nwhole records:\n%s\nbyte by byte:\n%s", dump(a), dump(z))
		}
		checkSession(t, a, opts)
	})
}

// feedChecked plays steps, optionally one byte per Data call, checking the
// decoder's bounds after every call, then ends it.
func feedChecked(t *testing.T, d *Decoder, st []step, bytewise bool) {
	t.Helper()
	feedCheckedWith(t, d, st, bytewise, false)
}

// feedCheckedWith is feedChecked, with the acknowledgments of feedAcked if
// acked.
func feedCheckedWith(t *testing.T, d *Decoder, st []step, bytewise, acked bool) {
	t.Helper()
	var sent [2]int
	for i, s := range st {
		m := markOf(i + 1)
		var at reassembly.Marker = reassembly.ConstMarker(m)
		if acked {
			at = ackMarker{m: m, acked: uint32(sent[1-s.dir])}
		}
		if s.kind == stepData || s.kind == stepGap {
			sent[s.dir] += len(s.data) + max(s.n, 0)
		}
		switch {
		case s.kind == stepData && bytewise:
			for j := 0; j < len(s.data); j++ {
				d.Data(s.dir, []byte{s.data[j]}, at)
				checkBounds(t, d)
			}
			continue
		case s.kind == stepData:
			d.Data(s.dir, []byte(s.data), at)
		case s.kind == stepGap:
			d.Gap(s.dir, s.n, m)
		case s.kind == stepFIN:
			d.Control(reassembly.EventFIN, s.dir, m)
		case s.kind == stepRST:
			d.Control(reassembly.EventRST, s.dir, m)
		}
		checkBounds(t, d)
	}
	d.End(markOf(len(st) + 1))
}

func checkBounds(t *testing.T, d *Decoder) {
	t.Helper()
	o := d.opts
	switch {
	case len(d.client.line.buf) > o.MaxLineLength || len(d.server.line.buf) > o.MaxLineLength:
		t.Fatalf("line buffers %d, %d over %d", len(d.client.line.buf), len(d.server.line.buf), o.MaxLineLength)
	case len(d.queue) > 4*o.MaxPendingCommands+1:
		// Past the limit, commands are counted in skip entries and the
		// ones that steer the reading kept up to twice it (push).
		t.Fatalf("%d pending, over %d", len(d.queue), 4*o.MaxPendingCommands+1)
	case len(d.client.hello) > maxClientHello:
		t.Fatalf("ClientHello buffer %d", len(d.client.hello))
	case len(d.client.header.line) > maxHeaderLine:
		t.Fatalf("header line buffer %d", len(d.client.header.line))
	case len(d.client.pregreet) > maxPregreet:
		t.Fatalf("%d pregreet lines", len(d.client.pregreet))
	case len(d.server.ext) > maxExtensions:
		t.Fatalf("%d extensions", len(d.server.ext))
	}
}

// checkSession states what must hold of any finished session.
func checkSession(t *testing.T, s *Session, o Options) {
	t.Helper()
	if !s.IsSMTP {
		if !reflect.DeepEqual(*s, Session{TLS: s.TLS}) {
			t.Fatalf("not SMTP but not empty:\n%s", dump(s))
		}
		return
	}
	if len(s.Commands) > o.MaxCommands || len(s.Transactions) > o.MaxTransactions || len(s.Anomalies) > o.MaxAnomalies || len(s.Extensions) > maxExtensions {
		t.Fatalf("over the limits:\n%s", dump(s))
	}
	for _, c := range s.Commands {
		if c.Verb == "AUTH" && c.Arg != "" && !isMechanism([]byte(c.Arg)) {
			t.Fatalf("AUTH keeps %q", c.Arg)
		}
		if !knownVerbName(c.Verb) && c.Verb != unknownVerb && c.Verb != "" {
			t.Fatalf("verb %q is neither known nor the placeholder", c.Verb)
		}
	}
	for i, x := range s.Transactions {
		if len(x.Rcpts) > o.MaxRecipients {
			t.Fatalf("transaction %d: %d recipients", i, len(x.Rcpts))
		}
		switch x.Outcome {
		case OutcomeDelivered:
			if x.Reply == nil || x.Reply.Class() != 2 {
				t.Fatalf("transaction %d delivered without a 2xx final reply:\n%s", i, dump(s))
			}
		case OutcomeNoReply:
			if x.Reply != nil || x.EndOfDataFrame == 0 {
				t.Fatalf("transaction %d no-reply with reply %+v, end-of-data frame %d", i, x.Reply, x.EndOfDataFrame)
			}
		case OutcomeAborted:
			if x.Reply != nil {
				t.Fatalf("transaction %d aborted with a final reply", i)
			}
		}
		if x.Size < 0 {
			t.Fatalf("transaction %d: size %d", i, x.Size)
		}
		if x.PartialReply != nil && !x.PartialReply.Partial {
			t.Fatalf("transaction %d: partial reply not marked", i)
		}
		truncated := x.MailFromTruncated
		for _, r := range x.Rcpts {
			truncated = truncated || r.Truncated
		}
		if truncated && !x.Incomplete {
			t.Fatalf("transaction %d: a truncated address in a complete transaction:\n%s", i, dump(s))
		}
	}
}

// knownVerbName tells whether name is a verb of verbNames.
func knownVerbName(name string) bool {
	for _, vn := range verbNames {
		if vn.name == name {
			return true
		}
	}
	return false
}
