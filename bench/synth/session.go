package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// sessionState is where a session's dialogue stands. Each advance call
// plays one step of the current state and moves to the next.
type sessionState int

const (
	stateConnect   sessionState = iota // SYN, SYN-ACK, ACK
	stateGreeting                      // the server's 220 banner
	stateHello                         // EHLO and its multi-line 250
	stateStartTLS                      // STARTTLS, its 220 and the TLS handshake
	stateEnvelope                      // MAIL and RCPT (and DATA when pipelining) of the current message
	stateData                          // DATA and 354, one command at a time
	stateBody                          // one flight of body segments and their ACKs per step
	stateEndOfData                     // the reply to the final dot (or BDAT LAST), or the silence
	stateReset                         // RSET after a refused envelope, when another message follows
	stateQuit                          // QUIT, 221 and the FIN handshake
	stateDone                          // nothing more to send
)

// Timing constants of the simulated peers.
const (
	// ackDelay is how long after a segment's capture the hub's ACK for it
	// is captured.
	ackDelay = 20 * time.Microsecond
	// delayedACK is the server's delayed-ACK timer: a reply slower than
	// this is preceded by a pure ACK of the command.
	delayedACK = 40 * time.Millisecond
	// minRTO is Linux's lower bound on the retransmission timeout.
	minRTO = 200 * time.Millisecond
	// initialWindow is the first flight in segments (RFC 6928) and
	// maxFlight the largest.
	initialWindow = 10
	maxFlight     = 64
)

// frame is one packet of a session waiting to be written. Its payload is
// arena[off:off+n] of the session.
type frame struct {
	t          time.Duration
	fromClient bool
	flags      uint8
	seq, ack   uint32
	window     uint16
	off, n     int32
	// copy is a second capture of the frame before it from the same
	// side: the same bytes, IP ID included.
	copy bool
	// lost frames were on the wire but are not in the capture.
	lost bool
	// sack[:nsack] are the SACK blocks the frame carries.
	sack  [maxSACKBlocks][2]uint32
	nsack uint8
}

// endpoint is one side's sending state.
type endpoint struct {
	nxt    uint32 // next sequence number to send
	ipID   uint16
	window uint16
}

// session plays one SMTP session. It produces its frames a step at a time,
// in capture-time order within the step; the Generator merges sessions.
type session struct {
	id     int
	plan   sessionPlan
	r      *rand.Rand
	state  sessionState
	stream int // tcp.stream, -1 until the SYN is written
	client *host
	server *host
	cport  uint16
	c, s   endpoint
	// sAck is the next byte the server expects: the ack of its segments.
	sAck uint32
	// t is the capture time of the latest frame generated.
	t      time.Duration
	frames []frame
	head   int
	arena  []byte
	lines  *lineSet

	msg  int // current message
	body bodyWriter
	// Body flight state: congestion window, flight count, the earliest
	// start of the next flight, and whether the fault was injected.
	cwnd, flight int
	nextFlight   time.Duration
	injected     bool
	sent         int // content bytes of the current message sent so far

	// tls is set once the session's TLS handshake is done: its payloads
	// are then records; sealed streams its bodies.
	tls    *tlsState
	sealed sealedBody
	// certs and noise are the Generator's, for the handshake.
	certs [][]byte
	noise []byte
	// chunking is set when the server advertises CHUNKING (Options.BDAT);
	// chunk counts the BDAT commands of the message sent so far, and
	// chunkSrc streams the current one and its chunk.
	chunking bool
	chunk    int
	chunkSrc chunkSource
	// replied counts the pipelined chunks the server has answered.
	replied int
	// bodySeq is the client's sequence number where the current
	// message's body (or first chunk) begins. dropNext arms the capture
	// loss of the next data frame of one side; lossDone is set once the
	// session's loss happened.
	bodySeq  uint32
	dropNext dropSide
	lossDone bool
	// lostLast is set when a LossClientChunkLine frame held the line of
	// BDAT LAST.
	lostLast bool

	exp Expectation
}

