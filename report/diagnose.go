package report

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/smtp"
)

// Cause is the short code of a diagnosis. The vocabulary is fixed: values
// are added, never renamed.
type Cause string

// The causes, with the layer each is normally reported at.
const (
	CauseOK              Cause = "ok"                // none
	CauseEODNoReply      Cause = "eod-no-reply"      // L7
	CauseEODPartialReply Cause = "eod-partial-reply" // L7
	CauseSlowReply       Cause = "slow-reply"        // L7
	CauseRejected        Cause = "rejected"          // L7
	CauseDeferred        Cause = "deferred"          // L7
	CauseAbortedByClient Cause = "aborted-by-client" // L7
	CausePMTUBlackhole   Cause = "pmtu-blackhole"    // L4
	CausePacketLoss      Cause = "packet-loss"       // L4
	CauseZeroWindowStall Cause = "zero-window-stall" // L4
	CauseResetByServer   Cause = "reset-by-server"   // L4
	CauseResetByClient   Cause = "reset-by-client"   // L4
	CauseResetInjected   Cause = "reset-injected"    // L4
	CauseConnectRefused  Cause = "connect-refused"   // L4
	CauseConnectTimeout  Cause = "connect-timeout"   // L4
	// CauseTLSOpaque is retired: a completed STARTTLS is no fault and no
	// capture problem (report/tls.go has the TLS causes). Kept so that the
	// vocabulary only grows.
	CauseTLSOpaque         Cause = "tls-opaque"         // none
	CauseCaptureIncomplete Cause = "capture-incomplete" // capture
	// CauseClosedByServer: the server closed the connection (FIN) in the
	// middle of a transaction without a reply.
	CauseClosedByServer Cause = "closed-by-server" // L7
)

// Layers.
const (
	LayerNone    = "none"
	LayerL4      = "L4"
	LayerL7      = "L7"
	LayerCapture = "capture"
)

// severity orders causes for picking the headline: higher is worse.
var severity = map[Cause]int{
	CauseOK: 0, CauseTLSOpaque: 1, CauseCaptureIncomplete: 2, CauseSlowReply: 3,
	CauseDeferred: 4, CauseRejected: 5, CauseAbortedByClient: 6, CauseClosedByServer: 7,
	CauseZeroWindowStall: 8, CausePacketLoss: 9, CausePMTUBlackhole: 10,
	CauseConnectTimeout: 11, CauseConnectRefused: 12,
	CauseResetByClient: 13, CauseResetByServer: 14, CauseResetInjected: 15,
	CauseEODPartialReply: 16, CauseEODNoReply: 17,
}

// Options tunes the rules. The zero value uses the defaults.
type Options struct {
	// SlowReply is the end-of-data reply latency from which a delivered
	// message is reported slow (zero: DefaultSlowReply).
	SlowReply time.Duration
	// Redact replaces mail addresses, IP addresses and host names (in
	// fields and inside reply texts) with stable tokens; ports stay.
	Redact bool
	// MemoryConnections is how many connections a Builder holds in memory
	// before it moves them to a temporary file (zero:
	// DefaultMemoryConnections; negative: from the first).
	MemoryConnections int
	// TempDir is where that file goes (empty: os.TempDir()).
	TempDir string
	// JoinLogs keeps what Report.JoinLogs needs of each connection.
	JoinLogs bool
	// ListFailed and ListHealthy bound how many failed and how many other
	// connections a Builder lists (zero: no bound), so that a run without
	// end (live capture) keeps bounded state. Connections beyond them still
	// count in the totals, the headline and the patterns, and the report
	// says how many were left out.
	ListFailed, ListHealthy int
	// SeparateInputs says the inputs were analysed each on its own
	// (several captures, not merged: one per mail hub, say): the report
	// gives each input its totals (Input.Totals) and looks for patterns
	// across them.
	SeparateInputs bool
}

// DefaultSlowReply is the end-of-data reply latency reported as slow.
// RFC 5321 §4.5.3.2.6 lets a client wait 10 minutes, but appliances and
// scripted senders often give up after tens of seconds; an end-of-data
// reply normally takes milliseconds, so seconds already point at a relay
// that is struggling (content scanning, a slow next hop, back pressure).
const DefaultSlowReply = 5 * time.Second

// Facts is what the earlier stages know of one connection.
type Facts struct {
	// Conn identifies the connection (stream, peers, frames, times).
	Conn *reassembly.Conn
	// Health is the connection's L4 summary (Conn.Health()).
	Health reassembly.Health
	// Session is the SMTP decoder's result, nil if payload was not decoded.
	Session *smtp.Session
	// Input is the index of the input file the connection came from.
	Input int
	// Process is the program that owned the connection, when the capture
	// says (Network Monitor process table), else nil.
	Process *Process
	// SMTPPort is set when the server port is one of the SMTP ports: such a
	// connection matters even when no SMTP byte was exchanged (a refused
	// or unanswered SYN).
	SMTPPort bool
	// DroppedKernel and DroppedRing are set by a live run when the
	// capture lost packets while the connection was open: the kernel's
	// buffer or smtpscope's ring was full (see applyDrops).
	DroppedKernel, DroppedRing bool
}

// Dropped tells whether the capture lost packets while the connection
// was open.
func (f *Facts) Dropped() bool { return f.DroppedKernel || f.DroppedRing }

// The outcomes, as Transaction.Outcome spells them (smtp.Outcome's
// names); the last four are failed mail transactions.
const (
	outcomeDelivered = "delivered"
	outcomeNoReply   = "no-reply"
	outcomeAborted   = "aborted"
	outcomeWithdrawn = "withdrawn"
	outcomeRejected  = "rejected"
	outcomeDeferred  = "deferred"
)

// failed tells whether an outcome counts as a failed mail transaction.
func failed(o smtp.Outcome) bool {
	switch o {
	case smtp.OutcomeNoReply, smtp.OutcomeAborted, smtp.OutcomeRejected, smtp.OutcomeDeferred:
		return true
	}
	return false
}

