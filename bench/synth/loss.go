package synth

import "math/rand/v2"

// Loss is which frame of a session the capture lacks (Options.CaptureLoss):
// a frame that was on the wire, as the peer's acknowledgments show, but
// that the capture point dropped (a full ring buffer, a mirror port over
// its rate). It hits one message of the session.
type Loss string

// The losses. Whether the capture still proves the message's outcome
// depends on which frame is missing; MessageExpectation says.
const (
	LossNone Loss = ""
	// LossClientBody: a body segment in the middle of the message (not
	// its first, which holds the headers, not the one that ends it, not
	// one that starts a BDAT chunk). The end-of-data and the reply to it
	// are captured: the outcome is proven.
	LossClientBody Loss = "client-body"
	// LossClientEnd: the segment that ends a DATA body, end-of-data line
	// included. The server's reply, if any, is captured: by the order of
	// replies (RFC 2920 §3) it answers the end-of-data, which proves the
	// outcome; without a reply nothing proves an end-of-data was sent,
	// and the outcome is unknown.
	LossClientEnd Loss = "client-end"
	// LossClientRcpt: a RCPT command (sent alone, without pipelining)
	// whose reply is captured. The outcome is proven by the end-of-data's reply.
	LossClientRcpt Loss = "client-rcpt"
	// LossServerFinal: the reply that decides the message (to end-of-data,
	// BDAT LAST or a refused chunk). The outcome is unknown.
	LossServerFinal Loss = "server-final"
	// LossServerRefusal: the refusal of the (first) recipient of a message
	// whose recipients are all refused (with pipelining: the replies to
	// the whole envelope). The outcome is unknown: the client may have
	// left an accepted envelope.
	LossServerRefusal Loss = "server-refusal"
	// LossServerEnvelope: the reply to MAIL (with pipelining: the replies
	// to the whole envelope). The outcome is proven by the end-of-data's
	// reply.
	LossServerEnvelope Loss = "server-envelope"
	// LossServerChunk: the 250 to the first BDAT chunk of several. The
	// outcome is proven by the reply to BDAT LAST.
	LossServerChunk Loss = "server-chunk"
	// LossClientPipelined: one command of a pipelined envelope (MAIL, a
	// RCPT or DATA), which the client wrote one command a segment in one
	// flight (Options.CommandLoss). The replies are all captured: by
	// their order the outcome is proven.
	LossClientPipelined Loss = "client-pipelined"
	// LossClientChunkLine: the client segment holding the command line of
	// a BDAT chunk after the first (Options.CommandLoss), with the chunk's
	// bytes around it. The replies prove the outcome; without one (silence
	// after BDAT LAST) nothing proves a BDAT LAST was sent when the lost
	// line was it, and the outcome is unknown.
	LossClientChunkLine Loss = "client-bdat-line"
	// LossServerACK: a pure ACK of the server's during the body. Nothing
	// of SMTP is missing: the outcome is proven.
	LossServerACK Loss = "server-ack"
)

// losses lists every Loss, for coverage tests.
var losses = []Loss{LossClientBody, LossClientEnd, LossClientRcpt, LossServerFinal,
	LossServerRefusal, LossServerEnvelope, LossServerChunk, LossServerACK}

// commandLosses lists the Losses of Options.CommandLoss.
var commandLosses = []Loss{LossClientPipelined, LossClientChunkLine}

// lossPlan is where a session's capture loss falls.
type lossPlan struct {
	kind    Loss
	message int
	// at is the body offset from which a LossClientBody or LossServerACK
	// frame is chosen: the first eligible one at or after it.
	at int
}

// lossSession tells whether a session with fault f may have capture loss
// under Options.CaptureLoss: sessions whose TCP is healthy on the wire,
// where the outcome is decided by SMTP. The others may have it under
// Options.FaultCaptureLoss (planFaultLoss).
func lossSession(f Fault) bool {
	return f == FaultNone || f == FaultDeferred || f == FaultRejected || f == FaultEODNoReply
}

// planLoss draws a session's capture loss: a message, and a frame of it
// the capture may lack given how the message goes. It may enlarge the
// message (a body loss needs a body of several segments).
func planLoss(r *rand.Rand, p *sessionPlan) {
	i := r.IntN(len(p.messages))
	kinds := lossKinds(r, p, i)
	p.loss = lossPlan{kind: kinds[r.IntN(len(kinds))], message: i}
	p.loss.at = mss + r.IntN(max(p.messages[i].size-3*mss, 1))
}

// lossKinds lists the losses message i of a session whose TCP is healthy
// on the wire may have, enlarging it when a body loss needs it.
func lossKinds(r *rand.Rand, p *sessionPlan, i int) []Loss {
	m := &p.messages[i]
	eodSilent := p.fault == FaultEODNoReply && i == p.faultMessage
	var kinds []Loss
	if m.refuse == refuseRcpt {
		kinds = append(kinds, LossServerRefusal)
	} else {
		if !p.bdat {
			kinds = append(kinds, LossClientEnd)
			if m.size < 4*mss {
				m.size = 4*mss + r.IntN(4*mss)
			}
		}
		if !p.bdat || longestChunk(m.chunks) > 2*mss {
			kinds = append(kinds, LossClientBody, LossServerACK)
		}
		if !p.pipelining {
			kinds = append(kinds, LossClientRcpt)
		}
		// A chunk refused with the LAST one pipelined behind it: the
		// refusal, not the final reply, decides; neither is lost.
		if !eodSilent && !m.pipelinedRefusal {
			kinds = append(kinds, LossServerFinal)
		}
		kinds = append(kinds, LossServerEnvelope)
		if len(m.chunks) > 1 && !(m.refuse == refuseChunk && m.refuseChunk == 0) && !m.pipelinedRefusal {
			kinds = append(kinds, LossServerChunk)
		}
	}
	return kinds
}

