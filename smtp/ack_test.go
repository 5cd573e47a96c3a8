package smtp

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/smtpscope/smtpscope/reassembly"
)

// ackMarker marks a step's bytes with one frame and one acknowledgment,
// as a Tracker's Marker does for bytes of one segment.
type ackMarker struct {
	m     reassembly.Mark
	acked uint32
}

func (a ackMarker) Mark(int) reassembly.Mark { return a.m }
func (a ackMarker) Acked(int) (uint32, bool) { return a.acked, true }

// withAck returns s whose bytes acknowledge n bytes of the other side.
func withAck(s step, n int) step {
	s.acked, s.ackSet = uint32(n), true
	return s
}

// feedAcked plays steps into d as feed does, with acknowledgments: each
// step's bytes acknowledge everything the other side sent before them,
// gaps included (the capture lost those bytes, not the peer), unless the
// step sets its own.
func feedAcked(d *Decoder, steps []step) {
	var sent [2]int
	for i, s := range steps {
		m := markOf(i + 1)
		m.Time = m.Time.Add(s.skew)
		switch s.kind {
		case stepData:
			a := ackMarker{m: m, acked: uint32(sent[1-s.dir])}
			if s.ackSet {
				a.acked = s.acked
			}
			d.Data(s.dir, []byte(s.data), a)
			sent[s.dir] += len(s.data)
		case stepGap:
			d.Gap(s.dir, s.n, m)
			sent[s.dir] += s.n
		case stepFIN:
			d.Control(reassembly.EventFIN, s.dir, m)
		case stepRST:
			d.Control(reassembly.EventRST, s.dir, m)
		}
	}
}

// runAcked is run with feedAcked.
func runAcked(steps ...step) *Session {
	d := NewDecoder(Options{})
	feedAcked(d, steps)
	d.End(markOf(len(steps) + 1))
	return d.Session()
}

// clientBytes counts the bytes the client sends in steps.
func clientBytes(steps []step) int {
	n := 0
	for _, s := range steps {
		if s.dir == reassembly.ClientToServer && s.kind == stepData {
			n += len(s.data)
		}
	}
	return n
}

// pairing is what a session says of its replies: each command's reply
// code, each transaction's outcome and final reply, the unmatched codes.
func pairing(s *Session) string {
	out := fmt.Sprint("replies ", replyCodes(s), " unmatched ", unmatchedCodes(s))
	for _, x := range s.Transactions {
		code := 0
		if x.Reply != nil {
			code = x.Reply.Code
		}
		out += fmt.Sprintf(" | %s %d incomplete=%v", x.Outcome, code, x.Incomplete)
	}
	return out
}

func unmatchedCodes(s *Session) []int {
	out := []int{}
	for _, r := range s.Unmatched {
		out = append(out, r.Code)
	}
	return out
}

