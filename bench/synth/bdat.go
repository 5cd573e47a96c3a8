package synth

import (
	"fmt"
	"slices"
	"time"
)

// startChunks prepares m's BDAT chunks (RFC 3030 §2) after its envelope:
// the content without an end-of-data line, no dot-stuffing undone (the
// chunk carries the bytes as they are).
func (s *session) startChunks(m *messagePlan) {
	h := messageHeaders{from: m.from, to: m.rcpts[0], subject: m.subject,
		date: (DefaultStart.Add(s.plan.start)).Format("Mon, 02 Jan 2006 15:04:05 -0700"), messageID: m.messageID}
	s.body.reset(s.lines, s.r, m.size, h)
	s.body.chunk()
	s.chunk, s.chunkLeft = 0, -1
	s.cwnd, s.flight, s.sent = initialWindow, 0, 0
	s.bodySeq = s.c.nxt
	s.nextFlight = s.t + s.client.rtt + s.think()
	s.exp.BDAT = true
	s.state = stateChunk
}

// chunkFlight sends one flight of the current chunk: its "BDAT n [LAST]"
// line at the head of the chunk's first segment, then the chunk's bytes,
// back to back at the client's bottleneck rate, with the server's ACKs
// of every second segment and the flight's last. When the chunk is
// complete the server answers it (a chunk before the LAST one: 250, or
// the refusal that ends the transaction), or, after BDAT LAST, the
// end-of-data step gives the final reply or the silence.
func (s *session) chunkFlight(m *messagePlan) {
	j := s.chunk
	last := j == len(m.chunks)-1
	var line []byte
	if s.chunkLeft < 0 {
		line = fmt.Appendf(nil, "BDAT %d", m.chunks[j])
		if last {
			line = append(line, " LAST"...)
		}
		line = append(line, "\r\n"...)
		s.chunkLeft = m.chunks[j]
	}
	start := max(s.nextFlight, s.t)
	ser := s.client.serialize
	w := min(s.cwnd, maxFlight)
	lastT, unacked := start, 0
	for i := 0; i < w && (line != nil || s.chunkLeft > 0); i++ {
		t := start + time.Duration(i)*ser
		off := len(s.arena)
		s.arena = append(s.arena, line...)
		n := min(mss-len(line), s.chunkLeft)
		head := len(s.arena)
		s.arena = slices.Grow(s.arena, n)[:head+n]
		n = s.body.fill(s.arena[head:]) // all n: the chunks sum to the body's size
		s.arena = s.arena[:head+n]
		lose := s.lossDue(LossClientBody) && line == nil && s.sent >= s.plan.loss.at
		line = nil
		s.chunkLeft -= n
		s.sent += n
		size := len(s.arena) - off
		flags := uint8(flagACK)
		end := i == w-1 || s.chunkLeft == 0
		if end {
			flags |= flagPSH
		}
		s.frames = append(s.frames, frame{t: t, fromClient: true, flags: flags, seq: s.c.nxt,
			ack: s.s.nxt, window: s.c.window, off: int32(off), n: int32(size)})
		if lose {
			s.lose(len(s.frames) - 1)
		}
		s.c.nxt += uint32(size)
		s.sAck = s.c.nxt
		if unacked++; unacked >= 2 || end {
			s.serverACK(t + ackDelay)
			unacked = 0
		}
		lastT = t
	}
	s.cwnd = min(s.cwnd*2, maxFlight)
	s.nextFlight = max(start+2*ser+ackDelay+s.client.rtt+s.think(), lastT+ser)
	s.flight++
	for _, f := range s.frames {
		s.t = max(s.t, f.t)
	}
	if s.chunkLeft > 0 {
		return
	}
	s.chunk, s.chunkLeft = j+1, -1
	switch {
	case last:
		s.state = stateEndOfData
	case m.refuse == refuseChunk && j == m.refuseChunk:
		s.exp.Fault = s.plan.fault
		if s.lossDue(LossServerFinal) {
			s.loseNextFrom(false)
		}
		s.serverSend(s.t+s.lognormal(2*time.Millisecond, 0.8), flagPSH|flagACK, s.wire(m.reply))
		s.finishMessage(m, s.sent, m.code)
		if s.msg < len(s.plan.messages) {
			s.state = stateReset
		} else {
			s.state = stateQuit
		}
	default:
		t := s.t + s.lognormal(time.Millisecond, 0.8)
		if s.lossDue(LossServerChunk) {
			s.loseNextFrom(false)
		}
		s.serverSend(t, flagPSH|flagACK, fmt.Appendf(nil, "250 2.0.0 Ok: %d bytes\r\n", m.chunks[j]))
		s.nextFlight = t + s.client.rtt + s.think()
	}
}