// Build applies the diagnosis rules to every connection and returns the
// report, all in memory. Connections that are not SMTP are kept with
// "smtp": null. For captures of any length use a Builder.
func Build(inputs []Input, facts []Facts, opts Options) *Report {
	opts.MemoryConnections = len(facts) + 1
	b := NewBuilder(opts)
	for i := range facts {
		b.Add(&facts[i])
	}
	r, _ := b.Finish(inputs) // in memory: no error
	return r
}

// Failed tells whether the report found at least one failed mail
// transaction or broken connection (exit status 1).
func (r *Report) Failed() bool {
	if r.Totals.Failed > 0 {
		return true
	}
	for i := range r.count() {
		if r.failedAt(i) {
			return true
		}
	}
	return false
}

func buildConnection(f *Facts, opts Options, red *redactor) Connection {
	c := f.Conn
	h := f.Health
	out := Connection{
		Stream: c.Stream, Client: c.Client.String(), Server: c.Server.String(),
		FirstFrame: c.FirstFrame, LastFrame: c.LastFrame, Start: c.FirstTime,
		DurationMS: ms(c.LastTime.Sub(c.FirstTime)), Packets: c.Packets, Input: f.Input, Process: f.Process,
		L4: l4Of(&h, c.MissedBytes), Resumed: c.Resumed,
	}
	conflictNotes(&out.L4, c)
	if c.Evicted {
		out.Evicted = true
		out.L4.Notes = append(out.L4.Notes, fmt.Sprintf("smtpscope stopped following this connection after frame %d to stay within its connection cap (--max-connections): it was the least recently active of too many open connections, and what it sent later is not analysed", c.LastFrame))
	}
	if c.Resumed {
		out.L4.Notes = append(out.L4.Notes, fmt.Sprintf("frames %d-%d came on the addresses and ports of the earlier tcp.stream %d after it had ended; they are reported on their own", c.FirstFrame, c.LastFrame, c.Stream))
	}
	s := f.Session
	// Implicit TLS on an SMTP port (465, --smtp-ports) is SMTP the decoder
	// cannot read; its records still tell.
	if s == nil || !s.IsSMTP && !(s.TLS != nil && f.SMTPPort) {
		out.Diagnosis = diagnoseNoSMTP(c, &h, f.SMTPPort)
		return out
	}
	m := sessionOf(s, red)
	quitFrames := map[int]bool{}
	for i := range s.Commands {
		if s.Commands[i].Verb == "QUIT" {
			quitFrames[s.Commands[i].Frame] = true
		}
	}
	worst := Diagnosis{Layer: LayerNone, Cause: CauseOK}
	txs := s.Transactions
	if s.TLS != nil && len(s.TLS.Inferred) > 0 {
		txs = append(txs[:len(txs):len(txs)], s.TLS.Inferred...)
	}
	for i := range txs {
		tx := &txs[i]
		t := transactionOf(tx, red)
		if tx.Inferred != nil {
			t.Diagnosis = inferredTransaction(c, &h, tx)
		} else {
			t.Diagnosis = diagnoseTransaction(c, &h, s, tx, quitFrames, opts)
		}
		if d, ok := conflictDiagnosis(c, tx); ok {
			t.Diagnosis = d
		}
		if t.Diagnosis.Cause == CauseCaptureIncomplete {
			// What the capture cannot prove is unknown, never failed.
			t.Outcome = smtp.OutcomeUnknown.String()
			t.SizeAtLeast = tx.Method != "" && tx.EndOfDataFrame == 0
		}
		if failed(tx.Outcome) && t.Outcome != smtp.OutcomeUnknown.String() {
			m.Verdict = "failed"
		}
		if severity[t.Diagnosis.Cause] > severity[worst.Cause] {
			worst = t.Diagnosis
		}
		m.Transactions = append(m.Transactions, t)
	}
	out.SMTP = m
	if worst.Cause == CauseOK || worst.Cause == CauseCaptureIncomplete {
		// What TCP proves outranks what the capture cannot tell.
		if d := diagnoseDegradedTCP(c, &h, out.L4.Verdict != l4Healthy.String(), worst.Cause == CauseCaptureIncomplete); d.Cause != CauseOK {
			worst = d
		}
	}
	if worst.Cause == CauseOK {
		worst = diagnoseSession(c, &h, s)
		if worst.Cause != CauseOK && worst.Cause != CauseCaptureIncomplete {
			m.Verdict = "failed"
		}
	}
	out.Diagnosis = worst
	return out
}

// sessionOf copies an SMTP session into the report's shape, without its
// transactions and verdict.
func sessionOf(s *smtp.Session, red *redactor) *SMTP {
	m := &SMTP{Banner: reply(s.Banner, time.Time{}), Hello: red.host(s.Hello), Extensions: s.Extensions,
		MidStream: s.MidStream, Preamble: preamble(s.Preamble, red), Commands: make([]Command, 0, len(s.Commands)),
		Transactions: make([]Transaction, 0, len(s.Transactions)), Verdict: "ok"}
	if s.TLS != nil {
		m.TLS = tlsOf(s.TLS, red)
	}
	for i := range s.Commands {
		cmd := &s.Commands[i]
		m.Commands = append(m.Commands, Command{Verb: cmd.Verb, Frame: cmd.Frame, Time: cmd.Time, Reply: reply(cmd.Reply, cmd.Time),
			Truncated: cmd.Truncated})
	}
	for i := range s.Unmatched {
		m.Unmatched = append(m.Unmatched, *reply(&s.Unmatched[i], time.Time{}))
	}
	for _, cl := range s.Closes {
		m.Closes = append(m.Closes, Close{Kind: cl.Kind, By: cl.By, Frame: cl.Frame, Time: cl.Time, Phase: cl.Phase})
	}
	for _, a := range s.Anomalies {
		m.Anomalies = append(m.Anomalies, Anomaly{Name: a.Name, Frame: a.Frame, Detail: a.Detail})
	}
	return m
}

