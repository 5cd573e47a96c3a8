package smtp

import (
	"testing"
)

// Client-side capture loss: what the server's acknowledgments on its
// replies prove about the requests a client gap hid (bodygap.go,
// envelope.go). Each case plays the bytes in the order reassembly hands
// them over: a client gap is reported with the client's next segment,
// often after the server's reply to what the gap lost, whose
// acknowledgment already covers the lost bytes (withAck).

// sentBefore counts the client bytes of steps, gaps included: what a
// server that received them all acknowledges.
func sentBefore(steps []step) int {
	n := 0
	for _, s := range steps {
		if s.dir == C("").dir && (s.kind == stepData || s.kind == stepGap) {
			n += len(s.data) + s.n
		}
	}
	return n
}

// TestClientGapPairing: replies after client gaps are tied to a request
// only where the acknowledgments prove it; a reply that may answer a
// request the gap hid is unmatched, never another request's or a
// transaction's final reply.
func TestClientGapPairing(t *testing.T) {
	head := with(envelope, steps(C(body))) // frames 1-10: the body, no end yet
	lost := len("last line\r\n.\r\n")
	mail2 := "MAIL FROM:<carol@example.com>\r\n"
	ehlo := "EHLO client.example.com\r\n"
	mailRcpt := "MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.org>\r\n"
	checkPairings(t, []pairingCase{{
		name: "the segment with the end-of-data lost, its 250 before the gap is reported",
		steps: with(head[3:], steps(
			withAck(S("250 2.0.0 Ok: queued\r\n"), sentBefore(head)+lost), // 11
			CGap(lost), C(mail2), // 12, 13: the gap comes with the next MAIL
			S("250 2.1.0 Ok\r\n"), C("QUIT\r\n"), S("221 Bye\r\n"), // 14-16
		)),
		// Before: the 250 was dropped as a reply during the body and the
		// next MAIL's 250 became the message's final reply.
		want: "replies [250 250 250 354 250 221] unmatched [] | delivered 250 incomplete=true | withdrawn 0 incomplete=false",
	}, {
		name: "the end-of-data and the next MAIL lost: the MAIL's 250 is unmatched",
		steps: with(head[3:], steps(
			withAck(S("250 2.0.0 Ok: queued\r\n"), sentBefore(head)+lost),    // 11
			withAck(S("250 2.1.0 Ok\r\n"), sentBefore(head)+lost+len(mail2)), // 12
			CGap(lost+len(mail2)), C("QUIT\r\n"), S("221 Bye\r\n"), // 13-15
		)),
		want: "replies [250 250 250 354 221] unmatched [250] | delivered 250 incomplete=true",
	}, {
		name: "the client's last body segment captured after the reply: the reply answers its end-of-data",
		steps: with(head[3:], steps(
			withAck(S("250 2.0.0 Ok: queued\r\n"), sentBefore(head)+lost), // 11
			C("last line\r\n.\r\n"), C("QUIT\r\n"), S("221 Bye\r\n"), // 12-14
		)),
		want: "replies [250 250 250 354 221] unmatched [] | delivered 250 incomplete=false",
	}, {
		name: "a reply in the body sent before the server had the end-of-data is no final reply",
		steps: with(head[3:], steps(
			withAck(S("421 4.4.2 Timeout\r\n"), sentBefore(head)+5), // 11: 5 more body bytes
			C("last line\r\n.\r\n"), S("250 2.0.0 Ok: queued\r\n"),  // 12, 13
		)),
		want: "replies [250 250 250 354] unmatched [] | delivered 250 incomplete=false",
	}, {
		name: "a reply whose acknowledgment stops before the body's gap answers nothing in it",
		steps: with(head[3:], steps(
			CGap(100), C("more body\r\n"), // 11, 12
			withAck(S("421 4.4.2 Timeout\r\n"), sentBefore(head)), // 13
			C("end\r\n.\r\n"), S("250 2.0.0 Ok: queued\r\n"), // 14, 15
		)),
		want: "replies [250 250 250 354] unmatched [] | delivered 250 incomplete=true",
	}, {
		name: "a gap in the envelope that can hold RSET and MAIL: the final reply may be the other transaction's",
		steps: with(steps(
			C("MAIL FROM:<alice@example.com>\r\n"), S("250 2.1.0 Ok\r\n"), // 4, 5
			C("RCPT TO:<bob@example.org>\r\n"), S("550 5.1.1 No\r\n"), // 6, 7
			CGap(len("RSET\r\n"+mail2)), S("250 2.0.0 Ok\r\n"), S("250 2.1.0 Ok\r\n"), // 8-10
			C("RCPT TO:<dan@example.org>\r\n"), S("250 2.1.5 Ok\r\n"), // 11, 12
			C("DATA\r\n"), S("354 go\r\n"), C(body+".\r\n"), S("250 2.0.0 Ok: queued\r\n"), // 13-16
		)),
		want: "replies [250 250 550 250 354] unmatched [250 250] | unknown 250 incomplete=true",
	}, {
		name: "a gap in the envelope whose only reply refused what it hid: the transaction goes on",
		steps: with(steps(
			C("MAIL FROM:<alice@example.com>\r\n"), S("250 2.1.0 Ok\r\n"), // 4, 5
			CGap(len("RCPT TO:<carol@example.org>\r\n")), S("550 5.1.1 No\r\n"), // 6, 7
			C("RCPT TO:<bob@example.org>\r\n"), S("250 2.1.5 Ok\r\n"), // 8, 9
			C("DATA\r\n"), S("354 go\r\n"), C(body+".\r\n"), S("250 2.0.0 Ok: queued\r\n"), // 10-13
		)),
		want: "replies [250 250 250 354] unmatched [550] | delivered 250 incomplete=true",
	}, {
		name: "a gap in the envelope too short for a MAIL line",
		steps: with(steps(
			C("MAIL FROM:<alice@example.com>\r\n"), S("250 2.1.0 Ok\r\n"), // 4, 5
			CGap(len("NOOP\r\n")), S("250 2.0.0 Ok\r\n"), // 6, 7
			C("RCPT TO:<bob@example.org>\r\n"), S("250 2.1.5 Ok\r\n"), // 8, 9
			C("DATA\r\n"), S("354 go\r\n"), C(body+".\r\n"), S("250 2.0.0 Ok: queued\r\n"), // 10-13
		)),
		want: "replies [250 250 250 354] unmatched [250] | delivered 250 incomplete=true",
	}, {
		name: "RSET lost, then MAIL, RCPT and DATA: their replies come before the gaps are reported",
		steps: with(steps(
			C("MAIL FROM:<alice@example.com>\r\n"), S("250 2.1.0 Ok\r\n"), // 4, 5
			C("RCPT TO:<bob@example.org>\r\n"), S("250 2.1.5 Ok\r\n"), // 6, 7
			withAck(S("250 2.0.0 Ok\r\n"), sentBefore(prologue)+len("MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.org>\r\nRSET\r\n")), // 8
			CGap(len("RSET\r\n")), C("NOOP\r\n"), S("250 2.0.0 Ok\r\n"), // 9-11
			withAck(S("250 2.1.0 Ok\r\n"), sentBefore(prologue)+len("MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.org>\r\nRSET\r\nNOOP\r\n")+len(mail2)),      // 12
			withAck(S("354 go\r\n"), sentBefore(prologue)+len("MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.org>\r\nRSET\r\nNOOP\r\n")+len(mail2+"DATA\r\n")), // 13
			CGap(len(mail2+"DATA\r\n")), C(body+".\r\n"), S("250 2.0.0 Ok: queued\r\n"), // 14-16
		)),
		// The RSET's 250 answered bytes the capture had not shown when
		// it came: what the gap hid may have been a MAIL, so the body
		// and the 250 the capture ties to alice's envelope may be
		// another transaction's.
		want: "replies [250 250 250 250] unmatched [250 250 354] | unknown 250 incomplete=true",
	}, {
		name: "a body after a DATA whose reply the capture lost, answered line by line: no message",
		steps: with(steps(
			C("MAIL FROM:<alice@example.com>\r\n"), S("250 2.1.0 Ok\r\n"), // 4, 5
			C("DATA\r\n"), SGap(len("503 5.5.1 need RCPT\r\n")), // 6, 7
			C("a line\r\n"), S("500 5.5.2 what\r\n"), // 8, 9
			C(".\r\n"), S("500 5.5.2 what\r\n"), // 10, 11
		)),
		// The client had the DATA's reply (its acknowledgment on the
		// line says so) and the server sent nothing between it and the
		// 500: but a server reading a body answers none of its lines.
		want: "replies [250 250 0] unmatched [500] | unknown 500 incomplete=true",
	}, {
		name: "both sides lost: a reply sent once the server had client bytes the capture has not shown is no final reply",
		steps: steps(
			S("220 mx.example.com ESMTP\r\n"),               // 1
			withAck(S("250 mx.example.com\r\n"), len(ehlo)), // 2: the EHLO lost
			CGap(len(ehlo)), C(mailRcpt), // 3, 4
			SGap(len("250 2.1.0 Ok\r\n")), S("250 2.1.5 Ok\r\n"), // 5, 6
			C("BDAT 5 LAST\r\nhello"),     // 7
			S("250 2.0.0 Ok: queued\r\n"), // 8
			withAck(S("250 2.1.0 Ok\r\n"), len(ehlo+mailRcpt+"BDAT 5 LAST\r\nhello"+mail2)), // 9
			CGap(len(mail2)), C("QUIT\r\n"), S("221 Bye\r\n"), // 10-12
		),
		// The server gap leaves the 250s of frames 6 and 8 unsure (the
		// MAIL's or the RCPT's, the RCPT's or the BDAT's); the 250 of
		// frame 9 was sent once the server had bytes after the BDAT
		// (the next MAIL, lost), so it may answer them: the BDAT's
		// final reply is not known.
		want: "replies [250 250 0 221] unmatched [250 250] | unknown 0 incomplete=true",
	}, {
		name: "a lone dot after a client gap is a command when the server showed no 354",
		steps: with(steps(
			C("RCPT TO:<bob@example.org>\r\n"), S("503 5.5.1 need MAIL\r\n"), // 4, 5
			C("DATA\r\n"), S("503 5.5.1 need RCPT\r\n"), // 6, 7
			CGap(len("a line of a body\r\n")), S("500 5.5.2 what\r\n"), // 8, 9
			C(".\r\n"), S("500 5.5.2 what\r\n"), // 10, 11
		)),
		// Before: the dot ended a body made up for it, whose "final
		// reply" 500 made a rejected message.
		want: "replies [250 503 503] unmatched [500 500]",
	}, {
		name: "a lone dot after gaps on both sides, past what the first reply after the server gap acknowledged",
		steps: with(steps(
			C("RCPT TO:<bob@example.org>\r\n"), SGap(len("503 5.5.1 need MAIL\r\n")), // 4, 5: a 354 could hide there
			C("DATA\r\n"), S("503 5.5.1 need RCPT\r\n"), // 6, 7
			CGap(len("a line of a body\r\n")), S("500 5.5.2 what\r\n"), // 8, 9
			C(".\r\n"), S("500 5.5.2 what\r\n"), // 10, 11
		)),
		// A body whose 354 the server gap hid ended before the server
		// began its next reply (frame 7): it replies to nothing between
		// the 354 and the end-of-data, and frame 7 acknowledges only up to
		// the DATA. Before: the dot ended a body made up for it, whose
		// "final reply" 500 made a rejected message.
		want: "replies [250 0 503] unmatched [500 500]",
	}, {
		name: "a lone dot after gaps on both sides, within what the first reply after the server gap acknowledged",
		steps: with(steps(
			C("MAIL FROM:<alice@example.com>\r\n"), S("250 2.1.0 Ok\r\n"), // 4, 5
			C("RCPT TO:<bob@example.org>\r\n"), S("250 2.1.5 Ok\r\n"), // 6, 7
			CGap(len("DATA\r\n")), SGap(len("354 go ahead\r\n")), // 8, 9
			C("a line of a body\r\n.\r\n"), S("250 2.0.0 Ok: queued\r\n"), // 10, 11
		)),
		// Nothing the server sent after its gap bounds the body: the dot
		// may end a body whose DATA and 354 the gaps hid.
		want: "replies [250 250 250] unmatched [] | delivered 250 incomplete=true",
	}, {
		name: "a 2xx after gaps on both sides answers no DATA",
		steps: with(steps(
			C("MAIL FROM:<alice@example.com>\r\n"), S("250 2.1.0 Ok\r\n"), // 4, 5
			C("RCPT TO:<bob@example.org>\r\n"), S("250 2.1.5 Ok\r\n"), // 6, 7
			CGap(len("NOOP\r\n")), C("DATA\r\n"), SGap(len("250 2.0.0 Ok\r\n354 go ahead\r\n")), // 8-10
			withAck(S("250 2.0.0 Ok: queued\r\n"), sentBefore(prologue)+len("MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.org>\r\nNOOP\r\nDATA\r\na body\r\n.\r\n")), // 11
			CGap(len("a body\r\n.\r\n")), C("QUIT\r\n"), S("221 Bye\r\n"), // 12-14
		)),
		// DATA draws a 354 or a refusal (RFC 5321 §4.3.2): its reply was in
		// the server's gap, and the 250 answers something after it the
		// client gap hid. Before: DATA had the 250 for its reply.
		want: "replies [250 250 250 0 221] unmatched [250] | unknown 0 incomplete=true",
	}})
}

