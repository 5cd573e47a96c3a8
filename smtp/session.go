package smtp

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
)

// Default limits, used where an Options field is zero or negative.
const (
	// DefaultMaxLineLength bounds a command or reply line kept. RFC 5321
	// §4.5.3.1.4-5 allows 512 octets; Postfix accepts 2048 by default.
	DefaultMaxLineLength = 4096
	// DefaultMaxPendingCommands bounds the commands awaiting a reply
	// (RFC 2920 §3.1 lets a client send many before reading replies; RFC
	// 5321 §4.5.3.1.8 requires servers to take 100 recipients).
	DefaultMaxPendingCommands = 1024
	// DefaultMaxCommands bounds Session.Commands.
	DefaultMaxCommands = 10000
	// DefaultMaxTransactions bounds Session.Transactions.
	DefaultMaxTransactions = 1000
	// DefaultMaxRecipients bounds Transaction.Rcpts, as Zeek's
	// max_rcptto_addresses.
	DefaultMaxRecipients = 1000
	// DefaultMaxReplyLines is the number of lines of one reply beyond which
	// the anomaly "reply-too-many-lines" is raised.
	DefaultMaxReplyLines = 1000
	// DefaultMaxAnomalies bounds Session.Anomalies.
	DefaultMaxAnomalies = 100
	// DefaultMaxChunkSize is the BDAT chunk size beyond which the anomaly
	// "huge-bdat-chunk" is raised (chunks are counted, never buffered).
	DefaultMaxChunkSize = 1 << 30
)

// MaxUnmatchedReplies bounds Session.Unmatched.
const MaxUnmatchedReplies = 16

// MaxCloses bounds Session.Closes.
const MaxCloses = 8

// Fixed limits.
const (
	// maxAnomaliesPerName keeps one noisy anomaly from hiding the others.
	maxAnomaliesPerName = 10
	// maxExtensions bounds Session.Extensions.
	maxExtensions = 64
	// detectLimit is how many bytes may pass before a connection that has
	// shown no SMTP line is declared not SMTP and ignored.
	detectLimit = 64 << 10
	// detectMaxLines is how many lines of a direction that do not parse as
	// SMTP make it foreign; with both directions foreign, the connection is
	// not SMTP.
	detectMaxLines = 3
	// maxPregreet bounds the client lines remembered from before the
	// server's first byte, which become commands if a greeting follows.
	maxPregreet = 16
)

// Options sets the decoder's limits. The zero value is useful: every zero
// (or negative) field takes its Default value. Each limit, when hit,
// raises the anomaly named beside it and the decoder goes on.
type Options struct {
	// MaxLineLength bounds the bytes kept of one command or reply line;
	// the rest of a longer line is skipped ("line-too-long").
	MaxLineLength int
	// MaxPendingCommands bounds the commands awaiting a reply; later ones
	// are not matched with replies ("excessive-pending-commands", after
	// Zeek's smtp_excessive_pending_cmds).
	MaxPendingCommands int
	// MaxCommands bounds Session.Commands ("too-many-commands"); the
	// decoder still follows the commands beyond it.
	MaxCommands int
	// MaxTransactions bounds Session.Transactions ("too-many-transactions").
	MaxTransactions int
	// MaxRecipients bounds the recipients kept per transaction
	// ("too-many-recipients").
	MaxRecipients int
	// MaxReplyLines is the number of lines of one reply beyond which
	// "reply-too-many-lines" is raised; the lines are counted, not kept.
	MaxReplyLines int
	// MaxAnomalies bounds Session.Anomalies; Session.AnomaliesDropped
	// counts the rest.
	MaxAnomalies int
	// MaxChunkSize is the BDAT chunk size beyond which "huge-bdat-chunk"
	// is raised.
	MaxChunkSize int64
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxLineLength, DefaultMaxLineLength)
	def(&o.MaxPendingCommands, DefaultMaxPendingCommands)
	def(&o.MaxCommands, DefaultMaxCommands)
	def(&o.MaxTransactions, DefaultMaxTransactions)
	def(&o.MaxRecipients, DefaultMaxRecipients)
	def(&o.MaxReplyLines, DefaultMaxReplyLines)
	def(&o.MaxAnomalies, DefaultMaxAnomalies)
	if o.MaxChunkSize <= 0 {
		o.MaxChunkSize = DefaultMaxChunkSize
	}
	return o
}

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

// detectState is what the decoder has concluded about the connection.
type detectState int

const (
	// detectUndecided: no line has shown SMTP yet.
	detectUndecided detectState = iota
	// detectSMTP: a reply line from the server or a command from the
	// client was seen.
	detectSMTP
	// detectNotSMTP: neither side spoke SMTP; the bytes are ignored.
	detectNotSMTP
	// detectTLS: the client's first bytes were a TLS record: implicit TLS
	// (SMTPS, RFC 8314 §3.3) or any other TLS service; the caller, which
	// knows the ports, decides.
	detectTLS
)

// lifeState is the decoder's own life cycle.
type lifeState int

const (
	lifeOpen  lifeState = iota // accepting calls
	lifeEnded                  // End was called; the Session is final
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

// firstReply records what the server's first reply was.
type firstReply int

const (
	firstReplyNone     firstReply = iota // none yet
	firstReplyGreeting                   // a greeting: the capture saw the session start
	firstReplyOther                      // another reply: the capture began after the greeting
)

// firstLine records what the client's first line was.
type firstLine int

const (
	firstLineNone    firstLine = iota // none yet
	firstLineOpener                   // EHLO, HELO or LHLO: a session start
	firstLineCommand                  // another command: the session began earlier
	firstLineForeign                  // not a command
)

// txnPhase is where a transaction stands.
type txnPhase int

const (
	// txnEnvelope: MAIL (and RCPTs) sent, no body yet.
	txnEnvelope txnPhase = iota
	// txnBody: the body is on its way (DATA after 354, or BDAT chunks
	// before LAST).
	txnBody
	// txnAwaitReply: end-of-data (or BDAT LAST) sent; the final reply is
	// awaited.
	txnAwaitReply
	// txnReplied: the final reply came.
	txnReplied
	// txnAbandoned: the client reset it (RSET, or a new MAIL) before its
	// end.
	txnAbandoned
)

// dialect is the protocol the client speaks.
type dialect int

const (
	dialectSMTP dialect = iota
	// dialectLMTP: RFC 2033, chosen by LHLO; end-of-data gets one reply
	// per accepted recipient.
	dialectLMTP
)

// txnTrack is the decoder's own record of a transaction, beside
// Session.Transactions (same index).
type txnTrack struct {
	phase txnPhase
	// refusal is the first 4xx/5xx reply to MAIL, DATA or a BDAT chunk.
	refusal *Reply
	// endSet is set once Ended/EndFrame/EndTime hold the first end event.
	endSet bool
	// replyLost is set when a server gap may have hidden the final reply.
	replyLost bool
	// bytesLost is set when a client gap fell inside the transaction
	// where it may have held the transaction's end (an end-of-data, a
	// BDAT ... LAST, a RSET): without a final reply, the outcome is then
	// unknown rather than aborted.
	bytesLost bool
	// awaiting counts end-of-data replies still expected (LMTP: several).
	awaiting int
}

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
}

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
}

