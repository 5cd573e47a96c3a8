package smtp

// Whether a client gap in a transaction's envelope may have hidden a MAIL,
// so that what follows it is another transaction's.
//
// A gap between a transaction's MAIL and its body may hide commands; a
// MAIL among them (after a RSET or an EHLO, or one the server takes in
// place of the open transaction) begins another transaction, and the
// RCPT, DATA and final reply the capture shows after the gap are then
// its. Every command draws one reply, in order (RFC 2920 §3), so a
// hidden one leaves a reply that answers no request the capture shows
// (unplaced): if none but refusals, which change nothing (RFC 5321
// §4.1.4), came since the gap, and the server's bytes are whole, the gap
// hid no accepted command before the final reply, and the transaction is
// the one its MAIL began.

import "github.com/smtpscope/smtpscope/reassembly"

// minMailLine is the shortest MAIL command line a server may accept
// ("MAIL FROM:x" and a bare LF): a client gap shorter than it, that
// begins and ends at line boundaries, hides no MAIL.
const minMailLine = len("MAIL FROM:x\n")

// envelopeCheck says what the capture shows of a transaction's envelope.
type envelopeCheck int

const (
	// envelopeWhole: no client gap since the MAIL that may hide another.
	envelopeWhole envelopeCheck = iota
	// envelopeGapped: such a gap came; envelopeSince holds the counts
	// at its time, to tell whether a reply answered what it hid.
	envelopeGapped
	// envelopeUnsure: a reply that may answer a command such a gap hid
	// was not tied to a request the capture shows, or the server's
	// bytes had a gap too: the transaction's outcome is unknown, unless
	// its own MAIL was refused.
	envelopeUnsure
)

// envelopeInput is what changes an envelopeCheck.
type envelopeInput int

const (
	// envGap: a client gap that may hide a MAIL, in the envelope.
	envGap envelopeInput = iota
	// envFinal: the transaction's final reply was tied to it.
	envFinal
	// envUnplaced: in the envelope, a reply that refused nothing answered
	// client bytes the capture has not shown yet (lost in a gap
	// reassembly reports later, of a size not known yet).
	envUnplaced
)

// envelopeSince is what the Decoder had counted when an envelope's first
// gap came.
type envelopeSince struct {
	unplaced, serverGaps int
}

// envelopeUpdate is the one place a transaction's envelopeCheck changes.
func (d *Decoder) envelopeUpdate(t int, in envelopeInput) {
	tr := &d.txns[t]
	switch {
	case in == envGap && tr.envelope == envelopeWhole:
		tr.envelope, tr.envelopeAt = envelopeGapped, envelopeSince{unplaced: d.unplaced, serverGaps: d.serverGaps}
		if d.unplacedAnswersGap() {
			// A reply that came before reassembly reported the gap
			// answers bytes in it or after it.
			tr.envelope = envelopeUnsure
		}
	case in == envUnplaced:
		tr.envelope = envelopeUnsure
	case in == envFinal && tr.envelope == envelopeGapped:
		if tr.envelopeAt == (envelopeSince{unplaced: d.unplaced, serverGaps: d.serverGaps}) {
			tr.envelope = envelopeWhole
		} else {
			tr.envelope = envelopeUnsure
		}
	}
}

// envelopeMayChange notes a client gap, n bytes (n < 0: unknown), that
// may have hidden a MAIL while the current transaction was in its
// envelope.
func (d *Decoder) envelopeMayChange(n int) {
	if d.cur < 0 || n >= 0 && n < minMailLine || d.txns[d.cur].phase != txnEnvelope {
		return
	}
	switch d.client.state {
	case clientCommand, clientResync, clientLineTail, clientAuth, clientStartTLS:
		d.envelopeUpdate(d.cur, envGap)
	}
}

// keepUnmatched keeps r among the replies that answer no request the
// capture shows, and counts it as unplaced unless it refused what it
// answered.
func (d *Decoder) keepUnmatched(r *Reply) {
	if len(d.s.Unmatched) < MaxUnmatchedReplies {
		d.s.Unmatched = append(d.s.Unmatched, *r)
	}
	c := r.Class()
	if c == 4 || c == 5 {
		d.unplacedRefusals++
		return
	}
	d.unplaced++
	d.unplacedAck = d.server.replyAck
	if d.cur >= 0 && d.txns[d.cur].phase == txnEnvelope && !d.streams.offset(reassembly.ClientToServer).atOrBeyond(d.unplacedAck) {
		d.envelopeUpdate(d.cur, envUnplaced)
	}
}

// unplacedAnswersGap tells whether the last unplaced reply may answer
// bytes of the client gap being reported: its acknowledgment is unknown
// or goes past where the gap began.
func (d *Decoder) unplacedAnswersGap() bool {
	if d.unplaced == 0 {
		return false
	}
	return !d.unplacedAck.ok || !d.client.gapFrom.ok || d.unplacedAck.beyond(d.client.gapFrom)
}
