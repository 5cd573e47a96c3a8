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
	// sent is when the request was complete; no reply before it answers it.
	sent time.Time
}

// push adds an entry to the FIFO of requests awaiting replies; m marks the
// request.
func (d *Decoder) push(e pending, m reassembly.Mark) {
	if len(d.queue) >= d.opts.MaxPendingCommands {
		d.anomalyOnce(AnomalyExcessivePendingCommands, m.Frame, fmt.Sprintf("more than %d commands awaiting replies; later ones are not matched", d.opts.MaxPendingCommands))
		return
	}
	e.sent = m.Time
	d.queue = append(d.queue, e)
}

// resyncIndex finds, after a server gap, the entry a reply answers: the
// first whose command is the only one to expect such a code, else the
// oldest.
func (d *Decoder) resyncIndex(code int) int {
	for i, e := range d.queue {
		switch code {
		case 354:
			if e.verb == verbDATA || e.verb == verbXEXCH50 {
				return i
			}
		case 221:
			if e.verb == verbQUIT {
				return i
			}
		case 334, 235:
			if e.kind == pendingAuthResponse || e.verb == verbAUTH {
				return i
			}
		case 220:
			if e.verb == verbSTARTTLS {
				return i
			}
		default:
			return 0
		}
	}
	return 0
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
