package smtp

// The FIFO of requests awaiting a reply (RFC 2920 §3).

import (
	"fmt"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
)

// pendingKind is what an entry of the pending FIFO awaits a reply to.
type pendingKind int

const (
	// pendingGreeting: the connection itself (RFC 5321 §3.1): its reply is
	// the banner.
	pendingGreeting pendingKind = iota
	// pendingCommand: a command line.
	pendingCommand
	// pendingAuthResponse: a SASL response line (RFC 4954 §4), never kept.
	pendingAuthResponse
	// pendingEndOfData: the end-of-data of a DATA body; its reply is the
	// transaction's final reply (in LMTP, one entry per recipient).
	pendingEndOfData
	// pendingSkipped: pending.skipped commands past
	// Options.MaxPendingCommands, in a row. They are counted, not kept:
	// as many replies answer them, in order, and are tied to nothing.
	pendingSkipped
)

// pending is one entry of the FIFO of requests awaiting a reply (RFC 2920
// §3: replies come in the order of the commands).
type pending struct {
	kind pendingKind
	verb verb
	// cmd indexes Session.Commands, txn Session.Transactions and rcpt the
	// transaction's Rcpts; -1 when none.
	cmd, txn, rcpt int
	// last marks a BDAT ... LAST, whose reply is the transaction's final
	// reply.
	last bool
	// skipped is the number of commands a pendingSkipped entry stands for.
	skipped int
	// afterGap is set when a client gap came between this request and
	// the one before it: requests the gap hid may be answered first.
	afterGap bool
	// sent is when the request was complete; no reply before it answers it.
	sent time.Time
	// end is the client offset just past the request, peerAcked the
	// server offset the client had acknowledged when it sent it (ack.go).
	end, peerAcked streamOffset
}

// push adds an entry to the FIFO of requests awaiting replies; m marks the
// request. Past Options.MaxPendingCommands entries, a command is only
// counted (skip), unless its reply steers how the session is read: then
// it is kept up to twice the limit, so that a message pipelined to more
// recipients than the limit still gets its DATA's 354 and its final
// reply. The FIFO holds at most four times the limit entries, whatever
// the client sends.
func (d *Decoder) push(e pending, m reassembly.Mark) {
	e.sent = m.Time
	e.end, e.peerAcked = d.client.req.end, d.client.req.peerAcked
	e.afterGap, d.gapUnqueued = d.gapUnqueued, false
	if limit := d.opts.MaxPendingCommands; len(d.queue) >= limit && (!e.steers() || len(d.queue) >= 2*limit) {
		d.skip(e, m)
		return
	}
	d.queue = append(d.queue, e)
}

// steers tells whether the reply to e changes how the bytes after it are
// read, or is a transaction's final reply.
func (e *pending) steers() bool {
	switch {
	case e.kind == pendingEndOfData || e.kind == pendingAuthResponse || e.last:
		return true
	}
	switch e.verb {
	case verbDATA, verbBDAT, verbSTARTTLS, verbAUTH, verbXEXCH50, verbEHLO, verbHELO, verbLHLO:
		return true
	}
	return false
}

// skip counts e, a request past the limit, in the pendingSkipped entry at
// the FIFO's tail.
func (d *Decoder) skip(e pending, m reassembly.Mark) {
	d.anomalyOnce(AnomalyExcessivePendingCommands, m.Frame, fmt.Sprintf("more than %d commands awaiting replies: from this frame on, the replies to the commands past the limit are counted, not tied to them (the others still are)", d.opts.MaxPendingCommands))
	if e.txn >= 0 && (e.kind == pendingEndOfData || e.last) {
		d.txns[e.txn].replyLost = true // its final reply will not be known
	}
	if n := len(d.queue); n > 0 && d.queue[n-1].kind == pendingSkipped {
		d.queue[n-1].skipped++
		d.queue[n-1].afterGap = d.queue[n-1].afterGap || e.afterGap
		return
	}
	d.queue = append(d.queue, pending{kind: pendingSkipped, cmd: -1, txn: -1, rcpt: -1, skipped: 1, sent: e.sent, afterGap: e.afterGap, end: e.end, peerAcked: e.peerAcked})
}

// skippedReply takes reply r for the first of the commands the
// pendingSkipped entry at the FIFO's head stands for.
func (d *Decoder) skippedReply(r *Reply) {
	d.answeredAny = true
	d.skippedReplies++
	if d.queue[0].skipped--; d.queue[0].skipped > 0 {
		return
	}
	d.queue = d.queue[1:]
	d.anomalyf(AnomalyExcessivePendingCommands, r.Frame, "%d replies answered commands past the limit and were tied to none; the next reply is matched again", d.skippedReplies)
	d.skippedReplies = 0
}