// transactionOf copies a mail transaction (decoded, or inferred from TLS
// records) into the report's shape.
func transactionOf(tx *smtp.Transaction, red *redactor) Transaction {
	t := Transaction{MailFrom: cut(red.mail(tx.MailFrom), tx.MailFromTruncated), MailFromTruncated: tx.MailFromTruncated,
		RcptTo: []string{}, Method: tx.Method, Size: tx.Size,
		MessageID: red.mail(tx.MessageID), MailFrame: tx.MailFrame, DataFrame: tx.DataFrame,
		EODFrame: tx.EndOfDataFrame, Reply: reply(tx.Reply, tx.EndOfDataTime), Outcome: tx.Outcome.String(),
		Incomplete: tx.Incomplete, RefusedAttempt: tx.RefusedAttempt()}
	if tx.SizeParam > 0 {
		t.SizeParam = tx.SizeParam
	}
	if tx.EndOfDataFrame != 0 {
		t.EODTime = tx.EndOfDataTime
	}
	for _, rc := range tx.Rcpts {
		addr := cut(red.mail(rc.Addr), rc.Truncated)
		t.RcptTo = append(t.RcptTo, addr)
		t.Rcpts = append(t.Rcpts, Recipient{Addr: addr, Truncated: rc.Truncated, Frame: rc.Frame, Reply: reply(rc.Reply, time.Time{})})
	}
	if tx.Outcome == smtp.OutcomeNoReply || tx.Outcome == smtp.OutcomeAborted {
		t.Ended = tx.Ended.String()
		t.EndFrame = tx.EndFrame
		t.EndTime = tx.EndTime
		t.WaitedMS = ms(tx.Waited())
	}
	if inf := tx.Inferred; inf != nil {
		t.Inferred, t.SizeMin, t.SizeMax = true, inf.SizeMin, inf.SizeMax
		if inf.Answered {
			t.AnswerFrame, t.AnswerMS = inf.AnswerFrame, ms(inf.Latency(tx.EndOfDataTime))
		}
	}
	return t
}

// diagnoseTransaction applies the rules to one mail transaction.
func diagnoseTransaction(c *reassembly.Conn, h *reassembly.Health, s *smtp.Session, tx *smtp.Transaction, quitFrames map[int]bool, opts Options) Diagnosis {
	filter := fmt.Sprintf("tcp.stream eq %d", c.Stream)
	eod := Evidence{Frame: tx.EndOfDataFrame, Time: tx.EndOfDataTime, What: "client sent the end-of-data \".\""}
	fine := tcpFine(h)
	if d, ok := captureMisses(s, tx, opts, filter, eod, quitFrames, stoppedBy(c)); ok {
		return d
	}
	switch tx.Outcome {
	case smtp.OutcomeDelivered:
		if lat := tx.Latency(); lat >= opts.SlowReply {
			return Diagnosis{Layer: LayerL7, Cause: CauseSlowReply, Filter: filter,
				Summary:  fmt.Sprintf("The server took %s to accept the message after end-of-data; clients with a shorter timeout give up first.", dur(lat)),
				Evidence: []Evidence{eod, {Frame: tx.Reply.Frame, Time: tx.Reply.Time, What: "server replied " + replyText(tx.Reply)}}}
		}
		if tx.EndOfDataFrame == 0 {
			return Diagnosis{Layer: LayerNone, Cause: CauseOK, Summary: "Delivered: " + replyText(tx.Reply) +
				" (the end-of-data was not captured; the reply answers it by the order of replies)."}
		}
		return Diagnosis{Layer: LayerNone, Cause: CauseOK, Summary: "Delivered: " + replyText(tx.Reply) + "."}
	case smtp.OutcomeDeferred, smtp.OutcomeRejected:
		r, consequences := finalRefusal(tx)
		cause, verb := CauseDeferred, "deferred (temporary failure, the client will retry)"
		if tx.Outcome == smtp.OutcomeRejected {
			cause, verb = CauseRejected, "rejected (permanent failure)"
		}
		d := Diagnosis{Layer: LayerL7, Cause: cause, Filter: filter}
		if r != nil {
			d.Summary = fmt.Sprintf("The server %s the message: %s.", verb, explain(r, s.Banner))
			d.Evidence = refusalEvidence(r, consequences)
			d.Filter = replyFilter(filter, r.Code, r.Frame)
		} else {
			d.Summary = fmt.Sprintf("The server %s the message.", verb)
		}
		return d
	case smtp.OutcomeNoReply:
		end := endEvidence(tx, quitFrames)
		filter := fmt.Sprintf("%s && frame.number >= %d", filter, tx.EndOfDataFrame)
		if d, ok := noReplyL4(c, h, tx, filter, eod, end); ok {
			return d
		}
		if tx.PartialReply != nil && fine {
			p := tx.PartialReply
			return Diagnosis{Layer: LayerL7, Cause: CauseEODPartialReply, Filter: filter,
				Evidence: []Evidence{eod, {Frame: p.Frame, Time: p.Time, What: fmt.Sprintf("server began a reply %q but never ended the line", partialText(p))}, end},
				Summary:  fmt.Sprintf("TCP was healthy, but the server's reply to end-of-data stopped mid-line (no CRLF), so the client could not read it and gave up after %s. Senders log this as a timeout; the message may have been accepted and will be sent again.", dur(tx.Waited()))}
		}
		if tx.Ended == smtp.EndClientReset && fine {
			return Diagnosis{Layer: LayerL7, Cause: CauseEODNoReply, Filter: filter, Evidence: []Evidence{eod, end},
				Summary: fmt.Sprintf("TCP delivered the whole message, but the server never answered the end-of-data; the client reset the connection after %s.", dur(tx.Waited()))}
		}
		if !fine {
			return lossDiagnosis(h, filter, []Evidence{eod, end}, fmt.Sprintf("no reply to end-of-data within %s", dur(tx.Waited())))
		}
		return Diagnosis{Layer: LayerL7, Cause: CauseEODNoReply, Filter: filter, Evidence: []Evidence{eod, end},
			Summary: fmt.Sprintf("TCP was healthy and delivered the whole message, but the relay never answered the end-of-data; the client gave up after %s. Look at the relay, not the network.", dur(tx.Waited()))}
	case smtp.OutcomeAborted:
		return abortedDiagnosis(c, h, tx, filter, endEvidence(tx, quitFrames))
	}
	if tx.Incomplete {
		return Diagnosis{Layer: LayerCapture, Cause: CauseCaptureIncomplete, Filter: filter,
			Summary: "The capture misses part of this transaction; its outcome is unknown."}
	}
	return Diagnosis{Layer: LayerNone, Cause: CauseOK, Summary: "The transaction did not reach its body (no DATA or BDAT)."}
}

