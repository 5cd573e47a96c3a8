package smtp

// The server side of the Decoder: replies, assembled and matched with requests.

import (
	"bytes"
	"strings"

	"github.com/smtpscope/smtpscope/reassembly"
)

// serverState says how the server's next bytes are to be read.
type serverState int

const (
	// serverReplyStart: the next line begins a reply.
	serverReplyStart serverState = iota
	// serverReplyContinue: inside a multi-line reply, after "NNN-"
	// (RFC 5321 §4.2.1).
	serverReplyContinue
	// serverResync: after a gap, lines are skipped until one parses as a
	// reply line.
	serverResync
	// serverCutReply: after a gap that cut a multi-line reply, which was
	// delivered with the lines before the gap: a first line with its code
	// that continues it, or that ends it while nothing else awaits a
	// reply, is its rest; any other reply line is read as in serverResync.
	serverCutReply
	// serverCutReplyRest: inside the rest of a cut multi-line reply: its
	// lines are skipped up to its last.
	serverCutReplyRest
	// serverOpaque: TLS, or not SMTP: ignored.
	serverOpaque
)

type serverSide struct {
	state serverState
	line  lineBuffer
	// reply is the reply being assembled.
	reply Reply
	// ext collects EHLO keywords while reply answers EHLO or LHLO.
	ext        []string
	collectExt bool
	// resynced is set when the reply began in serverResync: it is matched
	// by its code rather than by position.
	resynced bool
	// last marks the server's last byte, for a partial reply.
	last reassembly.Mark
	// foreign counts lines that were not SMTP before detection.
	foreign int
	// seen counts the server's bytes.
	seen int64
	// lineAck is the client offset the server had acknowledged when it
	// sent the first byte of the line being read, replyAck that of the
	// reply being assembled (ack.go).
	lineAck, replyAck streamOffset
	// lineStart and lineEnd are the offsets of the first byte of the
	// line being read and just past it, replyStart that of the reply
	// being assembled; heard is where the replies accounted for end: past
	// the last reply read, or where the last gap began if it began
	// between replies.
	lineStart, lineEnd, replyStart, heard streamOffset
	// sinceGap is the client offset the server had acknowledged when it
	// began the first reply since its last gap (or since the capture
	// began), 354s and the rest of a cut reply aside; sinceGapSet is set
	// once that reply came (bodyEndBound).
	sinceGap    streamOffset
	sinceGapSet bool
}

// serverInput is what moves the server side from one state to another.
type serverInput int

const (
	// evReplyOpened: the first line of a multi-line reply ("250-...").
	evReplyOpened serverInput = iota
	// evReplyClosed: a reply's last line: the reply is complete.
	evReplyClosed
	// evCutReplyLine: a line of the rest of a reply a gap cut
	// (serverEvent.more: not its last).
	evCutReplyLine
	// evServerGap: a capture gap in the server's bytes (serverEvent.more:
	// the reply it cut may go on after it).
	evServerGap
	// evServerTLS: STARTTLS was accepted; TLS follows.
	evServerTLS
	// evServerStop: the connection is not SMTP, or decoding ended.
	evServerStop
	// evServerDecrypted: the TLS session's first plaintext was
	// decrypted; the server's replies are read from it (tlsdecrypt.go).
	evServerDecrypted
	// evResyncUnsettled: a reply after a gap answered none of the
	// requests awaiting one, or one of several it may answer; the gap may
	// still hold their replies, so the next reply is matched as after the
	// gap.
	evResyncUnsettled
)

// serverEvent is one input of the server side's transition function.
type serverEvent struct {
	in   serverInput
	more bool
}

// serverUpdate is the one place the server's state changes: it moves the
// state by the transition table nextServerState.
func (d *Decoder) serverUpdate(ev serverEvent) {
	d.server.state = nextServerState(d.server.state, ev)
}

// nextServerState is the server side's transition table: the state that
// follows s on ev.
func nextServerState(s serverState, ev serverEvent) serverState {
	switch ev.in {
	case evReplyOpened:
		return serverReplyContinue
	case evReplyClosed:
		return serverReplyStart
	case evCutReplyLine:
		if ev.more {
			return serverCutReplyRest
		}
		// The lines since the gap are whole and ended the reply: the
		// gap held none of the replies that follow.
		return serverReplyStart
	case evServerGap:
		switch {
		case s == serverOpaque:
			return s // the cut reply was STARTTLS's 220
		case ev.more:
			return serverCutReply
		}
		return serverResync
	case evServerTLS, evServerStop:
		return serverOpaque
	case evServerDecrypted:
		return serverReplyStart
	case evResyncUnsettled:
		if s == serverReplyStart {
			return serverResync
		}
	}
	return s
}

