package smtp

// Replies that come while the client is in a DATA body and nothing awaits
// a reply: what the server's acknowledgment on them says they answer when
// the capture lost client bytes.
//
// A server answers nothing inside a body (RFC 5321 §4.1.1.4) but its
// end-of-data, or says 421 on its own (§3.8). A reply whose
// acknowledgment stops within the body bytes the capture showed was sent
// before the server had any end-of-data: it answers none. One whose
// acknowledgment goes past them answers client bytes the capture has not
// shown yet: lost in a gap that reassembly reports only with the client's
// next segment, or captured later. It is held (earlyReply) until those
// bytes, or the gap, come.

import (
	"fmt"

	"github.com/smtpscope/smtpscope/reassembly"
)

// earlyReply is a reply held until the client bytes it answers come.
type earlyReply struct {
	r *Reply
	// ack is the server's acknowledgment on the reply; resynced is set
	// if the reply came after a gap in the server's bytes.
	ack      streamOffset
	resynced bool
}

// replyInBody handles a reply that came while the client was in a DATA
// body the capture showed and nothing awaited a reply.
func (d *Decoder) replyInBody(r *Reply, resynced bool) {
	ack, client := d.server.replyAck, d.streams.offset(reassembly.ClientToServer)
	switch {
	case ack.beyond(client) && d.early == nil:
		d.early = &earlyReply{r: r, ack: ack, resynced: resynced}
	case ack.beyond(client):
		// The first reply held may answer the end-of-data; this one
		// answers something after it.
		d.unmatched(r, fmt.Sprintf("reply %d answers client bytes the capture has not shown, after reply %d in frame %d", r.Code, d.early.r.Code, d.early.r.Frame))
	default:
		d.replyDuringBody(r, "")
		if !ack.ok || !client.ok {
			// Without the acknowledgment this reply may answer an
			// end-of-data a gap reported later hid.
			d.bodyReplyDoubt()
		}
	}
}

// bodyReplyDoubt notes that a reply came during the current body that the
// capture cannot tell from its end-of-data's reply: no later reply is tied
// to an end-of-data a gap hid.
func (d *Decoder) bodyReplyDoubt() {
	if d.cur >= 0 {
		d.txns[d.cur].bodyReplyDoubt = true
	}
}

// earlyAtEndOfData gives the held reply to the end-of-data just queued
// (its end is d.client.req.end): it answers it if the server had it when
// it replied; else the server had only body bytes, and replied in the
// middle of the body.
func (d *Decoder) earlyAtEndOfData() {
	if d.early == nil {
		return
	}
	e := d.early
	d.early = nil
	if end := d.client.req.end; end.ok && !e.ack.atOrBeyond(end) {
		d.replyDuringBody(e.r, "")
		return
	}
	d.withAck(e.ack, func() { d.deliverReply(e.r, e.resynced) })
}

// earlyAtGap handles the held reply when a client gap came: in a body,
// the gap is the client bytes the server had, and the reply, the first
// since the body began, answers the end-of-data the gap hid.
func (d *Decoder) earlyAtGap() {
	if d.early == nil {
		return
	}
	e := d.early
	d.early = nil
	if d.client.state != clientBodyGap {
		d.unmatched(e.r, fmt.Sprintf("reply %d answers client bytes the capture lost", e.r.Code))
		return
	}
	d.withAck(e.ack, func() { d.lostEndOfData(e.r, e.resynced) })
}

// earlyPassed drops the held reply once the body the capture shows has
// gone past the client bytes the server had when it replied, with no
// end-of-data: the server replied in the middle of the body.
func (d *Decoder) earlyPassed() {
	if e := d.early; e != nil && d.client.state == clientBody && !e.ack.beyond(d.streams.offset(reassembly.ClientToServer)) {
		d.early = nil
		d.replyDuringBody(e.r, "")
	}
}

// earlyUnanswered keeps, at the end, a held reply whose client bytes
// never came among the unmatched replies.
func (d *Decoder) earlyUnanswered() {
	if e := d.early; e != nil {
		d.early = nil
		d.unmatched(e.r, fmt.Sprintf("reply %d answers client bytes the capture never showed", e.r.Code))
	}
}

// withAck runs f with the server's acknowledgment on the reply being
// matched set to ack.
func (d *Decoder) withAck(ack streamOffset, f func()) {
	saved := d.server.replyAck
	d.server.replyAck = ack
	f()
	d.server.replyAck = saved
}

// replyDuringBody notes reply r, which came in the middle of the body the
// client is sending and answers no end-of-data (why adds to the words).
// Unless the capture shows the 354 that began the body, the server may
// have read the body's lines as commands (the reply the capture lacks
// refused DATA) and r answered one: the body is unproven.
func (d *Decoder) replyDuringBody(r *Reply, why string) {
	d.anomalyf(AnomalyReplyDuringBody, r.Frame, "the server sent %d in the middle of the message body%s", r.Code, why)
	d.bodyAnswered()
}

// bodyAnswered notes a reply that answers no end-of-data while the client
// sends a DATA body whose 354 the capture does not show (replyDuringBody).
func (d *Decoder) bodyAnswered() {
	if t := d.cur; t >= 0 && d.txns[t].phase == txnBody && d.s.Transactions[t].Method == "DATA" {
		// A DATA reply that is no 354 refused an earlier DATA of the
		// transaction.
		if r := d.s.Transactions[t].DataReply; r == nil || r.Code != 354 {
			d.txns[t].bodyUnproven = true
		}
	}
}
