package reassembly

import (
	"strings"
	"testing"
	"time"
)

// TestAckedHoleSkipsOnlyItsStream checks that a hole the receiver has
// acknowledged (capture loss) is skipped at once for its own connection
// and direction only: data queued behind another hole, one not
// acknowledged, keeps waiting for the retransmission that fills it
// (bench/testdata/flush-other-hole.pcap is the capture that showed it).
func TestAckedHoleSkipsOnlyItsStream(t *testing.T) {
	tests := []struct {
		name string
		segs []seg
		// want lists each connection's events, in stream order.
		want [][]string
	}{{
		name: "one connection's acked hole, the other's hole filled by the RTO",
		segs: twoHoles(),
		want: [][]string{
			{`data client "body\r\n" frames 8-8`, "gap client 10 at 9", `data client ".\r\n" frames 9-9`,
				`data server "250 ok\r\n" frames 11-11`, "end at 11"},
			{`data client "BDAT 5\r\nhello" frames 12-7`, `data server "250 chunk\r\n" frames 13-13`, "end at 13"},
		},
	}, {
		name: "the other direction of the same connection keeps waiting",
		segs: concat(handshakeFrom(0, 0), []seg{
			// Frame 4: the server's "220 hi\r\n" was lost on the wire; its
			// next line comes, and waits.
			{fromServer: true, seq: sISN + 9, ack: cISN + 1, flags: "PA", payload: "250 x\r\n", after: ms(1)},
			{seq: cISN + 1, ack: sISN + 1, flags: "PA", payload: "a\r\n", after: ms(2)},
			{seq: cISN + 9, ack: sISN + 1, flags: "PA", payload: "b\r\n", after: ms(3)},
			// The server acknowledges the client's hole (frame 7).
			{fromServer: true, seq: sISN + 16, ack: cISN + 12, flags: "A", after: ms(4)},
			{fromServer: true, seq: sISN + 1, ack: cISN + 12, flags: "PA", payload: "220 hi\r\n", after: ms(300)},
		}),
		want: [][]string{
			{`data client "a\r\n" frames 5-5`, "gap client 5 at 6", `data client "b\r\n" frames 6-6`,
				`data server "220 hi\r\n250 x\r\n" frames 8-4`, "end at 8"},
		},
	}, {
		name: "an ACK skips the holes it covers and not the next one",
		segs: concat(handshakeFrom(0, 0), []seg{
			{seq: cISN + 1, ack: sISN + 1, flags: "PA", payload: "a\r\n", after: ms(1)},
			// Two holes: [4,9) lost for the capture, [12,16) on the wire.
			{seq: cISN + 9, ack: sISN + 1, flags: "PA", payload: "b\r\n", after: ms(2)},
			{seq: cISN + 16, ack: sISN + 1, flags: "PA", payload: "d\r\n", after: ms(3)},
			{fromServer: true, seq: sISN + 1, ack: cISN + 12, flags: "A", after: ms(4)},
			{seq: cISN + 12, ack: sISN + 1, flags: "PA", payload: "cc\r\n", after: ms(300)},
			{fromServer: true, seq: sISN + 1, ack: cISN + 19, flags: "A", after: ms(301)},
		}),
		want: [][]string{
			{`data client "a\r\n" frames 4-4`, "gap client 5 at 5", `data client "b\r\n" frames 5-5`,
				`data client "cc\r\nd\r\n" frames 8-6`, "end at 9"},
		},
	}, {
		name: "an ACK beyond several holes skips them all before the reply",
		segs: concat(handshakeFrom(0, 0), []seg{
			{seq: cISN + 1, ack: sISN + 1, flags: "PA", payload: "a\r\n", after: ms(1)},
			{seq: cISN + 9, ack: sISN + 1, flags: "PA", payload: "b\r\n", after: ms(2)},
			{seq: cISN + 16, ack: sISN + 1, flags: "PA", payload: "d\r\n", after: ms(3)},
			{fromServer: true, seq: sISN + 1, ack: cISN + 19, flags: "PA", payload: "250 ok\r\n", after: ms(4)},
		}),
		want: [][]string{
			{`data client "a\r\n" frames 4-4`, "gap client 5 at 5", `data client "b\r\n" frames 5-5`,
				"gap client 4 at 6", `data client "d\r\n" frames 6-6`, `data server "250 ok\r\n" frames 7-7`, "end at 7"},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, recs := runSegs(t, tt.segs)
			if len(recs) != len(tt.want) {
				t.Fatalf("got %d connections, want %d", len(recs), len(tt.want))
			}
			for i, want := range tt.want {
				if got := strings.Join(recs[i].events, "\n"); got != strings.Join(want, "\n") {
					t.Errorf("stream %d events:\n%s\nwant:\n%s", i, got, strings.Join(want, "\n"))
				}
			}
			if got := tr.Stats().AckedHoles; got != 1 {
				t.Errorf("AckedHoles %d, want 1", got)
			}
		})
	}
}

const other = 40001 // the second connection's client port

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// handshakeFrom is the handshake of a connection from port (0: 40000).
func handshakeFrom(port uint16, at time.Duration) []seg {
	return []seg{
		{seq: cISN, flags: "S", clientPort: port, after: at},
		{fromServer: true, seq: sISN, ack: cISN + 1, flags: "SA", clientPort: port, after: at},
		{seq: cISN + 1, ack: sISN + 1, flags: "A", clientPort: port, after: at},
	}
}

// twoHoles is two connections, each with a hole: the first one's hole is
// acknowledged (lost for the capture only), the second one's is filled by
// a retransmission (lost on the wire).
func twoHoles() []seg {
	return concat(handshakeFrom(0, 0), handshakeFrom(other, 0), []seg{
		// Frame 7: the second connection's "BDAT 5\r\n" was lost on
		// the wire; its chunk comes, and waits.
		{seq: cISN + 9, ack: sISN + 1, flags: "PA", payload: "hello", clientPort: other, after: ms(1)},
		// The first connection: 10 bytes never captured, then the
		// end-of-data, which the server acknowledges and answers.
		{seq: cISN + 1, ack: sISN + 1, flags: "PA", payload: "body\r\n", after: ms(2)},
		{seq: cISN + 17, ack: sISN + 1, flags: "PA", payload: ".\r\n", after: ms(3)},
		{fromServer: true, seq: sISN + 1, ack: cISN + 20, flags: "A", after: ms(4)},
		{fromServer: true, seq: sISN + 1, ack: cISN + 20, flags: "PA", payload: "250 ok\r\n", after: ms(5)},
		// Frame 12: the second connection's retransmission.
		{seq: cISN + 1, ack: sISN + 1, flags: "PA", payload: "BDAT 5\r\n", clientPort: other, after: ms(320)},
		{fromServer: true, seq: sISN + 1, ack: cISN + 14, flags: "PA", payload: "250 chunk\r\n", clientPort: other, after: ms(321)},
	})
}

func concat(parts ...[]seg) []seg {
	var all []seg
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}