// abortedDiagnosis says why a message body never reached its end-of-data:
// the L4 fault TCP proves (black hole, reset, loss, a stalled window), else
// who closed, else what stopped the view. end is how the connection ended.
// Decoded and TLS-inferred transactions both use it.
func abortedDiagnosis(c *reassembly.Conn, h *reassembly.Health, tx *smtp.Transaction, filter string, end Evidence) Diagnosis {
	if d, ok := pmtuDiagnosis(c, filter, end); ok {
		return d
	}
	if d, ok := resetDiagnosis(h, tx, filter, []Evidence{end}, "in the middle of the message body", true); ok {
		return d
	}
	if !tcpFine(h) {
		return lossDiagnosis(h, filter, []Evidence{end}, "the message never reached its end-of-data")
	}
	switch tx.Ended {
	case smtp.EndServerClosed:
		return Diagnosis{Layer: LayerL7, Cause: CauseClosedByServer, Filter: filter, Evidence: []Evidence{end},
			Summary: "The server closed the connection in the middle of the message body."}
	case smtp.EndClientClosed:
		return Diagnosis{Layer: LayerL7, Cause: CauseAbortedByClient, Filter: filter, Evidence: []Evidence{end},
			Summary: "The client closed the connection before finishing the message body."}
	}
	return Diagnosis{Layer: LayerCapture, Cause: CauseCaptureIncomplete, Filter: filter, Evidence: []Evidence{end},
		Summary: stoppedBy(c).sentence(" in the middle of the message body.")}
}

// noReplyL4 is the L4 fault TCP proves for an end-of-data without a reply:
// a path-MTU black hole, or a reset injected by a middlebox.
func noReplyL4(c *reassembly.Conn, h *reassembly.Health, tx *smtp.Transaction, filter string, eod, end Evidence) (Diagnosis, bool) {
	if d, ok := pmtuDiagnosis(c, filter, end); ok {
		return d, true
	}
	return resetDiagnosis(h, tx, filter, []Evidence{eod, end}, fmt.Sprintf("%s after end-of-data, instead of a reply", dur(tx.Waited())), false)
}

// captureMisses tells when the capture cannot prove a transaction's
// outcome because it ended, or lost frames, while the transaction was
// still open: the end-of-data or the reply may be among what it misses.
// Such a transaction is unknown, with cause capture-incomplete, whatever
// the decoder's provisional outcome; it is never a failure, and no
// pattern is drawn from it. An L4 fault the capture does prove is told on
// the connection (diagnoseDegradedTCP), not pinned on the transaction.
func captureMisses(s *smtp.Session, tx *smtp.Transaction, opts Options, filter string, eod Evidence, quitFrames map[int]bool, stop stopper) (Diagnosis, bool) {
	if endLost(tx) {
		return Diagnosis{Layer: LayerCapture, Cause: CauseCaptureIncomplete, Filter: filter,
			Summary: "The capture lost this transaction's end-of-data (snaplen cut or dropped frames) and shows no reply it can tie to it: outcome unknown."}, true
	}
	capEnded := tx.Ended == smtp.EndCaptureEnded
	switch tx.Outcome {
	case smtp.OutcomeNoReply:
		end := endEvidence(tx, quitFrames)
		d := Diagnosis{Layer: LayerCapture, Cause: CauseCaptureIncomplete, Evidence: []Evidence{eod, end},
			Filter: fmt.Sprintf("%s && frame.number >= %d", filter, tx.EndOfDataFrame)}
		switch {
		case tx.Incomplete:
			d.Summary = "No reply to end-of-data was captured, but the capture misses part of this connection, so the reply may have been lost from the capture."
		case capEnded && tx.Waited() < opts.SlowReply:
			d.Summary = stop.sentence(fmt.Sprintf(" %s after the end-of-data, too soon to tell whether the server would reply.", dur(tx.Waited())))
		case capEnded:
			d.Summary = fmt.Sprintf("The server had not answered the end-of-data %s later, when %s: a reply may still have come, so the outcome is unknown (a server this slow is struggling; %s would tell).", dur(tx.Waited()), stop.what, stop.remedy)
		default:
			return Diagnosis{}, false
		}
		return d, true
	case smtp.OutcomeRejected, smtp.OutcomeDeferred:
		if openAtCaptureEnd(s, tx) {
			return Diagnosis{Layer: LayerCapture, Cause: CauseCaptureIncomplete, Filter: filter,
				Summary: stop.sentence(" while this transaction was still open: the server had refused a command, but the client could still have gone on to deliver, so the outcome is unknown.")}, true
		}
	case smtp.OutcomeAborted:
		d := Diagnosis{Layer: LayerCapture, Cause: CauseCaptureIncomplete, Filter: filter, Evidence: []Evidence{endEvidence(tx, quitFrames)}}
		switch {
		case capEnded:
			d.Summary = stop.sentence(" in the middle of the message body.")
		case tx.Incomplete && tx.Method == "":
			d.Summary = "The capture misses part of this transaction (a command or a reply before its body) and the connection ended before a body was seen: the outcome is unknown."
		case tx.Incomplete:
			d.Summary = "The capture misses part of this message body and the connection ended before an end-of-data was seen: the end-of-data may be among the frames the capture lost, so the outcome is unknown."
		default:
			return Diagnosis{}, false
		}
		return d, true
	}
	return Diagnosis{}, false
}

