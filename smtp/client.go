package smtp

// The client side of the Decoder: how the client's bytes are read.

import (
	"bytes"
	"fmt"

	"github.com/smtpscope/smtpscope/reassembly"
)

// clientState says how the client's next bytes are to be read.
type clientState int

const (
	// clientCommand: command lines (RFC 5321 §4.1).
	clientCommand clientState = iota
	// clientAuth: an AUTH exchange is under way; lines are base64 SASL
	// responses (RFC 4954 §4), which are secrets and never kept.
	clientAuth
	// clientDataWait: DATA was sent and its reply not seen yet. Bytes
	// arriving now are the body of a client that did not wait for 354.
	clientDataWait
	// clientBody: the DATA body, up to <CRLF>.<CRLF> (RFC 5321 §4.1.1.4).
	clientBody
	// clientBodyGap: a DATA body that lost bytes to a capture gap; its
	// end-of-data may have been among them.
	clientBodyGap
	// clientChunk: the bytes of a BDAT chunk (RFC 3030 §2).
	clientChunk
	// clientBlobWait: XEXCH50 was sent and its 354 not seen yet.
	clientBlobWait
	// clientBlob: the binary blob that follows XEXCH50's 354.
	clientBlob
	// clientStartTLS: STARTTLS was sent; after its 220 the client speaks
	// TLS (RFC 3207 §4).
	clientStartTLS
	// clientTLSHello: TLS; the ClientHello is being read.
	clientTLSHello
	// clientOpaque: TLS after the ClientHello, or not SMTP: ignored.
	clientOpaque
	// clientResync: after a gap, a mid-stream start or a first line that
	// was not a command: lines are skipped until one parses as a command
	// (a lone "." ends a body the capture did not show).
	clientResync
	// clientLineTail: the rest of a command line already taken as sent,
	// because the server answered it before the capture showed its end;
	// skipped through its LF.
	clientLineTail
)

type clientSide struct {
	state  clientState
	line   lineBuffer
	dot    dotReader
	header headerScanner
	// remaining is what is left of a BDAT chunk or an XEXCH50 blob.
	remaining int64
	// chunkLast marks the chunk being read as the LAST one.
	chunkLast bool
	// blobCmd is the XEXCH50 command whose blob is read, -1 if none.
	blobCmd int
	// hello buffers the ClientHello.
	hello []byte
	// foreign counts lines that were not SMTP before detection.
	foreign int
	// pregreet marks the lines that were not commands, sent before the
	// server's first byte: an early talker's commands if a greeting
	// follows, the tail of a body if the capture began mid-stream.
	pregreet []reassembly.Mark
	// last marks the client's last byte, for a line cut by a gap.
	last reassembly.Mark
	// req is what the stream says of the request being read, lineAck
	// the server offset the client had acknowledged when it sent the
	// first byte of the line being read (ack.go).
	req     requestFacts
	lineAck streamOffset
	// gapFrom is where the client's last gap began; bodyGapFrom, where
	// the first gap of the DATA body being read began (unknown if none,
	// or if the body began in a gap before it): the end-of-data cannot
	// have been before it.
	gapFrom, bodyGapFrom streamOffset
}

// clientInput is what moves the client side from one state to another:
// something the client sent, a reply the server gave it, or bytes the
// capture lost. Like Zeek's SMTP_Analyzer::UpdateState(cmd, reply), the
// reply side never sets the client's state: it reports the reply.
type clientInput int

