package smtp

// Mail transactions (RFC 5321 §3.3): their phases, bodies and outcomes.

import (
	"fmt"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
)

// txnPhase is where a transaction stands.
type txnPhase int

const (
	// txnEnvelope: MAIL (and RCPTs) sent, no body yet.
	txnEnvelope txnPhase = iota
	// txnBody: the body is on its way (DATA after 354, or BDAT chunks
	// before LAST).
	txnBody
	// txnAwaitReply: end-of-data (or BDAT LAST) sent; the final reply is
	// awaited.
	txnAwaitReply
	// txnReplied: the final reply came.
	txnReplied
	// txnAbandoned: the client reset it (RSET, or a new MAIL) before its
	// end.
	txnAbandoned
)

// txnInput is what moves a transaction from one phase to another.
type txnInput int

const (
	// txnBodyBegins: DATA's 354 (or a body sent without waiting for it),
	// or the first BDAT chunk.
	txnBodyBegins txnInput = iota
	// txnBodyRefused: DATA was refused after the body was taken as begun.
	txnBodyRefused
	// txnDataEnds: the end-of-data, BDAT ... LAST, or an end-of-data a
	// capture gap hid.
	txnDataEnds
	// txnFinalReplied: the last final reply awaited came.
	txnFinalReplied
	// txnLeft: the client left it before its end (RSET, or a new MAIL).
	txnLeft
	// txnResumed: the new MAIL it was left for was refused, which changes
	// nothing (RFC 5321 §4.1.4): it goes on from where it was left.
	txnResumed
	// txnUntied: no more reply can be tied to it (a refused attempt whose
	// followers went to the envelope it left open; a reply after gaps on
	// both sides).
	txnUntied
)

// txnUpdate is the one place a transaction's phase changes: it moves
// transaction t by the table nextTxnPhase.
func (d *Decoder) txnUpdate(t int, in txnInput) {
	tr := &d.txns[t]
	if in == txnLeft && (tr.phase == txnEnvelope || tr.phase == txnBody) {
		tr.leftFrom = tr.phase
	}
	tr.phase = nextTxnPhase(tr.phase, in, tr.leftFrom)
}

// nextTxnPhase is the transactions' transition table: the phase after p
// on in; left is the phase a left transaction was left in.
func nextTxnPhase(p txnPhase, in txnInput, left txnPhase) txnPhase {
	switch in {
	case txnBodyBegins:
		return txnBody
	case txnBodyRefused:
		if p == txnBody {
			return txnEnvelope
		}
	case txnDataEnds:
		return txnAwaitReply
	case txnFinalReplied, txnUntied:
		return txnReplied
	case txnLeft:
		if p == txnEnvelope || p == txnBody {
			return txnAbandoned
		}
	case txnResumed:
		if p == txnAbandoned {
			return left
		}
	}
	return p
}

// txnTrack is the decoder's own record of a transaction, beside
// Session.Transactions (same index).
type txnTrack struct {
	phase txnPhase
	// refusal is the first 4xx/5xx reply to MAIL, DATA or a BDAT chunk.
	refusal *Reply
	// endSet is set once Ended/EndFrame/EndTime hold the first end event.
	endSet bool
	// replyLost is set when a server gap may have hidden the final reply.
	replyLost bool
	// bodyUnproven is set when a server gap held the reply to DATA while
	// the client was already sending what it sent as a body: if the
	// reply refused DATA, the server read those lines as commands, and a
	// reply after them is no final reply the capture can show.
	bodyUnproven bool
	// bodyAcked is, for a body the client began before the capture showed
	// a 354, the server offset the client had acknowledged when it sent
	// the body's first byte (ack.go).
	bodyAcked streamOffset
	// bytesLost is set when a client gap fell inside the transaction
	// where it may have held the transaction's end (an end-of-data, a
	// BDAT ... LAST, a RSET): without a final reply, the outcome is then
	// unknown rather than aborted.
	bytesLost bool
	// envelope says whether a client gap after the transaction's MAIL,
	// before its body, may have hidden a MAIL (envelope.go);
	// envelopeAt is what was counted when it came.
	envelope   envelopeCheck
	envelopeAt envelopeSince
	// bodyReplyDoubt is set when a reply came during the body that the
	// capture cannot tell from the reply to an end-of-data a gap hid
	// (bodygap.go): no reply is then tied to such an end-of-data.
	bodyReplyDoubt bool
	// awaiting counts end-of-data replies still expected (LMTP: several).
	awaiting int
	// prev is the transaction that was open when this one's MAIL was
	// sent, -1 if none: if the server refuses this MAIL, prev goes on
	// (RFC 5321 §4.1.4).
	prev int
	// leftFrom is the phase the client left the transaction in.
	leftFrom txnPhase
}