// stopper says what ended the view of a connection whose transaction was
// still open: the capture's end, or smtpscope's connection cap evicting
// it (what the connection did later is not analysed either way).
type stopper struct {
	what   string // "the capture ended"
	start  string // what, to start a sentence: "The capture ended"
	remedy string // what would have told the outcome
}

// stoppedBy is the stopper of c.
func stoppedBy(c *reassembly.Conn) stopper {
	if c != nil && c.Evicted {
		what := "smtpscope stopped following the connection (connection cap, --max-connections)"
		return stopper{what, what, "a higher --max-connections"}
	}
	return stopper{"the capture ended", "The capture ended", "a longer capture"}
}

// sentence starts a sentence with what stopped the view: "The capture
// ended" + rest.
func (s stopper) sentence(rest string) string { return s.start + rest }

// openAtCaptureEnd tells whether a transaction without a final reply was
// still open when the capture ended: its MAIL was accepted, the
// connection was not closed, and
// after its MAIL the client neither reset nor left the session nor began
// another transaction the server accepted (RFC 5321 §4.1.4: a refused
// command does not end a transaction).
func openAtCaptureEnd(s *smtp.Session, tx *smtp.Transaction) bool {
	switch {
	case s == nil || tx.Reply != nil || len(s.Closes) > 0:
		return false
	case tx.Ended != smtp.EndCaptureEnded:
		return false // the decoder saw the client or a peer end it
	case tx.MailReply != nil && tx.MailReply.Class() != 2:
		return false // a refused MAIL opens no transaction
	}
	for i := range s.Commands {
		c := &s.Commands[i]
		if c.Frame <= tx.MailFrame {
			continue
		}
		switch c.Verb {
		case "RSET", "QUIT", "HELO", "EHLO", "STARTTLS":
			return false
		case "MAIL":
			if c.Reply != nil && c.Reply.Class() == 2 {
				return false
			}
		}
	}
	return true
}

// endLost is true for a transaction whose body was sent but whose
// end-of-data the capture lost, with no reply the decoder could tie to it
// (it ties one only when the order of the server's replies proves it).
func endLost(tx *smtp.Transaction) bool {
	return tx.Incomplete && tx.Method != "" && tx.EndOfDataFrame == 0 && tx.Reply == nil && tx.Outcome == smtp.OutcomeUnknown
}

// pmtuDiagnosis blames a path-MTU black hole when the connection's large
// segments were retransmitted again and again, never acknowledged, while
// smaller ones got through (REFERENCE §4: the sender may then never put
// its end-of-data on the wire).
func pmtuDiagnosis(c *reassembly.Conn, filter string, end Evidence) (Diagnosis, bool) {
	p := c.PMTU()
	if !p.Suspected {
		return Diagnosis{}, false
	}
	ev := []Evidence{
		{Frame: p.First.Frame, Time: p.First.Time, What: fmt.Sprintf("%s retransmits a %d-byte segment", p.Sender, p.Size)},
		{Frame: p.Last.Frame, Time: p.Last.Time, What: fmt.Sprintf("still unacknowledged after %d retransmissions", p.Retransmissions)},
	}
	if end.Frame != 0 {
		ev = append(ev, end)
	}
	return Diagnosis{Layer: LayerL4, Cause: CausePMTUBlackhole, Evidence: ev,
		Filter: fmt.Sprintf("%s && tcp.len >= %d", filter, p.Size),
		Summary: fmt.Sprintf("Suspected path-MTU black hole: the %s's %d-byte segments were retransmitted %d times over %s and never acknowledged, while its segments of up to %d bytes got through. A router on the path drops large packets and its ICMP \"fragmentation needed\" never arrives (blocked by a firewall?). Lower the MTU/MSS on the path or let ICMP type 3 code 4 through.",
			p.Sender, p.Size, p.Retransmissions, dur(p.Last.Time.Sub(p.First.Time)), p.SmallAcked)}, true
}

// resetDiagnosis explains a transaction ended by a RST: one whose TTL
// does not match its supposed sender's other packets was probably forged
// by a middlebox; otherwise the peer that sent it aborted.
//
// A client's own reset is the cause only when it cut off its message
// (clientAborts): after an unanswered end-of-data it is the client giving
// up, and the silence is the cause.
func resetDiagnosis(h *reassembly.Health, tx *smtp.Transaction, filter string, ev []Evidence, when string, clientAborts bool) (Diagnosis, bool) {
	var who reassembly.Direction
	switch tx.Ended {
	case smtp.EndServerReset:
		who = reassembly.ServerToClient
	case smtp.EndClientReset:
		who = reassembly.ClientToServer
	default:
		return Diagnosis{}, false
	}
	for _, r := range h.Sides[who].Resets {
		if r.Frame != tx.EndFrame || !r.Injected {
			continue
		}
		side := &h.Sides[who]
		why := fmt.Sprintf("its IP TTL %d differs from the %s's other packets (TTL %d–%d)", r.TTL, who, side.TTLMin, side.TTLMax)
		if !r.OddTTL {
			why = fmt.Sprintf("the %s went on sending after it, which a host that reset the connection never does", who)
		}
		return Diagnosis{Layer: LayerL4, Cause: CauseResetInjected, Filter: filter + " && tcp.flags.reset == 1", Evidence: ev,
			Summary: fmt.Sprintf("A RST that claims to come from the %s ended the connection %s, but %s: probably injected by a firewall or IPS in the path, not sent by the %s.",
				who, when, why, who)}, true
	}
	if who == reassembly.ServerToClient {
		return Diagnosis{Layer: LayerL4, Cause: CauseResetByServer, Filter: filter, Evidence: ev,
			Summary: fmt.Sprintf("The server reset the connection %s.", when)}, true
	}
	if !clientAborts || !tcpFine(h) {
		// A client that resets after loss or a stalled window is giving
		// up on the path or the receiver: that is the cause to report.
		return Diagnosis{}, false
	}
	return Diagnosis{Layer: LayerL4, Cause: CauseResetByClient, Filter: filter, Evidence: ev,
		Summary: fmt.Sprintf("The client reset the connection %s.", when)}, true
}

