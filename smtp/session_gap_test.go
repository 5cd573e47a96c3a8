package smtp

import (
	"fmt"
	"reflect"
	"testing"
)

// Capture gaps and mid-stream starts (issue #5): the decoder resynchronises
// at the next line that parses, marks the transaction incomplete, and never
// invents an outcome. Each case is a byte sequence with gaps in the order
// reassembly delivers it: a gap is reported with the next segment of its
// direction, so under a snaplen a cut line is known to be cut only after
// the other side may already have answered it.

// gapWant is what a gap case must decode to: its only transaction, the
// replies of its commands in order (0 for none), and its unmatched
// replies.
type gapWant struct {
	outcome    Outcome
	incomplete bool
	eod        int // EndOfDataFrame
	reply      int // the final reply's code, 0 for none
	ended      EndReason
	verbs      []string
	replies    []int
	unmatched  []int
	// check, when set, looks at the rest.
	check func(t *testing.T, s *Session, x *Transaction)
}

// body is a message body after the envelope (frames 10 onwards).
const body = "Subject: hi\r\nMessage-ID: <g@example.com>\r\n\r\nhello\r\n"

func TestSessionCaptureGaps(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		want  gapWant
	}{
		{
			name: "gap in the middle of the body",
			steps: with(envelope, steps(
				C("Subject: hi\r\n\r\npart one\r\n"), // 10
				CGap(100),                            // 11
				C("part two\r\n.\r\n"),               // 12
				S("250 2.0.0 Ok: queued\r\n"),        // 13
				C("QUIT\r\n"), S("221 Bye\r\n"),      // 14, 15
			)),
			want: gapWant{outcome: OutcomeDelivered, incomplete: true, eod: 12, reply: 250,
				verbs: []string{"EHLO", "MAIL", "RCPT", "DATA", "QUIT"}, replies: []int{250, 250, 250, 354, 221},
				check: func(t *testing.T, s *Session, x *Transaction) {
					if want := int64(len("Subject: hi\r\n\r\npart one\r\n") + 100 + len("part two\r\n")); x.Size != want {
						t.Errorf("size %d, want %d", x.Size, want)
					}
				}},
		},
		{
			name: "gap covering the end-of-data, then 250",
			steps: with(envelope, steps(
				C(body), CGap(30), S("250 2.0.0 Ok: queued\r\n"), // 10-12
				C("QUIT\r\n"), S("221 Bye\r\n"), // 13, 14
			)),
			// The server's bytes are whole: by the order of replies the
			// 250 answers the end-of-data the capture lost.
			want: gapWant{outcome: OutcomeDelivered, incomplete: true, reply: 250,
				verbs: []string{"EHLO", "MAIL", "RCPT", "DATA", "QUIT"}, replies: []int{250, 250, 250, 354, 221},
				check: func(t *testing.T, s *Session, x *Transaction) {
					if x.Reply.Frame != 12 || x.Latency() != 0 || x.MessageID != "<g@example.com>" {
						t.Errorf("reply %+v latency %v message-id %q", x.Reply, x.Latency(), x.MessageID)
					}
					if !hasAnomaly(s, "end-of-data-in-gap") {
						t.Errorf("anomalies %q", anomalyNames(s))
					}
				}},
		},
		{
			name: "gap covering the end-of-data, then 554",
			steps: with(envelope, steps(
				C(body), CGap(30), S("554 5.7.1 spam\r\n"), C("QUIT\r\n"), S("221 Bye\r\n"),
			)),
			want: gapWant{outcome: OutcomeRejected, incomplete: true, reply: 554,
				verbs: []string{"EHLO", "MAIL", "RCPT", "DATA", "QUIT"}, replies: []int{250, 250, 250, 354, 221}},
		},
		{
			name: "gaps on both sides before the 250",
			steps: with(envelope, steps(
				C(body), CGap(30), SGap(20), S("250 2.0.0 Ok: queued\r\n"), // 10-13
				C("QUIT\r\n"), S("221 Bye\r\n"), // 14, 15
			)),
			// The server's gap may hold the reply to the end-of-data, and
			// the 250 answer a command the client's gap hid.
			want: gapWant{outcome: OutcomeUnknown, incomplete: true,
				verbs: []string{"EHLO", "MAIL", "RCPT", "DATA", "QUIT"}, replies: []int{250, 250, 250, 354, 221}, unmatched: []int{250}},
		},
		{
			name: "the end-of-data's reply and the QUIT lost, then 221",
			steps: with(envelope, steps(
				C(body+".\r\n"), SGap(44), S("221 Bye\r\n"), // 10-12: the 552 is in the gap
				CGap(6), CFIN, SFIN, // 13-15: QUIT, known lost only now
			)),
			// The server's next segment comes before the client's that
			// shows the QUIT lost: a 221 answers only a QUIT, never the
			// end-of-data (live soak, #14: "delivered" on a 552).
			want: gapWant{outcome: OutcomeUnknown, incomplete: true, eod: 10,
				verbs: []string{"EHLO", "MAIL", "RCPT", "DATA"}, replies: []int{250, 250, 250, 354}, unmatched: []int{221},
				check: func(t *testing.T, s *Session, x *Transaction) {
					if x.Reply != nil {
						t.Errorf("final reply %d, want none", x.Reply.Code)
					}
				}},
		},
		{
			name: "the end-of-data's reply lost, the next MAIL's 250 after the gap",
			steps: with(envelope, steps(
				C(body+".\r\n"), SGap(22), // 10-11: "250 2.0.0 OK: queued" is in the gap
				C("MAIL FROM:<b@x>\r\n"), S("250 Roger\r\n"), // 12-13
				C("RCPT TO:<c@y>\r\n"), S("250 Ok\r\n"), // 14-15
				C("QUIT\r\n"), S("221 Bye\r\n"), SFIN, // 16-18
			)),
			// The client sent its next MAIL before the 250 came: it had the
			// end-of-data's reply, so the gap held it and the 250 answers
			// the MAIL (relay-stall.pcapng without frame 25 read "delivered"
			// from the MAIL's 250, and gave RCPT the DATA's 354).
			want: gapWant{outcome: OutcomeUnknown, incomplete: true, eod: 10,
				verbs: []string{"EHLO", "MAIL", "RCPT", "DATA", "MAIL", "RCPT", "QUIT"}, replies: []int{250, 250, 250, 354, 250, 250, 221},
				check: func(t *testing.T, s *Session, x *Transaction) {
					if x.Reply != nil {
						t.Errorf("final reply %d, want none", x.Reply.Code)
					}
				}},
		},
		{
			name: "gap covering the end-of-data, then the client closes",
			steps: with(envelope, steps(
				C(body), CGap(30), CFIN, SFIN, // 10-13
			)),
			want: gapWant{outcome: OutcomeUnknown, incomplete: true, ended: EndClientClosed,
				verbs: []string{"EHLO", "MAIL", "RCPT", "DATA"}, replies: []int{250, 250, 250, 354},
				check: func(t *testing.T, s *Session, x *Transaction) {
					wantEnd(t, x, EndClientClosed, 12)
				}},
		},
		{
			name: "gap covering the end-of-data, then the server resets",
			steps: with(envelope, steps(
				C(body), CGap(30), SRST,
			)),
			want: gapWant{outcome: OutcomeUnknown, incomplete: true, ended: EndServerReset,
				verbs: []string{"EHLO", "MAIL", "RCPT", "DATA"}, replies: []int{250, 250, 250, 354}},
		},
		{
			name: "no gap, the client closes in the body",
			steps: with(envelope, steps(
				C(body), CFIN, SFIN,
			)),
			// The capture holds every byte the client sent: it never sent
			// the end-of-data.
			want: gapWant{outcome: OutcomeAborted, ended: EndClientClosed,
				verbs: []string{"EHLO", "MAIL", "RCPT", "DATA"}, replies: []int{250, 250, 250, 354}},
		},
		{
			name: "gap covering the end of a BDAT chunk, then the client closes",
			steps: with(steps(
				C("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 100\r\n0123456789"), // 4
				S("250 Ok\r\n250 Ok\r\n"), // 5
				CGap(200), CFIN,           // 6, 7: the rest, and maybe a BDAT LAST
			)),
			want: gapWant{outcome: OutcomeUnknown, incomplete: true, ended: EndClientClosed,
				verbs: []string{"EHLO", "MAIL", "RCPT", "BDAT"}, replies: []int{250, 250, 250, 0}},
		},
		{
			name: "gap inside a BDAT chunk, then the client closes",
			steps: with(steps(
				C("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 100\r\n0123456789"), // 4
				S("250 Ok\r\n250 Ok\r\n"),       // 5
				CGap(50), C("0123456789"), CFIN, // 6-8: 30 bytes of the chunk never sent
			)),
			// The gap held chunk bytes only: the chunk's end was never
			// sent, so the transaction was aborted.
			want: gapWant{outcome: OutcomeAborted, incomplete: true, ended: EndClientClosed,
				verbs: []string{"EHLO", "MAIL", "RCPT", "BDAT"}, replies: []int{250, 250, 250, 0}},
		},
		{
			name: "gap in the envelope, then the client closes",
			steps: with(steps(
				C("MAIL FROM:<a@x>\r\n"), S("250 Ok\r\n"), // 4, 5
				CGap(500), S("250 Ok\r\n"), CFIN, // 6-8: RCPT, BDAT LAST and its chunk may be in the gap
			)),
			want: gapWant{outcome: OutcomeUnknown, incomplete: true, ended: EndClientClosed,
				verbs: []string{"EHLO", "MAIL"}, replies: []int{250, 250}, unmatched: []int{250}},
		},
		{
			name: "gap covering the start of the MAIL line",
			steps: with(steps(
				CGap(20), C("mple.com>\r\n"), S("250 2.1.0 Ok\r\n"), // 4-6: "MAIL FROM:<alice@exa" lost
				C("RCPT TO:<bob@example.org>\r\n"), S("250 2.1.5 Ok\r\n"), // 7, 8
				C("DATA\r\n"), S("354 go\r\n"), C("hi\r\n.\r\n"), S("250 2.0.0 Ok\r\n"), // 9-12
			)),
			// The RCPT opens a transaction whose MAIL the gap hid; the reply
			// to that MAIL answers no command the capture shows.
			want: gapWant{outcome: OutcomeDelivered, incomplete: true, eod: 11, reply: 250,
				verbs: []string{"EHLO", "RCPT", "DATA"}, replies: []int{250, 250, 354}, unmatched: []int{250},
				check: func(t *testing.T, s *Session, x *Transaction) {
					if x.MailFrom != "" || x.MailFrame != 0 || len(x.Rcpts) != 1 || x.Rcpts[0].Reply.Enhanced.String() != "2.1.5" {
						t.Errorf("envelope %+v", x)
					}
				}},
		},
		{
			name: "snaplen: every line cut, the replies too",
			// The lab's snaplen capture, in small: each segment keeps its
			// first 30 bytes, and each gap is reported with the next
			// segment of its direction.
			steps: steps(
				S("220 mx.example.com ESMTP Postf"),  // 1
				C("EHLO client.example.com\r\n"),     // 2
				SGap(8),                              // 3
				S("250-mx.example.com\r\n"),          // 4
				S("250 PIPELINING\r\n"),              // 5
				C("MAIL FROM:<alice@example.com> S"), // 6
				S("250 2.1.0 Sender ok, acceptin"),   // 7
				CGap(12),                             // 8
				C("RCPT TO:<bob@example.org> NOTIF"), // 9
				SGap(10),                             // 10
				S("250 2.1.5 Recipient ok, and s"),   // 11
				CGap(14),                             // 12
				C("DATA\r\n"),                        // 13
				SGap(10),                             // 14
				S("354 End data with <CR><LF>.<C"),   // 15
				C("Subject: hi\r\nMessage-ID: <g@e"), // 16
				CGap(1000),                           // 17
				C("more of the body, and its end"),   // 18
				SGap(10),                             // 19
				S("250 2.0.0 Ok: queued\r\n"),        // 20
				CGap(50),                             // 21
				C("QUIT\r\n"),                        // 22
				S("221 2.0.0 Bye\r\n"),               // 23
			),
			want: gapWant{outcome: OutcomeUnknown, incomplete: true,
				verbs: []string{"EHLO", "MAIL", "RCPT", "DATA", "QUIT"}, replies: []int{250, 250, 250, 354, 221}, unmatched: []int{250},
				check: func(t *testing.T, s *Session, x *Transaction) {
					if s.Banner == nil || s.Banner.Code != 220 || !s.Banner.Truncated || s.MidStream {
						t.Errorf("banner %+v mid-stream %v", s.Banner, s.MidStream)
					}
					if x.MailFrom != "alice@example.com" || x.MailFromTruncated || x.SizeParam != -1 || x.MailFrame != 6 {
						t.Errorf("mail from %q truncated %v size %d frame %d", x.MailFrom, x.MailFromTruncated, x.SizeParam, x.MailFrame)
					}
					if r := x.MailReply; r == nil || r.Enhanced.String() != "2.1.0" || r.Text != "Sender ok, acceptin" || !r.Truncated || r.Frame != 7 {
						t.Errorf("mail reply %+v", r)
					}
					if len(x.Rcpts) != 1 || x.Rcpts[0].Addr != "bob@example.org" || x.Rcpts[0].Truncated || x.Rcpts[0].Reply.Enhanced.String() != "2.1.5" {
						t.Errorf("recipients %+v", x.Rcpts)
					}
					if !s.Commands[1].Truncated || !s.Commands[2].Truncated || s.Commands[3].Truncated {
						t.Errorf("commands %+v", s.Commands)
					}
					if x.Method != "DATA" || x.DataReply == nil || x.DataReply.Code != 354 || x.Reply != nil || x.PartialReply != nil {
						t.Errorf("method %q data reply %+v reply %+v", x.Method, x.DataReply, x.Reply)
					}
					if hasAnomaly(s, "body-before-354") || hasAnomaly(s, "unmatched-reply") {
						t.Errorf("anomalies %q", anomalyNames(s))
					}
				}},
		},
		{
			name: "snaplen: cut commands, whole replies",
			// The server's short replies are whole and come before the gap
			// that shows the client's line was cut.
			steps: with(steps(
				C("MAIL FROM:<alice@example.c"), S("250 2.1.0 Ok\r\n"), CGap(30), // 4-6
				C("RCPT TO:<bob@exam"), S("250 2.1.5 Ok\r\n"), CGap(30), // 7-9
				C("RCPT TO:<carol@example.org>\r"), S("550 5.1.1 No\r\n"), CGap(1), // 10-12: only the LF lost
				C("DATA\r\n"), S("354 go\r\n"), C("hi\r\n.\r\n"), S("250 2.0.0 Ok\r\n"), // 13-16
			)),
			want: gapWant{outcome: OutcomeDelivered, incomplete: true, eod: 15, reply: 250,
				verbs: []string{"EHLO", "MAIL", "RCPT", "RCPT", "DATA"}, replies: []int{250, 250, 250, 550, 354},
				check: func(t *testing.T, s *Session, x *Transaction) {
					if x.MailFrom != "alice@example.c" || !x.MailFromTruncated {
						t.Errorf("mail from %q truncated %v", x.MailFrom, x.MailFromTruncated)
					}
					want := []Recipient{{Addr: "bob@exam", Truncated: true}, {Addr: "carol@example.org"}}
					for i, r := range x.Rcpts {
						if i >= len(want) || r.Addr != want[i].Addr || r.Truncated != want[i].Truncated {
							t.Errorf("recipient %d %+v, want %+v", i, r, want)
						}
					}
					if c := s.Commands[1]; !c.Truncated || c.Frame != 4 || c.Latency() != 1e9 {
						t.Errorf("MAIL %+v latency %v", c, c.Latency())
					}
					if s.Commands[3].Truncated {
						t.Errorf("a line that lost only its LF is whole: %+v", s.Commands[3])
					}
					wantAnomalies(t, s, "content-gap", "content-gap", "content-gap")
				}},
		},
		{
			name: "snaplen: pipelined envelope, the last line cut",
			steps: with(steps(
				C("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@exa"), // 4
				S("250 Ok\r\n250 Ok\r\n250 Ok\r\n"),                     // 5
				CGap(10), C("DATA\r\n"), S("354 go\r\n"),                // 6-8
				C("hi\r\n.\r\n"), S("250 queued\r\n"), // 9, 10
			)),
			want: gapWant{outcome: OutcomeDelivered, incomplete: true, eod: 9, reply: 250,
				verbs: []string{"EHLO", "MAIL", "RCPT", "RCPT", "DATA"}, replies: []int{250, 250, 250, 250, 354}},
		},
		{
			name: "snaplen: a pipelined RCPT wholly in the gap",
			// MAIL and RCPT in one segment cut inside the MAIL line: the
			// RCPT is never seen, and the reply to it, delivered when the
			// gap after it is reported, came before the BDAT was sent.
			steps: with(steps(
				C("MAIL FROM:<alice@exam"),                 // 4
				S("250 2.1.0 Sender ok, acceptin"),         // 5
				SGap(20),                                   // 6
				S("250 2.1.5 Recipient ok, and s"),         // 7
				CGap(30),                                   // 8: the rest of MAIL, and RCPT
				C("BDAT 100 LAST\r\nSubject: x\r\n\r\nhi"), // 9
				CGap(84),                          // 10: the rest of the chunk
				SGap(20),                          // 11
				S("250 2.0.0 Ok: 100 octets\r\n"), // 12
			)),
			// The chunk ended in the gap, after frame 9: the end-of-data
			// is marked at the last byte before the gap. The 250 is tied
			// to it, but the outcome is unknown: the 30 bytes lost after
			// the cut MAIL can hold another MAIL ("MAIL FROM:<b@x.y>"),
			// and the unmatched 250 of frame 7 may be its reply, so the
			// BDAT and its reply may be another transaction's.
			want: gapWant{outcome: OutcomeUnknown, incomplete: true, eod: 9, reply: 250,
				verbs: []string{"EHLO", "MAIL", "BDAT"}, replies: []int{250, 250, 250}, unmatched: []int{250},
				check: func(t *testing.T, s *Session, x *Transaction) {
					if x.MailReply == nil || x.MailReply.Frame != 5 || x.Reply.Frame != 12 || s.Unmatched[0].Frame != 7 || len(x.Rcpts) != 0 {
						t.Errorf("mail reply %+v final reply %+v unmatched %+v recipients %+v", x.MailReply, x.Reply, s.Unmatched, x.Rcpts)
					}
				}},
		},
		{
			name: "snaplen: the final reply cut, QUIT before the gap is reported",
			// The 552 is cut; its gap is reported with the 221, after the
			// QUIT the client sent once it had read the 552: no late reply.
			steps: with(steps(
				C("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 10 LAST\r\n0123456789"), // 4
				S("250 Ok\r\n250 Ok\r\n552 5.3.4 Message size exceeds"),             // 5
				C("QUIT\r\n"), SGap(20), S("221 Bye\r\n"), // 6-8
			)),
			want: gapWant{outcome: OutcomeRejected, incomplete: false, eod: 4, reply: 552,
				verbs: []string{"EHLO", "MAIL", "RCPT", "BDAT", "QUIT"}, replies: []int{250, 250, 250, 552, 221},
				check: func(t *testing.T, s *Session, x *Transaction) {
					if x.LateReply || x.EndFrame != 0 || !x.Reply.Truncated || x.Reply.Frame != 5 || hasAnomaly(s, "late-reply") {
						t.Errorf("late %v end frame %d reply %+v anomalies %q", x.LateReply, x.EndFrame, x.Reply, anomalyNames(s))
					}
				}},
		},
		{
			name: "snaplen: the EHLO reply cut after its first line",
			steps: with(steps(
				C("EHLO again\r\n"), S("250-mx.example.com\r\n250-PIPEL"), // 4, 5
				C("MAIL FROM:<a@x>\r\n"), SGap(60), S("250 2.1.0 Ok\r\n"), // 6-8
			)),
			want: gapWant{outcome: OutcomeUnknown, incomplete: true,
				verbs: []string{"EHLO", "EHLO", "MAIL"}, replies: []int{250, 250, 250},
				check: func(t *testing.T, s *Session, x *Transaction) {
					if r := s.Commands[1].Reply; !r.Truncated || r.Lines != 2 || r.Frame != 5 {
						t.Errorf("EHLO reply %+v", r)
					}
					if x.MailReply == nil || x.MailReply.Enhanced.String() != "2.1.0" {
						t.Errorf("mail reply %+v", x.MailReply)
					}
				}},
		},
		{
			name: "a multi-line reply that lost lines in its middle",
			steps: with(steps(
				C("EHLO again\r\n"), S("250-mx.example.com\r\n250-PIPELINING\r\n"), // 4, 5
				SGap(40), S("250-8BITMIME\r\n250 CHUNKING\r\n"), // 6, 7
				C("MAIL FROM:<a@x>\r\n"), S("250 2.1.0 Ok\r\n"), // 8, 9
			)),
			want: gapWant{outcome: OutcomeUnknown,
				verbs: []string{"EHLO", "EHLO", "MAIL"}, replies: []int{250, 250, 250},
				check: func(t *testing.T, s *Session, x *Transaction) {
					if r := s.Commands[1].Reply; !r.Truncated || r.Lines != 2 {
						t.Errorf("EHLO reply %+v", r)
					}
					if want := []string{"PIPELINING", "8BITMIME", "CHUNKING"}; !reflect.DeepEqual(s.Extensions, want) {
						t.Errorf("extensions %q, want %q", s.Extensions, want)
					}
				}},
		},
		{
			name: "mid-stream start in the body",
			steps: steps(
				C("ine of a body that began earlier\r\nand more\r\n"), // 1
				C(".\r\n"),                            // 2
				S("250 2.0.0 Ok: queued as X\r\n"),    // 3
				C("MAIL FROM:<a@x>\r\n"),              // 4
				S("250 Ok\r\n"),                       // 5
				C("QUIT\r\n"), S("221 Bye\r\n"), SFIN, // 6-8
			),
			want: gapWant{outcome: OutcomeDelivered, incomplete: true, eod: 2, reply: 250,
				verbs: []string{"MAIL", "QUIT"}, replies: []int{250, 221},
				check: func(t *testing.T, s *Session, x *Transaction) {
					if !s.MidStream || x.MailFrom != "" || x.Method != "DATA" {
						t.Errorf("mid-stream %v transaction %+v", s.MidStream, x)
					}
					if len(s.Transactions) != 2 || s.Transactions[1].Outcome != OutcomeWithdrawn {
						t.Errorf("second transaction:\n%s", dump(s))
					}
				}},
		},
		{
			name: "mid-stream start in the body, no end-of-data seen",
			steps: steps(
				C("ine of a body that began earlier\r\nand more\r\n"), // 1
				CGap(-1), CRST, // 2, 3
			),
			// Nothing shows a transaction, let alone its outcome.
			want: gapWant{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := run(Options{}, tc.steps...)
			w := tc.want
			if w.verbs == nil {
				if len(s.Transactions) != 0 {
					t.Errorf("transactions, want none:\n%s", dump(s))
				}
				return
			}
			if len(s.Transactions) == 0 {
				t.Fatalf("no transaction:\n%s", dump(s))
			}
			x := &s.Transactions[0]
			code := 0
			if x.Reply != nil {
				code = x.Reply.Code
			}
			if x.Outcome != w.outcome || x.Incomplete != w.incomplete || x.EndOfDataFrame != w.eod || code != w.reply {
				t.Errorf("outcome %v incomplete %v eod %d reply %d, want %v %v %d %d:\n%s",
					x.Outcome, x.Incomplete, x.EndOfDataFrame, code, w.outcome, w.incomplete, w.eod, w.reply, dump(s))
			}
			if (x.Outcome == OutcomeAborted || x.Outcome == OutcomeUnknown && w.ended != EndCaptureEnded) && x.Ended != w.ended {
				t.Errorf("ended %v, want %v", x.Ended, w.ended)
			}
			wantVerbs(t, s, w.verbs...)
			if got := replyCodes(s); fmt.Sprint(got) != fmt.Sprint(w.replies) {
				t.Errorf("command replies %v, want %v", got, w.replies)
			}
			var unmatched []int
			for _, r := range s.Unmatched {
				unmatched = append(unmatched, r.Code)
			}
			if fmt.Sprint(unmatched) != fmt.Sprint(w.unmatched) {
				t.Errorf("unmatched replies %v, want %v", unmatched, w.unmatched)
			}
			if w.check != nil {
				w.check(t, s, x)
			}
		})
	}
}

// replyCodes lists the reply code of each command, 0 for none.
func replyCodes(s *Session) []int {
	out := []int{}
	for _, c := range s.Commands {
		code := 0
		if c.Reply != nil {
			code = c.Reply.Code
		}
		out = append(out, code)
	}
	return out
}
