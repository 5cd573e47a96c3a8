package report

import (
	"fmt"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/smtp"
)

// CauseEODTimeout is the kind of the incident of an end-of-data still
// unanswered after IncidentRules.EODTimeout, on a connection still open.
// It is never a diagnosis: when the connection ends, the report decides
// whether the reply never came (eod-no-reply) or came late (slow-reply).
const CauseEODTimeout Cause = "eod-timeout"

// Incident is a failure seen while a capture runs, for a connection not
// ended yet. Its Kind and Summary are those of the diagnosis the report
// gives the transaction (or the connection) from the same facts, except
// for CauseEODTimeout. Only L4 facts that later packets reveal can refine
// the report's cause afterwards: a reset the sender's later packets show
// to be injected (reset-injected), more retransmissions.
type Incident struct {
	// Time is when it was seen: the capture time of the evidence, or the
	// time a timeout rule ran.
	Time time.Time
	// Kind is the diagnosis cause, or CauseEODTimeout.
	Kind  Cause
	Layer string
	// Stream is the connection's tcp.stream; Client and Server are written
	// as the report writes them (tokens with Options.Redact).
	Stream         int
	Client, Server string
	// Frame is the frame to look at: the reply, the reset, the
	// end-of-data that waits, the refused SYN.
	Frame int
	// Message is the 1-based index of the mail transaction in the
	// connection, 0 for an incident of the connection itself.
	Message int
	// Summary is the diagnosis' sentence.
	Summary string
	// Decryption is the connection's TLS decryption when the incident was
	// told, nil without TLS or key log: whether what the incident rests
	// on was decrypted or inferred, and whether the session's key came
	// late, its records held until it did (KeyLateWords).
	Decryption *TLSDecryption
}

// IncidentRules decide which incidents an open connection raises. The
// zero value uses the report's defaults and raises no timeout incident.
type IncidentRules struct {
	// Options are the report's rules, so that an incident says what the
	// report will.
	Options Options
	// EODTimeout: an end-of-data unanswered this long is an incident
	// (zero: never).
	EODTimeout time.Duration
	// ConnectTimeout: a SYN to an SMTP port unanswered this long is one
	// (zero: never).
	ConnectTimeout time.Duration
	// offered are the servers whose sessions offered STARTTLS so far
	// (compareStartTLS, starttls.go).
	offered map[startTLSKey]*startTLSOffer
}

// IncidentWatch is what the rules remember of one connection, so that
// each incident is told once: once per mail transaction, and once for the
// connection itself (greeting refused, connection refused or
// unanswered). The zero value is a connection nothing was told of.
type IncidentWatch struct {
	// settled: the connection can raise no incident of its own any more
	// (told, or the server answered).
	settled bool
	// done[i]: transaction i can raise no more incident (told or
	// decided); firstOpen is the first i not done.
	done      []bool
	firstOpen int
	// tls is what the TLS rules remember (tls.go).
	tls tlsWatch
}

// Incidents applies the rules to a connection still open at capture time
// now, and appends the incidents not told before to dst. Facts are those
// of the connection so far: its session is still being decoded, so
// outcomes are not set yet and the rules read the replies and end marks
// smtp has recorded. timed runs the rules that need the connection's L4
// health or a timeout: the pipeline sets it on its periodic sweep and
// after a reset, and leaves it off on ordinary deliveries (cheap).
func (rules *IncidentRules) Incidents(dst []Incident, w *IncidentWatch, f *Facts, now time.Time, timed bool) []Incident {
	opts := rules.Options
	if opts.SlowReply <= 0 {
		opts.SlowReply = DefaultSlowReply
	}
	red := newRedactor(opts.Redact)
	c := f.Conn
	var base *Incident
	learned := false
	tell := func(in Incident) {
		if base == nil {
			// Written only when an incident is told: the rules run on
			// every reply of every open connection.
			base = &Incident{Stream: c.Stream, Client: red.addr(c.Client.String()), Server: red.addr(c.Server.String())}
		}
		if !learned && f.Session != nil {
			// A summary quotes the server's texts: the names in them are
			// hidden as the report hides them, where it redacts the
			// texts (with their host names) before the summaries.
			red.learnSession(f.Session)
			learned = true
		}
		in.Stream, in.Client, in.Server = base.Stream, base.Client, base.Server
		if s := f.Session; s != nil && s.TLS != nil {
			in.Decryption = decryptionOf(s.TLS.Decryption)
		}
		dropIncident(f, &in)
		in.Summary = red.text(in.Summary, false)
		dst = append(dst, in)
	}
	if !w.settled {
		if in, ok := rules.connection(w, f, now, timed); ok {
			tell(in)
		}
	}
	s := f.Session
	if s == nil {
		return dst
	}
	if len(w.done) > len(s.Transactions) {
		// smtp dropped an entry (a MAIL refused inside an open
		// transaction): it was not done, nor any after it.
		w.done = w.done[:len(s.Transactions)]
		w.firstOpen = min(w.firstOpen, len(w.done))
	}
	for len(w.done) < len(s.Transactions) {
		w.done = append(w.done, false)
	}
	for i := w.firstOpen; i < len(s.Transactions); i++ {
		if w.done[i] {
			continue
		}
		in, told, done := rules.transaction(f, i, now, timed, opts)
		if told {
			in.Message = i + 1
			tell(in)
		}
		w.done[i] = told || done
	}
	for w.firstOpen < len(w.done) && w.done[w.firstOpen] {
		w.firstOpen++
	}
	rules.tlsIncidents(&w.tls, f, now, timed, tell)
	return dst
}