// Decoder follows one TCP connection's SMTP conversation. It implements
// reassembly.Handler: feed it both directions' bytes in capture order, then
// call End; Session then holds what it found. A Decoder never panics on
// its input, and its memory is bounded by Options whatever the peers send.
// It is not safe for concurrent use.
type Decoder struct {
	opts    Options
	s       Session
	life    lifeState
	detect  detectState
	dialect dialect
	client  clientSide
	server  serverSide
	// queue is the FIFO of requests awaiting replies (RFC 2920).
	queue []pending
	txns  []txnTrack
	// cur is the transaction the client is working on, -1 if none.
	cur int
	// authCmd is the AUTH command of the exchange under way, -1 if none.
	authCmd int
	// undecided counts the bytes seen while detect was undecided.
	undecided   int
	firstServer firstReply
	firstClient firstLine
	clientGaps  int
	serverGaps  int
	// perName counts anomalies by name.
	perName map[string]int
}

// NewDecoder returns a Decoder for one connection.
func NewDecoder(opts Options) *Decoder {
	d := &Decoder{opts: opts.withDefaults(), dialect: dialectSMTP, cur: -1, authCmd: -1}
	d.client.blobCmd = -1
	d.queue = append(d.queue, pending{kind: pendingGreeting, cmd: -1, txn: -1, rcpt: -1})
	return d
}

var _ reassembly.Handler = (*Decoder)(nil)

// Session returns what the decoder learned. After End it is final. Called
// before End it shows the decoding so far, with the outcomes of unfinished
// transactions still OutcomeUnknown. The Session belongs to the Decoder;
// copy it to keep it past further calls.
func (d *Decoder) Session() *Session { return &d.s }

