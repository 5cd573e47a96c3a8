package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/smtpscope/smtpscope/mtalog"
)

// Explaining a log's errors from the wire: each event in which a log
// states a failure — a reply it says the peer sent, or its own words
// about a timeout or a lost connection — is set beside what the capture
// shows at that stage. Agreement is said plainly; disagreement is named as
// such, for it means the capture and the log did not see the same
// conversation (a middlebox answered, or the capture was taken elsewhere).

// mtaName names the logging software in sentences.
func mtaName(f mtalog.Format) string {
	switch f {
	case mtalog.FormatExchangeSend, mtalog.FormatExchangeReceive:
		return "Exchange"
	case mtalog.FormatPostfix:
		return "Postfix"
	case mtalog.FormatExim:
		return "Exim"
	}
	return "The MTA"
}

// explain returns sentences for the failure events of one matched session.
func explainLog(m *sessionMatch, c *Connection) []string {
	var out []string
	s := m.sess
	who := mtaName(s.Format)
	peer := "the server"
	if s.Role == mtalog.RoleServer {
		peer = "the client"
	}
	at := func(e *mtalog.Event) string {
		return fmt.Sprintf("%s logged %q at %s (%s:%d)", who, quoteOf(e), e.Line.Time.UTC().Format("15:04:05"), e.Line.Source, e.Line.Number)
	}
	for i := range s.Events {
		e := &s.Events[i]
		switch {
		case e.Reply != nil && e.Remote && (&Reply{Code: e.Reply.Code, Enhanced: e.Reply.Enhanced}).Class() >= 4:
			// The log quotes the peer's refusal: is it on the wire?
			if w := wireReply(c, e.Reply.Code, e.Stage); w != nil {
				out = append(out, fmt.Sprintf("%s; on the wire %s sent %s in frame %d: log and capture agree.",
					at(e), peer, replyWords(w), w.Frame))
			} else {
				out = append(out, fmt.Sprintf("%s, but the capture has no %d reply on this connection: the log and the wire disagree — the reply came from something in between (a proxy or filtering middlebox), or the capture was taken elsewhere.",
					at(e), e.Reply.Code))
			}
		case e.Kind == mtalog.EventLocal && e.Reply != nil:
			// A status the MTA wrote itself (Exchange's "421 4.4.2
			// Connection dropped").
			if w := wireReply(c, e.Reply.Code, ""); w != nil {
				out = append(out, fmt.Sprintf("%s; on the wire %s did send %s in frame %d.", at(e), peer, replyWords(w), w.Frame))
			} else {
				out = append(out, fmt.Sprintf("%s; on the wire %s sent no %d: %s wrote this status itself.%s", at(e), peer, e.Reply.Code, who, wireEnd(c)))
			}
		case e.Kind == mtalog.EventLocal && e.Reply == nil && s.Role == mtalog.RoleServer:
			out = append(out, serverLocalWords(at(e), e, c))
		case (e.Kind == mtalog.EventLocal || e.Kind == mtalog.EventDelivery && e.Status != "sent") && e.Reply == nil && e.Stage != "":
			out = append(out, localWords(at(e), who, peer, e, c))
		}
	}
	if len(out) == 0 && s.Role == mtalog.RoleClient {
		// A log that stops after the 354 to DATA (Exchange's, when its
		// own timeout fired and only its queue says why).
		if last := lastReply(s); last != nil && last.Reply.Code == 354 {
			if r := peerReset(c, mtalog.StageBody, peer); r != "" && noReplyTx(c) == nil {
				out = append(out, fmt.Sprintf("%s logged %q at %s (%s:%d) and then the connection dropped; on the wire %s",
					who, quoteOf(last), last.Line.Time.UTC().Format("15:04:05"), last.Line.Source, last.Line.Number, r))
			}
			if tx := noReplyTx(c); tx != nil {
				out = append(out, fmt.Sprintf("%s logged %q at %s (%s:%d) and nothing after it for this session; on the wire %s sent nothing at all after the end-of-data in frame %d%s: a timeout status for this message (Exchange's \"421 4.4.2 Connection dropped\") is %s's own, written when its timeout fired, not a reply from %s.",
					who, quoteOf(last), last.Line.Time.UTC().Format("15:04:05"), last.Line.Source, last.Line.Number, peer, tx.EODFrame, waited(tx), who, peer))
			}
		}
	}
	return out
}