// newTransaction appends a transaction and returns its index, or -1 beyond
// MaxTransactions.
func (d *Decoder) newTransaction(t Transaction, frame int) int {
	if len(d.s.Transactions) >= d.opts.MaxTransactions {
		d.anomalyOnce(AnomalyTooManyTransactions, frame, fmt.Sprintf("more than %d mail transactions; later ones are not listed", d.opts.MaxTransactions))
		return -1
	}
	d.s.Transactions = append(d.s.Transactions, t)
	d.txns = append(d.txns, txnTrack{prev: -1})
	return len(d.s.Transactions) - 1
}

// beginTransaction starts the transaction of a MAIL command (RFC 5321
// §3.3).
//
// A MAIL sent while a transaction is open leaves that transaction for the
// new one, unless the server refuses it (503 "sender already given"):
// the open transaction is then kept (mailRefused), since a refused
// command changes nothing (RFC 5321 §4.1.4, §4.2.4).
func (d *Decoder) beginTransaction(c command, m reassembly.Mark) int {
	prev := -1
	if d.cur >= 0 {
		if tr := &d.txns[d.cur]; tr.phase == txnEnvelope || tr.phase == txnBody {
			if r := d.s.Transactions[d.cur].MailReply; r == nil || r.Class() == 2 {
				d.anomalyf(AnomalyNestedMailTransaction, m.Frame, "MAIL while the previous transaction was open")
				prev = d.cur
			}
			d.abandon(m)
		}
	}
	t := Transaction{MailFrom: c.path, MailFromTruncated: c.pathTruncated, SizeParam: c.size, BodyParam: c.body,
		MailFrame: m.Frame, MailTime: m.Time, Incomplete: c.truncated}
	d.cur = d.newTransaction(t, m.Frame)
	if d.cur >= 0 {
		d.txns[d.cur].prev = prev
	}
	return d.cur
}

// mailRefused handles the refusal of transaction t's MAIL. t is a refused
// attempt, not a transaction (RFC 5321 §3.3: only an accepted MAIL opens
// one). If t's MAIL was sent inside an open transaction that it would have
// replaced, that transaction goes on: the server still holds its
// envelope, and the RCPT, DATA or BDAT the client sent after the refused
// MAIL belong to it. t is then no attempt at all: it offered no message
// of its own (503 "sender already given" refuses a command out of
// sequence, not a message), so it leaves the transactions; the command
// keeps its reply and the anomaly nested-mail-transaction says where.
func (d *Decoder) mailRefused(t int) {
	tr := &d.txns[t]
	p := tr.prev
	tr.prev = -1
	if p < 0 || d.txns[p].phase != txnAbandoned || tr.phase == txnAbandoned {
		return
	}
	pr, px := &d.txns[p], &d.s.Transactions[p]
	d.txnUpdate(p, txnResumed)
	pr.endSet = false
	px.Ended, px.EndFrame, px.EndTime = EndCaptureEnded, 0, time.Time{}
	d.moveAttempt(t, p)
	d.dropTransaction(t)
}