// partialText is the partial reply's line as the server sent it.
func partialText(r *smtp.Reply) string {
	s := replyText(r)
	if r.Text != "" {
		s += " " + r.Text
	}
	return s
}

// tcpFine tells whether TCP shows neither loss (retransmissions that
// were not spurious) nor a zero window.
func tcpFine(h *reassembly.Health) bool { return lossRetransmissions(h) == 0 && h.ZeroWindows == 0 }

// lossDiagnosis blames the network for a failure on a connection whose
// TCP showed loss or stalls.
func lossDiagnosis(h *reassembly.Health, filter string, ev []Evidence, what string) Diagnosis {
	if h.ZeroWindows > 0 && lossRetransmissions(h) == 0 {
		return Diagnosis{Layer: LayerL4, Cause: CauseZeroWindowStall, Filter: filter + " && tcp.analysis.zero_window", Evidence: ev,
			Summary: fmt.Sprintf("A receiver advertised a zero window %d times and %s: the receiver stopped reading.", h.ZeroWindows, what)}
	}
	return Diagnosis{Layer: LayerL4, Cause: CausePacketLoss, Filter: filter + " && tcp.analysis.retransmission", Evidence: ev,
		Summary: fmt.Sprintf("TCP retransmitted %d segments and %s: the network lost packets.", h.Retransmissions, what)}
}

// diagnoseDegradedTCP reports, for a connection whose mail got through, a
// receiver that stopped reading or a path that lost packets, when the
// L4 rules did not call TCP healthy: the next, larger message may not get
// through. These are notes, not failures (exit status 0).
//
// open is set when a transaction's outcome is unknown because the capture
// ended or lost frames while it was open: the note then says so instead
// of claiming the mail got through.
func diagnoseDegradedTCP(c *reassembly.Conn, h *reassembly.Health, unhealthy, open bool) Diagnosis {
	gotThrough := "the mail got through"
	if open {
		gotThrough = "the capture ended before a message's outcome was known"
	}
	if !unhealthy {
		return Diagnosis{Layer: LayerNone, Cause: CauseOK}
	}
	for d, side := range h.Sides {
		if side.LongestZeroWindow < longZeroWindow {
			continue
		}
		who := reassembly.Direction(d)
		ev := []Evidence{}
		if fc := h.ZeroWindow; fc.Count > 0 {
			ev = append(ev, Evidence{Frame: fc.Frames[0], What: "first zero-window advertisement"})
		}
		return Diagnosis{Layer: LayerL4, Cause: CauseZeroWindowStall, Evidence: ev,
			Filter: fmt.Sprintf("tcp.stream eq %d && (tcp.analysis.zero_window || tcp.analysis.zero_window_probe || tcp.analysis.keep_alive)", c.Stream),
			Summary: fmt.Sprintf("The %s stopped reading: it advertised a zero receive window for %s (longest stretch %s). %s%s, but a receiver that stalls this long makes senders time out.",
				who, dur(side.ZeroWindowTime), dur(side.LongestZeroWindow), strings.ToUpper(gotThrough[:1]), gotThrough[1:])}
	}
	if n := h.Retransmission.Count; lossRetransmissions(h) > 0 {
		data := h.Sides[0].DataSegments + h.Sides[1].DataSegments
		rate := ""
		if data > 0 {
			rate = fmt.Sprintf(" (%.1f%% of %d data segments)", 100*float64(n)/float64(data), data)
		}
		ev := []Evidence{}
		for _, f := range h.Retransmission.Frames[:min(3, len(h.Retransmission.Frames))] {
			ev = append(ev, Evidence{Frame: f, What: "retransmission"})
		}
		return Diagnosis{Layer: LayerL4, Cause: CausePacketLoss, Evidence: ev,
			Filter: fmt.Sprintf("tcp.stream eq %d && tcp.analysis.retransmission", c.Stream),
			Summary: fmt.Sprintf("TCP retransmitted %d segment(s)%s, %d of them fast retransmissions; %s, but the path loses packets.",
				n, rate, h.FastRetransmission.Count, gotThrough)}
	}
	return Diagnosis{Layer: LayerNone, Cause: CauseOK}
}

// diagnoseNoSMTP covers connections without SMTP bytes: on an SMTP port a
// failed handshake is the whole story.
func diagnoseNoSMTP(c *reassembly.Conn, h *reassembly.Health, smtpPort bool) Diagnosis {
	filter := fmt.Sprintf("tcp.stream eq %d", c.Stream)
	hs := &h.Handshake
	if smtpPort {
		switch {
		case hs.State == reassembly.HandshakeRefused:
			return Diagnosis{Layer: LayerL4, Cause: CauseConnectRefused, Filter: filter,
				Evidence: []Evidence{{Frame: hs.SYN.Frame, Time: hs.SYN.Time, What: "client sent SYN"},
					{Frame: hs.RefusedBy.Frame, Time: hs.RefusedBy.Time, What: "answered by RST: nothing listens on the port"}},
				Summary: fmt.Sprintf("The connection to %s was refused (SYN answered by RST): no SMTP server is listening, or a firewall rejects it.", c.Server)}
		case hs.State == reassembly.HandshakeUnanswered || hs.State == reassembly.HandshakeOpenerOnly:
			return Diagnosis{Layer: LayerL4, Cause: CauseConnectTimeout, Filter: filter,
				Evidence: []Evidence{{Frame: hs.SYN.Frame, Time: hs.SYN.Time, What: "client sent SYN"},
					{Frame: hs.LastSYN.Frame, Time: hs.LastSYN.Time, What: fmt.Sprintf("SYN sent %d times, never answered", hs.SYNRetries+1)}},
				Summary: fmt.Sprintf("The connection to %s was never answered: %d SYN(s) over %s got no SYN+ACK (host down, route missing, or a firewall dropping it).",
					c.Server, hs.SYNRetries+1, dur(hs.LastSYN.Time.Sub(hs.SYN.Time)))}
		}
		if h.Packets > 0 && h.Sides[0].Bytes == 0 && h.Sides[1].Bytes == 0 {
			return Diagnosis{Layer: LayerNone, Cause: CauseOK, Summary: "TCP connection to an SMTP port without any SMTP data."}
		}
	}
	return Diagnosis{Layer: LayerNone, Cause: CauseOK, Summary: "Not an SMTP connection."}
}