// classifyServer decides, on a server line seen while undecided, whether
// the connection is SMTP. It reports whether the line is a reply line.
func (d *Decoder) classifyServer(line []byte) bool {
	rl, ok := parseReplyLine(line)
	if !ok {
		d.server.foreign++
		if d.server.foreign >= detectMaxLines && (d.client.foreign >= detectMaxLines || d.firstClient == firstLineNone && d.server.foreign >= 2*detectMaxLines) {
			d.notSMTP()
		}
		return false
	}
	d.detect = detectSMTP
	if isGreetingCode(rl.code) {
		d.clientUpdate(clientEvent{in: evGreeting})
	}
	return true
}

// serverData splits the server's bytes into lines.
func (d *Decoder) serverData(p []byte, at reassembly.Marker) {
	for off := 0; off < len(p); {
		if d.server.state == serverOpaque {
			d.tlsData(reassembly.ServerToClient, p[off:], off, at)
			return
		}
		if !d.server.line.pending() {
			d.server.lineAck, d.server.lineStart = ackOf(at, off), placeOf(at, off)
		}
		line, n, ok := d.server.line.next(p[off:], d.opts.MaxLineLength)
		if ok {
			d.server.lineEnd = placeOf(at, off+n)
			d.serverLine(line, at.Mark(off+n-1))
			d.server.line.reset()
		} else {
			d.lineOverLimit(&d.server.line, reassembly.ServerToClient, at.Mark(off+n-1))
		}
		off += n
	}
}

// serverLine is the server side's transition function: it reads one
// complete reply line according to the server state.
func (d *Decoder) serverLine(raw []byte, m reassembly.Mark) {
	line := d.lineChecks(raw, &d.server.line, reassembly.ServerToClient, m)
	if d.detect == detectUndecided && !d.classifyServer(line) {
		return
	}
	s := &d.server
	switch s.state {
	case serverReplyStart, serverResync:
		rl, ok := parseReplyLine(line)
		if !ok {
			if s.state == serverResync {
				return
			}
			if enhancedLen(line) > 0 && len(d.queue) > 0 {
				// A reply that lost its basic code but kept its enhanced
				// one ("4.7.0 [IPTS04] ..."): the server answered, and the
				// class is known (RFC 3463 §2).
				d.anomalyf(AnomalyMalformedReply, m.Frame, "a reply line without a reply code")
				d.startReply(replyLine{text: line})
				d.finishReply(m)
				return
			}
			d.anomalyf(AnomalyMalformedReply, m.Frame, "a server line that is not a reply")
			return
		}
		d.beginReply(rl, m)
	case serverReplyContinue:
		rl, ok := parseReplyLine(line)
		if !ok {
			d.anomalyf(AnomalyMalformedReply, m.Frame, "a line inside a multi-line reply without a reply code")
			return
		}
		if rl.code != s.reply.Code {
			d.anomalyf(AnomalyReplyCodeMismatch, m.Frame, "reply line %d continues reply %d (RFC 5321 §4.2.1)", rl.code, s.reply.Code)
		}
		s.reply.Lines++
		if s.reply.Lines == d.opts.MaxReplyLines+1 {
			d.anomalyf(AnomalyReplyTooManyLines, m.Frame, "a reply of more than %d lines", d.opts.MaxReplyLines)
		}
		if s.collectExt && len(s.ext) < maxExtensions && len(rl.text) > 0 {
			s.ext = append(s.ext, extensionName(rl.text))
		}
		if !rl.more {
			d.finishReply(m)
		}
	case serverCutReply:
		rl, ok := parseReplyLine(line)
		if !ok {
			return
		}
		if rl.code == s.reply.Code && (rl.more || len(d.queue) == 0) {
			// The rest of the reply the gap cut: a continuation line, or
			// a last line when nothing else awaits a reply.
			d.cutReplyLine(rl)
			return
		}
		d.beginReply(rl, m)
	case serverCutReplyRest:
		if rl, ok := parseReplyLine(line); ok {
			d.cutReplyLine(rl)
		}
	}
}