// dropTransaction removes transaction t, which nothing refers to any
// more (moveAttempt gave its requests to the transaction it resumed), and
// renumbers the references to the transactions after it.
func (d *Decoder) dropTransaction(t int) {
	d.s.Transactions = append(d.s.Transactions[:t], d.s.Transactions[t+1:]...)
	d.txns = append(d.txns[:t], d.txns[t+1:]...)
	shift := func(i *int) {
		switch {
		case *i == t:
			*i = -1
		case *i > t:
			*i--
		}
	}
	shift(&d.cur)
	for i := range d.queue {
		shift(&d.queue[i].txn)
	}
	for i := range d.txns {
		shift(&d.txns[i].prev)
	}
}

// moveAttempt gives what the client sent after transaction t's refused
// MAIL to transaction p: recipients, body, and their pending replies.
func (d *Decoder) moveAttempt(t, p int) {
	tx, px := &d.s.Transactions[t], &d.s.Transactions[p]
	tr, pr := &d.txns[t], &d.txns[p]
	base := len(px.Rcpts)
	for _, r := range tx.Rcpts {
		if len(px.Rcpts) < d.opts.MaxRecipients {
			px.Rcpts = append(px.Rcpts, r)
		}
	}
	for i := range d.queue {
		if e := &d.queue[i]; e.txn == t {
			e.txn = p
			if e.rcpt >= 0 {
				if e.rcpt += base; e.rcpt >= len(px.Rcpts) {
					e.rcpt = -1
				}
			}
		}
	}
	tx.Rcpts = nil
	if tr.phase != txnEnvelope {
		if px.DataFrame == 0 {
			px.DataFrame, px.DataTime = tx.DataFrame, tx.DataTime
		}
		px.Method, px.Size, px.Chunks, px.MessageID = tx.Method, px.Size+tx.Size, px.Chunks+tx.Chunks, tx.MessageID
		px.EndOfDataFrame, px.EndOfDataTime = tx.EndOfDataFrame, tx.EndOfDataTime
		d.txnUpdate(p, txnBodyBegins)
		if tr.phase != txnBody {
			d.txnUpdate(p, txnDataEnds)
		}
		pr.awaiting = tr.awaiting
		pr.bytesLost = pr.bytesLost || tr.bytesLost
	} else if px.DataFrame == 0 && tx.DataFrame != 0 {
		px.DataFrame, px.DataTime = tx.DataFrame, tx.DataTime
	}
	tx.DataFrame, tx.DataTime, tx.Method, tx.Size, tx.Chunks, tx.MessageID = 0, time.Time{}, "", 0, 0, ""
	tx.EndOfDataFrame, tx.EndOfDataTime = 0, time.Time{}
	d.txnUpdate(t, txnUntied)
	tr.awaiting = 0
	if d.cur == t {
		d.cur = p
	}
}

// synthesisAllowed says whether a transaction may be created for a RCPT,
// a body or an end-of-data whose MAIL the capture did not show: only when
// a gap or a mid-stream start can explain the missing MAIL.
func (d *Decoder) synthesisAllowed() bool {
	if d.clientGaps > 0 || d.serverGaps > 0 {
		return true
	}
	switch d.firstServer {
	case firstReplyGreeting:
		return false
	case firstReplyOther:
		return true
	}
	return d.firstClient != firstLineOpener
}

// orphanTransaction returns the current transaction, or creates an
// incomplete one when its MAIL was not captured; otherwise it raises the
// anomaly name and returns -1.
func (d *Decoder) orphanTransaction(m reassembly.Mark, name, detail string) int {
	if d.cur >= 0 {
		return d.cur
	}
	if !d.synthesisAllowed() {
		d.anomalyf(name, m.Frame, "%s", detail)
		return -1
	}
	d.cur = d.newTransaction(Transaction{SizeParam: -1, Incomplete: true}, m.Frame)
	return d.cur
}

// envelopeTransaction is the transaction a RCPT belongs to.
func (d *Decoder) envelopeTransaction(m reassembly.Mark) int {
	return d.orphanTransaction(m, AnomalyRcptWithoutMail, "RCPT without a MAIL transaction")
}