// TestReplyPairingByAck: with the acknowledgments reassembly gives, a
// reply is paired with a request the server had received in full when it
// sent the reply, whatever the time stamps; after a server gap, the
// requests the client sent once it had the reply of the one before are
// passed, and a final reply is never read from a reply the client's
// pipelined next request may own (#14).
func TestReplyPairingByAck(t *testing.T) {
	quit := steps(C("QUIT\r\n"), S("221 Bye\r\n"))
	tests := []struct {
		name  string
		steps []step
		want  string
		// old, when set, is what time stamps alone gave (feed): the case
		// shows what the acknowledgments change.
		old string
	}{{
		name: "a reply sent before the server had the command after a client gap answers a command the gap hid",
		steps: with(steps(
			CGap(33),                           // 4: MAIL FROM:<alice@example.com>\r\n
			C("RCPT TO:<bob@example.org>\r\n"), // 5
			// 6: the MAIL's reply, sent before the RCPT reached the
			// server (captured near the client, after the RCPT).
			withAck(S("250 2.1.0 Ok\r\n"), 34+33),
			S("251 2.1.5 forwarding\r\n"), // 7
		), quit),
		// (withdrawn: the transaction's MAIL is in the gap, but the
		// RCPT's acceptance proves it was accepted, and no reply the
		// capture does not place refused anything: TestHiddenMailQuit.)
		want: "replies [250 251 221] unmatched [250] | withdrawn 0 incomplete=true",
		// By time stamps alone the 251 is unmatched and nothing shows
		// which bytes it answered: the gap may have held a MAIL it
		// accepted (envelope.go), so the outcome is unknown.
		old: "replies [250 250 221] unmatched [251] | unknown 0 incomplete=true",
	}, {
		name: "MAIL pipelined behind the dot, the server gap held the dot's reply: the transaction is unknown",
		steps: with(envelope, steps(
			C(body+".\r\nMAIL FROM:<carol@example.com>\r\n"), // 10
			SGap(24),              // 11: 250 2.0.0 Ok: queued\r\n
			S("250 2.1.0 Ok\r\n"), // 12
		), quit),
		want: "replies [250 250 250 354 250 221] unmatched [] | unknown 0 incomplete=true | withdrawn 0 incomplete=true",
	}, {
		name: "MAIL pipelined behind the dot, the reply sent before the MAIL reached the server: the dot's",
		steps: with(envelope[:5], steps(
			S("354 End"), // 9: the rest of the line, in the gap
			C(body+".\r\nMAIL FROM:<carol@example.com>\r\n"), // 10
			SGap(len(" data with <CR><LF>.<CR><LF>\r\n")),    // 11
			// 12: sent when the server had the dot, not the MAIL.
			withAck(S("250 2.0.0 Ok: queued\r\n"), clientBytes(with(envelope))+len(body+".\r\n")),
			S("250 2.1.0 Ok\r\n"), // 13
		), quit),
		want: "replies [250 250 250 354 250 221] unmatched [] | delivered 250 incomplete=true | withdrawn 0 incomplete=true",
		old:  "replies [250 250 250 354 250 221] unmatched [250] | unknown 0 incomplete=true | unknown 0 incomplete=true",
	}, {
		name: "the client waited for the dot's reply the gap held: the next reply is the MAIL's",
		steps: with(envelope, steps(
			C(body+".\r\n"),                        // 10
			SGap(24),                               // 11: 250 2.0.0 Ok: queued\r\n
			C("MAIL FROM:<carol@example.com>\r\n"), // 12
			S("250 2.1.0 Ok\r\n"),                  // 13
		), quit),
		want: "replies [250 250 250 354 250 221] unmatched [] | unknown 0 incomplete=true | withdrawn 0 incomplete=false",
	}, {
		name: "the client waited for the 354 the gap held: its body is a body",
		steps: with(envelope[:5], steps(
			SGap(len("354 go\r\n")),       // 9
			C(body+".\r\n"),               // 10
			S("250 2.0.0 Ok: queued\r\n"), // 11
		), quit),
		want: "replies [250 250 250 0 221] unmatched [] | delivered 250 incomplete=true",
	}, {
		name: "a body pipelined behind DATA whose reply the gap held: the server may have read it as commands",
		steps: with(envelope[:4], steps(
			C("DATA\r\n"+body+".\r\n"),                     // 8
			SGap(len("554 5.5.1 no valid recipients\r\n")), // 9
			S("500 5.5.2 unrecognized command\r\n"),        // 10: the dot's
		), quit),
		want: "replies [250 250 250 0 221] unmatched [] | unknown 500 incomplete=true",
	}, {
		name: "BDAT LAST whose reply the gap held, then MAIL: the next reply is the MAIL's",
		steps: with(steps(
			C("MAIL FROM:<alice@example.com>\r\n"), S("250 2.1.0 Ok\r\n"),
			C("RCPT TO:<bob@example.org>\r\n"), S("250 2.1.5 Ok\r\n"),
			C("BDAT 5 LAST\r\nhello"),              // 8
			SGap(len("250 2.0.0 Ok: queued\r\n")),  // 9
			C("MAIL FROM:<carol@example.com>\r\n"), // 10
			S("250 2.1.0 Ok\r\n"),                  // 11
		), quit),
		want: "replies [250 250 250 0 250 221] unmatched [] | unknown 0 incomplete=true | withdrawn 0 incomplete=false",
	}, {
		name: "the client waited for the EHLO reply the gap held: the next reply is the MAIL's",
		steps: steps(
			S("220 mx ESMTP\r\n"),                  // 1
			C("EHLO client.example.com\r\n"),       // 2
			SGap(40),                               // 3: 250-mx\r\n250-PIPELINING\r\n...
			C("MAIL FROM:<alice@example.com>\r\n"), // 4
			S("250 2.1.0 Ok\r\n"),                  // 5
			C("QUIT\r\n"), S("221 Bye\r\n"),        // 6, 7
		),
		want: "replies [0 250 221] unmatched [] | withdrawn 0 incomplete=false",
		old:  "replies [250 0 221] unmatched [] | aborted 0 incomplete=true",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := runAcked(tt.steps...)
			if got := pairing(s); got != tt.want {
				t.Errorf("with acknowledgments:\n got %s\nwant %s", got, tt.want)
			}
			if skew := pairing(runAcked(skewed(tt.steps)...)); skew != tt.want {
				t.Errorf("server's clock behind:\n got %s\nwant %s", skew, tt.want)
			}
			if tt.old != "" {
				if got := pairing(run(Options{}, tt.steps...)); got != tt.old {
					t.Errorf("by time stamps:\n got %s\nwant %s", got, tt.old)
				}
			}
		})
	}
}