const (
	// evCommand: a command line was read (clientEvent.verb, .valid, .size).
	evCommand clientInput = iota
	// evReply: the server's reply (clientEvent.code) to a command
	// (clientEvent.verb; AUTH also for a reply to a SASL response).
	evReply
	// evEarlyBody: bytes behind DATA or XEXCH50 before the server's 354.
	evEarlyBody
	// evBodyEnd: the end of what the client sent after a command: the
	// end-of-data line, the last byte of a BDAT chunk or an XEXCH50 blob,
	// or a lone "." ending a body the capture did not show.
	evBodyEnd
	// evBodyInGap: a DATA body whose start a client gap may hide (a 354
	// nothing awaited, or one begun while resynchronising).
	evBodyInGap
	// evLineEnd: the LF that ends the tail of an answered line.
	evLineEnd
	// evForeignLine: a line that is not a command, before detection.
	evForeignLine
	// evGreeting: the server's greeting.
	evGreeting
	// evLineAnswered: the server answered the client's unfinished line,
	// which was taken as a command.
	evLineAnswered
	// evEndOfDataLost: a reply answered an end-of-data lost in a gap.
	evEndOfDataLost
	// evTLS: the client's bytes turned to TLS.
	evTLS
	// evHelloRead: the ClientHello was read, or found unreadable.
	evHelloRead
	// evDecrypted: the TLS session's first plaintext was decrypted; the
	// client's commands are read from it (tlsdecrypt.go).
	evDecrypted
	// evGap: a capture gap in the client's bytes (clientEvent.within: it
	// lost only bytes of the chunk or blob under way).
	evGap
	// evStop: the connection is not SMTP, or decoding ended.
	evStop
)

// clientEvent is one input of the client side's transition function.
type clientEvent struct {
	in clientInput
	// verb and code: the command of evCommand and evReply, and the reply's
	// code for evReply.
	verb verb
	code int
	// valid and size: for evCommand, whether the line had its verb's
	// syntax, and BDAT's chunk or XEXCH50's blob size.
	valid bool
	size  int64
	// current: for evReply to DATA, the DATA is the current transaction's.
	current bool
	// within: for evGap, the gap lost only bytes of a chunk or blob.
	within bool
	// afterGap is set by clientUpdate: the client's bytes had a gap.
	afterGap bool
}

// clientUpdate is the one place the client's state changes: it moves the
// state by the transition table nextClientState and returns the new state.
func (d *Decoder) clientUpdate(ev clientEvent) clientState {
	ev.afterGap = d.clientGaps > 0
	d.client.state = nextClientState(d.client.state, ev)
	return d.client.state
}

// nextClientState is the client side's transition table: the state that
// follows s on ev. Inputs a state does not expect leave it unchanged.
func nextClientState(s clientState, ev clientEvent) clientState {
	switch ev.in {
	case evCommand:
		return stateAfterCommand(ev)
	case evReply:
		return stateAfterReply(s, ev)
	case evEarlyBody:
		switch s {
		case clientDataWait:
			return clientBody
		case clientBlobWait:
			return clientBlob
		}
	case evBodyEnd:
		return clientCommand
	case evBodyInGap:
		return clientBodyGap
	case evLineEnd:
		if s == clientLineTail {
			return clientCommand
		}
	case evForeignLine:
		if s == clientCommand {
			return clientResync
		}
	case evGreeting:
		// The client's odd first lines came from the start of a session,
		// not from the middle of one: its next lines are commands.
		if s == clientResync && !ev.afterGap {
			return clientCommand
		}
	case evLineAnswered:
		return clientLineTail
	case evEndOfDataLost:
		return clientResync
	case evTLS:
		return clientTLSHello
	case evHelloRead, evStop:
		return clientOpaque
	case evDecrypted:
		return clientCommand
	case evGap:
		return stateAfterGap(s, ev)
	}
	return s
}

// stateAfterCommand is the state after a command line: the verbs that
// are followed by something other than a command line choose it.
func stateAfterCommand(ev clientEvent) clientState {
	switch ev.verb {
	case verbDATA:
		return clientDataWait
	case verbSTARTTLS:
		return clientStartTLS
	case verbAUTH:
		return clientAuth
	case verbXEXCH50:
		if ev.valid && ev.size > 0 {
			return clientBlobWait
		}
	case verbBDAT:
		if ev.valid && ev.size > 0 {
			return clientChunk
		}
	}
	return clientCommand
}