// replyIndex finds the entry of the FIFO that reply r answers: the oldest
// (RFC 2920 §3), or after a server gap (resynced), or when r's code cannot
// answer the oldest, the one resyncIndex chooses. It reports false, with
// the anomaly, when r answers none of them: it answers a request the
// capture lost.
//
// A reply cannot answer a request whose last byte the server had not
// received when it sent the reply: the acknowledgment on the reply's
// segment tells (ack.go). That fact, where known, decides; its time stamp
// is no proof, since the two directions may have been stamped by clocks
// that differ (two capture points, #13). Only where it is unknown does a
// reply stamped before the oldest request fall to answering one the
// capture may have hidden.
func (d *Decoder) replyIndex(r *Reply, resynced bool) (int, bool) {
	q0, ack := &d.queue[0], d.server.replyAck
	switch {
	case ack.ok && q0.end.ok:
		if !ack.atOrBeyond(q0.end) {
			d.unmatched(r, fmt.Sprintf("reply %d was sent before the server had the command it would answer (its acknowledgment stops short of it): it answers one the capture lost", r.Code))
			d.unsettled(resynced)
			return 0, false
		}
		if q0.sent.After(r.Time) {
			d.clocksDiffer(r)
		}
	case q0.sent.After(r.Time) && d.commandsMayBeHidden():
		// The reply was complete before the oldest request awaiting
		// one was sent, so it answers a request a client gap hid (or
		// one sent before the capture began). (A reply a gap cut is
		// delivered when reassembly reports the gap, with the
		// server's next segment, after requests sent since.)
		d.unmatched(r, fmt.Sprintf("reply %d came before the command it would answer: it answers one the capture lost", r.Code))
		d.unsettled(resynced)
		return 0, false
	case q0.sent.After(r.Time):
		// Every command is in the capture, so the reply answers the
		// oldest one (RFC 2920 §3); it only seems to come first
		// because the two directions were stamped by clocks that
		// differ (two capture points, #13).
		d.clocksDiffer(r)
	}
	if want := codeOnlyAnswers(r.Code); !resynced && (want == nil || want(*q0)) {
		return 0, true
	}
	// After a server gap, or when the reply's code cannot answer the
	// oldest request (a 354 for a RCPT: the capture lost replies without a
	// gap to show it, as when it began mid-session), it is matched as
	// after a gap.
	i, ok, sure := d.resyncIndex(r)
	if !sure {
		d.unsettled(true)
	}
	if i > 0 || !ok {
		d.unplaced++ // replies the capture lacks, or does not place (envelope.go)
	}
	// The replies of the entries before i came before this one, in the
	// gap (serverGap marked them).
	for _, e := range d.queue[:i] {
		d.replyLost(e)
	}
	if !ok {
		// This reply answers none of the entries left: it answers one the
		// capture lost. The entries whose replies the gap held are done.
		d.queue = d.queue[i:]
		d.unmatched(r, fmt.Sprintf("reply %d after a gap in the server's bytes answers no command awaiting a reply: it answers one the capture lost", r.Code))
		return 0, false
	}
	return i, true
}

// unsettled keeps the server side matching as after a gap when a reply
// after one (resynced) was not tied to a request for sure.
func (d *Decoder) unsettled(resynced bool) {
	if resynced {
		d.serverUpdate(serverEvent{in: evResyncUnsettled})
	}
}

// clocksDiffer notes, once, a reply stamped before the request it answers.
func (d *Decoder) clocksDiffer(r *Reply) {
	d.anomalyOnce(AnomalyReplyBeforeCommand, r.Frame, fmt.Sprintf("reply %d is stamped %s before the command it answers: the two directions were captured by clocks that differ, and reply latencies are off by as much", r.Code, d.queue[0].sent.Sub(r.Time)))
}

// unmatched keeps a reply that answers no request the capture shows.
func (d *Decoder) unmatched(r *Reply, why string) {
	d.anomalyf(AnomalyUnmatchedReply, r.Frame, "%s", why)
	d.keepUnmatched(r)
	d.bodyAnswered()
}