// recipient adds the recipient of a RCPT command to its transaction and
// returns their indexes (-1 when none).
func (d *Decoder) recipient(c command, m reassembly.Mark) (txn, rcpt int) {
	txn = d.envelopeTransaction(m)
	if txn < 0 {
		return txn, -1
	}
	t := &d.s.Transactions[txn]
	if c.truncated {
		t.Incomplete = true
	}
	if len(t.Rcpts) >= d.opts.MaxRecipients {
		d.anomalyf(AnomalyTooManyRecipients, m.Frame, "more than %d recipients in one transaction", d.opts.MaxRecipients)
		return txn, -1
	}
	t.Rcpts = append(t.Rcpts, Recipient{Addr: c.path, Frame: m.Frame, Truncated: c.pathTruncated})
	return txn, len(t.Rcpts) - 1
}

// beginChunk starts a BDAT chunk (RFC 3030 §2) and returns its transaction.
func (d *Decoder) beginChunk(c command, m reassembly.Mark) int {
	t := d.cur
	if t < 0 {
		// A BDAT without MAIL still carries its chunk; the server refuses
		// it (503) but must read it.
		t = d.orphanTransaction(m, AnomalyBodyWithoutMail, "a message body without a MAIL transaction")
		if t < 0 {
			t = d.newTransaction(Transaction{SizeParam: -1}, m.Frame)
			d.cur = t
		}
	}
	if t >= 0 {
		tx, tr := &d.s.Transactions[t], &d.txns[t]
		if tr.phase == txnEnvelope {
			d.txnUpdate(t, txnBodyBegins)
			tx.Method = "BDAT"
			tx.DataFrame, tx.DataTime = m.Frame, m.Time
			d.client.header.reset()
		}
		tx.Chunks++
	}
	if c.size > d.opts.MaxChunkSize {
		d.anomalyf(AnomalyHugeBDATChunk, m.Frame, "a BDAT chunk of %d bytes", c.size)
	}
	d.client.remaining, d.client.chunkLast = c.size, c.last
	return t
}

// chunkDone ends a BDAT chunk at m, its last byte (or the command line's
// end for an empty chunk).
func (d *Decoder) chunkDone(m reassembly.Mark) {
	d.clientUpdate(clientEvent{in: evBodyEnd})
	if !d.client.chunkLast {
		return
	}
	d.client.chunkLast = false
	t := d.cur
	d.cur = -1
	if t < 0 {
		return
	}
	tx, tr := &d.s.Transactions[t], &d.txns[t]
	tx.EndOfDataFrame, tx.EndOfDataTime = m.Frame, m.Time
	d.txnUpdate(t, txnDataEnds)
	tr.awaiting = 1
	if d.dialect == dialectLMTP {
		// The BDAT LAST entry takes the first recipient's reply.
		for i := 1; i < d.acceptedRecipients(t); i++ {
			d.push(pending{kind: pendingEndOfData, cmd: -1, txn: t, rcpt: -1}, m)
			tr.awaiting++
		}
	}
}

// blobDone ends an XEXCH50 blob: the server answers it with a second
// reply, which becomes the command's reply.
func (d *Decoder) blobDone(m reassembly.Mark) {
	d.clientUpdate(clientEvent{in: evBodyEnd})
	d.push(pending{kind: pendingCommand, verb: verbXEXCH50, cmd: d.client.blobCmd, txn: -1, rcpt: -1}, m)
}

// beginBody starts a DATA body for transaction t (d.cur if t < 0).
func (d *Decoder) beginBody(t int, m reassembly.Mark) {
	if t < 0 {
		t = d.cur
	}
	if t < 0 {
		t = d.orphanTransaction(m, AnomalyBodyWithoutMail, "a message body without a MAIL transaction")
		if t < 0 {
			t = d.newTransaction(Transaction{SizeParam: -1}, m.Frame)
		}
	}
	d.cur = t
	if t >= 0 {
		d.s.Transactions[t].Method = "DATA"
		d.txnUpdate(t, txnBodyBegins)
	}
	d.client.dot.reset()
	d.client.header.reset()
	d.client.bodyGapFrom = streamOffset{}
}

