package smtp

import (
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/reassembly"
)

// bodySegment is one full-size segment of a message body: text lines with
// a dot-stuffed one, as a mail client sends them.
var bodySegment = func() []byte {
	line := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n"
	s := strings.Repeat(line, 1460/len(line)+1)[:1460-len("..stuffed\r\n")] + "..stuffed\r\n"
	return []byte(s)
}()

// BenchmarkDecoderData measures the in-order DATA path: body segments
// scanned for the end-of-data, one Data call per segment.
func BenchmarkDecoderData(b *testing.B) {
	d := NewDecoder(Options{})
	feed(d, with(envelope, steps(C("Message-ID: <bench@example.com>\r\n\r\n"))))
	var m reassembly.Marker = reassembly.ConstMarker(markOf(11)) // convert once: no allocation per call
	b.SetBytes(int64(len(bodySegment)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d.Data(reassembly.ClientToServer, bodySegment, m)
	}
	b.StopTimer()
	if d.client.state != clientBody || d.s.Transactions[0].MessageID == "" {
		b.Fatalf("not in the body: state %d", d.client.state)
	}
}

// BenchmarkDecoderSession measures a whole session carrying a 1 MiB
// message, from the greeting to QUIT.
func BenchmarkDecoderSession(b *testing.B) {
	const segments = 1 << 20 / 1460
	head := with(envelope)
	tail := steps(C(".\r\n"), S("250 2.0.0 Ok: queued\r\n"), C("QUIT\r\n"), S("221 Bye\r\n"), SFIN, CFIN)
	b.SetBytes(segments * int64(len(bodySegment)))
	b.ReportAllocs()
	for b.Loop() {
		d := NewDecoder(Options{})
		feed(d, head)
		var m reassembly.Marker = reassembly.ConstMarker(markOf(len(head) + 1))
		for range segments {
			d.Data(reassembly.ClientToServer, bodySegment, m)
		}
		feed(d, tail)
		d.End(markOf(len(head) + len(tail) + 2))
		if d.Session().Transactions[0].Outcome != OutcomeDelivered {
			b.Fatal("not delivered")
		}
	}
}

// BenchmarkDecoderPipelined measures command and reply lines: a pipelined
// envelope of 50 recipients and its replies.
func BenchmarkDecoderPipelined(b *testing.B) {
	var cmds, replies strings.Builder
	cmds.WriteString("MAIL FROM:<a@example.com> SIZE=1000\r\n")
	replies.WriteString("250 2.1.0 Ok\r\n")
	for range 50 {
		cmds.WriteString("RCPT TO:<recipient@example.org>\r\n")
		replies.WriteString("250 2.1.5 Ok\r\n")
	}
	cmds.WriteString("RSET\r\n")
	replies.WriteString("250 2.0.0 Ok\r\n")
	c, r := []byte(cmds.String()), []byte(replies.String())
	b.SetBytes(int64(len(c) + len(r)))
	b.ReportAllocs()
	for b.Loop() {
		d := NewDecoder(Options{})
		feed(d, prologue)
		m := reassembly.ConstMarker(markOf(4))
		d.Data(reassembly.ClientToServer, c, m)
		d.Data(reassembly.ServerToClient, r, m)
		d.End(markOf(5))
	}
}

// BenchmarkDotReader measures the end-of-data detector alone on a text
// body with a dot in most lines and on a base64 attachment, which has
// none.
func BenchmarkDotReader(b *testing.B) {
	const b64 = "TG9yZW0gaXBzdW0gZG9sb3Igc2l0IGFtZXQsIGNvbnNlY3RldHVyIGFkaXBpc2NpbmcgZWxpdC4K\r\n"
	for _, bc := range []struct {
		name string
		body []byte
	}{
		{"text", bodySegment},
		{"base64", []byte(strings.Repeat(b64, 1460/len(b64)+1)[:1460])},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.body)))
			b.ReportAllocs()
			var r dotReader
			for b.Loop() {
				if _, end := r.scan(bc.body); end {
					b.Fatal("end of data in the body")
				}
			}
		})
	}
}