func newSession(id int, p sessionPlan, client, server *host, cport uint16, seed uint64, lines *lineSet, arena []byte) *session {
	s := &session{id: id, plan: p, r: rand.New(rand.NewPCG(seed, uint64(id)<<1|1)), stream: -1,
		client: client, server: server, cport: cport, lines: lines, arena: arena[:0], t: p.start}
	s.c = endpoint{nxt: s.r.Uint32(), ipID: uint16(s.r.Uint32()), window: client.window}
	s.s = endpoint{nxt: s.r.Uint32(), ipID: uint16(s.r.Uint32()), window: server.window}
	s.exp = Expectation{Fault: FaultNone, Messages: make([]MessageExpectation, 0, len(p.messages))}
	return s
}

// wscale is the server's window scale in this session.
func (s *session) serverScale() uint8 {
	if s.zeroWindowSession() {
		return zeroWindowScale
	}
	return s.server.wscale
}

func (s *session) zeroWindowSession() bool {
	return s.plan.fault == FaultZeroWindow || s.plan.fault == FaultZeroWindowStall
}

// think is how long a peer takes to act on what it received.
func (s *session) think() time.Duration {
	return 100*time.Microsecond + time.Duration(s.r.IntN(500))*time.Microsecond
}

// lognormal draws a duration with the given median and spread.
func (s *session) lognormal(median time.Duration, sigma float64) time.Duration {
	return time.Duration(float64(median) * math.Exp(sigma*s.r.NormFloat64()))
}

// add queues a frame. The payload is copied into the arena.
func (s *session) add(t time.Duration, fromClient bool, flags uint8, seq, ack uint32, window uint16, payload []byte) {
	off := len(s.arena)
	s.arena = append(s.arena, payload...)
	s.frames = append(s.frames, frame{t: t, fromClient: fromClient, flags: flags, seq: seq, ack: ack,
		window: window, off: int32(off), n: int32(len(payload))})
	s.t = max(s.t, t)
	if s.dropNext != dropNone && len(payload) > 0 && fromClient == (s.dropNext == dropClient) {
		s.dropNext = dropNone
		s.lose(len(s.frames) - 1)
	}
}

// clientSend queues a client segment at c.nxt and advances it.
func (s *session) clientSend(t time.Duration, flags uint8, payload []byte) {
	s.add(t, true, flags, s.c.nxt, s.s.nxt, s.c.window, payload)
	s.c.nxt += uint32(len(payload))
	if flags&(flagSYN|flagFIN) != 0 {
		s.c.nxt++
	}
}

// serverSend queues a server segment at s.nxt and advances it.
func (s *session) serverSend(t time.Duration, flags uint8, payload []byte) {
	s.add(t, false, flags, s.s.nxt, s.sAck, s.s.window, payload)
	s.s.nxt += uint32(len(payload))
	if flags&(flagSYN|flagFIN) != 0 {
		s.s.nxt++
	}
}

// command plays a client command sent in reaction to the latest server
// frame, and the server's reply proc later. It returns the reply's time.
func (s *session) command(cmd string, proc time.Duration, reply string) time.Duration {
	t := s.t + s.client.rtt + s.think()
	s.clientSend(t, flagPSH|flagACK, s.wire(cmd))
	s.sAck = s.c.nxt
	if proc > delayedACK {
		s.serverSend(t+delayedACK, flagACK, nil)
	}
	s.serverSend(t+proc, flagPSH|flagACK, s.wire(reply))
	return t + proc
}

// commandsApart plays a pipelined batch of commands (lines of cmds)
// written one command a segment, back to back, the one at the session's
// loss index missing from the capture, and the server's replies, one
// segment proc after the last command.
func (s *session) commandsApart(cmds string, proc time.Duration, replies string) {
	t := s.t + s.client.rtt + s.think()
	for j, c := range strings.SplitAfter(strings.TrimSuffix(cmds, "\r\n"), "\r\n") {
		if j > 0 {
			t += 5 * time.Microsecond
		}
		if !strings.HasSuffix(c, "\r\n") {
			c += "\r\n"
		}
		s.clientSend(t, flagPSH|flagACK, s.wire(c))
		if j == s.plan.loss.at {
			s.lose(len(s.frames) - 1)
		}
	}
	s.sAck = s.c.nxt
	if proc > delayedACK {
		s.serverSend(t+delayedACK, flagACK, nil)
	}
	s.serverSend(t+proc, flagPSH|flagACK, s.wire(replies))
}