// bodyBytes accounts body bytes (DATA or BDAT) to the current transaction.
func (d *Decoder) bodyBytes(p []byte) {
	if d.cur < 0 || len(p) == 0 {
		return
	}
	tx := &d.s.Transactions[d.cur]
	tx.Size += int64(len(p))
	h := &d.client.header
	if h.state != headerLine {
		return
	}
	h.feed(p)
	if h.messageID != "" && tx.MessageID == "" {
		tx.MessageID = h.messageID
	}
	if h.tooLong {
		h.tooLong = false
		d.anomalyf(AnomalyHeadersTooLong, tx.MailFrame, "no end of the header section in the first %d bytes", maxHeaderBytes)
	}
}

// endOfData handles the end-of-data line of a DATA body, whose last byte
// is at m.
func (d *Decoder) endOfData(m reassembly.Mark) {
	d.clientUpdate(clientEvent{in: evBodyEnd})
	t := d.cur
	d.cur = -1
	if t < 0 {
		d.push(pending{kind: pendingEndOfData, cmd: -1, txn: -1, rcpt: -1}, m)
		d.earlyAtEndOfData()
		return
	}
	tx := &d.s.Transactions[t]
	tx.Size -= int64(len(".\r\n"))
	if tx.Size < 0 {
		tx.Size = 0
	}
	tx.EndOfDataFrame, tx.EndOfDataTime = m.Frame, m.Time
	d.awaitFinal(t, m)
	d.earlyAtEndOfData()
}

// awaitFinal queues the end-of-data reply (or replies, in LMTP) of t.
func (d *Decoder) awaitFinal(t int, m reassembly.Mark) {
	tr := &d.txns[t]
	d.txnUpdate(t, txnDataEnds)
	n := 1
	if d.dialect == dialectLMTP {
		n = max(1, d.acceptedRecipients(t))
	}
	for i := 0; i < n; i++ {
		e := pending{kind: pendingEndOfData, cmd: -1, txn: t, rcpt: -1}
		if d.dialect == dialectLMTP {
			e.rcpt = d.nthAccepted(t, i)
		}
		d.push(e, m)
	}
	tr.awaiting = n
}

// acceptedRecipients counts the recipients of t with a 2xx reply.
func (d *Decoder) acceptedRecipients(t int) int {
	n := 0
	for _, r := range d.s.Transactions[t].Rcpts {
		if r.Reply != nil && r.Reply.Class() == 2 {
			n++
		}
	}
	return n
}

// nthAccepted returns the index of the i-th accepted recipient of t, -1 if
// none.
func (d *Decoder) nthAccepted(t, i int) int {
	for j, r := range d.s.Transactions[t].Rcpts {
		if r.Reply != nil && r.Reply.Class() == 2 {
			if i == 0 {
				return j
			}
			i--
		}
	}
	return -1
}

// unseenBodyEnd handles a lone "." seen while resynchronising: the end of a
// body whose start the capture missed, if it can have missed one
// (bodyMayBeUnseen); else the server reads it as a command line, as the
// decoder does.
func (d *Decoder) unseenBodyEnd(m reassembly.Mark) bool {
	if !d.bodyMayBeUnseen() {
		return false
	}
	t := d.cur
	if t >= 0 && d.txns[t].phase != txnEnvelope && d.txns[t].phase != txnBody {
		t = -1
	}
	if t < 0 {
		if !d.synthesisAllowed() {
			return true
		}
		t = d.newTransaction(Transaction{SizeParam: -1}, m.Frame)
		if t < 0 {
			return true
		}
	}
	d.cur = -1
	d.clientUpdate(clientEvent{in: evBodyEnd})
	tx := &d.s.Transactions[t]
	tx.Incomplete = true
	if tx.Method == "" {
		tx.Method = "DATA"
	}
	tx.EndOfDataFrame, tx.EndOfDataTime = m.Frame, m.Time
	d.awaitFinal(t, m)
	return true
}