// Data implements reassembly.Handler.
func (d *Decoder) Data(dir reassembly.Direction, data []byte, at reassembly.Marker) {
	if d.life == lifeEnded || len(data) == 0 {
		return
	}
	if d.detect == detectUndecided {
		d.undecided += len(data)
	}
	if dir == reassembly.ClientToServer {
		d.client.last = at.Mark(len(data) - 1)
		d.clientData(data, at)
	} else {
		d.server.last = at.Mark(len(data) - 1)
		d.server.seen += int64(len(data))
		d.serverData(data, at)
	}
	if d.detect == detectUndecided && d.undecided > detectLimit {
		d.notSMTP()
	}
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
		return len(p)
	case clientTLSHello:
		return d.clientHello(p, off, at)
	case clientDataWait:
		// RFC 5321 §4.1.1.4 and RFC 2920 §3.1 want the client to wait for
		// 354; some pipeline the body right behind DATA. A 354 whose line
		// the capture has not finished (its end may be in a gap reported
		// with the server's next segment) was sent all the same.
		if !d.server354Begun() {
			d.anomalyf("body-before-354", at.Mark(off).Frame, "the client sent the message body before the server's 354")
		}
		d.beginBody(d.cur, at.Mark(off))
		return 0
	case clientLineTail:
		j := bytes.IndexByte(p, '\n')
		if j < 0 {
			return len(p)
		}
		c.state = clientCommand
		return j + 1
	case clientBlobWait:
		c.state = clientBlob
		return 0
	case clientBody, clientBodyGap:
		n, end := c.dot.scan(p)
		d.bodyBytes(p[:n])
		if c.dot.loose > 0 {
			d.anomalyf("bare-lf-end-of-data", at.Mark(off+n-1).Frame,
				"a dot line with a bare LF, which some servers take for the end of the message (SMTP smuggling)")
			c.dot.loose = 0
		}
		if end {
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
	line, n, ok := c.line.next(p, d.opts.MaxLineLength)
	if ok {
		d.clientLine(line, at.Mark(off+n-1))
		c.line.reset()
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
		d.anomalyf("command-during-auth", m.Frame, "a command came before the AUTH exchange ended")
		c.state = clientCommand
	case clientResync:
		if len(line) == 1 && line[0] == '.' {
			d.unseenBodyEnd(m)
			return
		}
		cmd := parseCommand(line)
		if cmd.verb == verbUnknown || !cmd.valid {
			return
		}
		c.state = clientCommand
		d.command(cmd, m)
		return
	case clientStartTLS:
		// After STARTTLS the client must wait for the 220 (RFC 3207 §4,
		// §6); commands pipelined behind it are what STARTTLS command
		// injection (CVE-2011-0411) relies on.
		d.anomalyf("command-after-starttls", m.Frame, "the client sent a command before the reply to STARTTLS")
		c.state = clientCommand
	}
	d.command(parseCommand(line), m)
}

// lineChecks raises the anomalies of a line's form and returns it without
// its CR.
func (d *Decoder) lineChecks(raw []byte, b *lineBuffer, dir reassembly.Direction, m reassembly.Mark) []byte {
	if b.dropped > 0 {
		d.anomalyf("line-too-long", m.Frame, "a %s line of %d bytes, over the limit of %d", dir, len(raw)+b.dropped+1, d.opts.MaxLineLength)
		line, _ := trimCR(raw)
		return line
	}
	line, bareLF := trimCR(raw)
	if bareLF {
		d.anomalyOnce("bare-lf", m.Frame, fmt.Sprintf("a %s line ended with a bare LF, not CRLF (RFC 5321 §2.3.8)", dir))
	}
	return line
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
	if d.client.state == clientCommand {
		d.client.state = clientResync
	}
	if d.client.foreign >= detectMaxLines && d.server.foreign >= detectMaxLines {
		d.notSMTP()
	}
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
	if isGreetingCode(rl.code) && d.client.state == clientResync && d.clientGaps == 0 {
		// The client's odd first lines came from the start of a session,
		// not from the middle of one: read its next lines as commands.
		d.client.state = clientCommand
	}
	return true
}

// command handles one command line.
func (d *Decoder) command(c command, m reassembly.Mark) {
	e := pending{kind: pendingCommand, verb: c.verb, cmd: -1, txn: -1, rcpt: -1}
	if c.verb == verbUnknown && c.name == "" {
		// Servers answer an empty line with 500 (RFC 5321 §4.2.4).
		d.anomalyf("empty-command", m.Frame, "an empty command line")
	} else {
		e.cmd = d.recordCommand(c, m)
	}
	switch c.verb {
	case verbEHLO, verbHELO, verbLHLO:
		if !c.truncated {
			d.s.Hello = c.arg // a cut name is no name
		}
		if c.verb == verbLHLO {
			d.dialect = dialectLMTP
		}
	case verbMAIL:
		e.txn = d.beginTransaction(c, m)
	case verbRCPT:
		e.txn = d.envelopeTransaction(m)
		if e.txn >= 0 {
			t := &d.s.Transactions[e.txn]
			if c.truncated {
				t.Incomplete = true
			}
			if len(t.Rcpts) < d.opts.MaxRecipients {
				t.Rcpts = append(t.Rcpts, Recipient{Addr: c.path, Frame: m.Frame, Truncated: c.pathTruncated})
				e.rcpt = len(t.Rcpts) - 1
			} else {
				d.anomalyf("too-many-recipients", m.Frame, "more than %d recipients in one transaction", d.opts.MaxRecipients)
			}
		}
	case verbDATA:
		e.txn = d.cur
		if e.txn >= 0 && d.s.Transactions[e.txn].DataFrame == 0 {
			d.s.Transactions[e.txn].DataFrame, d.s.Transactions[e.txn].DataTime = m.Frame, m.Time
		}
		d.client.state = clientDataWait
	case verbBDAT:
		if !c.valid {
			// The server answers a malformed BDAT with an error and reads
			// no chunk (RFC 3030 §2 gives the size no default).
			d.anomalyf("invalid-bdat-command", m.Frame, "BDAT without a valid chunk size")
			e.txn = d.cur
			break
		}
		e.txn, e.last = d.beginChunk(c, m), c.last
	case verbRSET:
		d.abandon(m)
	case verbQUIT:
		d.clientGaveUp(m)
	case verbSTARTTLS:
		d.client.state = clientStartTLS
	case verbAUTH:
		d.client.state = clientAuth
		d.authCmd = e.cmd
	case verbXEXCH50:
		if c.valid && c.size > 0 {
			d.client.remaining = c.size
			d.client.blobCmd = e.cmd
			d.client.state = clientBlobWait
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
		d.anomalyOnce("too-many-commands", m.Frame, fmt.Sprintf("more than %d commands; later ones are not listed", d.opts.MaxCommands))
		return -1
	}
	d.s.Commands = append(d.s.Commands, Command{Verb: c.name, Arg: c.arg, Frame: m.Frame, Time: m.Time, Truncated: c.truncated})
	return len(d.s.Commands) - 1
}

// push adds an entry to the FIFO of requests awaiting replies; m marks the
// request.
func (d *Decoder) push(e pending, m reassembly.Mark) {
	if len(d.queue) >= d.opts.MaxPendingCommands {
		d.anomalyOnce("excessive-pending-commands", m.Frame, fmt.Sprintf("more than %d commands awaiting replies; later ones are not matched", d.opts.MaxPendingCommands))
		return
	}
	e.sent = m.Time
	d.queue = append(d.queue, e)
}

// newTransaction appends a transaction and returns its index, or -1 beyond
// MaxTransactions.
func (d *Decoder) newTransaction(t Transaction, frame int) int {
	if len(d.s.Transactions) >= d.opts.MaxTransactions {
		d.anomalyOnce("too-many-transactions", frame, fmt.Sprintf("more than %d mail transactions; later ones are not listed", d.opts.MaxTransactions))
		return -1
	}
	d.s.Transactions = append(d.s.Transactions, t)
	d.txns = append(d.txns, txnTrack{})
	return len(d.s.Transactions) - 1
}

// beginTransaction starts the transaction of a MAIL command (RFC 5321
// §3.3).
func (d *Decoder) beginTransaction(c command, m reassembly.Mark) int {
	if d.cur >= 0 {
		if tr := &d.txns[d.cur]; tr.phase == txnEnvelope || tr.phase == txnBody {
			if r := d.s.Transactions[d.cur].MailReply; r == nil || r.Class() == 2 {
				d.anomalyf("nested-mail-transaction", m.Frame, "MAIL while the previous transaction was open")
			}
			d.abandon(m)
		}
	}
	t := Transaction{MailFrom: c.path, MailFromTruncated: c.pathTruncated, SizeParam: c.size, BodyParam: c.body,
		MailFrame: m.Frame, MailTime: m.Time, Incomplete: c.truncated}
	d.cur = d.newTransaction(t, m.Frame)
	return d.cur
}

// synthesisAllowed says whether a transaction may be created for a RCPT,
// a body or an end-of-data whose MAIL the capture did not show: only when
// a gap or a mid-stream start can explain the missing MAIL.
func (d *Decoder) synthesisAllowed() bool {
	if d.clientGaps > 0 || d.serverGaps > 0 {
		return true
	}
	switch d.firstServer {
	case firstReplyGreeting:
		return false
	case firstReplyOther:
		return true
	}
	return d.firstClient != firstLineOpener
}

// orphanTransaction returns the current transaction, or creates an
// incomplete one when its MAIL was not captured; otherwise it raises the
// anomaly name and returns -1.
func (d *Decoder) orphanTransaction(m reassembly.Mark, name, detail string) int {
	if d.cur >= 0 {
		return d.cur
	}
	if !d.synthesisAllowed() {
		d.anomalyf(name, m.Frame, "%s", detail)
		return -1
	}
	d.cur = d.newTransaction(Transaction{SizeParam: -1, Incomplete: true}, m.Frame)
	return d.cur
}

// envelopeTransaction is the transaction a RCPT belongs to.
func (d *Decoder) envelopeTransaction(m reassembly.Mark) int {
	return d.orphanTransaction(m, "rcpt-without-mail", "RCPT without a MAIL transaction")
}

// beginChunk starts a BDAT chunk (RFC 3030 §2) and returns its transaction.
func (d *Decoder) beginChunk(c command, m reassembly.Mark) int {
	t := d.cur
	if t < 0 {
		// A BDAT without MAIL still carries its chunk; the server refuses
		// it (503) but must read it.
		t = d.orphanTransaction(m, "body-without-mail", "a message body without a MAIL transaction")
		if t < 0 {
			t = d.newTransaction(Transaction{SizeParam: -1}, m.Frame)
			d.cur = t
		}
	}
	if t >= 0 {
		tx, tr := &d.s.Transactions[t], &d.txns[t]
		if tr.phase == txnEnvelope {
			tr.phase = txnBody
			tx.Method = "BDAT"
			tx.DataFrame, tx.DataTime = m.Frame, m.Time
			d.client.header.reset()
		}
		tx.Chunks++
	}
	if c.size > d.opts.MaxChunkSize {
		d.anomalyf("huge-bdat-chunk", m.Frame, "a BDAT chunk of %d bytes", c.size)
	}
	d.client.remaining, d.client.chunkLast = c.size, c.last
	if c.size > 0 {
		d.client.state = clientChunk
	}
	return t
}

// chunkDone ends a BDAT chunk at m, its last byte (or the command line's
// end for an empty chunk).
func (d *Decoder) chunkDone(m reassembly.Mark) {
	d.client.state = clientCommand
	if !d.client.chunkLast {
		return
	}
	d.client.chunkLast = false
	t := d.cur
	d.cur = -1
	if t < 0 {
		return
	}
	tx, tr := &d.s.Transactions[t], &d.txns[t]
	tx.EndOfDataFrame, tx.EndOfDataTime = m.Frame, m.Time
	tr.phase = txnAwaitReply
	tr.awaiting = 1
	if d.dialect == dialectLMTP {
		// The BDAT LAST entry takes the first recipient's reply.
		for i := 1; i < d.acceptedRecipients(t); i++ {
			d.push(pending{kind: pendingEndOfData, cmd: -1, txn: t, rcpt: -1}, m)
			tr.awaiting++
		}
	}
}

// blobDone ends an XEXCH50 blob: the server answers it with a second
// reply, which becomes the command's reply.
func (d *Decoder) blobDone(m reassembly.Mark) {
	d.client.state = clientCommand
	d.push(pending{kind: pendingCommand, verb: verbXEXCH50, cmd: d.client.blobCmd, txn: -1, rcpt: -1}, m)
}

// beginBody starts a DATA body for transaction t (d.cur if t < 0).
func (d *Decoder) beginBody(t int, m reassembly.Mark) {
	if t < 0 {
		t = d.cur
	}
	if t < 0 {
		t = d.orphanTransaction(m, "body-without-mail", "a message body without a MAIL transaction")
		if t < 0 {
			t = d.newTransaction(Transaction{SizeParam: -1}, m.Frame)
		}
	}
	d.cur = t
	if t >= 0 {
		tx, tr := &d.s.Transactions[t], &d.txns[t]
		tx.Method = "DATA"
		tr.phase = txnBody
	}
	d.client.dot.reset()
	d.client.header.reset()
	d.client.state = clientBody
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
	d.client.dot.lost()
	d.client.header.state = headerDone
	d.client.state = clientBodyGap
	d.lostEnd()
}

// bodyBytes accounts body bytes (DATA or BDAT) to the current transaction.
func (d *Decoder) bodyBytes(p []byte) {
	if d.cur < 0 || len(p) == 0 {
		return
	}
	tx := &d.s.Transactions[d.cur]
	tx.Size += int64(len(p))
	h := &d.client.header
	if h.state != headerLine {
		return
	}
	h.feed(p)
	if h.messageID != "" && tx.MessageID == "" {
		tx.MessageID = h.messageID
	}
	if h.tooLong {
		h.tooLong = false
		d.anomalyf("headers-too-long", tx.MailFrame, "no end of the header section in the first %d bytes", maxHeaderBytes)
	}
}

// endOfData handles the end-of-data line of a DATA body, whose last byte
// is at m.
func (d *Decoder) endOfData(m reassembly.Mark) {
	d.client.state = clientCommand
	t := d.cur
	d.cur = -1
	if t < 0 {
		d.push(pending{kind: pendingEndOfData, cmd: -1, txn: -1, rcpt: -1}, m)
		return
	}
	tx := &d.s.Transactions[t]
	tx.Size -= int64(len(".\r\n"))
	if tx.Size < 0 {
		tx.Size = 0
	}
	tx.EndOfDataFrame, tx.EndOfDataTime = m.Frame, m.Time
	d.awaitFinal(t, m)
}

// awaitFinal queues the end-of-data reply (or replies, in LMTP) of t.
func (d *Decoder) awaitFinal(t int, m reassembly.Mark) {
	tr := &d.txns[t]
	tr.phase = txnAwaitReply
	n := 1
	if d.dialect == dialectLMTP {
		n = max(1, d.acceptedRecipients(t))
	}
	for i := 0; i < n; i++ {
		e := pending{kind: pendingEndOfData, cmd: -1, txn: t, rcpt: -1}
		if d.dialect == dialectLMTP {
			e.rcpt = d.nthAccepted(t, i)
		}
		d.push(e, m)
	}
	tr.awaiting = n
}

// acceptedRecipients counts the recipients of t with a 2xx reply.
func (d *Decoder) acceptedRecipients(t int) int {
	n := 0
	for _, r := range d.s.Transactions[t].Rcpts {
		if r.Reply != nil && r.Reply.Class() == 2 {
			n++
		}
	}
	return n
}

// nthAccepted returns the index of the i-th accepted recipient of t, -1 if
// none.
func (d *Decoder) nthAccepted(t, i int) int {
	for j, r := range d.s.Transactions[t].Rcpts {
		if r.Reply != nil && r.Reply.Class() == 2 {
			if i == 0 {
				return j
			}
			i--
		}
	}
	return -1
}

// unseenBodyEnd handles a lone "." seen while resynchronising: the end of a
// body whose start the capture missed.
func (d *Decoder) unseenBodyEnd(m reassembly.Mark) {
	t := d.cur
	if t >= 0 && d.txns[t].phase != txnEnvelope && d.txns[t].phase != txnBody {
		t = -1
	}
	if t < 0 {
		if !d.synthesisAllowed() {
			return
		}
		t = d.newTransaction(Transaction{SizeParam: -1}, m.Frame)
		if t < 0 {
			return
		}
	}
	d.cur = -1
	d.client.state = clientCommand
	tx := &d.s.Transactions[t]
	tx.Incomplete = true
	if tx.Method == "" {
		tx.Method = "DATA"
	}
	tx.EndOfDataFrame, tx.EndOfDataTime = m.Frame, m.Time
	d.awaitFinal(t, m)
}

// abandon handles the client leaving the current transaction before its
// end (RSET, RFC 5321 §4.1.1.5, or a new MAIL).
func (d *Decoder) abandon(m reassembly.Mark) {
	t := d.cur
	d.cur = -1
	if t < 0 {
		return
	}
	if tr := &d.txns[t]; tr.phase == txnEnvelope || tr.phase == txnBody {
		tr.phase = txnAbandoned
		d.setEnd(t, EndClientClosed, m)
	}
}

// clientGaveUp handles QUIT: every transaction still waiting ends there,
// from the client's point of view. A QUIT in the same frame as the
// end-of-data is pipelining (RFC 2920 §3.1), not giving up.
func (d *Decoder) clientGaveUp(m reassembly.Mark) {
	for i := range d.txns {
		tr := &d.txns[i]
		switch tr.phase {
		case txnAwaitReply:
			if d.s.Transactions[i].EndOfDataFrame == m.Frame {
				continue
			}
		case txnEnvelope, txnBody:
		default:
			continue
		}
		d.setEnd(i, EndClientClosed, m)
	}
	d.cur = -1
}

// setEnd records the first end event of an unfinished transaction.
func (d *Decoder) setEnd(t int, why EndReason, m reassembly.Mark) {
	if d.txns[t].endSet {
		return
	}
	d.txns[t].endSet = true
	tx := &d.s.Transactions[t]
	tx.Ended, tx.EndFrame, tx.EndTime = why, m.Frame, m.Time
}

// closeAll records an end event for every unfinished transaction.
func (d *Decoder) closeAll(why EndReason, m reassembly.Mark) {
	for i := range d.txns {
		switch d.txns[i].phase {
		case txnEnvelope, txnBody, txnAwaitReply:
			d.setEnd(i, why, m)
		}
	}
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
		d.anomalyf("tls-without-starttls", m.Frame, "the client started TLS without STARTTLS")
		if d.s.TLS == nil {
			d.s.TLS = &TLS{How: "implicit"}
		}
		d.client.state = clientTLSHello
	}
}

// startTLS switches both directions to TLS (RFC 3207 §4: after the 220,
// "the client MUST... start the TLS negotiation").
func (d *Decoder) startTLS(how string) {
	if d.s.TLS == nil {
		d.s.TLS = &TLS{How: how}
	}
	d.client.state = clientTLSHello
	d.client.line.release()
	d.server.state = serverOpaque
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
		d.anomalyf("tls-not-clienthello", frame, "the first TLS bytes are not a readable ClientHello")
	} else if d.s.TLS != nil {
		d.s.TLS.Version, d.s.TLS.ServerName = tlsVersionName(h.version), h.serverName
	}
	d.client.hello = nil
	d.client.state = clientOpaque
}