// localWords explains a timeout or lost connection the MTA logged.
func localWords(head, who, peer string, e *mtalog.Event, c *Connection) string {
	switch e.Stage {
	case mtalog.StageEndOfData:
		if tx := noReplyTx(c); tx != nil {
			return fmt.Sprintf("%s; on the wire %s sent nothing after the end-of-data in frame %d%s: %s wrote this itself when its timeout fired. The relay was silent; the network delivered the message.",
				head, peer, tx.EODFrame, waited(tx), who)
		}
		if w := eodReply(c); w != nil {
			return fmt.Sprintf("%s, but on the wire %s answered the end-of-data with %s in frame %d: the log and the wire disagree — something between them (a middlebox) kept the reply from %s, or the capture was taken elsewhere.",
				head, peer, replyWords(w), w.Frame, who)
		}
	case mtalog.StageBody, mtalog.StageData:
		if r := peerReset(c, e.Stage, peer); r != "" {
			return head + "; on the wire " + r
		}
	case mtalog.StageConnect:
		if c.SMTP == nil || c.SMTP.Banner == nil {
			return head + "; on the wire the connection carried no SMTP greeting" + closeWords(c) + "."
		}
	}
	return head + "." + wireEnd(c)
}

// wireReply finds a reply with code on the wire, at stage if known.
func wireReply(c *Connection, code int, stage mtalog.Stage) *Reply {
	if c.SMTP == nil {
		return nil
	}
	m := c.SMTP
	if stage == mtalog.StageEndOfData || stage == "" {
		for i := range m.Transactions {
			if r := m.Transactions[i].Reply; r != nil && r.Code == code {
				return r
			}
		}
	}
	if m.Banner != nil && m.Banner.Code == code && (stage == "" || stage == mtalog.StageGreeting) {
		return m.Banner
	}
	for i := range m.Commands {
		if r := m.Commands[i].Reply; r != nil && r.Code == code {
			return r
		}
	}
	for i := range m.Unmatched {
		if m.Unmatched[i].Code == code {
			return &m.Unmatched[i]
		}
	}
	return nil
}

// noReplyTx is the transaction whose end-of-data the wire shows
// unanswered.
func noReplyTx(c *Connection) *Transaction {
	if c.SMTP == nil {
		return nil
	}
	for i := range c.SMTP.Transactions {
		tx := &c.SMTP.Transactions[i]
		if tx.Outcome == outcomeNoReply && tx.EODFrame > 0 {
			return tx
		}
	}
	return nil
}

// eodReply is the last end-of-data reply on the wire.
func eodReply(c *Connection) *Reply {
	if c.SMTP == nil {
		return nil
	}
	var r *Reply
	for i := range c.SMTP.Transactions {
		if tx := &c.SMTP.Transactions[i]; tx.Reply != nil && tx.EODFrame > 0 {
			r = tx.Reply
		}
	}
	return r
}

// peerReset says how the peer broke off the connection, if it did.
func peerReset(c *Connection, stage mtalog.Stage, peer string) string {
	side := &c.L4.Server
	if peer == "the client" {
		side = &c.L4.Client
	}
	if len(side.Resets) > 0 {
		r := side.Resets[0]
		s := fmt.Sprintf("%s reset the connection (RST) in frame %d during the message %s.", peer, r.Frame, stage)
		if r.Injected {
			s += " That RST looks forged (by a middlebox), not sent by " + peer + "'s host."
		}
		return s
	}
	if side.FINFrame > 0 {
		return fmt.Sprintf("%s closed the connection (FIN) in frame %d.", peer, side.FINFrame)
	}
	return ""
}

func closeWords(c *Connection) string {
	if len(c.L4.Server.Resets) > 0 {
		return fmt.Sprintf(", and the server reset it in frame %d", c.L4.Server.Resets[0].Frame)
	}
	if c.L4.Server.FINFrame > 0 {
		return fmt.Sprintf(", and the server closed it in frame %d", c.L4.Server.FINFrame)
	}
	return ""
}