// bodyMayBeUnseen tells whether the client may be in a body the capture
// did not show begin. A body begins only after a 354 (RFC 5321
// §4.1.1.4), and one the capture shows begins one the decoder reads
// (clientBody, clientBodyGap): so only if the capture may lack the 354 (a
// gap in the server's bytes, a session joined after its start), or the
// client sent DATA, whose reply has not come, and then lost bytes to a
// gap (a body sent without waiting for the 354).
//
// A 354 the capture lacks lies in the server's last gap or before the
// capture began (or in an earlier gap, whose body then ended earlier),
// and the server replies to nothing between it and the end-of-data: the
// first reply it began after that gap answers the end-of-data or comes
// after it, so its acknowledgment bounds where the unseen body ended
// (bodyEndBound). A "." line that ends past that bound ends no body the
// capture did not show begin.
func (d *Decoder) bodyMayBeUnseen() bool {
	for _, e := range d.queue {
		if e.kind == pendingCommand && e.verb == verbDATA {
			return true
		}
	}
	if d.serverGaps > 0 || d.firstServer != firstReplyGreeting {
		return !d.client.req.end.beyond(d.bodyEndBound())
	}
	return false
}

// bodyEndBound is the client offset past which no body whose 354 the
// capture lacks can end: what the server had acknowledged when it began
// its first reply since its last gap or the capture's start (unknown if
// none came, or the acknowledgment is unknown).
func (d *Decoder) bodyEndBound() streamOffset {
	if !d.server.sinceGapSet {
		return streamOffset{}
	}
	return d.server.sinceGap
}

// abandon handles the client leaving the current transaction before its
// end (RSET, RFC 5321 §4.1.1.5, or a new MAIL).
func (d *Decoder) abandon(m reassembly.Mark) {
	t := d.cur
	d.cur = -1
	if t < 0 {
		return
	}
	if tr := &d.txns[t]; tr.phase == txnEnvelope || tr.phase == txnBody {
		d.txnUpdate(t, txnLeft)
		d.setEnd(t, EndClientClosed, m)
	}
}

// clientGaveUp handles QUIT: every transaction still waiting ends there,
// from the client's point of view. A QUIT in the same frame as the
// end-of-data is pipelining (RFC 2920 §3.1), not giving up.
func (d *Decoder) clientGaveUp(m reassembly.Mark) {
	for i := range d.txns {
		tr := &d.txns[i]
		switch tr.phase {
		case txnAwaitReply:
			if d.s.Transactions[i].EndOfDataFrame == m.Frame {
				continue
			}
		case txnEnvelope, txnBody:
		default:
			continue
		}
		d.setEnd(i, EndClientClosed, m)
	}
	d.cur = -1
}

// setEnd records the first end event of an unfinished transaction.
func (d *Decoder) setEnd(t int, why EndReason, m reassembly.Mark) {
	if d.txns[t].endSet {
		return
	}
	d.txns[t].endSet = true
	tx := &d.s.Transactions[t]
	tx.Ended, tx.EndFrame, tx.EndTime = why, m.Frame, m.Time
}

// closeAll records an end event for every unfinished transaction.
func (d *Decoder) closeAll(why EndReason, m reassembly.Mark) {
	for i := range d.txns {
		switch d.txns[i].phase {
		case txnEnvelope, txnBody, txnAwaitReply:
			d.setEnd(i, why, m)
		}
	}
}

// refused keeps the first 4xx/5xx reply of a transaction's commands.
func (d *Decoder) refused(t int, r *Reply) {
	if t < 0 {
		return
	}
	if c := r.Class(); (c == 4 || c == 5) && d.txns[t].refusal == nil {
		d.txns[t].refusal = r
	}
}