// serverData splits the server's bytes into lines.
func (d *Decoder) serverData(p []byte, at reassembly.Marker) {
	for off := 0; off < len(p); {
		if d.server.state == serverOpaque {
			return
		}
		line, n, ok := d.server.line.next(p[off:], d.opts.MaxLineLength)
		if ok {
			d.serverLine(line, at.Mark(off+n-1))
			d.server.line.reset()
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
				d.anomalyf("malformed-reply", m.Frame, "a reply line without a reply code")
				d.startReply(replyLine{text: line})
				d.finishReply(m)
				return
			}
			d.anomalyf("malformed-reply", m.Frame, "a server line that is not a reply")
			return
		}
		d.beginReply(rl, m)
	case serverReplyContinue:
		rl, ok := parseReplyLine(line)
		if !ok {
			d.anomalyf("malformed-reply", m.Frame, "a line inside a multi-line reply without a reply code")
			return
		}
		if rl.code != s.reply.Code {
			d.anomalyf("reply-code-mismatch", m.Frame, "reply line %d continues reply %d (RFC 5321 §4.2.1)", rl.code, s.reply.Code)
		}
		s.reply.Lines++
		if s.reply.Lines == d.opts.MaxReplyLines+1 {
			d.anomalyf("reply-too-many-lines", m.Frame, "a reply of more than %d lines", d.opts.MaxReplyLines)
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
	s.state = serverCutReplyRest
	if !rl.more {
		// The lines since the gap are whole and ended the reply: the
		// gap held none of the replies that follow.
		s.state = serverReplyStart
	}
}

// beginReply starts a reply at its first line and, if that is also its
// last, finishes it; otherwise the lines that follow continue it.
func (d *Decoder) beginReply(rl replyLine, m reassembly.Mark) {
	d.startReply(rl)
	if rl.more {
		d.server.state = serverReplyContinue
		return
	}
	d.finishReply(m)
}

// startReply begins assembling a reply from its first line.
func (d *Decoder) startReply(rl replyLine) {
	s := &d.server
	enh, text := splitEnhanced(rl.text)
	s.resynced = s.state == serverResync || s.state == serverCutReply
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
	s.state = serverReplyStart
	d.deliverReply(r, s.resynced)
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
		// The greeting came before the capture began.
	}
	if d.firstServer == firstReplyNone {
		d.firstServer = firstReplyOther
	}
	if len(d.queue) == 0 {
		d.answeredLine(r)
	}
	if len(d.queue) == 0 {
		switch c := d.client.state; {
		case r.Code == 354 && (c == clientBodyGap || d.dataHidden()):
			// The reply to a DATA a client gap hid: what follows is a
			// body (if it has not begun with the 354's first bytes).
			d.anomalyf("unmatched-reply", r.Frame, "reply 354 answers a DATA the capture lost")
			if len(d.s.Unmatched) < MaxUnmatchedReplies {
				d.s.Unmatched = append(d.s.Unmatched, *r)
			}
			if c != clientBodyGap {
				d.bodyAfterGap(-1, reassembly.Mark{Frame: r.Frame, Time: r.Time})
			}
		case c == clientBodyGap:
			d.lostEndOfData(r, resynced)
		case c == clientBody:
			d.anomalyf("reply-during-body", r.Frame, "the server sent %d in the middle of the message body", r.Code)
		default:
			if d.firstServer != firstReplyOther || len(d.s.Commands) > 0 {
				d.anomalyf("unmatched-reply", r.Frame, "reply %d answers no command", r.Code)
				if len(d.s.Unmatched) < MaxUnmatchedReplies {
					d.s.Unmatched = append(d.s.Unmatched, *r)
				}
			}
		}
		return
	}
	if d.queue[0].sent.After(r.Time) {
		// The reply was complete before the oldest request awaiting one
		// was sent, so it answers a request a client gap hid. (A reply a
		// gap cut is delivered when reassembly reports the gap, with the
		// server's next segment, after requests sent since.)
		d.anomalyf("unmatched-reply", r.Frame, "reply %d came before the command it would answer: it answers one the capture lost", r.Code)
		if len(d.s.Unmatched) < MaxUnmatchedReplies {
			d.s.Unmatched = append(d.s.Unmatched, *r)
		}
		return
	}
	i := 0
	if resynced {
		if i = d.resyncIndex(r.Code); d.queue[i].sent.After(r.Time) {
			i = 0
		}
		for _, e := range d.queue[:i] {
			d.replyLost(e)
		}
	}
	e := d.queue[i]
	d.queue = d.queue[i+1:]
	d.answer(e, r)
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
	d.anomalyf("pregreet", pre[0].Frame, "the client sent %d lines before the server's greeting", len(pre))
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
	case verbEHLO, verbLHLO:
		if r.Class() == 2 {
			d.s.Extensions = append([]string(nil), d.server.ext...)
		}
	case verbMAIL:
		if e.txn >= 0 {
			d.s.Transactions[e.txn].MailReply = r
			d.refused(e.txn, r)
		}
	case verbRCPT:
		if e.txn >= 0 && e.rcpt >= 0 {
			d.s.Transactions[e.txn].Rcpts[e.rcpt].Reply = r
		}
	case verbDATA:
		if e.txn >= 0 {
			d.s.Transactions[e.txn].DataReply = r
		}
		switch {
		case r.Code == 354 && (d.client.state == clientDataWait || d.client.state == clientResync && d.clientGaps > 0):
			if d.client.state == clientResync {
				// DATA was sent before a client gap: the body began in it.
				d.bodyAfterGap(e.txn, reassembly.Mark{Frame: r.Frame, Time: r.Time})
				break
			}
			d.beginBody(e.txn, reassembly.Mark{Frame: r.Frame, Time: r.Time})
		case r.Code == 354:
			// The body began before the 354 (body-before-354).
		default:
			d.refused(e.txn, r)
			if d.client.state == clientDataWait || d.client.state == clientBody && e.txn == d.cur {
				// The server reads what follows as commands (RFC 5321
				// §4.1.1.4 has no body without 354), and so do we.
				d.client.state = clientCommand
				if e.txn >= 0 && d.txns[e.txn].phase == txnBody {
					d.txns[e.txn].phase = txnEnvelope
					d.s.Transactions[e.txn].Method = ""
				}
			}
		}
	case verbBDAT:
		switch {
		case e.txn < 0:
		case e.last:
			d.finalReply(e.txn, -1, r)
		default:
			d.refused(e.txn, r)
		}
	case verbSTARTTLS:
		if r.Code == 220 {
			d.startTLS("starttls")
		} else if d.client.state == clientStartTLS {
			d.client.state = clientCommand // 454, 501...: the session stays in clear
		}
	case verbAUTH:
		d.authReply(r)
	case verbXEXCH50:
		if d.client.state == clientBlobWait {
			if r.Code == 354 {
				d.client.state = clientBlob
			} else {
				d.client.state = clientCommand
			}
		}
	}
}

