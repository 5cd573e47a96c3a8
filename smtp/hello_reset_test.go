package smtp

import (
	"fmt"
	"testing"
)

// TestHelloResetsTransaction: an EHLO or HELO the server accepts inside an
// open transaction clears it as RSET does (RFC 5321 §4.1.4); one it
// refuses leaves it open; a MAIL sent behind the greeting opens a
// transaction of its own, which the greeting's reply does not end.
func TestHelloResetsTransaction(t *testing.T) {
	mail := steps(C("MAIL FROM:<alice@example.com>\r\n"), S("250 2.1.0 Ok\r\n"), // 4, 5
		C("RCPT TO:<bob@example.org>\r\n"), S("250 2.1.5 Ok\r\n")) // 6, 7
	message := steps(C("DATA\r\n"), S("354 go ahead\r\n"), C(body+".\r\n"), S("250 2.0.0 Ok: queued\r\n"))
	quit := steps(C("QUIT\r\n"), S("221 Bye\r\n"))
	tests := []struct {
		name  string
		steps []step
		want  string
	}{{
		name:  "RSET, for comparison",
		steps: with(mail, steps(C("RSET\r\n"), S("250 2.0.0 Ok\r\n")), quit),
		want:  "replies [250 250 250 250 221] unmatched [] | withdrawn 0 incomplete=false | client-closed@8",
	}, {
		name:  "an accepted EHLO ends the transaction as RSET does",
		steps: with(mail, steps(C("EHLO client.example.com\r\n"), S("250 mx.example.com\r\n")), quit),
		want:  "replies [250 250 250 250 221] unmatched [] | withdrawn 0 incomplete=false | client-closed@8",
	}, {
		name:  "an accepted HELO ends it too; the DATA after it belongs to no transaction",
		steps: with(mail, steps(C("HELO client.example.com\r\n"), S("250 mx.example.com\r\n"), C("DATA\r\n"), S("503 5.5.1 need MAIL\r\n")), quit),
		want:  "replies [250 250 250 250 503 221] unmatched [] | withdrawn 0 incomplete=false | client-closed@8",
	}, {
		name:  "a refused EHLO leaves the transaction open",
		steps: with(mail, steps(C("EHLO\r\n"), S("501 5.5.4 name needed\r\n")), message, quit),
		want:  "replies [250 250 250 501 354 221] unmatched [] | delivered 250 incomplete=false | capture-ended@0",
	}, {
		name: "a MAIL pipelined behind an accepted EHLO opens a transaction the EHLO does not end",
		steps: with(mail, steps(C("EHLO client.example.com\r\nMAIL FROM:<carol@example.com>\r\n"),
			S("250 mx.example.com\r\n"), S("250 2.1.0 Ok\r\n"), C("RCPT TO:<dave@example.org>\r\n"), S("250 2.1.5 Ok\r\n")), message, quit),
		want: "replies [250 250 250 250 250 250 354 221] unmatched [] | withdrawn 0 incomplete=false | delivered 250 incomplete=false | client-closed@8 | capture-ended@0",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := runAcked(tt.steps...)
			got := pairing(s)
			for _, x := range s.Transactions {
				got += fmt.Sprintf(" | %s@%d", x.Ended, x.EndFrame)
			}
			if got != tt.want {
				t.Errorf("pairing:\n got %s\nwant %s\n%s", got, tt.want, anomalyNames(s))
			}
		})
	}
}