// advance plays the next step into the frame queue, which must be empty.
// It returns false when the session has nothing more to send.
func (s *session) advance() bool {
	s.frames, s.head, s.arena = s.frames[:0], 0, s.arena[:0]
	for len(s.frames) == 0 {
		if s.state == stateDone {
			return false
		}
		s.step()
	}
	slices.SortStableFunc(s.frames, func(a, b frame) int {
		switch {
		case a.t < b.t:
			return -1
		case a.t > b.t:
			return 1
		}
		return 0
	})
	return true
}

// step plays the current state once.
func (s *session) step() {
	m := s.message()
	switch s.state {
	case stateConnect:
		s.add(s.t, true, flagSYN, s.c.nxt, 0, s.client.synWindow, nil)
		s.c.nxt++
		s.sAck = s.c.nxt
		synack := s.t + 20*time.Microsecond + time.Duration(s.r.IntN(40))*time.Microsecond
		s.add(synack, false, flagSYN|flagACK, s.s.nxt, s.sAck, s.server.synWindow, nil)
		s.s.nxt++
		if s.zeroWindowSession() {
			s.s.window = zeroWindowValue
		}
		s.clientSend(synack+s.client.rtt, flagACK, nil)
		s.state = stateGreeting
	case stateGreeting:
		s.serverSend(s.t+s.lognormal(time.Millisecond, 1), flagPSH|flagACK,
			fmt.Appendf(nil, "220 %s ESMTP Postfix\r\n", s.server.name))
		s.state = stateHello
	case stateHello:
		starttls := ""
		if s.certs != nil && s.tls == nil {
			starttls = "250-STARTTLS\r\n" // every server offers it in a capture with TLS sessions
		}
		chunking := ""
		if s.chunking {
			chunking = "250-CHUNKING\r\n"
		}
		s.command("EHLO "+s.client.name+"\r\n", s.lognormal(300*time.Microsecond, 0.5),
			"250-"+s.server.name+"\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-ETRN\r\n"+starttls+
				"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n"+chunking+"250 SMTPUTF8\r\n")
		s.state = stateEnvelope
		if s.plan.tls != nil && s.tls == nil {
			s.state = stateStartTLS
		}
	case stateStartTLS:
		s.command("STARTTLS\r\n", s.lognormal(200*time.Microsecond, 0.5), "220 2.0.0 Ready to start TLS\r\n")
		s.tlsHandshake(s.certs, s.noise)
		s.exp.TLS = versionName(s.plan.tls.suite.version)
		s.state = stateHello
	case stateEnvelope:
		s.envelope(m)
	case stateData:
		s.command("DATA\r\n", s.lognormal(200*time.Microsecond, 0.5), "354 End data with <CR><LF>.<CR><LF>\r\n")
		s.startBody(m)
	case stateBody:
		s.bodyFlight(m)
	case stateEndOfData:
		s.endOfData(m)
	case stateReset:
		s.command("RSET\r\n", s.lognormal(200*time.Microsecond, 0.5), "250 2.0.0 Ok\r\n")
		s.state = stateEnvelope
	case stateQuit:
		t := s.command("QUIT\r\n", s.lognormal(200*time.Microsecond, 0.5), "221 2.0.0 Bye\r\n")
		if s.tls != nil {
			s.serverSend(t+15*time.Microsecond, flagPSH|flagACK, s.tls.seal(recordAlert, 2)) // close_notify
		}
		fin := t + 30*time.Microsecond
		s.serverSend(fin, flagFIN|flagACK, nil)
		s.clientSend(fin+s.client.rtt+s.think(), flagFIN|flagACK, nil)
		s.sAck = s.c.nxt
		s.serverSend(s.t+ackDelay, flagACK, nil)
		s.state = stateDone
	}
}