// cutReplyLine skips a line of the rest of a multi-line reply delivered
// when a gap cut it; an EHLO keyword on it still counts.
func (d *Decoder) cutReplyLine(rl replyLine) {
	s := &d.server
	if s.collectExt && s.reply.Class() == 2 && len(d.s.Extensions) < maxExtensions && len(rl.text) > 0 {
		d.s.Extensions = append(d.s.Extensions, extensionName(rl.text))
	}
	d.serverUpdate(serverEvent{in: evCutReplyLine, more: rl.more})
}

// beginReply starts a reply at its first line and, if that is also its
// last, finishes it; otherwise the lines that follow continue it.
func (d *Decoder) beginReply(rl replyLine, m reassembly.Mark) {
	d.startReply(rl)
	if rl.more {
		d.serverUpdate(serverEvent{in: evReplyOpened})
		return
	}
	d.finishReply(m)
}

// startReply begins assembling a reply from its first line.
func (d *Decoder) startReply(rl replyLine) {
	s := &d.server
	enh, text := splitEnhanced(rl.text)
	s.resynced = s.state == serverResync || s.state == serverCutReply
	s.replyAck, s.replyStart = s.lineAck, s.lineStart
	if !s.sinceGapSet && s.state != serverCutReply && rl.code != 354 {
		s.sinceGap, s.sinceGapSet = s.lineAck, true
	}
	s.reply = Reply{Code: rl.code, Enhanced: enh, Text: string(text), Lines: 1}
	s.ext = s.ext[:0]
	s.collectExt = false
	if v, ok := d.nextVerb(rl.code); ok && (v == verbEHLO || v == verbLHLO) {
		s.collectExt = true
	}
}

// nextVerb returns the verb of the command a reply with this code will be
// matched with, if it is a command.
func (d *Decoder) nextVerb(code int) (verb, bool) {
	q := d.queue
	if len(q) > 0 && q[0].kind == pendingGreeting && !isGreetingCode(code) {
		q = q[1:]
	}
	if len(q) == 0 || q[0].kind != pendingCommand {
		return verbUnknown, false
	}
	return q[0].verb, true
}

// finishReply completes the reply being assembled; m marks its last line.
func (d *Decoder) finishReply(m reassembly.Mark) {
	s := &d.server
	r := new(Reply)
	*r = s.reply
	r.Frame, r.Time = m.Frame, m.Time
	d.serverUpdate(serverEvent{in: evReplyClosed})
	d.deliverReply(r, s.resynced)
	s.heard = s.lineEnd
}

// deliverReply matches a complete reply with the oldest request awaiting
// one (RFC 2920 §3).
func (d *Decoder) deliverReply(r *Reply, resynced bool) {
	if len(d.queue) > 0 && d.queue[0].kind == pendingGreeting {
		d.queue = d.queue[1:]
		if isGreetingCode(r.Code) {
			if d.firstServer == firstReplyNone {
				d.firstServer = firstReplyGreeting
			}
			d.s.Banner = r
			d.pregreeted()
			return
		}
		// The greeting came before the capture began, or in a gap: the
		// bytes there began with it, not with the next entry's reply.
		d.server.heard = streamOffset{}
	}
	if d.firstServer == firstReplyNone {
		d.firstServer = firstReplyOther
	}
	if len(d.queue) == 0 {
		d.answeredLine(r)
	}
	if len(d.queue) == 0 {
		d.unawaitedReply(r, resynced)
		return
	}
	i, ok := d.replyIndex(r, resynced)
	if !ok {
		return
	}
	e := d.queue[i]
	if e.kind == pendingSkipped {
		d.queue = d.queue[i:]
		d.skippedReply(r)
		return
	}
	d.queue = d.queue[i+1:]
	d.answeredAny = true
	d.answer(e, r)
}

// unawaitedReply handles a reply while no request awaits one: the reply
// to a DATA or an end-of-data a client gap hid, one in the middle of a
// body, or one that answers nothing the capture shows.
func (d *Decoder) unawaitedReply(r *Reply, resynced bool) {
	switch c := d.client.state; {
	case r.Code == 354 && (c == clientBodyGap || d.dataHidden()):
		// The reply to a DATA a client gap hid: what follows is a
		// body (if it has not begun with the 354's first bytes).
		d.anomalyf(AnomalyUnmatchedReply, r.Frame, "reply 354 answers a DATA the capture lost")
		d.keepUnmatched(r)
		if c != clientBodyGap {
			d.bodyAfterGap(-1, reassembly.Mark{Frame: r.Frame, Time: r.Time})
		}
	case c == clientBodyGap:
		d.lostEndOfData(r, resynced)
	case c == clientBody:
		d.replyInBody(r, resynced)
	default:
		if d.firstServer != firstReplyOther || len(d.s.Commands) > 0 {
			d.anomalyf(AnomalyUnmatchedReply, r.Frame, "reply %d answers no command", r.Code)
			d.keepUnmatched(r)
		}
	}
}