// TestAckPairingIgnoresClocks: on conversations with client gaps, server
// gaps and a mid-session start, replies stamped 1.5 s early (the server's
// side captured by a clock behind) pair as stamped right once the
// acknowledgments are known; by time stamps alone they did not.
func TestAckPairingIgnoresClocks(t *testing.T) {
	convs := map[string][]step{
		"client gap before the RCPT": with(steps(
			C("MAIL FROM:<alice@example.com>\r\n"), S("250 2.1.0 Ok\r\n"),
			CGap(28), C("RCPT TO:<carol@example.org>\r\n"), S("250 2.1.5 Ok\r\n"), S("250 2.1.5 Ok\r\n"),
			C("DATA\r\n"), S("354 go\r\n"), C(body+".\r\n"), S("250 2.0.0 Ok: queued\r\n"),
			C("QUIT\r\n"), S("221 Bye\r\n"),
		)),
		"client gap inside the body": with(envelope, steps(
			C("Subject: hi\r\n\r\npart one\r\n"), CGap(100), C("part two\r\n.\r\n"),
			S("250 2.0.0 Ok: queued\r\n"), C("QUIT\r\n"), S("221 Bye\r\n"),
		)),
		"begun mid-session": steps(
			C("RCPT TO:<bob@example.org>\r\n"), S("250 2.1.5 Ok\r\n"),
			C("DATA\r\n"), S("354 go\r\n"), C(body+".\r\n"), S("250 2.0.0 Ok: queued\r\n"),
			C("QUIT\r\n"), S("221 Bye\r\n"),
		),
		"server gap": with(envelope, steps(
			C(body+".\r\n"), SGap(24), C("MAIL FROM:<carol@example.com>\r\n"), S("250 2.1.0 Ok\r\n"),
			C("QUIT\r\n"), S("221 Bye\r\n"),
		)),
	}
	byTime := 0
	for name, conv := range convs {
		want := pairing(runAcked(conv...))
		if got := pairing(runAcked(skewed(conv)...)); got != want {
			t.Errorf("%s: server's clock behind:\n got %s\nwant %s", name, got, want)
		}
		if !reflect.DeepEqual(pairing(run(Options{}, skewed(conv)...)), pairing(run(Options{}, conv...))) {
			byTime++
		}
	}
	if byTime == 0 {
		t.Errorf("no conversation pairs differently by time stamps alone: the test shows nothing")
	}
}