// stateAfterReply is the state after the server's reply to a command
// whose following bytes depend on it.
func stateAfterReply(s clientState, ev clientEvent) clientState {
	switch ev.verb {
	case verbDATA:
		switch {
		case ev.code == 354 && s == clientDataWait:
			return clientBody
		case ev.code == 354 && s == clientResync && ev.afterGap:
			return clientBodyGap // DATA was sent before a client gap
		case ev.code == 354:
			return s // the body began before the 354 (body-before-354)
		case s == clientDataWait, s == clientBody && ev.current:
			// The server reads what follows as commands (RFC 5321
			// §4.1.1.4 has no body without 354), and so do we.
			return clientCommand
		}
	case verbSTARTTLS:
		if ev.code == 220 {
			return clientTLSHello
		}
		if s == clientStartTLS {
			return clientCommand // 454, 501...: the session stays in clear
		}
	case verbAUTH:
		// 334 asks for another SASL response (RFC 4954 §4).
		if ev.code != 334 && s == clientAuth {
			return clientCommand
		}
	case verbXEXCH50:
		if s == clientBlobWait && ev.code == 354 {
			return clientBlob
		}
		if s == clientBlobWait {
			return clientCommand
		}
	}
	return s
}

// stateAfterGap is the state after a gap in the client's bytes.
func stateAfterGap(s clientState, ev clientEvent) clientState {
	switch s {
	case clientOpaque, clientTLSHello:
		return clientOpaque
	case clientBody, clientBodyGap:
		return clientBodyGap
	case clientChunk, clientBlob:
		if ev.within {
			return s // its end, and the next command, come after the gap
		}
	}
	return clientResync
}

// clientData runs the client's bytes through clientStep until they are
// consumed. Every step consumes bytes or changes state.
func (d *Decoder) clientData(p []byte, at reassembly.Marker) {
	for off := 0; off < len(p); {
		before := d.client.state
		n := d.clientStep(p[off:], off, at)
		if n == 0 && d.client.state == before {
			return // cannot happen; never loop forever on input
		}
		off += n
	}
}

// clientStep is the client side's transition function: it reads bytes p
// (at offset off of the Data call) according to the client state and
// returns how many it consumed.
func (d *Decoder) clientStep(p []byte, off int, at reassembly.Marker) int {
	c := &d.client
	if c.state == clientResync && d.clientGaps > 0 && d.server354Begun() {
		// The server has begun a 354 (its end may be in a gap reported
		// later), so these bytes are a body, after a DATA the gap hid or
		// one that came before it.
		d.bodyAfterGap(-1, at.Mark(off))
		return 0
	}
	switch c.state {
	case clientOpaque:
		d.tlsData(reassembly.ClientToServer, p, off, at)
		return len(p)
	case clientTLSHello:
		d.tlsData(reassembly.ClientToServer, p, off, at)
		return d.clientHello(p, off, at)
	case clientDataWait:
		// RFC 5321 §4.1.1.4 and RFC 2920 §3.1 want the client to wait for
		// 354; some pipeline the body right behind DATA. A 354 whose line
		// the capture has not finished (its end may be in a gap reported
		// with the server's next segment) was sent all the same.
		if !d.server354Begun() {
			d.anomalyf(AnomalyBodyBefore354, at.Mark(off).Frame, "the client sent the message body before the server's 354")
		}
		d.clientUpdate(clientEvent{in: evEarlyBody})
		d.beginBody(d.cur, at.Mark(off))
		if d.cur >= 0 {
			d.txns[d.cur].bodyAcked = ackOf(at, off)
		}
		return 0
	case clientLineTail:
		j := bytes.IndexByte(p, '\n')
		if j < 0 {
			return len(p)
		}
		d.clientUpdate(clientEvent{in: evLineEnd})
		return j + 1
	case clientBlobWait:
		d.clientUpdate(clientEvent{in: evEarlyBody})
		return 0
	case clientBody, clientBodyGap:
		n, end := c.dot.scan(p)
		d.bodyBytes(p[:n])
		if c.dot.loose > 0 {
			d.anomalyf(AnomalyBareLFEndOfData, at.Mark(off+n-1).Frame,
				"a dot line with a bare LF, which some servers take for the end of the message (SMTP smuggling)")
			c.dot.loose = 0
		}
		if end {
			d.requestAt(at, off+n-1)
			d.endOfData(at.Mark(off + n - 1))
		}
		return n
	case clientChunk, clientBlob:
		k := len(p)
		if int64(k) > c.remaining {
			k = int(c.remaining)
		}
		c.remaining -= int64(k)
		if c.state == clientChunk {
			d.bodyBytes(p[:k])
		}
		if c.remaining == 0 {
			d.requestAt(at, off+k-1)
			if c.state == clientChunk {
				d.chunkDone(at.Mark(off + k - 1))
			} else {
				d.blobDone(at.Mark(off + k - 1))
			}
		}
		return k
	}
	// clientCommand, clientAuth, clientStartTLS, clientResync: lines.
	if !c.line.pending() && isTLSRecordStart(p) {
		d.clientTLS(at.Mark(off))
		return 0
	}
	if !c.line.pending() {
		c.lineAck = ackOf(at, off)
	}
	line, n, ok := c.line.next(p, d.opts.MaxLineLength)
	if ok {
		d.requestAt(at, off+n-1)
		d.clientLine(line, at.Mark(off+n-1))
		c.line.reset()
	} else {
		d.lineOverLimit(&c.line, reassembly.ClientToServer, at.Mark(off+n-1))
	}
	return n
}

