package synth

import (
	"fmt"
	"time"
)

// chunkSource is the client's byte stream of one BDAT chunk (RFC 3030
// §2): the "BDAT n [LAST]" line, then n bytes of the message as they are
// (no dot-stuffing, no end-of-data line). Body flights read it as they
// read a DATA body, so every body fault hits BDAT as it hits DATA.
type chunkSource struct {
	line []byte // what is left of the command line
	rest int    // chunk bytes still to give
	body *bodyWriter
	// command is set when the last fill gave bytes of the command line.
	command bool
}

func (c *chunkSource) fill(p []byte) int {
	n := copy(p, c.line)
	c.line = c.line[n:]
	c.command = n > 0
	got := c.body.fill(p[n : n+min(len(p)-n, c.rest)])
	c.rest -= got
	return n + got
}

func (c *chunkSource) left() int { return len(c.line) + c.rest }

func (c *chunkSource) peek() byte {
	if len(c.line) > 0 {
		return c.line[0]
	}
	return c.body.peek()
}

// startChunks prepares m's BDAT chunks after its envelope and starts the
// first.
func (s *session) startChunks(m *messagePlan) {
	h := messageHeaders{from: m.from, to: m.rcpts[0], subject: m.subject,
		date: (DefaultStart.Add(s.plan.start)).Format("Mon, 02 Jan 2006 15:04:05 -0700"), messageID: m.messageID}
	s.body.reset(s.lines, s.r, m.size, h)
	s.body.chunk()
	s.chunk = 0
	s.cwnd, s.flight, s.sent = initialWindow, 0, 0
	s.bodySeq = s.c.nxt
	s.exp.BDAT = true
	s.startChunk(m, s.t+s.client.rtt+s.think())
}

// startChunk starts chunk s.chunk of m, its first flight at start.
func (s *session) startChunk(m *messagePlan, start time.Duration) {
	n := m.chunks[s.chunk]
	line := fmt.Appendf(s.chunkSrc.line[:0], "BDAT %d", n)
	if s.chunk == len(m.chunks)-1 {
		line = append(line, " LAST"...)
	}
	s.chunkSrc = chunkSource{line: append(line, "\r\n"...), rest: n, body: &s.body}
	s.chunk++
	s.nextFlight = start
	s.state = stateBody
}

// chunkSent is the message's content the client has sent in chunks.
func (s *session) chunkSent(m *messagePlan) int {
	n := 0
	for _, c := range m.chunks[:s.chunk] {
		n += c
	}
	return n - s.chunkSrc.rest
}

// chunkEnded plays the server's answer to a whole chunk: after BDAT LAST
// the end-of-data step's final reply or silence; before it a 250, or the
// refusal that ends the transaction (the client sends no more chunks).
func (s *session) chunkEnded(m *messagePlan) {
	if s.chunk == len(m.chunks) {
		s.state = stateEndOfData
		return
	}
	if m.refuse == refuseChunk && s.chunk-1 == m.refuseChunk {
		s.exp.Fault = s.plan.fault
		if s.lossDue(LossServerFinal) {
			s.loseNextFrom(false)
		}
		s.serverSend(s.t+s.lognormal(2*time.Millisecond, 0.8), flagPSH|flagACK, s.wire(m.reply))
		s.finishMessage(m, s.chunkSent(m), m.code)
		if s.msg < len(s.plan.messages) {
			s.state = stateReset
		} else {
			s.state = stateQuit
		}
		return
	}
	t := s.t + s.lognormal(time.Millisecond, 0.8)
	if s.lossDue(LossServerChunk) {
		s.loseNextFrom(false)
	}
	s.serverSend(t, flagPSH|flagACK, fmt.Appendf(nil, "250 2.0.0 Ok: %d bytes\r\n", m.chunks[s.chunk-1]))
	s.startChunk(m, t+s.client.rtt+s.think())
}