// planFaultLoss draws the capture loss of a session with a network fault
// (Options.FaultCaptureLoss). A message the fault does not hit may lose
// what a healthy session's may (but a body frame before a path-MTU black
// hole, whose earlier messages fit in one segment); the fault's message
// loses a frame away from the fault's flights, whose analysis (duplicate
// ACKs, retransmissions, frames never acknowledged) a capture hole would
// change: its envelope's reply, its RCPT sent alone, or, when TCP
// recovers and the message is answered, the final reply.
func planFaultLoss(r *rand.Rand, p *sessionPlan) {
	i := r.IntN(len(p.messages))
	var kinds []Loss
	switch {
	case i != p.faultMessage && p.pathPayload == 0:
		kinds = lossKinds(r, p, i)
	default:
		kinds = append(kinds, LossServerEnvelope)
		if !p.pipelining {
			kinds = append(kinds, LossClientRcpt)
		}
		if i != p.faultMessage || !p.fault.breaks() {
			kinds = append(kinds, LossServerFinal)
		}
	}
	p.loss = lossPlan{kind: kinds[r.IntN(len(kinds))], message: i}
	p.loss.at = mss + r.IntN(max(p.messages[i].size-3*mss, 1))
}

// planCommandLoss draws the loss of a pipelined client command
// (Options.CommandLoss): a command of a pipelined envelope, or the line
// of a BDAT chunk after the first that the client sends; none when the
// session has neither. For a command, at is its index in the envelope.
func planCommandLoss(r *rand.Rand, p *sessionPlan) {
	type choice struct {
		kind    Loss
		message int
	}
	var choices []choice
	for i, m := range p.messages {
		if p.pipelining {
			choices = append(choices, choice{LossClientPipelined, i})
		}
		sent := len(m.chunks)
		if m.refuse == refuseChunk {
			sent = m.refuseChunk + 1
		}
		if p.bdat && m.refuse != refuseRcpt && sent >= 2 {
			choices = append(choices, choice{LossClientChunkLine, i})
		}
	}
	if len(choices) == 0 {
		return
	}
	c := choices[r.IntN(len(choices))]
	m := &p.messages[c.message]
	p.loss = lossPlan{kind: c.kind, message: c.message}
	if c.kind == LossClientPipelined {
		cmds := 1 + len(m.rcpts) // MAIL and the RCPTs
		if !p.bdat {
			cmds++ // DATA
		}
		p.loss.at = r.IntN(cmds)
	}
}

func longestChunk(chunks []int) int {
	n := 0
	for _, c := range chunks {
		n = max(n, c)
	}
	return n
}

// lossDue tells whether the session's loss of kind k is still to happen
// and falls on the current message.
func (s *session) lossDue(k Loss) bool {
	return s.plan.loss.kind == k && !s.lossDone && s.msg == s.plan.loss.message
}

// lose marks frames[i] as missing from the capture, once.
func (s *session) lose(i int) {
	f := &s.frames[i]
	f.lost = true
	if f.fromClient {
		s.exp.Unseen.Client += int64(f.n)
	} else {
		s.exp.Unseen.Server += int64(f.n)
	}
	s.lossDone = true
	s.exp.CaptureLoss = s.plan.loss.kind
}

// maybeLoseACK loses the server's pure ACK just queued if the session's
// LossServerACK is due and the ACK covers the body past the loss's offset.
func (s *session) maybeLoseACK() {
	if s.lossDue(LossServerACK) && int(s.sAck-s.bodySeq) >= s.plan.loss.at {
		s.lose(len(s.frames) - 1)
	}
}

// loseNextFrom arms the loss of the next frame with a payload add queues
// from the client (client true) or the server.
func (s *session) loseNextFrom(client bool) {
	if client {
		s.dropNext = dropClient
	} else {
		s.dropNext = dropServer
	}
}

// dropSide is which side's next data frame add marks lost.
type dropSide int

const (
	dropNone dropSide = iota
	dropClient
	dropServer
)

// lossExpectation turns e, the expectation of a message as the wire
// played it, into what the capture proves when the loss hit it.
//
// A message after the one the loss hit keeps its outcome, but may be told
// unknown: how many commands or replies the missing bytes held is
// something the capture proves only by reasoning on the peers' ACKs
// (the client's next command acknowledges the server's missing reply, so
// that reply answers nothing sent after it), which an honest analyser
// may not do. Not after a lost pure ACK, which holds no SMTP.
func (s *session) lossExpectation(e *MessageExpectation) {
	switch {
	case !s.lossDone:
		return
	case s.msg > s.plan.loss.message:
		e.UnknownOK = s.plan.loss.kind != LossServerACK
		return
	case s.msg != s.plan.loss.message:
		return
	}
	e.Lost = s.plan.loss.kind
	switch {
	case e.Lost == LossServerFinal, e.Lost == LossServerRefusal, e.Lost == LossClientEnd && e.Outcome == "no-reply",
		e.Lost == LossClientChunkLine && e.Outcome == "no-reply" && s.lostLast:
		e.WireOutcome = e.Outcome
		e.Outcome, e.Cause, e.Code = "unknown", "capture-incomplete", 0
	case e.Lost == LossServerACK:
		// Nothing of SMTP is missing.
	default:
		e.UnknownOK = true
	}
}
