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
	d.queue = append(d.queue, pending{kind: pendingSkipped, cmd: -1, txn: -1, rcpt: -1, skipped: 1, sent: e.sent, afterGap: e.afterGap})
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

// resyncIndex finds, after a server gap, the entry a reply answers: the
// first whose command is the only one to expect such a code, else the
// oldest, passing end-of-data entries the client followed with another
// command before the reply. A code only one command draws (221 QUIT, 354
// DATA, 334 and 235 AUTH, 220 STARTTLS) answers no other: with no such
// command queued, ok
// is false, and the reply answers a command the capture lost (a client
// gap not yet known, since the server's next segment can come before the
// client's that shows it). Tying it to the oldest entry would make a
// QUIT's 221 the 2xx final reply of an end-of-data whose 552 the server
// gap held: a delivery the capture does not show.
func (d *Decoder) resyncIndex(r *Reply) (i int, ok bool) {
	if i, ok = d.resyncByCode(r.Code); !ok {
		return 0, false
	}
	if d.queue[i].sent.After(r.Time) {
		i = 0
	}
	// A client waits for the reply to its end-of-data before its next
	// command: one it sent before this reply shows it had that reply, so
	// the gap held it, and this reply answers a later command. (By
	// position it would make a MAIL's 250 the message's final reply: a
	// delivery the capture does not show.)
	for i+1 < len(d.queue) && d.queue[i].kind == pendingEndOfData && !d.queue[i+1].sent.After(r.Time) {
		i++
	}
	return i, true
}

// resyncByCode is resyncIndex's choice by the reply's code alone.
func (d *Decoder) resyncByCode(code int) (i int, ok bool) {
	var want func(e pending) bool
	switch code {
	case 354:
		want = func(e pending) bool { return e.verb == verbDATA || e.verb == verbXEXCH50 }
	case 221:
		want = func(e pending) bool { return e.verb == verbQUIT }
	case 334, 235:
		want = func(e pending) bool { return e.kind == pendingAuthResponse || e.verb == verbAUTH }
	case 220:
		want = func(e pending) bool { return e.verb == verbSTARTTLS }
	default:
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
	if e.kind == pendingEndOfData || e.last {
		d.txns[e.txn].replyLost = true
	}
}