func (s *session) message() *messagePlan {
	if s.msg < len(s.plan.messages) {
		return &s.plan.messages[s.msg]
	}
	return nil
}

// isFaultMessage tells whether the session's fault hits the current message.
func (s *session) isFaultMessage() bool {
	return s.plan.fault != FaultNone && s.msg == s.plan.faultMessage
}

// envelope plays MAIL and RCPT, one command at a time or pipelined with
// DATA (RFC 2920).
func (s *session) envelope(m *messagePlan) {
	mail := fmt.Sprintf("MAIL FROM:<%s> SIZE=%d\r\n", m.from, m.size)
	rcptReply := func(i int) string {
		switch {
		case m.refuse == refuseRcpt:
			return fmt.Sprintf(m.reply, m.rcpts[i])
		case m.partial && i == 0:
			return fmt.Sprintf("550 5.1.1 <%s>: Recipient address rejected: User unknown in virtual mailbox table\r\n", m.rcpts[i])
		}
		return "250 2.1.5 Ok\r\n"
	}
	if s.plan.pipelining {
		cmds := mail
		replies := "250 2.1.0 Ok\r\n"
		for i, rc := range m.rcpts {
			cmds += "RCPT TO:<" + rc + ">\r\n"
			replies += rcptReply(i)
		}
		switch {
		case s.plan.bdat:
			// BDAT waits for the envelope's replies.
		case m.refuse == refuseRcpt:
			cmds += "DATA\r\n"
			replies += "554 5.5.1 Error: no valid recipients\r\n"
		default:
			cmds += "DATA\r\n"
			replies += "354 End data with <CR><LF>.<CR><LF>\r\n"
		}
		if s.lossDue(LossServerEnvelope) || s.lossDue(LossServerRefusal) {
			s.loseNextFrom(false)
		}
		if s.lossDue(LossClientPipelined) {
			s.commandsApart(cmds, s.lognormal(2*time.Millisecond, 0.8), replies)
		} else {
			s.command(cmds, s.lognormal(2*time.Millisecond, 0.8), replies)
		}
		if m.refuse == refuseRcpt {
			s.refusedEnvelope(m)
			return
		}
		s.startBody(m)
		return
	}
	if s.lossDue(LossServerEnvelope) {
		s.loseNextFrom(false)
	}
	s.command(mail, s.lognormal(500*time.Microsecond, 0.6), "250 2.1.0 Ok\r\n")
	for i, rc := range m.rcpts {
		switch {
		case i > 0:
		case s.lossDue(LossClientRcpt):
			s.loseNextFrom(true)
		case s.lossDue(LossServerRefusal):
			s.loseNextFrom(false)
		}
		s.command("RCPT TO:<"+rc+">\r\n", s.lognormal(1500*time.Microsecond, 0.8), rcptReply(i))
	}
	if m.refuse == refuseRcpt {
		s.refusedEnvelope(m)
		return
	}
	s.state = stateData
	if s.plan.bdat {
		s.startChunks(m)
	}
}

// refusedEnvelope ends a message whose every recipient was refused.
func (s *session) refusedEnvelope(m *messagePlan) {
	s.exp.Fault = s.plan.fault
	s.finishMessage(m, 0, m.code)
	if s.msg < len(s.plan.messages) {
		s.state = stateReset
	} else {
		s.state = stateQuit
	}
}

