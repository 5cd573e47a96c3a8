package synth

import (
	"fmt"
	"time"
)

// chunkSource is the client's byte stream of BDAT chunks (RFC 3030 §2):
// a "BDAT n [LAST]" line, then n bytes of the message as they are (no
// dot-stuffing, no end-of-data line); with pipelining, the chunks after
// it follow at once, without waiting for the replies. Body flights read
// it as they read a DATA body, so every body fault hits BDAT as it hits
// DATA.
type chunkSource struct {
	line []byte // what is left of the current command line
	rest int    // bytes of the current chunk still to give
	body *bodyWriter
	// next are the sizes of the chunks still to start (pipelining),
	// last that the final one of them is BDAT ... LAST; started counts
	// the BDAT lines begun (the session's chunk counter).
	next    []int
	started *int
	// command is set when the last fill gave bytes of a command line.
	command bool
}

// chunkLine is the command line of a chunk of n bytes.
func chunkLine(n int, last bool) []byte {
	line := fmt.Appendf(nil, "BDAT %d", n)
	if last {
		line = append(line, " LAST"...)
	}
	return append(line, "\r\n"...)
}

func (c *chunkSource) fill(p []byte) int {
	n := 0
	c.command = false
	for n < len(p) {
		switch {
		case len(c.line) > 0:
			k := copy(p[n:], c.line)
			c.line = c.line[k:]
			n += k
			c.command = true
		case c.rest > 0:
			k := c.body.fill(p[n : n+min(len(p)-n, c.rest)])
			if k == 0 {
				return n // never: the chunks sum to the body's size
			}
			c.rest -= k
			n += k
		case len(c.next) > 0:
			c.line, c.rest = chunkLine(c.next[0], len(c.next) == 1), c.next[0]
			c.next = c.next[1:]
			*c.started++
		default:
			return n
		}
	}
	return n
}

func (c *chunkSource) left() int {
	n := len(c.line) + c.rest
	for i, k := range c.next {
		n += len(chunkLine(k, i == len(c.next)-1)) + k
	}
	return n
}

func (c *chunkSource) peek() byte {
	switch {
	case len(c.line) > 0:
		return c.line[0]
	case c.rest == 0 && len(c.next) > 0:
		return 'B'
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
	s.chunk, s.replied = 0, 0
	s.cwnd, s.flight, s.sent = initialWindow, 0, 0
	s.bodySeq = s.c.nxt
	s.exp.BDAT = true
	s.startChunk(m, s.t+s.client.rtt+s.think())
	if s.pipelinedChunks(m) {
		s.chunkSrc.next = m.chunks[1:]
	}
}

// pipelinedChunks tells whether m's chunks go out back to back, without
// waiting for their replies (RFC 3030 §4.2 with PIPELINING): not when a
// chunk is to be refused, after which the client may send no more.
func (s *session) pipelinedChunks(m *messagePlan) bool {
	return s.plan.pipelining && (m.refuse != refuseChunk || m.pipelinedRefusal)
}

// chunkReply is the server's reply to chunk j of m (not the LAST one):
// 250, or from a refused chunk on, the refusal.
func (s *session) chunkReply(m *messagePlan, j int) string {
	if m.refuse == refuseChunk && j >= m.refuseChunk {
		s.exp.Fault = s.plan.fault
		return m.reply
	}
	return fmt.Sprintf("250 2.0.0 Ok: %d bytes\r\n", m.chunks[j])
}

// startChunk starts chunk s.chunk of m, its first flight at start.
func (s *session) startChunk(m *messagePlan, start time.Duration) {
	n := m.chunks[s.chunk]
	s.chunkSrc = chunkSource{line: chunkLine(n, s.chunk == len(m.chunks)-1), rest: n, body: &s.body, started: &s.chunk}
	s.chunk++
	s.nextFlight = start
	s.state = stateBody
}

// chunkReplies plays the server's replies to the pipelined chunks before
// the LAST one that it now holds whole (its ACK covers them): one segment
// of 250s (or refusals, Options.PipelinedChunkRefusal), after which the
// client's next flight comes.
func (s *session) chunkReplies(m *messagePlan) {
	end, due := s.bodySeq, 0
	var replies []byte
	for j, n := range m.chunks[:len(m.chunks)-1] {
		end += uint32(len(chunkLine(n, false)) + n)
		if j < s.replied {
			continue
		}
		if int32(s.sAck-end) < 0 {
			break
		}
		replies = append(replies, s.chunkReply(m, j)...)
		due++
	}
	if due == 0 {
		return
	}
	if s.replied == 0 && s.lossDue(LossServerChunk) {
		s.loseNextFrom(false)
	}
	s.replied += due
	t := s.t + s.lognormal(time.Millisecond, 0.8)
	s.serverSend(t, flagPSH|flagACK, replies)
	s.nextFlight = max(s.nextFlight, t+s.client.rtt+s.think())
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
	if s.pipelinedChunks(m) {
		s.chunkReplies(m)
	}
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