// clientLine handles one complete client line in a line-reading state.
func (d *Decoder) clientLine(raw []byte, m reassembly.Mark) {
	line := d.lineChecks(raw, &d.client.line, reassembly.ClientToServer, m)
	if d.detect == detectUndecided {
		if d.classifyClient(line, m); d.detect == detectNotSMTP {
			return
		}
	}
	c := &d.client
	switch c.state {
	case clientAuth:
		if !looksLikeCommand(line) {
			d.authResponse(m)
			return
		}
		d.anomalyf(AnomalyCommandDuringAUTH, m.Frame, "a command came before the AUTH exchange ended")
	case clientResync:
		if len(line) == 1 && line[0] == '.' && d.unseenBodyEnd(m) {
			return
		}
		cmd := parseCommand(line)
		if cmd.verb == verbUnknown || !cmd.valid {
			if d.clientGaps > 0 {
				d.envelopeMayChange(-1) // maybe the rest of a MAIL the gap began
			}
			return
		}
		d.command(cmd, m)
		return
	case clientStartTLS:
		// After STARTTLS the client must wait for the 220 (RFC 3207 §4,
		// §6); commands pipelined behind it are what STARTTLS command
		// injection (CVE-2011-0411) relies on.
		d.anomalyf(AnomalyCommandAfterSTARTTLS, m.Frame, "the client sent a command before the reply to STARTTLS")
	}
	d.command(parseCommand(line), m)
}

// classifyClient decides, on a client line seen while undecided, whether
// the connection is SMTP.
func (d *Decoder) classifyClient(line []byte, m reassembly.Mark) {
	cmd := parseCommand(line)
	if cmd.verb != verbUnknown && cmd.valid {
		if d.firstClient == firstLineNone {
			d.firstClient = firstLineCommand
			if cmd.verb == verbEHLO || cmd.verb == verbHELO || cmd.verb == verbLHLO {
				d.firstClient = firstLineOpener
			}
		}
		d.detect = detectSMTP
		return
	}
	if d.firstClient == firstLineNone {
		d.firstClient = firstLineForeign
	}
	if d.server.seen == 0 && len(d.client.pregreet) < maxPregreet && !(len(line) == 1 && line[0] == '.') {
		d.client.pregreet = append(d.client.pregreet, m)
	}
	d.client.foreign++
	d.clientUpdate(clientEvent{in: evForeignLine})
	if d.client.foreign >= detectMaxLines && d.server.foreign >= detectMaxLines {
		d.notSMTP()
	}
}