// finishMessage records the current message's expectation and moves on.
func (s *session) finishMessage(m *messagePlan, size, code int) {
	e := MessageExpectation{MessageID: m.messageID, Size: int64(size), Recipients: len(m.rcpts), Code: code}
	switch {
	case code == 0:
	case code < 300:
		e.Outcome, e.Cause = "delivered", "ok"
	case code < 500:
		e.Outcome, e.Cause = "deferred", "deferred"
	default:
		e.Outcome, e.Cause = "rejected", "rejected"
	}
	if m.refuse == refuseRcpt {
		e.MessageID = "" // the body, and its Message-ID, never went out
	}
	if s.plan.bdat && m.refuse != refuseRcpt {
		e.Chunks, e.Last = s.chunk, s.chunk == len(m.chunks)
	}
	if s.tls != nil {
		// Answered, but a 250 and a 5xx look alike encrypted.
		e = MessageExpectation{Size: int64(size), Recipients: len(m.rcpts), Outcome: "unknown", Cause: "ok", Inferred: true}
	}
	s.lossExpectation(&e)
	s.exp.Messages = append(s.exp.Messages, e)
	s.msg++
}

// finishBroken records a message the connection broke under.
func (s *session) finishBroken(m *messagePlan, outcome, cause string) {
	e := MessageExpectation{MessageID: m.messageID, Size: int64(s.sent), Recipients: len(m.rcpts), Outcome: outcome, Cause: cause}
	if s.plan.bdat {
		e.Size = int64(s.chunkSent(m))
		e.Chunks, e.Last = s.chunk, s.chunk == len(m.chunks)
	}
	if s.tls != nil {
		e.MessageID, e.Inferred = "", true
	}
	s.lossExpectation(&e)
	s.exp.Messages = append(s.exp.Messages, e)
	s.msg++
	s.state = stateDone
}

// startBody prepares the body of m after the 354, or its BDAT chunks.
func (s *session) startBody(m *messagePlan) {
	if s.plan.bdat {
		s.startChunks(m)
		return
	}
	h := messageHeaders{from: m.from, to: m.rcpts[0], subject: m.subject,
		date: (DefaultStart.Add(s.plan.start)).Format("Mon, 02 Jan 2006 15:04:05 -0700"), messageID: m.messageID}
	if s.tls != nil {
		s.sealed.reset(s.tls, m.size+len(endOfData))
	} else {
		s.body.reset(s.lines, s.r, m.size, h)
	}
	s.cwnd, s.flight, s.sent = initialWindow, 0, 0
	s.bodySeq = s.c.nxt
	s.nextFlight = s.t + s.client.rtt + s.think()
	s.state = stateBody
}

// flightKind is what happens to one body flight.
type flightKind int

const (
	flightNormal     flightKind = iota // every segment arrives in order
	flightLossFast                     // one segment lost, three dup ACKs, fast retransmit
	flightLossRTO                      // one segment lost, two dup ACKs, retransmit on timeout
	flightLossAbort                    // the path dies: the flight's last segments and their retransmissions lost past the capture
	flightReorder                      // two adjacent segments swapped
	flightZeroWindow                   // the server stops reading: the window closes
	flightReset                        // the server resets the connection after the flight
	flightPMTU                         // every full-size segment lost past the capture: a path-MTU black hole
	flightSpurious                     // the server's ACKs lost on their way to the client: a needless retransmission
	flightDuplicate                    // a few frames captured twice
)

// flightFault decides whether the fault hits a flight of w segments of
// which left are still to send, and how many segments the flight then has.
func (s *session) flightFault(w, left int) (flightKind, int) {
	if s.injected || !s.isFaultMessage() || s.flight < s.plan.faultFlight {
		return flightNormal, w
	}
	if s.zeroWindowSession() {
		if left > zeroWindowSegments && s.flight >= 2 {
			return flightZeroWindow, zeroWindowSegments
		}
		return flightNormal, w
	}
	ff, ok := faultFlights[s.plan.fault]
	// more: another flight follows, so the end-of-data is not in this one.
	if more := left > w; !ok || w < ff.least || ff.more && !more {
		return flightNormal, w
	}
	return ff.kind, w
}

// faultFlights says, for the faults that hit one body flight (the zero
// window aside), the flight's kind, the fewest segments it needs and
// whether another flight must follow it.
var faultFlights = map[Fault]struct {
	kind  flightKind
	least int
	more  bool
}{
	FaultLossFast:        {flightLossFast, 6, false},
	FaultLossRTO:         {flightLossRTO, 5, false},
	FaultLossAbort:       {flightLossAbort, 2, true},
	FaultReorder:         {flightReorder, 4, false},
	FaultResetByServer:   {flightReset, 1, true},
	FaultPMTUBlackhole:   {flightPMTU, 2, true},
	FaultSpurious:        {flightSpurious, 2, true},
	FaultDuplicateFrames: {flightDuplicate, 2, false},
}

