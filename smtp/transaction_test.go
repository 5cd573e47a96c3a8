package smtp

import "testing"

// TestTransactionBoundaries follows RFC 5321 §3.3 and §4.1.4: an accepted
// MAIL opens a transaction; RSET, the end of the data, QUIT or a new
// accepted MAIL after its end close it; a refused MAIL opens nothing (a
// refused attempt), and a refused command leaves the session as it was.
// The pipelined variants (RFC 2920 §3.1) send the commands before the
// replies to the ones before them came back.
func TestTransactionBoundaries(t *testing.T) {
	type want struct {
		outcome Outcome
		attempt bool
		rcpts   int
		mail    int // MAIL frame
	}
	tests := []struct {
		name  string
		steps []step
		hello string
		want  []want
	}{
		{
			name: "refused EHLO keeps the accepted HELO name",
			steps: steps(S("220 x\r\n"), C("helo client.example.com\r\n"), S("250 x\r\n"), C("ehlo\r\n"), S("501 5.5.4 Syntax: EHLO hostname\r\n"),
				C("MAIL FROM:<a@x>\r\n"), S("250 ok\r\n"), C("RCPT TO:<b@x>\r\n"), S("250 ok\r\n"), C("DATA\r\n"), S("354 go\r\n"),
				C("hi\r\n.\r\n"), S("250 queued\r\n")),
			hello: "client.example.com",
			want:  []want{{OutcomeDelivered, false, 1, 6}},
		},
		{
			name:  "a refused EHLO with no name accepted before keeps its own",
			steps: steps(S("220 x\r\n"), C("EHLO bad.example\r\n"), S("550 5.7.1 forged HELO\r\n")),
			hello: "bad.example",
		},
		{
			name: "MAIL refused, RCPT and DATA pipelined behind it",
			steps: with(steps(C("MAIL FROM:<a@nowhere.invalid>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
				S("553 5.1.8 sender domain does not exist\r\n503 5.5.1 Need MAIL before RCPT\r\n503 5.5.1 Need RCPT before DATA\r\n"))),
			hello: "client.example.com",
			want:  []want{{OutcomeRejected, true, 1, 4}},
		},
		{
			name: "duplicate MAIL refused inside an accepted envelope",
			steps: with(steps(C("MAIL FROM:<a@x>\r\n"), S("250 ok\r\n"), C("MAIL FROM:<a@x>\r\n"), S("503 5.5.1 sender already given\r\n"),
				C("RCPT TO:<b@x>\r\n"), S("250 ok\r\n"), C("DATA\r\n"), S("354 go\r\n"), C("hi\r\n.\r\n"), S("250 queued\r\n"))),
			hello: "client.example.com",
			want:  []want{{OutcomeDelivered, false, 1, 4}},
		},
		{
			name: "duplicate MAIL refused, RCPT and DATA pipelined behind it",
			steps: with(steps(C("MAIL FROM:<a@x>\r\n"), S("250 ok\r\n"), C("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
				S("503 5.5.1 sender already given\r\n250 ok\r\n354 go\r\n"), C("hi\r\n.\r\n"), S("250 queued\r\n"))),
			hello: "client.example.com",
			want:  []want{{OutcomeDelivered, false, 1, 4}},
		},
		{
			name: "duplicate MAIL refused, BDAT LAST pipelined behind it",
			steps: with(steps(C("MAIL FROM:<a@x>\r\n"), S("250 ok\r\n"), C("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 3 LAST\r\nhi\n"),
				S("503 5.5.1 sender already given\r\n250 ok\r\n250 queued\r\n"))),
			hello: "client.example.com",
			want:  []want{{OutcomeDelivered, false, 1, 4}},
		},
		{
			name: "a second MAIL the server accepts replaces the open envelope",
			steps: with(steps(C("MAIL FROM:<a@x>\r\n"), S("250 ok\r\n"), C("MAIL FROM:<c@x>\r\n"), S("250 ok\r\n"),
				C("RCPT TO:<b@x>\r\n"), S("250 ok\r\n"), C("DATA\r\n"), S("354 go\r\n"), C("hi\r\n.\r\n"), S("250 queued\r\n"))),
			hello: "client.example.com",
			want:  []want{{OutcomeWithdrawn, false, 0, 4}, {OutcomeDelivered, false, 1, 6}},
		},
		{
			name: "RSET closes the transaction; the next MAIL opens another",
			steps: with(steps(C("MAIL FROM:<a@x>\r\n"), S("250 ok\r\n"), C("RSET\r\n"), S("250 ok\r\n"), C("MAIL FROM:<a@x>\r\n"), S("250 ok\r\n"),
				C("RCPT TO:<b@x>\r\n"), S("250 ok\r\n"), C("DATA\r\n"), S("354 go\r\n"), C("hi\r\n.\r\n"), S("250 queued\r\n"))),
			hello: "client.example.com",
			want:  []want{{OutcomeWithdrawn, false, 0, 4}, {OutcomeDelivered, false, 1, 8}},
		},
		{
			name: "the end of the data closes it; MAIL after it opens the next",
			steps: with(steps(C("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"), S("250 ok\r\n250 ok\r\n354 go\r\n"), C("hi\r\n.\r\nMAIL FROM:<a@x>\r\n"),
				S("250 queued\r\n250 ok\r\n"), C("QUIT\r\n"), S("221 bye\r\n"))),
			hello: "client.example.com",
			want:  []want{{OutcomeDelivered, false, 1, 4}, {OutcomeWithdrawn, false, 0, 6}},
		},
		{
			name:  "a sender-verification callout: MAIL, RCPT, QUIT, every reply 2xx",
			steps: with(steps(C("MAIL FROM:<>\r\n"), S("250 ok\r\n"), C("RCPT TO:<b@x>\r\n"), S("250 ok\r\n"), C("QUIT\r\n"), S("221 bye\r\n"))),
			hello: "client.example.com",
			want:  []want{{OutcomeWithdrawn, false, 1, 4}},
		},
		{
			name:  "a pipelined callout: MAIL, RCPT and QUIT before the replies",
			steps: with(steps(C("MAIL FROM:<>\r\nRCPT TO:<b@x>\r\nQUIT\r\n"), S("250 ok\r\n250 ok\r\n221 bye\r\n"))),
			hello: "client.example.com",
			want:  []want{{OutcomeWithdrawn, false, 1, 4}},
		},
		{
			name:  "a callout whose recipient is refused is a refusal",
			steps: with(steps(C("MAIL FROM:<>\r\n"), S("250 ok\r\n"), C("RCPT TO:<b@x>\r\n"), S("550 5.1.1 no such user\r\n"), C("QUIT\r\n"), S("221 bye\r\n"))),
			hello: "client.example.com",
			want:  []want{{OutcomeRejected, false, 1, 4}},
		},
		{
			name:  "the client quits while RCPT awaits its reply: it gave up",
			steps: with(steps(C("MAIL FROM:<a@x>\r\n"), S("250 ok\r\n"), C("RCPT TO:<b@x>\r\n"), C("QUIT\r\n"), CFIN)),
			hello: "client.example.com",
			want:  []want{{OutcomeAborted, false, 1, 4}},
		},
		{
			name:  "one recipient refused, the other accepted, then QUIT: not withdrawn",
			steps: with(steps(C("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\n"), S("250 ok\r\n550 no\r\n250 ok\r\n"), C("QUIT\r\n"), S("221 bye\r\n"))),
			hello: "client.example.com",
			want:  []want{{OutcomeAborted, false, 2, 4}},
		},
		{
			name:  "the server closes during the envelope: aborted, not withdrawn",
			steps: with(steps(C("MAIL FROM:<a@x>\r\n"), S("250 ok\r\n"), SFIN)),
			hello: "client.example.com",
			want:  []want{{OutcomeAborted, false, 0, 4}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := run(Options{}, tc.steps...)
			if s.Hello != tc.hello {
				t.Errorf("Hello = %q, want %q", s.Hello, tc.hello)
			}
			if len(s.Transactions) != len(tc.want) {
				t.Fatalf("%d transactions, want %d:\n%s", len(s.Transactions), len(tc.want), dump(s))
			}
			for i, w := range tc.want {
				x := &s.Transactions[i]
				if x.Outcome != w.outcome || x.RefusedAttempt() != w.attempt || len(x.Rcpts) != w.rcpts || x.MailFrame != w.mail {
					t.Errorf("transaction %d: %v attempt %v, %d recipients, MAIL frame %d; want %v %v %d %d",
						i, x.Outcome, x.RefusedAttempt(), len(x.Rcpts), x.MailFrame, w.outcome, w.attempt, w.rcpts, w.mail)
				}
			}
		})
	}
}