// streamFilter is the Wireshark display filter of tcp.stream stream, as
// fmt's "tcp.stream eq %d" writes it.
func streamFilter(stream int) string { return "tcp.stream eq " + strconv.Itoa(stream) }

// diagnoseSession covers connections without a failed transaction.
func diagnoseSession(c *reassembly.Conn, h *reassembly.Health, s *smtp.Session) Diagnosis {
	// The filter is made where a diagnosis names it, not on the common
	// path (a healthy session's "No failed mail transaction.").
	if b := s.Banner; b != nil && b.Class() >= 4 {
		cause := CauseDeferred
		if b.Class() == 5 {
			cause = CauseRejected
		}
		return Diagnosis{Layer: LayerL7, Cause: cause, Filter: streamFilter(c.Stream),
			Evidence: []Evidence{{Frame: b.Frame, Time: b.Time, What: "server greeted with " + replyText(b)}},
			Summary:  fmt.Sprintf("The server refused the session in its greeting: %s.", explain(b, b))}
	}
	if d, ok := diagnoseTLS(c, s); ok {
		return d
	}
	if s.MidStream {
		// Transactions wholly inside the capture still have known
		// outcomes; the late start is worth saying, not a diagnosis.
		return Diagnosis{Layer: LayerNone, Cause: CauseOK, Filter: streamFilter(c.Stream),
			Summary: "No failed mail transaction; the capture started after this SMTP session had begun."}
	}
	return Diagnosis{Layer: LayerNone, Cause: CauseOK, Summary: "No failed mail transaction."}
}

// finalRefusal is the reply that decided a deferred or rejected outcome:
// the final reply after end-of-data if there is one, else the attempt's
// first refusal of the outcome's class. The refusals after it that follow
// from it are its consequences (a MAIL refused, then the RCPT and DATA a
// client pipelined behind it refused 503, RFC 2920 §3.1), returned apart.
func finalRefusal(tx *smtp.Transaction) (cause *smtp.Reply, consequences []*smtp.Reply) {
	if tx.Reply != nil {
		return tx.Reply, nil
	}
	class := 5
	if tx.Outcome == smtp.OutcomeDeferred {
		class = 4
	}
	for _, r := range refusals(tx) {
		switch {
		case cause == nil && r.Class() == class:
			cause = r
		case cause != nil && (tx.RefusedAttempt() || r.OutOfSequence() || r == tx.DataReply):
			// Commands refused because an earlier one was: whatever
			// follows a refused MAIL, a command out of sequence, a DATA
			// without an accepted recipient.
			consequences = append(consequences, r)
		}
	}
	return cause, consequences
}

// preamble reports what a proxy sent before SMTP, nil if nothing.
func preamble(p *smtp.Preamble, red *redactor) *Preamble {
	if p == nil {
		return nil
	}
	return &Preamble{Kind: p.Kind, Frame: p.Frame, ClientBytes: p.ClientBytes, ServerBytes: p.ServerBytes,
		Target: red.addr(p.Target), Status: p.Status, Source: red.addr(p.Source), Destination: red.addr(p.Destination)}
}

// refusalEvidence is the evidence of a refusal and of its consequences.
func refusalEvidence(cause *smtp.Reply, consequences []*smtp.Reply) []Evidence {
	ev := []Evidence{{Frame: cause.Frame, Time: cause.Time, What: "server replied " + replyText(cause)}}
	for _, c := range consequences {
		ev = append(ev, Evidence{Frame: c.Frame, Time: c.Time, What: "in consequence, server replied " + replyText(c)})
	}
	return ev
}

// refusals lists the 4xx and 5xx replies to a transaction's MAIL, RCPTs
// and DATA in the order the server sent them.
func refusals(tx *smtp.Transaction) []*smtp.Reply {
	var out []*smtp.Reply
	add := func(r *smtp.Reply) {
		if r != nil && (r.Class() == 4 || r.Class() == 5) {
			out = append(out, r)
		}
	}
	add(tx.MailReply)
	for i := range tx.Rcpts {
		add(tx.Rcpts[i].Reply)
	}
	add(tx.DataReply)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Frame < out[j].Frame })
	return out
}

func endEvidence(tx *smtp.Transaction, quitFrames map[int]bool) Evidence {
	if tx.Ended == smtp.EndClientClosed && quitFrames[tx.EndFrame] {
		return Evidence{Frame: tx.EndFrame, Time: tx.EndTime, What: "client gave up: QUIT"}
	}
	what := map[smtp.EndReason]string{
		smtp.EndCaptureEnded: "capture ended",
		smtp.EndClientClosed: "client gave up and closed the session",
		smtp.EndServerClosed: "server closed the connection",
		smtp.EndClientReset:  "client reset the connection",
		smtp.EndServerReset:  "server reset the connection",
	}[tx.Ended]
	return Evidence{Frame: tx.EndFrame, Time: tx.EndTime, What: what}
}