// bodyFlight sends one flight of body segments, as the client's
// congestion window allows, with the server's ACKs: every second segment
// and the flight's last one (RFC 1122 §4.2.3.2, RFC 5681 §4.2), and at
// once for segments out of order.
func (s *session) bodyFlight(m *messagePlan) {
	body := s.bodySource()
	left := (body.left() + mss - 1) / mss
	limit := maxFlight
	if s.zeroWindowSession() {
		limit = zeroWindowFlight
	}
	kind, w := s.flightFault(min(s.cwnd, limit, left), left)
	if kind != flightNormal {
		s.injected = true
		s.exp.Fault, s.exp.Shape = s.plan.fault, s.plan.shape
		if s.plan.pathPayload > 0 {
			s.exp.PathMTU = s.plan.pathPayload + ipv4Len + tcpLen
		}
	}
	start := max(s.nextFlight, s.t)
	// k is the segment the fault hits.
	k := -1
	switch kind {
	case flightLossFast:
		k = 1 + s.r.IntN(w-5)
		w = k + 4 // three segments after the hole: three duplicate ACKs
	case flightLossRTO:
		k = 1 + s.r.IntN(w-4)
		w = k + 3 // two segments after the hole: too few for fast retransmit
	case flightLossAbort:
		k = w - 1 - s.r.IntN(min(3, w-1)) // at least one segment before it is acknowledged
	case flightReorder:
		k = 1 + s.r.IntN(w-3)
	}
	var buf [maxFlight]flightSeg
	segs, last := s.sendFlight(body, buf[:w], kind, k, start)
	s.sent = min(s.sent, m.size)
	s.flightACKs(segs, kind, k)
	s.cwnd = min(s.cwnd*2, maxFlight)
	s.nextFlight = max(start+2*s.client.serialize+ackDelay+s.client.rtt+s.think(), last+s.client.serialize)
	s.flight++
	s.afterFlight(m, segs, kind, k, last)
	for _, f := range s.frames {
		s.t = max(s.t, f.t)
	}
	if s.state == stateBody && s.plan.bdat && s.pipelinedChunks(m) && body.left() > 0 {
		s.chunkReplies(m)
	}
	if s.state == stateBody && body.left() == 0 {
		if s.plan.bdat {
			s.chunkEnded(m)
		} else {
			s.state = stateEndOfData
		}
	}
}

// sendFlight sends len(segs) body segments from start, back to back at
// the client's bottleneck rate (k and k+1 swapped in a reordered flight;
// k not captured when it is lost before the capture point), and notes
// them in segs. It returns segs and the time of the last.
func (s *session) sendFlight(body bodySource, segs []flightSeg, kind flightKind, k int, start time.Duration) ([]flightSeg, time.Duration) {
	ser := s.client.serialize
	last := time.Duration(0)
	for i := range segs {
		ti := start + time.Duration(i)*ser
		if kind == flightReorder && (i == k || i == k+1) {
			ti = start + time.Duration(2*k+1-i)*ser // k+1 goes first
		}
		off := len(s.arena)
		s.arena = slices.Grow(s.arena, mss)[:off+mss]
		n := body.fill(s.arena[off:])
		s.arena = s.arena[:off+n]
		segs[i] = flightSeg{seq: s.c.nxt, off: off, n: n, t: ti}
		s.c.nxt += uint32(n)
		s.sent += n
		flags := uint8(flagACK)
		if i == len(segs)-1 {
			flags |= flagPSH
		}
		lost := (kind == flightLossFast || kind == flightLossRTO) && i == k
		if !lost {
			s.frames = append(s.frames, frame{t: ti, fromClient: true, flags: flags, seq: segs[i].seq,
				ack: s.s.nxt, window: s.c.window, off: int32(off), n: int32(n)})
			end := body.left() == 0
			command := s.plan.bdat && s.chunkSrc.command // the segment starts a BDAT chunk
			if s.lossDue(LossClientEnd) && end || s.lossDue(LossClientBody) && !end && !command && s.sent-n >= s.plan.loss.at {
				s.lose(len(s.frames) - 1)
			}
			// Not the message's first segment, which holds its headers.
			if s.lossDue(LossClientChunkLine) && command && s.chunk >= 2 && s.sent > n {
				s.lostLast = s.chunk == len(s.message().chunks)
				s.lose(len(s.frames) - 1)
			}
		}
		last = max(last, ti)
	}
	return segs, last
}