// connection applies the rules of the connection itself: the greeting
// refused, and on an SMTP port the SYN refused or unanswered.
func (rules *IncidentRules) connection(w *IncidentWatch, f *Facts, now time.Time, timed bool) (Incident, bool) {
	c, s := f.Conn, f.Session
	if s != nil && s.Banner != nil {
		w.settled = true // a greeting decides, whatever it says
		h := c.Health()
		d := diagnoseSession(c, &h, s)
		if d.Cause != CauseDeferred && d.Cause != CauseRejected {
			return Incident{}, false
		}
		return incidentOf(d, s.Banner.Frame, s.Banner.Time), true
	}
	if !f.SMTPPort || !timed {
		return Incident{}, false
	}
	h := c.Health()
	hs := &h.Handshake
	switch {
	case hs.RefusedBy.Frame != 0:
	case hs.SYN.Frame == 0 || hs.SYNACK.Frame != 0 || h.Sides[0].DataSegments > 0 || h.Sides[1].Segments > 0:
		// Picked up mid-stream (the handshake is not ours to judge), or
		// answered: a client sends data only after a SYN+ACK, even one
		// the capture missed.
		w.settled = true
		return Incident{}, false
	case rules.ConnectTimeout <= 0 || now.Sub(hs.SYN.Time) < rules.ConnectTimeout:
		return Incident{}, false
	}
	// The rules of the report, as of now: refused, or unanswered so far.
	d := diagnoseNoSMTP(c, &h, true)
	if d.Cause != CauseConnectRefused && d.Cause != CauseConnectTimeout {
		return Incident{}, false
	}
	w.settled = true
	in := incidentOf(d, hs.RefusedBy.Frame, hs.RefusedBy.Time)
	if d.Cause == CauseConnectTimeout {
		// Still unanswered now: the first SYN is the one waiting.
		in.Time, in.Frame = now, hs.SYN.Frame
		in.Summary = fmt.Sprintf("The connection to %s is unanswered: %d SYN(s) and no SYN+ACK in %s.",
			c.Server, hs.SYNRetries+1, dur(now.Sub(hs.SYN.Time)))
	}
	return in, true
}