// headline picks the report's verdict: the worst diagnosis, with counts.
func (a *aggregate) headline() Diagnosis {
	t := a.totals
	worst := a.worst
	if worst == nil {
		s := fmt.Sprintf("No failure found: %d of %d mail transactions delivered%s.", t.Delivered, t.Transactions, t.refusedClause())
		if t.Transactions == 0 && t.Withdrawn > 0 {
			s = fmt.Sprintf("No failure found: no message was sent%s.", t.refusedClause())
		}
		if t.SMTPConnections == 0 {
			s = "No SMTP session found in the capture."
		}
		return Diagnosis{Layer: LayerNone, Cause: CauseOK, Summary: s}
	}
	n := a.sameWorst[causeKey{worst.Cause, a.worstFailed}]
	h := Diagnosis{Layer: worst.Layer, Cause: worst.Cause}
	failing := a.failingCauses()
	switch {
	case len(failing) > 1:
		// Several causes: name them all, most frequent first; Cause and
		// Layer stay those of the most severe.
		total := 0
		list := ""
		for i, k := range failing {
			total += k.n
			if i > 0 {
				list += ", "
			}
			list += fmt.Sprintf("%s on %d", k.cause, k.n)
		}
		h.Summary = fmt.Sprintf("%d connection(s) failed, for %d different causes: %s. %s", total, len(failing), list, a.l4Clause())
	case !a.worstFailed:
		h.Summary = fmt.Sprintf("No failed mail transaction (%d of %d delivered), but on %d connection(s): %s",
			t.Delivered, t.Transactions, n, worst.Summary)
	case worst.Cause == CauseEODNoReply || worst.Cause == CauseEODPartialReply:
		h.Summary = fmt.Sprintf("the server never answered end-of-data on %d connection(s); %s", n, a.l4Clause())
	default:
		h.Summary = fmt.Sprintf("%s on %d connection(s): %s", worst.Cause, n, worst.Summary)
	}
	return h
}

// causeCount is a cause and its number of connections.
type causeCount struct {
	cause Cause
	n     int
}

// failingCauses lists the causes of failed connections, most frequent
// first (then by name, for a stable headline).
func (a *aggregate) failingCauses() []causeCount {
	failing := map[Cause]int{}
	for k, n := range a.sameWorst {
		if k.failed {
			failing[k.cause] = n
		}
	}
	return mostFirst(failing, func(c Cause, n int) causeCount { return causeCount{c, n} })
}

// Failed tells whether the connection failed to deliver mail (as opposed
// to delivering it with a note): the connections Report.Failed counts
// beyond failed transactions, and those smtpscope cuts out as evidence.
func (c *Connection) Failed() bool { return connectionFailed(c) }

// connectionFailed tells whether a connection failed to deliver mail (as
// opposed to delivering it with a note).
func connectionFailed(c *Connection) bool {
	if c.SMTP != nil {
		return c.SMTP.Verdict == "failed"
	}
	switch c.Diagnosis.Cause {
	case CauseConnectRefused, CauseConnectTimeout:
		return true
	}
	return false
}

// l4Clause states TCP health over the SMTP connections in words.
func (a *aggregate) l4Clause() string {
	if a.retrans == 0 && a.resets == 0 && a.zeroWindows == 0 {
		return "TCP was healthy (no retransmissions, resets or zero windows)."
	}
	return fmt.Sprintf("TCP showed %d retransmissions, %d resets, %d zero windows.", a.retrans, a.resets, a.zeroWindows)
}

func reply(r *smtp.Reply, since time.Time) *Reply {
	if r == nil {
		return nil
	}
	out := &Reply{Code: r.Code, Enhanced: enhancedText(r.Enhanced), Text: r.Text, Frame: r.Frame, Time: r.Time, Partial: r.Partial,
		Truncated: r.Truncated}
	if !since.IsZero() {
		out.LatencyMS = ms(r.Time.Sub(since))
	}
	return out
}

// enhancedCodes are the texts of the enhanced codes of class 2 to 5 with
// a one-digit subject and detail, "2.0.0" to "5.9.9", 5 bytes each, in
// that order: enhancedText slices them.
var enhancedCodes = func() string {
	var b strings.Builder
	for class := 2; class <= 5; class++ {
		for subject := range 10 {
			for detail := range 10 {
				fmt.Fprintf(&b, "%d.%d.%d", class, subject, detail)
			}
		}
	}
	return b.String()
}()

// enhancedText is e.String() without allocating for the usual codes
// (2.0.0, 2.1.5, 4.7.1: one-digit subject and detail), which every reply
// of a session may carry.
func enhancedText(e smtp.EnhancedCode) string {
	if e[0] >= 2 && e[0] <= 5 && uint(e[1]) <= 9 && uint(e[2]) <= 9 {
		i := ((e[0]-2)*100 + e[1]*10 + e[2]) * 5
		return enhancedCodes[i : i+5]
	}
	return e.String()
}

func replyText(r *smtp.Reply) string {
	if r == nil {
		return "nothing"
	}
	return codes(r.Code, r.Enhanced.String())
}

// explain renders a reply with its meaning, the server's words first, e.g.
// `552 5.3.4 "Message too big" (message too big for system)`; banner is
// the server's greeting, evidence of its vendor (codeMeaning).
func explain(r, banner *smtp.Reply) string {
	s := replyText(r)
	if r.Text != "" {
		s += fmt.Sprintf(" %q", r.Text)
	}
	seen := vendors{r.Text}
	if banner != nil {
		seen = append(seen, banner.Text)
	}
	if m := codeMeaning(r.Code, r.Enhanced.String(), seen); m != "" {
		s += " (" + m + ")"
	}
	return s
}

// cut marks an address a capture gap cut short.
func cut(addr string, truncated bool) string {
	if truncated && addr != "" {
		return addr + "…"
	}
	return addr
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// dur formats a duration for sentences: "25.0 s", "340 ms".
func dur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
}

// sortedConnections returns indexes of connections: failing ones first
// (worst first), then the rest in stream order.
func sortedConnections(r *Report) []int {
	idx := make([]int, r.count())
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		return severity[r.causeOf(idx[a])] > severity[r.causeOf(idx[b])]
	})
	return idx
}