// flightAck queues the server's ACK of a segment captured at t, with the
// window left after unread bytes in a zero-window flight.
func (s *session) flightAck(t time.Duration, kind flightKind, unread int) {
	w := s.s.window
	if kind == flightZeroWindow {
		w = uint16((zeroWindowSegments*mss - unread) >> zeroWindowScale)
	}
	s.frames = append(s.frames, frame{t: t + ackDelay, flags: flagACK, seq: s.s.nxt, ack: s.sAck, window: w})
	s.maybeLoseACK()
	if w == 0 {
		s.exp.L4.ZeroWindows++
	}
}

// flightACKs plays the server's ACKs of a flight: every second segment
// and the last, a duplicate ACK for each segment after a hole, none for
// what never reached it.
func (s *session) flightACKs(segs []flightSeg, kind flightKind, k int) {
	end := func(i int) uint32 { return segs[i].seq + uint32(segs[i].n) }
	hole := kind == flightLossFast || kind == flightLossRTO
	unacked := 0
	for i := range segs {
		switch {
		case hole && i == k:
			continue // lost before the capture point: never arrived
		case hole && i > k:
			s.flightAck(segs[i].t, kind, 0) // duplicate ACK for the hole
			s.sackLast([2]uint32{segs[k+1].seq, end(i)})
			continue
		case kind == flightLossAbort && i >= k, kind == flightPMTU:
			continue // lost past the capture point
		case kind == flightReorder && i == k:
			s.flightAck(segs[k+1].t, kind, 0) // k+1 came first, out of order: duplicate ACK at once
			s.sackLast([2]uint32{segs[k+1].seq, end(k + 1)})
			s.sAck = end(k + 1) // k fills the hole: ACK both at once
			s.flightAck(segs[k].t, kind, 0)
			unacked = 0
			continue
		case kind == flightReorder && i == k+1:
			continue
		}
		s.sAck = end(i)
		unacked++
		if unacked >= 2 || i == len(segs)-1 || i == k-1 {
			s.flightAck(segs[i].t, kind, int(s.sAck-segs[0].seq))
			unacked = 0
		}
	}
	if kind == flightReorder {
		s.exp.L4.OutOfOrder++
	}
}

// afterFlight plays what follows a flight the fault hit: the repair, or
// the end of the connection.
func (s *session) afterFlight(m *messagePlan, segs []flightSeg, kind flightKind, k int, last time.Duration) {
	rto := minRTO + s.client.rtt
	switch kind {
	case flightLossRTO:
		s.lossRTO(segs, k, last, rto)
	case flightLossFast:
		t := last + ackDelay + s.client.rtt + s.think()
		s.cwnd = max(len(segs)/2, 2)
		s.resend(t, segs[k])
		tail := segs[len(segs)-1]
		s.sAck = tail.seq + uint32(tail.n)
		s.flightAck(t, kind, 0)
		s.nextFlight = t + ackDelay + s.client.rtt + s.think()
	case flightLossAbort:
		t, fired := s.resendLost(segs[k:], last, rto, 4+s.r.IntN(3), math.MaxInt64)
		t += min(rto<<fired, maxRTO)
		s.frames = append(s.frames, frame{t: t, fromClient: true, flags: flagRST | flagACK, seq: s.c.nxt,
			ack: s.s.nxt, window: s.c.window})
		s.exp.L4.Resets++
		s.finishBroken(m, "aborted", "packet-loss")
	case flightPMTU:
		s.blackhole(m, segs, last, rto)
	case flightSpurious:
		s.spurious(segs, last, rto)
	case flightDuplicate:
		s.duplicate()
	case flightZeroWindow:
		s.zeroWindow(m, last+ackDelay, rto)
	case flightReset:
		t := last + ackDelay + time.Millisecond + time.Duration(s.r.IntN(50))*time.Millisecond
		s.frames = append(s.frames, frame{t: t, flags: flagRST | flagACK, seq: s.s.nxt, ack: s.sAck, window: s.s.window})
		s.exp.L4.Resets++
		s.finishBroken(m, "aborted", "reset-by-server")
	}
}

