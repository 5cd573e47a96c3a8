package smtp

import (
	"bytes"
	"testing"

	"github.com/smtpscope/smtpscope/reassembly"
)

// TestEndlessLine: a line without CRLF far over the limit (200 MB, as a
// hostile or broken peer sends) raises line-too-long while it flows, on
// either side, and the decoder holds no more than the limit of it (#14).
func TestEndlessLine(t *testing.T) {
	const total, chunk = 200 << 20, 64 << 10
	for _, dir := range []reassembly.Direction{reassembly.ClientToServer, reassembly.ServerToClient} {
		t.Run(dir.String(), func(t *testing.T) {
			d := NewDecoder(Options{})
			feed(d, with(steps(C("MAIL FROM:<a@x>\r\n"), S("250 ok\r\n"))))
			p := bytes.Repeat([]byte("A"), chunk)
			frame := 100
			for sent := 0; sent < total; sent += chunk {
				frame++
				d.Data(dir, p, reassembly.ConstMarker(markOf(frame)))
			}
			b := &d.client.line
			if dir == reassembly.ServerToClient {
				b = &d.server.line
			}
			if cap(b.buf) > 2*DefaultMaxLineLength {
				t.Errorf("the line buffer holds %d bytes, want at most about the limit %d", cap(b.buf), DefaultMaxLineLength)
			}
			d.End(markOf(frame + 1))
			s := d.Session()
			n := 0
			for _, a := range s.Anomalies {
				if a.Name == AnomalyLineTooLong {
					n++
					if a.Frame != 101 {
						t.Errorf("line-too-long at frame %d, want 101 (where the line passed the limit)", a.Frame)
					}
				}
			}
			if n != 1 {
				t.Errorf("%d line-too-long anomalies, want 1: %q", n, anomalyNames(s))
			}
		})
	}
}