// resyncIndex finds, after a server gap, the entry a reply answers, and
// tells whether it is sure. The gap may hold the replies of the oldest
// entries, so position alone does not tell. With the server's
// acknowledgment on the reply, the candidates are the entries the server
// had received in full (held); without it, every entry (resyncByTime,
// which is always sure).
//
// A gap that began between replies and held bytes held the beginning of
// the oldest entry's reply (serverGapAt), so the reply after it answers a
// later entry, or none (an Exchange server's unsolicited "451 Timeout
// waiting for client input" after a lost final reply is no final reply).
// An entry whose next one the client sent once it had the entry's reply is
// passed: that reply came before this one, in the gap (waited). A code
// only one command draws (221 QUIT, 354 DATA, 334 and 235 AUTH, 220
// STARTTLS) answers no other: with no such command among the candidates,
// ok is false (i is then how many entries the gap answered), and the reply
// answers a command the capture lost (a client gap not yet known, since
// the server's next segment can come before the client's that shows it).
// Tying it to the oldest entry would make a QUIT's 221 the 2xx final reply
// of an end-of-data whose 552 the server gap held: a delivery the capture
// does not show. Any other code answers the oldest candidate left, by
// position, sure only if it is the last candidate; and a final reply is
// never taken by an end-of-data (or BDAT LAST) the client followed with a
// request the server had too: the reply may answer that one, and the
// transaction's outcome stays unknown rather than read from a reply the
// capture does not tie to it (a client may pipeline its next MAIL behind
// the dot). Until a reply is tied for sure, the next one is matched the
// same way (evResyncUnsettled), so that a guess by position does not shift
// every reply after it.
func (d *Decoder) resyncIndex(r *Reply) (i int, ok, sure bool) {
	ack := d.server.replyAck
	if !ack.ok || !d.queue[0].end.ok {
		i, ok = d.resyncByTime(r)
		return i, ok, true
	}
	held := 0
	for held < len(d.queue) && ack.atOrBeyond(d.queue[held].end) {
		held++
	}
	i = d.answeredBefore(held)
	if i >= held {
		return i, false, false
	}
	if want := codeOnlyAnswers(r.Code); want != nil {
		for j := i; j < held; j++ {
			if want(d.queue[j]) {
				return j, true, true
			}
		}
		return i, false, false
	}
	for {
		for i+1 < held && d.queue[i].isFinal() {
			i++
		}
		if r.Code/100 != 2 || d.queue[i].kind != pendingCommand || d.queue[i].verb != verbDATA {
			break
		}
		// DATA draws a 354 or a refusal, never a 2xx (RFC 5321 §4.3.2):
		// its reply was in the gap (replyLost), and this one answers a
		// later request, or one the capture has not shown (its
		// end-of-data in a client gap not reported yet).
		if i++; i >= held {
			return i, false, false
		}
	}
	// The server may also have had client bytes the capture has not
	// shown yet (a client gap reported later): requests after the last
	// entry, which this reply may answer too.
	unseen := ack.beyond(d.streams.offset(reassembly.ClientToServer))
	if unseen && i+1 >= held && d.queue[i].isFinal() {
		// Its final reply is this one or one the server gap held: the
		// entry is done (replyLost), its outcome unknown.
		return i + 1, false, false
	}
	return i, held > 0, i+1 >= held && !unseen
}

// answeredBefore counts the oldest entries whose replies came before the
// reply being matched, in the gap, as the stream shows them; held is how
// many the server had when it sent that reply.
//
// The server sends nothing but replies, in the order of the requests (RFC
// 2920 §3). Bytes between a reply boundary and the reply being matched (a
// gap that began between replies and held anything) begin the next entry's
// reply. A client that sent the next entry after bytes past that boundary
// had the beginning of the oldest entry's reply (the boundary is never
// before what the client had when it sent the oldest entry: those bytes
// cannot answer it), which then came before this one if the server had
// that next entry when it sent this reply. (Unless the capture may lack
// requests before the oldest entry, whose replies come first: a client
// gap, or a session the capture joined late.) And a client waits for the
// whole reply to a request it must wait on (RFC 2920 §3.1: DATA, EHLO,
// HELO, LHLO, STARTTLS, BDAT LAST, an end-of-data; AUTH and its responses,
// RFC 4954 §4) before it sends more: when its acknowledgment on the next
// entry shows bytes it had not had when it sent that request, that
// acknowledgment is where the reply ended, a boundary again (if no client
// gap came between them, which may hide requests whose replies the client
// had too). A client that pipelined the next entry behind it (a MAIL right
// behind the dot) shows none, and tells nothing.
func (d *Decoder) answeredBefore(held int) int {
	s := &d.server
	i := 0
	// The oldest entry's reply begins past the replies accounted for and
	// past what the client had when it sent the entry.
	from := s.heard
	if q0 := d.queue[0].peerAcked; q0.beyond(from) {
		from = q0
	}
	if began := s.replyStart.beyond(from) || held > 1 && d.queue[1].peerAcked.beyond(from); began && !d.commandsMayBeHidden() {
		i = 1
	}
	for j := len(d.queue) - 2; j >= i; j-- {
		e, next := &d.queue[j], &d.queue[j+1]
		if !e.awaitsReply() || !next.peerAcked.beyond(e.peerAcked) {
			continue
		}
		// The reply to e ended at next.peerAcked.
		if j+1 >= held && !s.replyStart.atOrBeyond(next.peerAcked) {
			continue // maybe this very reply
		}
		if s.replyStart.beyond(next.peerAcked) && !next.afterGap {
			return j + 2
		}
		return j + 1
	}
	return i
}