// transaction applies the rules to transaction i. told says an incident
// is returned; done that the transaction can raise no other.
func (rules *IncidentRules) transaction(f *Facts, i int, now time.Time, timed bool, opts Options) (in Incident, told, done bool) {
	s := f.Session
	tx := &s.Transactions[i]
	o, at, decided := decidedOutcome(s, i)
	if decided && tx.Reply == nil && f.Conn != nil && f.Conn.Held(reassembly.ServerToClient) {
		// The server's close is told before its bytes queued behind a
		// hole: they may hold the reply, and the gap makes it unknown.
		decided = false
	}
	if !decided {
		if tx.EndOfDataFrame == 0 || tx.Reply != nil || !timed || rules.EODTimeout <= 0 || now.Sub(tx.EndOfDataTime) < rules.EODTimeout {
			return Incident{}, false, false
		}
		kind, layer := CauseEODTimeout, LayerL7
		if tx.Incomplete {
			kind, layer = CauseCaptureIncomplete, LayerCapture
		}
		return Incident{Time: now, Kind: kind, Layer: layer, Frame: tx.EndOfDataFrame,
			Summary: fmt.Sprintf("The end-of-data has been unanswered for %s (%s bytes sent).", dur(now.Sub(tx.EndOfDataTime)), Thousands(tx.Size))}, true, false
	}
	unknown := o == smtp.OutcomeUnknown && (tx.Incomplete || oneSided(s))
	if !failed(o) && !unknown {
		return Incident{}, false, true
	}
	// The report's own rule, on the transaction as it will be settled.
	settled := *tx
	settled.Outcome = o
	settled.Incomplete = tx.Incomplete || unknown
	h := f.Conn.Health()
	d := diagnoseTransaction(f.Conn, &h, s, &settled, quitFrames(s), opts)
	if d.Cause == CauseOK {
		return Incident{}, false, true
	}
	return incidentOf(d, at.Frame, at.Time), true, true
}

// incidentOf makes the incident of a diagnosis: at the last frame of its
// evidence, else at frame.
func incidentOf(d Diagnosis, frame int, at time.Time) Incident {
	if n := len(d.Evidence); n > 0 && d.Evidence[n-1].Frame != 0 {
		frame = d.Evidence[n-1].Frame
		if t := d.Evidence[n-1].Time; !t.IsZero() {
			at = t
		}
	}
	return Incident{Time: at, Kind: d.Cause, Layer: d.Layer, Frame: frame, Summary: d.Summary}
}

// mark is a frame and its capture time.
type mark struct {
	Frame int
	Time  time.Time
}

// decidedOutcome is the outcome smtp will give transaction i of a
// session still being decoded, once what has been seen decides it, with
// the mark that decided it; decided is false while more bytes may change
// it. It follows smtp.Decoder's settling of transactions at End: the
// final reply after end-of-data decides (RFC 5321 §4.2.5); a refused
// MAIL, DATA or BDAT, or every recipient refused (§3.3), decides once
// nothing more can come for the transaction (the server accepted the
// client's next MAIL, or the connection ended: a final reply would still
// win); the
// connection's end decides a transaction still waiting (no reply) or in
// its body (aborted). What the capture may miss (a gap, a capture of one
// side only) makes the outcome unknown.
func decidedOutcome(s *smtp.Session, i int) (o smtp.Outcome, at mark, decided bool) {
	tx := &s.Transactions[i]
	if r := tx.Reply; r != nil {
		return replyOutcome(r), mark{r.Frame, r.Time}, true
	}
	// A new MAIL ends the wait only once the server takes it: refused
	// (503 in a transaction), the transaction goes on.
	ended := tx.EndFrame != 0 && !newMailPending(s, tx)
	later := i < len(s.Transactions)-1 && s.Transactions[i+1].MailReply != nil && s.Transactions[i+1].MailReply.Class() == 2
	if !ended && !later {
		return smtp.OutcomeUnknown, mark{}, false
	}
	if r := commandRefusal(s, tx); r != nil {
		return replyOutcome(r), mark{r.Frame, r.Time}, true
	}
	if tx.Method == "" {
		if r := everyRecipientRefused(tx); r != nil {
			return replyOutcome(r), mark{r.Frame, r.Time}, true
		}
	}
	if !ended {
		return smtp.OutcomeUnknown, mark{}, false
	}
	end := mark{tx.EndFrame, tx.EndTime}
	switch {
	case tx.Incomplete || tx.Ended == smtp.EndCaptureEnded || oneSided(s):
		return smtp.OutcomeUnknown, end, true
	case tx.EndOfDataFrame != 0:
		return smtp.OutcomeNoReply, end, true
	case tx.Ended == smtp.EndClientClosed && smtp.Withdrawn(tx):
		return smtp.OutcomeWithdrawn, end, true
	case tx.Method == "" && envelopeAwaits(tx) && len(s.Closes) == 0:
		// A client that pipelined QUIT behind MAIL and RCPT (a callout)
		// has not given up on the replies still to come.
		return smtp.OutcomeUnknown, mark{}, false
	}
	return smtp.OutcomeAborted, end, true
}