// refused keeps the first 4xx/5xx reply of a transaction's commands.
func (d *Decoder) refused(t int, r *Reply) {
	if t < 0 {
		return
	}
	if c := r.Class(); (c == 4 || c == 5) && d.txns[t].refusal == nil {
		d.txns[t].refusal = r
	}
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
	if d.client.state == clientAuth {
		d.client.state = clientCommand
	}
}

// finalReply applies the reply after end-of-data (or to BDAT LAST) to t;
// rcpt is the recipient it is for in LMTP, else -1.
func (d *Decoder) finalReply(t, rcpt int, r *Reply) {
	if t < 0 {
		return
	}
	tx, tr := &d.s.Transactions[t], &d.txns[t]
	if rcpt >= 0 {
		tx.Rcpts[rcpt].DataReply = r
	}
	// In LMTP the transaction keeps the first refusal, else the last reply.
	if tx.Reply == nil || tx.Reply.Class() == 2 {
		tx.Reply = r
	}
	if tr.awaiting > 0 {
		tr.awaiting--
	}
	if tr.awaiting == 0 {
		tr.phase = txnReplied
	}
	// A reply a gap cut is delivered when reassembly reports the gap, maybe
	// after a QUIT the client sent once it had the reply: late only if it
	// came after the client gave up.
	if tr.endSet && (tx.Ended == EndClientClosed || tx.Ended == EndClientReset) && !tx.LateReply && !r.Time.Before(tx.EndTime) {
		tx.LateReply = true
		d.anomalyf("late-reply", r.Frame, "the final reply came after the client gave up in frame %d", tx.EndFrame)
	}
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
	c.state = clientLineTail
	c.line.reset()
	d.command(cmd, c.last)
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

// lostEndOfData handles a reply that can only answer an end-of-data the
// capture lost in a gap of the body: nothing else awaits a reply. If the
// server's bytes since its last reply are whole, the order of replies
// (RFC 2920 §3) makes it the final reply, and the transaction keeps it,
// Incomplete. After a gap in the server's bytes too (resynced), that gap
// may have held the final reply, and this one may answer a command the
// client's gap hid: it is kept among the unmatched replies and the
// outcome stays unknown. Either way the body is over.
func (d *Decoder) lostEndOfData(r *Reply, resynced bool) {
	d.client.state = clientResync
	d.client.line.reset()
	t := d.cur
	d.cur = -1
	if resynced {
		d.anomalyf("end-of-data-in-gap", r.Frame, "reply %d follows an end-of-data lost from the capture, after a gap in the server's bytes: it cannot be tied to the end-of-data", r.Code)
		if len(d.s.Unmatched) < MaxUnmatchedReplies {
			d.s.Unmatched = append(d.s.Unmatched, *r)
		}
		if t >= 0 {
			d.s.Transactions[t].Incomplete = true
			d.txns[t].phase = txnReplied
		}
		return
	}
	d.anomalyf("end-of-data-in-gap", r.Frame, "the server replied to an end-of-data lost from the capture")
	if t < 0 {
		return
	}
	d.s.Transactions[t].Incomplete = true
	d.txns[t].phase, d.txns[t].awaiting = txnAwaitReply, 1
	d.finalReply(t, -1, r)
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

// Gap implements reassembly.Handler: n bytes sent in dir are missing.
func (d *Decoder) Gap(dir reassembly.Direction, n int, at reassembly.Mark) {
	if d.life == lifeEnded || d.detect == detectNotSMTP {
		return
	}
	what := "an unknown number of bytes"
	if n >= 0 {
		what = fmt.Sprintf("%d bytes", n)
	}
	d.anomalyf("content-gap", at.Frame, "%s sent by the %s missing from the capture", what, dir)
	if dir == reassembly.ClientToServer {
		d.clientGap(n, at)
	} else {
		d.serverGap()
	}
}

// clientGap resynchronises the client side after lost bytes.
func (d *Decoder) clientGap(n int, at reassembly.Mark) {
	c := &d.client
	d.clientGaps++
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
	switch c.state {
	case clientOpaque:
	case clientTLSHello:
		c.hello = nil
		c.state = clientOpaque
	case clientBody, clientBodyGap:
		if n > 0 && d.cur >= 0 {
			d.s.Transactions[d.cur].Size += int64(n)
		}
		d.lostEnd()
		c.dot.lost()
		c.header.state = headerDone
		c.state = clientBodyGap
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
			return
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
		c.state = clientResync
	default:
		d.lostEnd()
		c.state = clientResync
	}
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
	c.state = clientCommand
	d.command(cmd, c.last)
	return false
}

// serverGap resynchronises the server side after lost bytes: any reply
// awaited so far may have been among them.
func (d *Decoder) serverGap() {
	if d.server.state == serverOpaque {
		return
	}
	d.serverGaps++
	next := d.cutReply()
	d.server.line.reset()
	if d.server.state == serverOpaque {
		return // the cut reply was STARTTLS's 220
	}
	d.server.state = next
	for _, e := range d.queue {
		if e.txn >= 0 {
			d.s.Transactions[e.txn].Incomplete = true
			if e.kind == pendingEndOfData || e.last {
				d.txns[e.txn].replyLost = true
			}
		}
	}
}

// cutReply handles the reply a server gap cut, and returns the server
// state after the gap. A reply whose code was captured was sent, whatever
// the gap hid of its text: a last line ("250 ...") ends it, and a
// continuation line ("250-...") or a gap between the lines of a
// multi-line reply leaves its last lines in the gap or after it. Either
// way it is delivered now, Truncated, so that it answers its request and
// the FIFO stays aligned; lines after the gap that continue it are then
// skipped (serverCutReply). A code cut short ("25") is nothing.
func (d *Decoder) cutReply() serverState {
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
			return serverResync
		}
		return serverCutReply
	case serverCutReplyRest:
		if ok && !rl.more {
			return serverResync // the reply ended just before the gap
		}
		return serverCutReply
	case serverReplyStart, serverResync, serverCutReply:
		if !ok {
			if s.state == serverCutReply {
				return serverCutReply
			}
			return serverResync
		}
		if s.state == serverCutReply && rl.code == s.reply.Code && (rl.more || len(d.queue) == 0) {
			return serverCutReply // more of the reply cut before
		}
		if d.detect == detectUndecided && !d.classifyServer(line) {
			return serverResync
		}
		d.startReply(rl)
		d.finishCutReply()
		if rl.more {
			return serverCutReply
		}
	}
	return serverResync
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

// Control implements reassembly.Handler: a FIN or RST ends every
// transaction still waiting, from that peer's point of view.
func (d *Decoder) Control(kind reassembly.EventKind, dir reassembly.Direction, at reassembly.Mark) {
	if d.life == lifeEnded {
		return
	}
	if len(d.s.Closes) < MaxCloses && d.detect == detectSMTP {
		k := "FIN"
		if kind == reassembly.EventRST {
			k = "RST"
		}
		d.s.Closes = append(d.s.Closes, Close{Kind: k, By: dir.String(), Frame: at.Frame, Time: at.Time, Phase: d.phase()})
	}
	why := EndClientClosed
	switch {
	case kind == reassembly.EventFIN && dir == reassembly.ServerToClient:
		why = EndServerClosed
	case kind == reassembly.EventRST && dir == reassembly.ClientToServer:
		why = EndClientReset
	case kind == reassembly.EventRST:
		why = EndServerReset
	}
	d.closeAll(why, at)
}

// phase names where the session is, for Close.Phase.
func (d *Decoder) phase() string {
	if d.s.TLS != nil {
		return "tls"
	}
	for i := len(d.txns) - 1; i >= 0; i-- {
		switch d.txns[i].phase {
		case txnEnvelope:
			return "envelope"
		case txnBody:
			return "body"
		case txnAwaitReply:
			return "awaiting-reply"
		}
	}
	for i := range d.s.Commands {
		if d.s.Commands[i].Verb == "QUIT" {
			return "after-quit"
		}
	}
	if d.s.Banner == nil {
		return "before-greeting"
	}
	return "idle"
}

// End implements reassembly.Handler: it settles every outcome.
func (d *Decoder) End(at reassembly.Mark) {
	if d.life == lifeEnded {
		return
	}
	if d.client.state == clientTLSHello && len(d.client.hello) > 0 {
		h, err := parseClientHello(d.client.hello)
		if err == errHelloShort {
			// The capture ended inside the record: read what there is.
			h, err = parseClientHello(truncatedRecord(d.client.hello))
		}
		d.helloDone(h, err, at.Frame)
	}
	if d.detect == detectSMTP {
		d.partialReply(at)
		if (d.client.state == clientCommand || d.client.state == clientAuth) && d.client.line.pending() {
			d.anomalyf("unterminated-command", at.Frame, "the client's last line never ended with CRLF")
		}
	}
	d.closeAll(EndCaptureEnded, at)
	if d.detect == detectSMTP && d.server.seen == 0 && d.serverGaps == 0 && len(d.s.Commands) > 1 {
		// A client gets past its first command only on replies: the
		// capture lacks the server's direction, not the server its
		// replies.
		d.anomalyf("one-sided-capture", at.Frame, "the capture holds no byte from the server")
		for i := range d.txns {
			d.txns[i].replyLost = true
			d.s.Transactions[i].Incomplete = true
		}
	}
	for i := range d.s.Transactions {
		d.settle(i)
	}
	d.life = lifeEnded
	s := &d.s
	s.IsSMTP = d.detect == detectSMTP
	s.MidStream = s.IsSMTP && (d.firstServer == firstReplyOther ||
		d.firstServer == firstReplyNone && (d.firstClient == firstLineCommand || d.firstClient == firstLineForeign))
	if !s.IsSMTP {
		*s = Session{TLS: s.TLS}
	}
	d.queue, d.txns = nil, nil
	d.client = clientSide{state: clientOpaque}
	d.server = serverSide{state: serverOpaque}
}

// truncatedRecord rewrites the length of a TLS record cut short by the end
// of the capture so that the parser reads the bytes there are.
func truncatedRecord(b []byte) []byte {
	if len(b) < 5 {
		return b
	}
	out := append([]byte(nil), b...)
	n := len(out) - 5
	out[3], out[4] = byte(n>>8), byte(n)
	return out
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
			d.anomalyf("unterminated-reply-line", at.Frame, "the server's last line never ended with CRLF and is not a reply")
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
	d.anomalyf("partial-reply", r.Frame, "the server's reply %d never ended with CRLF", r.Code)
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

// settle decides the outcome of transaction i once nothing more can come.
func (d *Decoder) settle(i int) {
	tx, tr := &d.s.Transactions[i], &d.txns[i]
	switch {
	case tx.Reply != nil:
		tx.Outcome = outcomeOf(tx.Reply)
	case tr.refusal != nil:
		tx.Outcome = outcomeOf(tr.refusal)
	case tr.phase == txnEnvelope || tr.phase == txnAbandoned:
		if o, ok := recipientsRefused(tx); ok {
			tx.Outcome = o
		} else if tr.endSet && tx.Ended != EndCaptureEnded && !tr.bytesLost {
			tx.Outcome = OutcomeAborted // the client gave up, or a peer closed
		}
	case tr.phase == txnAwaitReply:
		if tr.replyLost {
			tx.Incomplete = true // the reply may be in a capture gap
		} else {
			tx.Outcome = OutcomeNoReply
		}
	case tr.phase == txnBody && !tr.bytesLost:
		// Ended says whether a peer cut the body short or the capture did.
		tx.Outcome = OutcomeAborted
	}
	switch tx.Outcome {
	case OutcomeNoReply, OutcomeAborted, OutcomeUnknown:
	default:
		if !tx.LateReply {
			// Ended and its marks describe failures only.
			tx.Ended, tx.EndFrame, tx.EndTime = EndCaptureEnded, 0, time.Time{}
		}
	}
}

// recipientsRefused returns the outcome of a transaction whose recipients
// were all refused: deferred if any refusal was transient, else rejected.
func recipientsRefused(tx *Transaction) (Outcome, bool) {
	if len(tx.Rcpts) == 0 {
		return OutcomeUnknown, false
	}
	o := OutcomeRejected
	for _, r := range tx.Rcpts {
		if r.Reply == nil {
			return OutcomeUnknown, false
		}
		switch r.Reply.Class() {
		case 4:
			o = OutcomeDeferred
		case 5:
		default:
			return OutcomeUnknown, false
		}
	}
	return o, true
}

// outcomeOf classifies a final reply by its basic code (RFC 5321 §4.2.1,
// §4.2.5), falling back on the enhanced code's class.
func outcomeOf(r *Reply) Outcome {
	switch r.Class() {
	case 2:
		return OutcomeDelivered
	case 4:
		return OutcomeDeferred
	case 5:
		return OutcomeRejected
	}
	return OutcomeUnknown
}

// notSMTP gives up on a connection that does not speak SMTP: from now on
// its bytes are skipped without being buffered.
func (d *Decoder) notSMTP() {
	d.detect = detectNotSMTP
	d.client = clientSide{state: clientOpaque}
	d.server = serverSide{state: serverOpaque}
	d.queue = nil
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

// anomalyf records an anomaly, within the bounds.
func (d *Decoder) anomalyf(name string, frame int, format string, args ...any) {
	if d.perName == nil {
		d.perName = make(map[string]int)
	}
	d.perName[name]++
	if d.perName[name] > maxAnomaliesPerName || len(d.s.Anomalies) >= d.opts.MaxAnomalies {
		d.s.AnomaliesDropped++
		return
	}
	d.s.Anomalies = append(d.s.Anomalies, Anomaly{Name: name, Frame: frame, Detail: fmt.Sprintf(format, args...)})
}

// anomalyOnce records an anomaly only the first time it happens.
func (d *Decoder) anomalyOnce(name string, frame int, detail string) {
	if d.perName[name] > 0 {
		d.perName[name]++
		return
	}
	d.anomalyf(name, frame, "%s", detail)
}