// zeroWindow plays the stall after a flight that filled the server's
// window: one-byte window probes with exponential backoff (RFC 9293
// §3.8.6.1), each answered with a zero window, until the server reads
// again and sends a window update, or the client gives up and resets.
func (s *session) zeroWindow(m *messagePlan, zero time.Duration, rto time.Duration) {
	stall := time.Duration(math.MaxInt64)
	probes := 5 + s.r.IntN(3)
	if s.plan.fault == FaultZeroWindow {
		stall = 300*time.Millisecond + time.Duration(s.r.IntN(3000))*time.Millisecond
		probes = math.MaxInt
	}
	probe := [1]byte{s.bodySource().peek()}
	t := zero
	for j := 0; j < probes; j++ {
		next := t + rto<<j
		if next-zero >= stall {
			break
		}
		t = next
		s.add(t, true, flagACK, s.c.nxt, s.s.nxt, s.c.window, probe[:])
		s.add(t+ackDelay, false, flagACK, s.s.nxt, s.sAck, 0, nil)
		s.exp.L4.ZeroWindows++
	}
	if s.plan.fault == FaultZeroWindowStall {
		s.clientSend(t+rto<<probes, flagRST|flagACK, nil)
		s.exp.L4.Resets++
		s.finishBroken(m, "aborted", "zero-window-stall")
		return
	}
	s.add(zero+stall, false, flagACK, s.s.nxt, s.sAck, zeroWindowValue, nil) // window update
	s.nextFlight = zero + stall + s.client.rtt + s.think()
}

// endOfData plays the server's answer to the final dot, or its silence.
func (s *session) endOfData(m *messagePlan) {
	if s.isFaultMessage() && s.plan.fault == FaultEODNoReply {
		s.exp.Fault = s.plan.fault
		t := s.t + 30*time.Second + time.Duration(s.r.IntN(90))*time.Second
		if s.tls != nil && s.r.IntN(3) > 0 {
			// The client gives up politely: QUIT, without waiting for its reply.
			s.clientSend(t, flagPSH|flagACK, s.wire("QUIT\r\n"))
			t += 10 * time.Microsecond
		}
		if s.r.IntN(3) == 0 {
			s.clientSend(t, flagRST|flagACK, nil)
			s.exp.L4.Resets++
		} else {
			s.clientSend(t, flagFIN|flagACK, nil)
			s.sAck = s.c.nxt
			s.serverSend(t+ackDelay, flagACK, nil) // the server's kernel ACKs; its application is stuck
		}
		s.finishBroken(m, "no-reply", "eod-no-reply")
		return
	}
	if m.refuse == refuseEOD || m.refuse == refuseChunk {
		s.exp.Fault = s.plan.fault // a refused chunk with the LAST one pipelined behind it
	}
	latency := s.lognormal(40*time.Millisecond, 1)
	latency = min(max(latency, time.Millisecond), 5*time.Second)
	if s.lossDue(LossServerFinal) {
		s.loseNextFrom(false)
	}
	s.serverSend(s.t+latency, flagPSH|flagACK, s.wire(m.reply))
	s.finishMessage(m, m.size, m.code)
	if s.msg < len(s.plan.messages) {
		s.state = stateEnvelope
	} else {
		s.state = stateQuit
	}
}