// envelopeAwaits tells whether the transaction's MAIL or a RCPT still
// awaits its reply.
func envelopeAwaits(tx *smtp.Transaction) bool {
	if tx.MailReply == nil {
		return true
	}
	for i := range tx.Rcpts {
		if tx.Rcpts[i].Reply == nil {
			return true
		}
	}
	return false
}

// newMailPending tells whether the transaction's end mark is a MAIL
// command the server has not accepted (yet): smtp marks a transaction
// ended by the client when a new MAIL comes, but a MAIL the server refuses
// starts nothing, and the transaction may still get its reply.
func newMailPending(s *smtp.Session, tx *smtp.Transaction) bool {
	if tx.Ended != smtp.EndClientClosed {
		return false
	}
	for i := len(s.Commands) - 1; i >= 0; i-- {
		cmd := &s.Commands[i]
		if cmd.Frame < tx.EndFrame {
			break
		}
		if cmd.Frame == tx.EndFrame && cmd.Verb == "MAIL" && (cmd.Reply == nil || refusal(cmd.Reply)) {
			return true
		}
	}
	return false
}

// oneSided tells whether the capture seems to hold only the client's
// side: commands after the first, and no reply at all. smtp decides it
// for good at the connection's end (anomaly "one-sided-capture"); until
// then, a wait without reply proves nothing.
func oneSided(s *smtp.Session) bool {
	if s.Banner != nil || len(s.Commands) < 2 {
		return false
	}
	for i := range s.Commands {
		if s.Commands[i].Reply != nil {
			return false
		}
	}
	return true
}

// replyOutcome classifies a final reply by its class (RFC 5321 §4.2.1).
func replyOutcome(r *smtp.Reply) smtp.Outcome {
	switch r.Class() {
	case 2:
		return smtp.OutcomeDelivered
	case 4:
		return smtp.OutcomeDeferred
	case 5:
		return smtp.OutcomeRejected
	}
	return smtp.OutcomeUnknown
}

// refusal tells whether a reply refuses (4xx or 5xx).
func refusal(r *smtp.Reply) bool {
	c := r.Class()
	return c == 4 || c == 5
}

// commandRefusal is the first refusal of the transaction's MAIL, DATA or
// a BDAT chunk, nil if none. A transaction's BDAT commands are those after
// its MAIL command and before the next MAIL.
func commandRefusal(s *smtp.Session, tx *smtp.Transaction) *smtp.Reply {
	for _, r := range []*smtp.Reply{tx.MailReply, tx.DataReply} {
		if r != nil && refusal(r) {
			return r
		}
	}
	in := false
	for i := range s.Commands {
		cmd := &s.Commands[i]
		switch {
		case cmd.Verb == "MAIL" && in:
			return nil
		case cmd.Verb == "MAIL":
			in = cmd.Frame == tx.MailFrame
		case in && cmd.Verb == "BDAT" && cmd.Reply != nil && refusal(cmd.Reply):
			return cmd.Reply
		}
	}
	return nil
}

// everyRecipientRefused returns the last refusal when every recipient got
// a 4xx or 5xx reply, nil otherwise.
func everyRecipientRefused(tx *smtp.Transaction) *smtp.Reply {
	var last *smtp.Reply
	for _, rc := range tx.Rcpts {
		if rc.Reply == nil || !refusal(rc.Reply) {
			return nil
		}
		last = rc.Reply
	}
	return last
}

// quitFrames are the frames of the session's QUIT commands.
func quitFrames(s *smtp.Session) map[int]bool {
	q := map[int]bool{}
	for i := range s.Commands {
		if s.Commands[i].Verb == "QUIT" {
			q[s.Commands[i].Frame] = true
		}
	}
	return q
}

// OpenCounts counts, in a session still being decoded, the mail
// transactions delivered and failed so far and those whose end-of-data
// waits for its reply, by the rules of Incidents.
func OpenCounts(s *smtp.Session) (delivered, failedN, awaiting int) {
	for i := range s.Transactions {
		tx := &s.Transactions[i]
		o, _, decided := decidedOutcome(s, i)
		switch {
		case !decided:
			if tx.EndOfDataFrame != 0 {
				awaiting++
			}
		case o == smtp.OutcomeDelivered:
			delivered++
		case failed(o):
			failedN++
		}
	}
	return delivered, failedN, awaiting
}