// awaitsReply tells whether a client waits for the reply to e before it
// sends more (RFC 2920 §3.1, RFC 3207 §4, RFC 3030 §3, and RFC 4954 §4:
// each SASL response answers the server's challenge).
func (e *pending) awaitsReply() bool {
	if e.isFinal() || e.kind == pendingAuthResponse {
		return true
	}
	switch e.verb {
	case verbDATA, verbEHLO, verbHELO, verbLHLO, verbSTARTTLS, verbAUTH:
		return e.kind == pendingCommand
	}
	return false
}

// isFinal tells whether e's reply is a transaction's final reply.
func (e *pending) isFinal() bool {
	return e.kind == pendingEndOfData || e.last
}

// resyncByTime is resyncIndex where acknowledgments are unknown: by code,
// never an entry sent after the reply, and past an end-of-data the client
// followed with another command before the reply. A client waits for the
// reply to its end-of-data before its next command: one it sent before
// this reply shows it had that reply, so the gap held it, and this reply
// answers a later command. (By position it would make a MAIL's 250 the
// message's final reply: a delivery the capture does not show.)
func (d *Decoder) resyncByTime(r *Reply) (i int, ok bool) {
	if i, ok = d.resyncByCode(r.Code); !ok {
		return 0, false
	}
	if d.queue[i].sent.After(r.Time) {
		i = 0
	}
	for i+1 < len(d.queue) && d.queue[i].kind == pendingEndOfData && !d.queue[i+1].sent.After(r.Time) {
		i++
	}
	return i, true
}

// codeOnlyAnswers returns, for a code only one kind of request draws,
// which entries it can answer; nil for any other code.
func codeOnlyAnswers(code int) func(e pending) bool {
	switch code {
	case 354:
		return func(e pending) bool { return e.verb == verbDATA || e.verb == verbXEXCH50 }
	case 221:
		return func(e pending) bool { return e.verb == verbQUIT }
	case 334, 235:
		return func(e pending) bool { return e.kind == pendingAuthResponse || e.verb == verbAUTH }
	case 220:
		return func(e pending) bool { return e.verb == verbSTARTTLS }
	}
	return nil
}

// resyncByCode is resyncByTime's choice by the reply's code alone.
func (d *Decoder) resyncByCode(code int) (i int, ok bool) {
	want := codeOnlyAnswers(code)
	if want == nil {
		return 0, true
	}
	for i, e := range d.queue {
		if want(e) {
			return i, true
		}
	}
	return 0, false
}

// replyLost handles an entry whose reply a server gap swallowed.
func (d *Decoder) replyLost(e pending) {
	if e.txn < 0 {
		return
	}
	d.s.Transactions[e.txn].Incomplete = true
	if tr := &d.txns[e.txn]; e.verb == verbDATA && e.kind == pendingCommand && tr.phase != txnEnvelope &&
		(!tr.bodyAcked.beyond(e.peerAcked) || d.server.replyStart.beyond(tr.bodyAcked)) {
		// A body the capture shows before any 354, and the client's
		// acknowledgment does not show it had one either (a client that
		// waited had the reply the gap held, a 354 if the server then
		// sent nothing until the reply being matched): maybe no body
		// at all. A server reading a body sends nothing before its
		// end; bytes it sent after those the client had when it began
		// the body answer its lines as commands (the reply to DATA
		// refused it), or came unprompted: no reply is then the body's.
		tr.bodyUnproven = true
	}
	if e.kind == pendingEndOfData || e.last {
		d.txns[e.txn].replyLost = true
	}
}