// commandsMayBeHidden tells whether a reply may answer a client command
// the capture lacks, sent before the oldest request awaiting a reply: a
// client gap came just before that request, or the capture began after
// the session had and no reply was matched yet. Otherwise the reply
// answers that request (RFC 2920 §3), whatever its time stamp.
func (d *Decoder) commandsMayBeHidden() bool {
	return d.queue[0].afterGap || (d.s.MidStream || d.firstServer == firstReplyOther) && !d.answeredAny
}

// pregreeted turns the lines a client sent before a greeting into the
// commands the server reads them as (RFC 5321 §3.1: the client waits for
// the greeting; Postfix's postscreen calls this PREGREET). They precede
// every command recorded since, so they go in front of the lists.
func (d *Decoder) pregreeted() {
	pre := d.client.pregreet
	d.client.pregreet = nil
	if len(pre) == 0 {
		return
	}
	d.anomalyf(AnomalyPregreet, pre[0].Frame, "the client sent %d lines before the server's greeting", len(pre))
	n := min(len(pre), d.opts.MaxCommands-len(d.s.Commands))
	n = max(n, 0)
	cmds := make([]Command, 0, n+len(d.s.Commands))
	entries := make([]pending, 0, len(pre)+len(d.queue))
	for i, m := range pre {
		e := pending{kind: pendingCommand, verb: verbUnknown, cmd: -1, txn: -1, rcpt: -1, sent: m.Time}
		if i < n {
			cmds = append(cmds, Command{Verb: unknownVerb, Frame: m.Frame, Time: m.Time})
			e.cmd = i
		}
		entries = append(entries, e)
	}
	for _, e := range d.queue {
		if e.cmd >= 0 {
			e.cmd += n
		}
		entries = append(entries, e)
	}
	if d.authCmd >= 0 {
		d.authCmd += n
	}
	if d.client.blobCmd >= 0 {
		d.client.blobCmd += n
	}
	d.s.Commands = append(cmds, d.s.Commands...)
	d.queue = entries
}

// answer applies reply r to the request e it answers.
func (d *Decoder) answer(e pending, r *Reply) {
	switch e.kind {
	case pendingAuthResponse:
		d.authReply(r)
		return
	case pendingEndOfData:
		d.finalReply(e.txn, e.rcpt, r)
		return
	}
	if e.cmd >= 0 && e.verb != verbAUTH {
		d.s.Commands[e.cmd].Reply = r
	}
	switch e.verb {
	case verbEHLO, verbLHLO, verbHELO:
		d.helloReply(e, r)
	case verbMAIL:
		if e.txn >= 0 {
			d.s.Transactions[e.txn].MailReply = r
			d.refused(e.txn, r)
			if c := r.Class(); c == 4 || c == 5 {
				d.mailRefused(e.txn)
			}
		}
	case verbRCPT:
		if e.txn >= 0 && e.rcpt >= 0 {
			d.s.Transactions[e.txn].Rcpts[e.rcpt].Reply = r
		}
	case verbDATA:
		if e.txn >= 0 {
			d.s.Transactions[e.txn].DataReply = r
		}
		d.dataReply(e, r)
	case verbBDAT:
		switch {
		case e.txn < 0:
		case e.last:
			d.finalReply(e.txn, -1, r)
		default:
			d.refused(e.txn, r)
		}
	case verbSTARTTLS:
		d.clientUpdate(clientEvent{in: evReply, verb: verbSTARTTLS, code: r.Code})
		if r.Code == 220 {
			d.startTLS("starttls")
		}
	case verbAUTH:
		d.authReply(r)
	case verbXEXCH50:
		d.clientUpdate(clientEvent{in: evReply, verb: verbXEXCH50, code: r.Code})
	}
}

