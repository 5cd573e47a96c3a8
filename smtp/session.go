package smtp

import (
	"fmt"

	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/tlskeys"
	"github.com/smtpscope/smtpscope/tlsrecord"
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
	// MaxPendingCommands bounds the commands awaiting a reply whose
	// replies are matched to them. Past it ("excessive-pending-commands",
	// after Zeek's smtp_excessive_pending_cmds) the replies to NOOP,
	// MAIL, RCPT and the like are counted in order and tied to none, so
	// that the replies after them still match their own commands; DATA,
	// BDAT, STARTTLS, AUTH, EHLO and end-of-data replies are matched up to
	// twice the limit. The decoder holds at most four times the limit
	// entries.
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
	// TLSKeys, if not nil, decrypts TLS sessions whose secrets it holds
	// (tlsdecrypt.go); it may gain keys while the decoder runs.
	TLSKeys *tlskeys.KeyLog
	// TLSKeyWait lets a session whose secrets TLSKeys lacks wait for them
	// (tlsdecrypt.go; the zero value does not wait).
	TLSKeyWait KeyWait
	// ImplicitTLS says the connection is TLS from its first byte: its
	// server port is one of implicit TLS (465, or another the caller was
	// told of; RFC 8314 §3). Its records are read from the start, even
	// when the capture missed the ClientHello (tls.go).
	ImplicitTLS bool
	// Certificates, if not nil, keeps the TLS certificates read for other
	// connections, so that a server's certificate is parsed and checked
	// once a run (tlsrecord.Options.Certificates).
	Certificates *tlsrecord.CertificateCache
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

// dialect is the protocol the client speaks.
type dialect int

const (
	dialectSMTP dialect = iota
	// dialectLMTP: RFC 2033, chosen by LHLO; end-of-data gets one reply
	// per accepted recipient.
	dialectLMTP
)

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
	// clientPre and serverPre set aside a proxy's preamble (preamble.go).
	clientPre, serverPre preambleSide
	// queue is the FIFO of requests awaiting replies (RFC 2920).
	queue []pending
	// skippedReplies counts the replies the pendingSkipped entry at the
	// FIFO's head took so far.
	skippedReplies int
	// gapUnqueued: a client gap came after the last request queued; the
	// next one is marked afterGap. answeredAny: a reply answered a
	// request.
	gapUnqueued, answeredAny bool
	txns                     []txnTrack
	// cur is the transaction the client is working on, -1 if none.
	cur int
	// authCmd is the AUTH command of the exchange under way, -1 if none.
	authCmd int
	// helloAccepted is the last EHLO, HELO or LHLO name the server
	// accepted; helloAnswered is set once one of them was.
	helloAccepted string
	helloAnswered bool
	// undecided counts the bytes seen while detect was undecided.
	undecided   int
	firstServer firstReply
	firstClient firstLine
	clientGaps  int
	serverGaps  int
	// perName counts anomalies by name.
	perName map[string]int
	// tls reads the records once the connection turned to TLS (tlsinfer.go).
	tls *tlsTrack
	// tlsPort is set, on a port of implicit TLS (Options.ImplicitTLS),
	// until the first bytes decide how the connection is read (tls.go).
	tlsPort bool
	// streams places the bytes in their streams, with what each side
	// had acknowledged (ack.go).
	streams streams
	// unplaced counts the replies, refusals aside, tied to no request
	// the capture shows, unplacedAck the acknowledgment on the last
	// (envelope.go).
	unplaced    int
	unplacedAck streamOffset
	// unplacedRefusals counts the refusals among the replies tied to no
	// request the capture shows.
	unplacedRefusals int
	// early is a reply that came in the middle of a DATA body while the
	// server had client bytes the capture had not shown yet (body.go).
	early *earlyReply
}

// NewDecoder returns a Decoder for one connection.
func NewDecoder(opts Options) *Decoder {
	d := &Decoder{opts: opts.withDefaults(), dialect: dialectSMTP, cur: -1, authCmd: -1}
	d.client.blobCmd = -1
	d.queue = append(d.queue, pending{kind: pendingGreeting, cmd: -1, txn: -1, rcpt: -1})
	d.tlsPort = d.opts.ImplicitTLS
	return d
}

var _ reassembly.Handler = (*Decoder)(nil)

// Session returns what the decoder learned. After End it is final. Called
// before End it shows the decoding so far, with the outcomes of unfinished
// transactions still OutcomeUnknown. The Session belongs to the Decoder;
// copy it to keep it past further calls.
func (d *Decoder) Session() *Session {
	d.syncTLS()
	return &d.s
}

// Data implements reassembly.Handler.
func (d *Decoder) Data(dir reassembly.Direction, data []byte, at reassembly.Marker) {
	if d.life == lifeEnded || len(data) == 0 {
		return
	}
	defer func() {
		d.streams.advance(dir, len(data))
		if dir == reassembly.ClientToServer {
			d.earlyPassed()
		}
	}()
	d.read(dir, data, d.streams.begin(dir, at))
}