// finalReply applies the reply after end-of-data (or to BDAT LAST) to t;
// rcpt is the recipient it is for in LMTP, else -1.
func (d *Decoder) finalReply(t, rcpt int, r *Reply) {
	if t < 0 {
		return
	}
	tx, tr := &d.s.Transactions[t], &d.txns[t]
	d.envelopeUpdate(t, envFinal)
	if rcpt >= 0 {
		tx.Rcpts[rcpt].DataReply = r
	}
	// In LMTP the transaction keeps the first refusal, else the last reply.
	if tx.Reply == nil || tx.Reply.Class() == 2 {
		tx.Reply = r
	}
	if tr.awaiting > 0 {
		tr.awaiting--
	}
	if tr.awaiting == 0 {
		d.txnUpdate(t, txnFinalReplied)
	}
	// A reply a gap cut is delivered when reassembly reports the gap, maybe
	// after a QUIT the client sent once it had the reply: late only if it
	// came after the client gave up.
	if tr.endSet && (tx.Ended == EndClientClosed || tx.Ended == EndClientReset) && !tx.LateReply && !r.Time.Before(tx.EndTime) {
		tx.LateReply = true
		d.anomalyf(AnomalyLateReply, r.Frame, "the final reply came after the client gave up in frame %d", tx.EndFrame)
	}
}

// lostEndOfData handles a reply that can only answer an end-of-data the
// capture lost in a gap of the body: nothing else awaits a reply. A
// reply the server sent before it had any of the bytes the gap lost
// (its acknowledgment says so) answers none: it came in the middle of
// the body, which goes on. Otherwise, if it is the first reply since the
// body began and the server's bytes since are whole, the order of replies
// (RFC 2920 §3) makes it the final reply, and the transaction keeps it,
// Incomplete. After a gap in the server's bytes too (resynced), that gap
// may have held the final reply, and this one may answer a command the
// client's gap hid; so may a reply after one during the body the capture
// could not place (bodyReplyDoubt): it is kept among the unmatched
// replies and the outcome stays unknown. Either way the body is over.
func (d *Decoder) lostEndOfData(r *Reply, resynced bool) {
	if from := d.client.bodyGapFrom; !d.server.replyAck.beyond(from) && d.server.replyAck.ok && from.ok {
		d.replyDuringBody(r, ", before it had the bytes the capture lost")
		return
	}
	d.clientUpdate(clientEvent{in: evEndOfDataLost})
	d.client.line.reset()
	t := d.cur
	d.cur = -1
	if resynced || t >= 0 && d.txns[t].bodyReplyDoubt {
		d.anomalyf(AnomalyEndOfDataInGap, r.Frame, "reply %d follows an end-of-data lost from the capture, after a gap in the server's bytes or a reply during the body the capture cannot place: it cannot be tied to the end-of-data", r.Code)
		d.keepUnmatched(r)
		if t >= 0 {
			d.s.Transactions[t].Incomplete = true
			d.txnUpdate(t, txnUntied)
		}
		return
	}
	d.anomalyf(AnomalyEndOfDataInGap, r.Frame, "the server replied to an end-of-data lost from the capture")
	if t < 0 {
		return
	}
	d.s.Transactions[t].Incomplete = true
	d.txnUpdate(t, txnDataEnds)
	d.txns[t].awaiting = 1
	d.finalReply(t, -1, r)
}

// settle decides the outcome of transaction i once nothing more can come.
func (d *Decoder) settle(i int) {
	tx, tr := &d.s.Transactions[i], &d.txns[i]
	switch {
	case tr.bodyUnproven:
		tx.Incomplete = true // the outcome stays unknown
	case tr.envelope != envelopeWhole && (tx.MailReply == nil || tx.MailReply.Class() == 2):
		tx.Incomplete = true // maybe another MAIL's requests and replies
	case tx.Reply != nil:
		tx.Outcome = outcomeOf(tx.Reply)
	case tr.refusal != nil:
		tx.Outcome = outcomeOf(tr.refusal)
	case tr.phase == txnEnvelope || tr.phase == txnAbandoned:
		d.settleEnvelope(i)
	case tr.phase == txnAwaitReply:
		if tr.replyLost {
			tx.Incomplete = true // the reply may be in a capture gap
		} else {
			tx.Outcome = OutcomeNoReply
		}
	case tr.phase == txnBody && !tr.bytesLost:
		// Ended says whether a peer cut the body short or the capture did.
		tx.Outcome = OutcomeAborted
	}
	switch tx.Outcome {
	case OutcomeNoReply, OutcomeAborted, OutcomeWithdrawn, OutcomeUnknown:
	default:
		if !tx.LateReply {
			// Ended and its marks describe failures only.
			tx.Ended, tx.EndFrame, tx.EndTime = EndCaptureEnded, 0, time.Time{}
		}
	}
}