// helloReset ends the transaction open when the client sent e, an EHLO,
// HELO or LHLO the server accepted: it clears the server's state as RSET
// does (RFC 5321 §4.1.4; a refused one leaves it). A MAIL the client sent
// after the greeting opened a transaction of its own, which stays.
func (d *Decoder) helloReset(e pending) {
	if e.txn < 0 || e.txn != d.cur || d.txns[e.txn].phase != txnEnvelope {
		return
	}
	m := reassembly.Mark{Time: e.sent}
	if e.cmd >= 0 {
		m.Frame = d.s.Commands[e.cmd].Frame
	}
	d.abandon(m)
}

// helloReply applies the reply to EHLO, HELO or LHLO. The session's name
// for the client is the last one the server accepted: a later greeting it
// refuses (a bare "EHLO" answered 501) leaves the session as it was (RFC
// 5321 §4.1.4), and so leaves the name. Until a name is accepted, the
// last one sent stands.
func (d *Decoder) helloReply(e pending, r *Reply) {
	switch r.Class() {
	case 2:
		if e.verb != verbHELO {
			d.s.Extensions = append([]string(nil), d.server.ext...)
		}
		if e.cmd >= 0 && !d.s.Commands[e.cmd].Truncated {
			d.helloAccepted, d.helloAnswered = d.s.Commands[e.cmd].Arg, true
			d.s.Hello = d.helloAccepted
		}
		d.helloReset(e)
	case 4, 5:
		if d.helloAnswered {
			d.s.Hello = d.helloAccepted
		}
	}
}

// dataReply applies the reply to DATA: a 354 starts the body the client
// waited to send; a refusal keeps it in commands.
func (d *Decoder) dataReply(e pending, r *Reply) {
	prev := d.client.state
	next := d.clientUpdate(clientEvent{in: evReply, verb: verbDATA, code: r.Code, current: e.txn == d.cur})
	at := reassembly.Mark{Frame: r.Frame, Time: r.Time}
	switch {
	case r.Code == 354 && next == clientBody && prev != clientBody:
		d.beginBody(e.txn, at)
	case r.Code == 354 && next == clientBodyGap && prev != clientBodyGap:
		// DATA was sent before a client gap: the body began in it.
		d.bodyAfterGap(e.txn, at)
	case r.Code != 354:
		d.refused(e.txn, r)
		if next != prev && e.txn >= 0 && d.txns[e.txn].phase == txnBody {
			d.txnUpdate(e.txn, txnBodyRefused)
			d.s.Transactions[e.txn].Method = ""
		}
	}
}

// server354Begun reports whether the server's unfinished line is the start
// of a 354 reply.
func (d *Decoder) server354Begun() bool {
	s := &d.server
	if s.state != serverReplyStart && s.state != serverResync {
		return false
	}
	rl, ok := parseReplyLine(s.line.buf)
	return ok && rl.code == 354
}

// serverGap resynchronises the server side after lost bytes: any reply
// awaited so far may have been among them.
func (d *Decoder) serverGap() {
	if d.server.state == serverOpaque {
		return
	}
	d.serverGaps++
	d.server.sinceGap, d.server.sinceGapSet = streamOffset{}, false
	more := d.cutReply()
	d.server.line.reset()
	if d.serverUpdate(serverEvent{in: evServerGap, more: more}); d.server.state == serverOpaque {
		return // the cut reply was STARTTLS's 220
	}
	for _, e := range d.queue {
		if e.txn >= 0 {
			d.s.Transactions[e.txn].Incomplete = true
			if e.kind == pendingEndOfData || e.last {
				d.txns[e.txn].replyLost = true
			}
		}
	}
}

// serverGapAt notes, before a gap in the server's bytes is applied,
// whether it began between two replies: then what it holds is accounted
// from there (heard); otherwise it holds the rest of a reply it cut, and
// where the replies after that begin is unknown.
func (d *Decoder) serverGapAt() {
	s := &d.server
	s.heard = streamOffset{}
	if s.state == serverReplyStart && !s.line.pending() {
		s.heard = streamOffset{n: d.streams.next[reassembly.ServerToClient], ok: !d.streams.lost[reassembly.ServerToClient]}
	}
}