// read decodes data sent in dir: the bytes of a Data call, or bytes a
// preamble probe held back from earlier calls (which were counted in
// their streams then).
func (d *Decoder) read(dir reassembly.Direction, data []byte, at reassembly.Marker) {
	if d.life == lifeEnded || len(data) == 0 {
		return
	}
	if d.tlsPort {
		d.implicitTLS(dir, data)
	}
	if d.decrypting() {
		d.tlsData(dir, data, 0, at)
		d.readPlain()
		return
	}
	defer d.readPlain()
	if d.preambleOf(dir).state != preambleNone {
		// A proxy's preamble, only ever at the start of a direction.
		if off := d.preambles(dir, data, at); off > 0 {
			if data = data[off:]; len(data) == 0 {
				return
			}
			at = shiftedMarker{m: at, off: off}
		}
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

// lineChecks raises the anomalies of a line's form and returns it without
// its CR.
func (d *Decoder) lineChecks(raw []byte, b *lineBuffer, dir reassembly.Direction, m reassembly.Mark) []byte {
	if b.dropped > 0 {
		d.lineOverLimit(b, dir, m)
		line, _ := trimCR(raw)
		return line
	}
	line, bareLF := trimCR(raw)
	if bareLF {
		d.anomalyOnce(AnomalyBareLF, m.Frame, fmt.Sprintf("a %s line ended with a bare LF, not CRLF (RFC 5321 §2.3.8)", dir))
	}
	return line
}

// lineOverLimit raises line-too-long for a line once it has passed the
// limit, at m, the byte where the decoder saw that: a line without end
// (200 MB without CRLF) is reported while it flows, and only its first
// Options.MaxLineLength bytes are held. The words are the same whether
// the line ended in the segment that passed the limit or later.
func (d *Decoder) lineOverLimit(b *lineBuffer, dir reassembly.Direction, m reassembly.Mark) {
	if b.dropped == 0 || b.told {
		return
	}
	b.told = true
	d.anomalyf(AnomalyLineTooLong, m.Frame, "a %s line over the limit of %d bytes: its first %d bytes are kept, the rest skipped up to its end", dir, d.opts.MaxLineLength, d.opts.MaxLineLength)
}

// Gap implements reassembly.Handler: n bytes sent in dir are missing.
func (d *Decoder) Gap(dir reassembly.Direction, n int, at reassembly.Mark) {
	if dir == reassembly.ServerToClient {
		d.serverGapAt()
	} else {
		d.client.gapFrom = d.streams.offset(dir)
	}
	d.streams.advance(dir, n)
	if d.life == lifeEnded || d.detect == detectNotSMTP {
		return
	}
	what := "an unknown number of bytes"
	if n >= 0 {
		what = fmt.Sprintf("%d bytes", n)
	}
	d.preambleFlush(dir)
	d.anomalyf(AnomalyContentGap, at.Frame, "%s sent by the %s missing from the capture", what, dir)
	d.tlsGap(dir, n, at)
	if d.decrypting() {
		d.readPlain()
		n = -1 // the plaintext lost is of unknown length
	}
	if dir == reassembly.ClientToServer {
		d.clientGap(n, at)
	} else {
		d.serverGap()
	}
}

// Control implements reassembly.Handler: a FIN or RST ends every
// transaction still waiting, from that peer's point of view.
func (d *Decoder) Control(kind reassembly.EventKind, dir reassembly.Direction, at reassembly.Mark) {
	if d.life == lifeEnded {
		return
	}
	d.preambleFlush(dir)
	if len(d.s.Closes) < MaxCloses && d.detect == detectSMTP {
		k := "FIN"
		if kind == reassembly.EventRST {
			k = "RST"
		}
		d.s.Closes = append(d.s.Closes, Close{Kind: k, By: dir.String(), Frame: at.Frame, Time: at.Time, Phase: d.phase()})
	}
	d.tlsControl(kind, dir, at)
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
	if d.s.TLS != nil && !d.decrypting() {
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
	d.lastKeyRetry(at)
	d.preambleFlush(reassembly.ClientToServer)
	d.preambleFlush(reassembly.ServerToClient)
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
			d.anomalyf(AnomalyUnterminatedCommand, at.Frame, "the client's last line never ended with CRLF")
		}
	}
	d.earlyUnanswered()
	d.closeAll(EndCaptureEnded, at)
	d.tlsEnd(at)
	if d.detect == detectSMTP && d.server.seen == 0 && d.serverGaps == 0 && len(d.s.Commands) > 1 {
		// A client gets past its first command only on replies: the
		// capture lacks the server's direction, not the server its
		// replies.
		d.anomalyf(AnomalyOneSidedCapture, at.Frame, "the capture holds no byte from the server")
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
	d.stop()
}

// stop releases both sides' buffers and makes them skip every later byte.
func (d *Decoder) stop() {
	d.client, d.server = clientSide{}, serverSide{}
	d.clientUpdate(clientEvent{in: evStop})
	d.serverUpdate(serverEvent{in: evServerStop})
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

// notSMTP gives up on a connection that does not speak SMTP: from now on
// its bytes are skipped without being buffered.
func (d *Decoder) notSMTP() {
	d.detect = detectNotSMTP
	d.stop()
	d.queue = nil
}