// settleEnvelope decides the outcome of transaction i, which ended (or
// was left) before its body: rejected or deferred if every recipient was
// refused (if its MAIL was lost, only where no other accepted reply the
// capture does not place may answer a lost RCPT); else, if a peer ended
// it, aborted, or withdrawn if the client chose to (Withdrawn). A client gap that may hold its end leaves it
// unknown, and so does one that hid its MAIL when the client ended it: the
// gap may have held a refused recipient (aborted) as well as accepted ones
// (withdrawn), unless every reply the capture does not place accepted
// what it answered and the server's bytes are whole.
func (d *Decoder) settleEnvelope(i int) {
	tx, tr := &d.s.Transactions[i], &d.txns[i]
	if o, ok := recipientsRefused(tx); ok {
		if tx.MailFrame == 0 && (d.unplaced > 1 || d.serverGaps > 0) {
			// Besides its lost MAIL's, the capture lacks a request an
			// accepted reply answered: maybe a recipient it accepted.
			tx.Incomplete = true
			return
		}
		tx.Outcome = o
		return
	}
	if !tr.endSet || tx.Ended == EndCaptureEnded || tr.bytesLost {
		return
	}
	switch {
	case tx.Ended != EndClientClosed:
		tx.Outcome = OutcomeAborted // a peer closed
	case tx.MailFrame == 0 && (d.unplacedRefusals > 0 || d.serverGaps > 0):
		tx.Incomplete = true // withdrawn or aborted: the gap may tell
	case Withdrawn(tx):
		tx.Outcome = OutcomeWithdrawn
	default:
		tx.Outcome = OutcomeAborted // the client gave up
	}
}

// Withdrawn tells whether a transaction the client left before its body
// offered no message for the server to fail: its MAIL and every RCPT were
// accepted (2xx), and no DATA or BDAT was sent. A client that then says
// QUIT or RSET, or closes, chose to (a sender-verification callout is
// MAIL, RCPT, QUIT); one still waiting for a reply did not, and a refused
// recipient may be why it stopped. A MAIL the capture lost was accepted
// if a RCPT after it was: a server accepts none outside a transaction
// (RFC 5321 §3.3, §4.1.1.3).
func Withdrawn(tx *Transaction) bool {
	if tx.Method != "" || tx.DataFrame != 0 {
		return false
	}
	if tx.MailFrame == 0 && tx.MailReply == nil {
		if len(tx.Rcpts) == 0 {
			return false // nothing shows the lost MAIL accepted
		}
	} else if tx.MailReply == nil || tx.MailReply.Class() != 2 {
		return false
	}
	for i := range tx.Rcpts {
		if r := tx.Rcpts[i].Reply; r == nil || r.Class() != 2 {
			return false
		}
	}
	return true
}

// recipientsRefused returns the outcome of a transaction whose recipients
// were all refused: deferred if any refusal was transient, else rejected.
func recipientsRefused(tx *Transaction) (Outcome, bool) {
	if len(tx.Rcpts) == 0 {
		return OutcomeUnknown, false
	}
	o := OutcomeRejected
	for _, r := range tx.Rcpts {
		if r.Reply == nil {
			return OutcomeUnknown, false
		}
		switch r.Reply.Class() {
		case 4:
			o = OutcomeDeferred
		case 5:
		default:
			return OutcomeUnknown, false
		}
	}
	return o, true
}

// outcomeOf classifies a final reply by its basic code (RFC 5321 §4.2.1,
// §4.2.5), falling back on the enhanced code's class.
func outcomeOf(r *Reply) Outcome {
	switch r.Class() {
	case 2:
		return OutcomeDelivered
	case 4:
		return OutcomeDeferred
	case 5:
		return OutcomeRejected
	}
	return OutcomeUnknown
}