// command handles one command line.
func (d *Decoder) command(c command, m reassembly.Mark) {
	d.clientUpdate(clientEvent{in: evCommand, verb: c.verb, valid: c.valid, size: c.size})
	e := pending{kind: pendingCommand, verb: c.verb, cmd: -1, txn: -1, rcpt: -1}
	if c.verb == verbUnknown && c.name == "" {
		// Servers answer an empty line with 500 (RFC 5321 §4.2.4).
		d.anomalyf(AnomalyEmptyCommand, m.Frame, "an empty command line")
	} else {
		e.cmd = d.recordCommand(c, m)
	}
	switch c.verb {
	case verbEHLO, verbHELO, verbLHLO:
		if !c.truncated {
			d.s.Hello = c.arg // a cut name is no name
		}
		e.txn = d.cur // reset if accepted (helloReply)
		if c.verb == verbLHLO {
			d.dialect = dialectLMTP
		}
	case verbMAIL:
		e.txn = d.beginTransaction(c, m)
	case verbRCPT:
		e.txn, e.rcpt = d.recipient(c, m)
	case verbDATA:
		e.txn = d.cur
		if e.txn >= 0 && d.s.Transactions[e.txn].DataFrame == 0 {
			d.s.Transactions[e.txn].DataFrame, d.s.Transactions[e.txn].DataTime = m.Frame, m.Time
		}
	case verbBDAT:
		if !c.valid {
			// The server answers a malformed BDAT with an error and reads
			// no chunk (RFC 3030 §2 gives the size no default).
			d.anomalyf(AnomalyInvalidBDATCommand, m.Frame, "BDAT without a valid chunk size")
			e.txn = d.cur
			break
		}
		e.txn, e.last = d.beginChunk(c, m), c.last
	case verbRSET:
		d.abandon(m)
	case verbQUIT:
		d.clientGaveUp(m)
	case verbAUTH:
		d.authCmd = e.cmd
	case verbXEXCH50:
		if c.valid && c.size > 0 {
			d.client.remaining = c.size
			d.client.blobCmd = e.cmd
		}
	}
	d.push(e, m)
	if c.verb == verbBDAT && c.valid && c.size == 0 {
		d.chunkDone(m)
	}
}

// recordCommand appends c to Session.Commands and returns its index, or
// -1 beyond MaxCommands.
func (d *Decoder) recordCommand(c command, m reassembly.Mark) int {
	if len(d.s.Commands) >= d.opts.MaxCommands {
		d.anomalyOnce(AnomalyTooManyCommands, m.Frame, fmt.Sprintf("more than %d commands; later ones are not listed", d.opts.MaxCommands))
		return -1
	}
	d.s.Commands = append(d.s.Commands, Command{Verb: c.name, Arg: c.arg, Frame: m.Frame, Time: m.Time, Truncated: c.truncated})
	return len(d.s.Commands) - 1
}

// dataHidden reports, for a 354 with nothing pending, whether the client
// may have sent a DATA the capture has not shown: it reads command lines
// and lost bytes to a gap, or has a line the capture has not finished,
// whose end (and what followed) is in a gap reassembly will report with
// the client's next segment.
func (d *Decoder) dataHidden() bool {
	c := &d.client
	switch c.state {
	case clientCommand, clientResync, clientLineTail:
		return d.clientGaps > 0 || c.line.pending()
	}
	return false
}

// bodyAfterGap starts, at m, a DATA body for transaction t (d.cur if t <
// 0) whose start may be in a client gap: no end-of-data can be told until
// the next line break, no header read, and the end may be in the gap.
func (d *Decoder) bodyAfterGap(t int, m reassembly.Mark) {
	d.client.line.reset()
	d.beginBody(t, m)
	d.client.bodyGapFrom = d.client.gapFrom
	d.client.dot.lost()
	d.client.header.state = headerDone
	d.clientUpdate(clientEvent{in: evBodyInGap})
	d.lostEnd()
}

// authResponse handles a SASL response line: it is answered, never kept.
func (d *Decoder) authResponse(m reassembly.Mark) {
	d.push(pending{kind: pendingAuthResponse, cmd: d.authCmd, txn: -1, rcpt: -1}, m)
}