// wireEnd adds the capture's diagnosis of the connection, for context.
func wireEnd(c *Connection) string {
	if c.Diagnosis.Summary == "" || c.Diagnosis.Cause == CauseOK {
		return ""
	}
	return " The capture's diagnosis: " + c.Diagnosis.Summary
}

func lastReply(s *mtalog.Session) *mtalog.Event {
	for i := len(s.Events) - 1; i >= 0; i-- {
		if s.Events[i].Kind == mtalog.EventReply {
			return &s.Events[i]
		}
	}
	return nil
}

func waited(tx *Transaction) string {
	if tx.WaitedMS <= 0 {
		return ""
	}
	return fmt.Sprintf(" (the client waited %s)", span(time.Duration(tx.WaitedMS*float64(time.Millisecond))))
}

func replyWords(r *Reply) string {
	return codes(r.Code, r.Enhanced)
}

// quoteOf is the part of a log line worth quoting: the status text of a
// Postfix delivery, the reply of an Exchange record, else the message.
func quoteOf(e *mtalog.Event) string {
	t := e.Line.Text
	if i := strings.Index(t, "status="); i >= 0 {
		return t[i:]
	}
	if e.Reply != nil {
		r := fmt.Sprint(e.Reply.Code)
		if e.Reply.Enhanced != "" {
			r += " " + e.Reply.Enhanced
		}
		if e.Reply.Text != "" {
			r += " " + e.Reply.Text
		}
		return r
	}
	if _, msg, ok := strings.Cut(t, "]: "); ok {
		return msg
	}
	return t
}

// serverLocalWords explains what a receiving MTA logged in its own words
// about its client: Postfix's "lost connection after END-OF-MESSAGE" or
// "timeout after DATA (N bytes)".
func serverLocalWords(head string, e *mtalog.Event, c *Connection) string {
	var first *Close
	if c.SMTP != nil {
		for i := range c.SMTP.Closes {
			if c.SMTP.Closes[i].By == "client" {
				first = &c.SMTP.Closes[i]
				break
			}
		}
	}
	// Postfix: "timeout after DATA"; Exim: "SMTP command timeout on
	// connection from …", "SMTP data timeout (message abandoned) on …".
	timeout := strings.Contains(e.Line.Text, "timeout after ") || strings.Contains(e.Line.Text, " timeout on connection from ") ||
		strings.Contains(e.Line.Text, "SMTP data timeout")
	switch {
	case timeout && first == nil:
		s := head + "; on the wire the client sent nothing more"
		if srv := serverClose(c); srv != nil {
			s += fmt.Sprintf(" and the server closed the connection (%s) in frame %d", srv.Kind, srv.Frame)
		}
		return s + ": the client went silent, and the server gave up waiting."
	case timeout:
		return fmt.Sprintf("%s, but on the wire the client closed the connection (%s) in frame %d: the log and the wire disagree, or the server missed the close.", head, first.Kind, first.Frame)
	case first != nil:
		s := fmt.Sprintf("%s; on the wire the client closed the connection (%s) in frame %d", head, first.Kind, first.Frame)
		switch e.Stage {
		case mtalog.StageEndOfData:
			if r := eodReply(c); r != nil {
				s += fmt.Sprintf(", after the server's %s to the end-of-data in frame %d and without QUIT", replyWords(r), r.Frame)
			}
		case mtalog.StageConnect:
			s += " without sending a command"
		}
		return s + "."
	}
	if srv := serverClose(c); srv != nil {
		return fmt.Sprintf("%s, but on the wire it was the server that closed the connection (%s) in frame %d: the log and the wire disagree — something between them closed it, or the capture was taken elsewhere.", head, srv.Kind, srv.Frame)
	}
	return head + "; the capture shows no close by either side (it may end before the connection did)."
}

func serverClose(c *Connection) *Close {
	if c.SMTP == nil {
		return nil
	}
	for i := range c.SMTP.Closes {
		if c.SMTP.Closes[i].By == "server" {
			return &c.SMTP.Closes[i]
		}
	}
	return nil
}