// TestHiddenMailQuit: a transaction whose MAIL a client gap hid, left
// with QUIT before any body, is withdrawn when the capture proves the
// MAIL and every recipient accepted (an accepted RCPT proves an accepted
// MAIL: RFC 5321 §3.3), aborted only when a peer ended it, and unknown
// when what the capture lacks may hold a refusal.
func TestHiddenMailQuit(t *testing.T) {
	mail := "MAIL FROM:<alice@example.com>\r\n"
	quit := steps(C("QUIT\r\n"), S("221 Bye\r\n"))
	checkPairings(t, []pairingCase{{
		name: "MAIL lost, its 250 unmatched, the recipient accepted: withdrawn",
		steps: with(steps(
			CGap(len(mail)), C("RCPT TO:<bob@example.org>\r\n"), // 4, 5
			withAck(S("250 2.1.0 Ok\r\n"), sentBefore(prologue)+len(mail)), // 6
			S("250 2.1.5 Ok\r\n"), // 7
		), quit),
		want: "replies [250 250 221] unmatched [250] | withdrawn 0 incomplete=true",
	}, {
		name: "MAIL and a refused RCPT lost: withdrawn or aborted, the capture cannot tell",
		steps: with(steps(
			CGap(len(mail+"RCPT TO:<carol@example.org>\r\n")), C("RCPT TO:<bob@example.org>\r\n"), // 4, 5
			withAck(S("250 2.1.0 Ok\r\n"), sentBefore(prologue)+len(mail)),                                   // 6
			withAck(S("550 5.1.1 No\r\n"), sentBefore(prologue)+len(mail+"RCPT TO:<carol@example.org>\r\n")), // 7
			S("250 2.1.5 Ok\r\n"), // 8
		), quit),
		want: "replies [250 250 221] unmatched [250 550] | unknown 0 incomplete=true",
	}, {
		name: "MAIL lost, the recipient refused: nothing shows the MAIL accepted",
		steps: with(steps(
			CGap(len(mail)), C("RCPT TO:<bob@example.org>\r\n"), // 4, 5
			withAck(S("250 2.1.0 Ok\r\n"), sentBefore(prologue)+len(mail)), // 6
			S("550 5.1.1 No\r\n"), // 7
		), quit),
		want: "replies [250 550 221] unmatched [250] | rejected 0 incomplete=true",
	}, {
		name: "MAIL and an accepted RCPT lost, the visible recipient refused: not every recipient was",
		steps: with(steps(
			CGap(len(mail+"RCPT TO:<carol@example.org>\r\n")), C("RCPT TO:<bob@example.org>\r\n"), // 4, 5
			withAck(S("250 2.1.0 Ok\r\n"), sentBefore(prologue)+len(mail)),                                   // 6
			withAck(S("250 2.1.5 Ok\r\n"), sentBefore(prologue)+len(mail+"RCPT TO:<carol@example.org>\r\n")), // 7
			S("550 5.1.1 No\r\n"), // 8
		), quit),
		want: "replies [250 550 221] unmatched [250 250] | unknown 0 incomplete=true",
	}, {
		name: "MAIL lost, the server closes in the envelope: aborted",
		steps: with(steps(
			CGap(len(mail)), C("RCPT TO:<bob@example.org>\r\n"), // 4, 5
			withAck(S("250 2.1.0 Ok\r\n"), sentBefore(prologue)+len(mail)), // 6
			S("250 2.1.5 Ok\r\n"), S("421 4.3.2 Shutting down\r\n"), SFIN, // 7-9
		)),
		want: "replies [250 250] unmatched [250 421] | aborted 0 incomplete=true",
	}})
}

// pairingCase is a session played with the acknowledgments reassembly
// gives (runAcked) and what pairing should say of it.
type pairingCase struct {
	name  string
	steps []step
	want  string
}

// checkPairings plays each case and compares pairing's words.
func checkPairings(t *testing.T, tests []pairingCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := runAcked(tt.steps...)
			if got := pairing(s); got != tt.want {
				t.Errorf("pairing:\n got %s\nwant %s\n%s", got, tt.want, anomalyNames(s))
			}
		})
	}
}