// clientTLS handles a TLS record where the client should speak SMTP.
func (d *Decoder) clientTLS(m reassembly.Mark) {
	switch {
	case d.client.state == clientStartTLS:
		// The client did not wait for the 220 (or the capture lost it).
		d.startTLS("starttls")
	case d.detect != detectSMTP:
		d.detect = detectTLS
		d.startTLS("implicit")
	default:
		d.anomalyf(AnomalyTLSWithoutSTARTTLS, m.Frame, "the client started TLS without STARTTLS")
		if d.s.TLS == nil {
			d.s.TLS = &TLS{How: "implicit"}
		}
		d.clientUpdate(clientEvent{in: evTLS})
	}
}

// startTLS switches both directions to TLS (RFC 3207 §4: after the 220,
// "the client MUST... start the TLS negotiation").
func (d *Decoder) startTLS(how string) {
	if d.s.TLS == nil {
		d.s.TLS = &TLS{How: how}
	}
	if d.tls == nil {
		d.tls = d.newTLSTrack()
	}
	d.clientUpdate(clientEvent{in: evTLS})
	d.client.line.release()
	d.serverUpdate(serverEvent{in: evServerTLS})
	d.server.line.release()
}

// clientHello reads the ClientHello (tls.go) from the first TLS bytes.
func (d *Decoder) clientHello(p []byte, off int, at reassembly.Marker) int {
	c := &d.client
	if len(c.hello) == 0 && d.s.TLS != nil && d.s.TLS.Frame == 0 {
		d.s.TLS.Frame = at.Mark(off).Frame
	}
	n := min(len(p), maxClientHello-len(c.hello))
	c.hello = append(c.hello, p[:n]...)
	h, err := parseClientHello(c.hello)
	if err == errHelloShort && len(c.hello) < maxClientHello {
		return len(p)
	}
	d.helloDone(h, err, at.Mark(off).Frame)
	return len(p)
}

// helloDone records what the ClientHello said and stops reading TLS.
func (d *Decoder) helloDone(h clientHello, err error, frame int) {
	if err != nil {
		d.anomalyf(AnomalyTLSNotClientHello, frame, "the first TLS bytes are not a readable ClientHello")
	} else if d.s.TLS != nil {
		d.s.TLS.Version, d.s.TLS.ServerName = tlsVersionName(h.version), h.serverName
	}
	d.client.hello = nil
	d.clientUpdate(clientEvent{in: evHelloRead})
}

// authReply handles a reply in an AUTH exchange: 334 asks for another
// response (RFC 4954 §4); anything else ends the exchange and is kept as
// the AUTH command's reply.
func (d *Decoder) authReply(r *Reply) {
	if r.Code == 334 {
		return
	}
	if d.authCmd >= 0 {
		d.s.Commands[d.authCmd].Reply = r
	}
	d.authCmd = -1
	d.clientUpdate(clientEvent{in: evReply, verb: verbAUTH, code: r.Code})
}

// answeredLine handles a reply that comes while nothing awaits one and the
// client has begun a command line that the capture has not finished: the
// server answered the line, so the client sent it whole, and its end is in
// a gap that reassembly reports only with the client's next segment (or
// in a segment still to come). The line becomes a command now, so that
// this reply answers it rather than the command after it; the rest of the
// line is skipped.
func (d *Decoder) answeredLine(r *Reply) {
	c := &d.client
	if d.detect != detectSMTP || !c.line.pending() || (c.state != clientCommand && c.state != clientResync) {
		return
	}
	if r.Code == 421 || r.Class() == 3 || c.last.Time.After(r.Time) {
		// 421 may come unprompted (RFC 5321 §3.8), no line-only command
		// is answered with 3xx, and none before it was sent.
		return
	}
	cmd, ok := visibleCommand(&c.line)
	if !ok {
		return
	}
	c.line.reset()
	d.command(cmd, c.last)
	d.clientUpdate(clientEvent{in: evLineAnswered})
}