// cutReply handles the reply a server gap cut, and reports whether
// the cut reply may go on after the gap (then serverCutReply reads it). A reply whose code was captured was sent, whatever
// the gap hid of its text: a last line ("250 ...") ends it, and a
// continuation line ("250-...") or a gap between the lines of a
// multi-line reply leaves its last lines in the gap or after it. Either
// way it is delivered now, Truncated, so that it answers its request and
// the FIFO stays aligned; lines after the gap that continue it are then
// skipped (serverCutReply). A code cut short ("25") is nothing.
func (d *Decoder) cutReply() (more bool) {
	s := &d.server
	var line []byte
	if s.line.pending() {
		line = bytes.TrimSuffix(s.line.buf, []byte("\r"))
	}
	rl, ok := parseReplyLine(line)
	switch s.state {
	case serverReplyContinue:
		if len(line) > 0 {
			s.reply.Lines++
		}
		d.finishCutReply()
		if ok && !rl.more {
			return false
		}
		return true
	case serverCutReplyRest:
		if ok && !rl.more {
			return false // the reply ended just before the gap
		}
		return true
	case serverReplyStart, serverResync, serverCutReply:
		if !ok {
			return s.state == serverCutReply
		}
		if s.state == serverCutReply && rl.code == s.reply.Code && (rl.more || len(d.queue) == 0) {
			return true // more of the reply cut before
		}
		if d.detect == detectUndecided && !d.classifyServer(line) {
			return false
		}
		d.startReply(rl)
		d.finishCutReply()
		if rl.more {
			return true
		}
	}
	return false
}

// finishCutReply delivers the reply being assembled, which a gap cut; it
// ends at the server's last captured byte.
func (d *Decoder) finishCutReply() {
	s := &d.server
	r := new(Reply)
	*r = s.reply
	r.Truncated = true
	r.Frame, r.Time = s.last.Frame, s.last.Time
	d.deliverReply(r, s.resynced)
}

// partialReply records a reply the server began and never finished.
func (d *Decoder) partialReply(at reassembly.Mark) {
	s := &d.server
	var r Reply
	switch {
	case s.state == serverReplyContinue:
		r = s.reply
		if s.line.pending() {
			r.Lines++
		}
	case s.state == serverCutReply && s.line.pending() && len(d.queue) == 0:
		return // the rest of the reply a gap cut, already delivered
	case (s.state == serverReplyStart || s.state == serverResync || s.state == serverCutReply) && s.line.pending():
		var ok bool
		if r, ok = parsePartialReply(s.line.buf); !ok {
			d.anomalyf(AnomalyUnterminatedReplyLine, at.Frame, "the server's last line never ended with CRLF and is not a reply")
			return
		}
	default:
		return
	}
	r.Partial = true
	r.Frame, r.Time = s.last.Frame, s.last.Time
	if r.Frame == 0 && r.Time.IsZero() {
		r.Frame, r.Time = at.Frame, at.Time
	}
	d.anomalyf(AnomalyPartialReply, r.Frame, "the server's reply %d never ended with CRLF", r.Code)
	if len(d.queue) == 0 {
		return
	}
	e := d.queue[0]
	switch {
	case e.kind == pendingGreeting:
		d.s.Banner = &r
	case e.kind == pendingEndOfData || e.last:
		if e.txn >= 0 {
			d.s.Transactions[e.txn].PartialReply = &r
		}
		if e.cmd >= 0 {
			d.s.Commands[e.cmd].Reply = &r
		}
	case e.kind == pendingAuthResponse || e.verb == verbAUTH:
		if d.authCmd >= 0 {
			d.s.Commands[d.authCmd].Reply = &r
		}
	case e.cmd >= 0:
		d.s.Commands[e.cmd].Reply = &r
	}
}

// parsePartialReply reads the start of a reply line cut short: the code if
// its three digits arrived, and whatever text followed.
func parsePartialReply(b []byte) (Reply, bool) {
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 || b[0] < '2' || b[0] > '5' {
		return Reply{}, false
	}
	if rl, ok := parseReplyLine(b); ok {
		enh, text := splitEnhanced(rl.text)
		return Reply{Code: rl.code, Enhanced: enh, Text: string(text), Lines: 1}, true
	}
	for _, c := range b[:min(len(b), 3)] {
		if !isDigit(c) {
			return Reply{}, false
		}
	}
	return Reply{Lines: 1}, true // "25": a code cut short
}

// extensionName formats an EHLO keyword line: the keyword in upper case
// (RFC 5321 §4.1.1.1: keywords are case-insensitive), its parameters as
// sent.
func extensionName(text []byte) string {
	kw, params, found := bytes.Cut(text, []byte(" "))
	s := strings.ToUpper(string(kw))
	if found {
		s += " " + string(params)
	}
	return s
}
