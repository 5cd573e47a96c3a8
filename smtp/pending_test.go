package smtp

import (
	"strings"
	"testing"
)

// TestDeepPipelining: replies keep matching their commands when more
// commands await replies than Options.MaxPendingCommands (RFC 2920 §3:
// replies come in the order of the commands). Past the limit the replies
// to cheap commands (NOOP, RCPT, ...) are counted, not tied to them, and
// the anomaly excessive-pending-commands says where that began; commands
// that change how the session is read (DATA, BDAT, STARTTLS, AUTH) and
// end-of-data replies are still matched (#14).
func TestDeepPipelining(t *testing.T) {
	limit := DefaultMaxPendingCommands
	t.Run("replies after the backlog answer their own commands", func(t *testing.T) {
		n := limit + 76
		s := run(Options{}, with(steps(
			C(strings.Repeat("NOOP\r\n", n)),
			S(strings.Repeat("250 ok\r\n", 500)),
			C("MAIL FROM:<a@x>\r\n"),
			S(strings.Repeat("250 ok\r\n", n-500)),
			S("550 5.7.1 sender refused\r\n"),
		))...)
		var mail *Command
		for i := range s.Commands {
			if s.Commands[i].Verb == "MAIL" {
				mail = &s.Commands[i]
			}
		}
		if mail == nil || mail.Reply == nil || mail.Reply.Code != 550 {
			t.Fatalf("MAIL's reply %+v, want 550", mail)
		}
		if x := wantOutcome(t, s, 0, OutcomeRejected); x.MailReply == nil || x.MailReply.Code != 550 {
			t.Errorf("transaction %+v", x)
		}
		if !hasAnomaly(s, AnomalyExcessivePendingCommands) || len(s.Unmatched) != 0 {
			t.Errorf("anomalies %q, %d unmatched replies", anomalyNames(s), len(s.Unmatched))
		}
		noops := 0
		for _, c := range s.Commands {
			if c.Verb == "NOOP" && c.Reply != nil {
				noops++
			}
		}
		if noops != limit {
			t.Errorf("%d NOOPs with a reply, want the %d within the limit", noops, limit)
		}
	})
	t.Run("a message to more recipients than the limit, pipelined", func(t *testing.T) {
		n := limit + 476
		s := run(Options{MaxRecipients: 2 * limit}, with(steps(
			C("MAIL FROM:<a@x>\r\n"+strings.Repeat("RCPT TO:<b@x>\r\n", n)+"DATA\r\n"),
			S(strings.Repeat("250 ok\r\n", n+1)+"354 go\r\n"),
			C("hello\r\n.\r\n"),
			S("250 queued\r\n"),
		))...)
		x := wantOutcome(t, s, 0, OutcomeDelivered)
		if x.DataReply == nil || x.DataReply.Code != 354 || x.Reply == nil || x.Reply.Code != 250 || len(x.Rcpts) != n {
			t.Errorf("DATA reply %+v, final %+v, %d recipients", x.DataReply, x.Reply, len(x.Rcpts))
		}
		if len(s.Unmatched) != 0 {
			t.Errorf("%d unmatched replies", len(s.Unmatched))
		}
	})
	t.Run("the FIFO stays bounded whatever the client pipelines", func(t *testing.T) {
		d := NewDecoder(Options{MaxPendingCommands: 8})
		feed(d, with(steps(C(strings.Repeat("BDAT 0\r\nNOOP\r\nRCPT TO:<b@x>\r\n", 1000)))))
		if n := len(d.queue); n > 4*8+1 {
			t.Errorf("%d entries await replies, want at most %d", n, 4*8+1)
		}
	})
}

// TestClockSkew: the server's side captured by a clock that runs behind
// (two capture points) stamps each reply before its command. With every
// client byte in the capture, the replies still answer their commands, in
// order, and the message is delivered; the anomaly reply-before-command
// says why the latencies are off (#13).
func TestClockSkew(t *testing.T) {
	s := run(Options{}, skewed(with(steps(
		C("MAIL FROM:<a@x>\r\n"), S("250 ok\r\n"), C("RCPT TO:<b@x>\r\n"), S("250 ok\r\n"),
		C("DATA\r\n"), S("354 go\r\n"), C("hi\r\n.\r\n"), S("250 queued\r\n"), C("QUIT\r\n"), S("221 bye\r\n"))))...)
	x := wantOutcome(t, s, 0, OutcomeDelivered)
	if x.Reply == nil || x.Reply.Code != 250 || len(s.Unmatched) != 0 {
		t.Errorf("final reply %+v, %d unmatched", x.Reply, len(s.Unmatched))
	}
	if !hasAnomaly(s, AnomalyReplyBeforeCommand) || hasAnomaly(s, AnomalyUnmatchedReply) {
		t.Errorf("anomalies %q", anomalyNames(s))
	}
}