// visibleCommand parses the unfinished line of b as a command a gap cut
// (parseCutCommand). A line that ends with CR lacks only its LF: it is
// whole, and read as such.
func visibleCommand(b *lineBuffer) (command, bool) {
	raw := b.buf
	if n := len(raw); b.dropped == 0 && n > 0 && raw[n-1] == '\r' {
		cut, ok := parseCutCommand(raw[:n-1])
		if !ok {
			return command{}, false
		}
		c := parseCommand(raw[:n-1])
		return c, c.valid && c.verb == cut.verb
	}
	return parseCutCommand(raw)
}

// clientGap resynchronises the client side after lost bytes.
func (d *Decoder) clientGap(n int, at reassembly.Mark) {
	c := &d.client
	d.clientGaps++
	d.cutRequestAt()
	// The gap may hide commands: they come before the next request
	// queued, after any the gap cut (pending.afterGap).
	defer func() { d.gapUnqueued = true }()
	if d.cutLine() && n != 0 {
		// The gap's first byte was the LF of the line just read; the
		// next byte begins a line, read in the state the line left.
		if n > 0 {
			n--
		}
		if n == 0 {
			if d.cur >= 0 {
				d.s.Transactions[d.cur].Incomplete = true
			}
			return
		}
	}
	c.line.reset()
	if d.cur >= 0 {
		d.s.Transactions[d.cur].Incomplete = true
	}
	d.envelopeMayChange(n)
	within := false
	switch c.state {
	case clientOpaque:
	case clientTLSHello:
		c.hello = nil
	case clientBody, clientBodyGap:
		if c.state == clientBody {
			c.bodyGapFrom = c.gapFrom
		}
		if n > 0 && d.cur >= 0 {
			d.s.Transactions[d.cur].Size += int64(n)
		}
		d.lostEnd()
		c.dot.lost()
		c.header.state = headerDone
	case clientChunk, clientBlob:
		if n >= 0 && int64(n) < c.remaining {
			// Only bytes of the chunk: its end, and the next command,
			// come after the gap.
			c.remaining -= int64(n)
			if c.state == clientChunk {
				if d.cur >= 0 {
					d.s.Transactions[d.cur].Size += int64(n)
				}
				c.header.state = headerDone
			}
			within = true
			break
		}
		d.lostEnd()
		// The chunk ended inside the gap, and whatever followed it is lost.
		// It ended after the last byte captured before the gap, and before
		// at, which reassembly reports with the next segment, maybe after
		// the server's reply to the chunk: the earlier mark keeps the
		// reply after its request.
		if c.state == clientChunk {
			if n > 0 && d.cur >= 0 {
				d.s.Transactions[d.cur].Size += c.remaining
			}
			c.remaining = 0
			d.chunkDone(c.last)
		} else {
			c.remaining = 0
			d.blobDone(c.last)
		}
	default:
		d.lostEnd()
	}
	d.clientUpdate(clientEvent{in: evGap, within: within})
	d.earlyAtGap()
}

// lostEnd records that a client gap may hold the current transaction's
// end.
func (d *Decoder) lostEnd() {
	if d.cur >= 0 {
		d.txns[d.cur].bytesLost = true
	}
}

// cutLine handles the client's line a gap cut, before the gap resets the
// line. A line that ends with CR lacks only its LF: it is read whole, and
// cutLine reports that the gap began with that LF. A cut command line
// whose visible start parses (parseCutCommand) is taken as sent: the
// server will answer it, and the FIFO of requests must hold it for the
// replies to stay aligned.
func (d *Decoder) cutLine() (wholeLine bool) {
	c := &d.client
	if !c.line.pending() {
		return false
	}
	switch c.state {
	case clientCommand, clientResync, clientAuth, clientStartTLS:
	default:
		return false
	}
	if raw := c.line.buf; c.line.dropped == 0 && raw[len(raw)-1] == '\r' {
		d.clientLine(raw, c.last)
		c.line.reset()
		return d.detect != detectNotSMTP
	}
	if d.detect != detectSMTP || (c.state != clientCommand && c.state != clientResync) {
		return false
	}
	cmd, ok := parseCutCommand(c.line.buf)
	if !ok {
		return false
	}
	d.command(cmd, c.last)
	return false
}
