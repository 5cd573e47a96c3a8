package smtp

import (
	"time"

	"github.com/smtpscope/smtpscope/tlsrecord"
)

// Reply is one SMTP reply (RFC 5321 §4.2), single- or multi-line.
type Reply struct {
	// Code is the three-digit reply code, e.g. 250.
	Code int
	// Enhanced is the RFC 3463 enhanced status code ({4, 4, 2}) if the
	// reply's first line carries one, else zero.
	Enhanced EnhancedCode
	// Text is the text of the first line after the code (and enhanced code).
	Text string
	// Lines is the number of lines of the reply (multi-line replies > 1).
	Lines int
	// Frame and Time locate the reply's last line: the moment it was complete.
	Frame int
	Time  time.Time
	// Partial is set when the reply's last line never ended with CRLF before
	// the connection closed or the capture ended.
	Partial bool
	// Truncated is set when a capture gap cut the reply: the server sent
	// it whole, but the end of the text (or, for a multi-line reply, its
	// last lines) is not in the capture. Code and Enhanced are as sent.
	Truncated bool
}

// Command is one client command (RFC 5321 §4.1) and its reply.
type Command struct {
	// Verb is the command verb in upper case ("EHLO", "MAIL", "BDAT", ...).
	Verb string
	// Arg is the command's argument, kept for envelope commands; for AUTH
	// only the mechanism is kept, never credentials.
	Arg string
	// Frame and Time locate the end of the command line (for a truncated
	// line, its last captured byte).
	Frame int
	Time  time.Time
	// Truncated is set when a capture gap (a snaplen cut, a lost segment)
	// cut the command line: Arg is only its visible start.
	Truncated bool
	// Reply is the server's reply to the command, nil if none was seen.
	// For AUTH it is the exchange's final reply (235, 5xx), not the 334
	// challenges; it may be a partial reply (Reply.Partial).
	Reply *Reply
}

// Latency is the time from the command to its reply, 0 without a reply.
func (c *Command) Latency() time.Duration {
	if c.Reply == nil {
		return 0
	}
	return c.Reply.Time.Sub(c.Time)
}

// Outcome is the result of one mail transaction.
type Outcome int

const (
	// OutcomeUnknown: the capture does not show how the transaction ended:
	// a capture gap may hide its end-of-data (or BDAT ... LAST) or its
	// final reply, a reply after gaps on both sides cannot be tied to it,
	// or the capture ended before anything was decided.
	OutcomeUnknown Outcome = iota
	// OutcomeDelivered: the final reply after end-of-data was 2xx. When a
	// capture gap hid the end-of-data itself, the reply is still final if
	// the server's bytes have no gap before it: replies come in the order
	// of requests (RFC 2920 §3), so it can answer nothing else; the
	// transaction is then Incomplete with EndOfDataFrame 0.
	OutcomeDelivered
	// OutcomeDeferred: the final reply was 4xx (or every recipient got 4xx).
	OutcomeDeferred
	// OutcomeRejected: the final reply was 5xx (or every recipient got 5xx).
	OutcomeRejected
	// OutcomeNoReply: the client sent its end-of-data and no complete reply
	// followed before the connection closed, reset, or the capture ended.
	OutcomeNoReply
	// OutcomeAborted: the message body never reached its end-of-data
	// (connection closed or reset mid-body, or the client gave up). Only
	// said when the capture holds every client byte of the transaction;
	// otherwise the end may be in a gap and the outcome is unknown.
	OutcomeAborted
	// OutcomeWithdrawn: the client ended the transaction before offering a
	// message (QUIT, RSET, a new MAIL the server took, or its FIN), with
	// its MAIL and every RCPT accepted: a sender-verification callout
	// (MAIL, RCPT, QUIT) or the client's own choice. No message was sent,
	// so none failed; counted apart from the transactions that carried
	// one.
	OutcomeWithdrawn
)

// String returns the outcome's name as used in JSON: delivered, deferred,
// rejected, no-reply, aborted, withdrawn, unknown.
func (o Outcome) String() string {
	switch o {
	case OutcomeDelivered:
		return "delivered"
	case OutcomeDeferred:
		return "deferred"
	case OutcomeRejected:
		return "rejected"
	case OutcomeNoReply:
		return "no-reply"
	case OutcomeAborted:
		return "aborted"
	case OutcomeWithdrawn:
		return "withdrawn"
	}
	return "unknown"
}

// Recipient is one RCPT TO and its reply.
type Recipient struct {
	Addr  string
	Frame int
	// Truncated is set when a capture gap cut the RCPT line inside the
	// address: Addr is only its visible start.
	Truncated bool
	Reply     *Reply
	// DataReply is, in an LMTP session (LHLO), this recipient's own reply
	// after end-of-data (RFC 2033 §4.2); nil in SMTP.
	DataReply *Reply
}

// EndReason says how a connection ended from the point of view of a
// transaction still waiting for its reply.
type EndReason int

const (
	// EndCaptureEnded: the capture stopped while the connection was open.
	EndCaptureEnded EndReason = iota
	// EndClientClosed: the client sent FIN (or QUIT) while waiting.
	EndClientClosed
	// EndServerClosed: the server sent FIN without replying.
	EndServerClosed
	// EndClientReset: the client sent RST.
	EndClientReset
	// EndServerReset: the server sent RST.
	EndServerReset
)

// String names the reason in words used by reports.
func (r EndReason) String() string {
	switch r {
	case EndClientClosed:
		return "client-closed"
	case EndServerClosed:
		return "server-closed"
	case EndClientReset:
		return "client-reset"
	case EndServerReset:
		return "server-reset"
	}
	return "capture-ended"
}

// Transaction is one mail transaction: MAIL FROM to the reply after the
// message (RFC 5321 §3.3).
type Transaction struct {
	MailFrom string
	// MailFromTruncated is set when a capture gap cut the MAIL line inside
	// the reverse-path: MailFrom is only its visible start.
	MailFromTruncated bool
	// SizeParam is the MAIL FROM SIZE= value, -1 if absent.
	SizeParam int64
	// Rcpts lists every RCPT TO with its own reply.
	Rcpts []Recipient
	// Method is "DATA" or "BDAT", "" if the body never started.
	Method string
	// Size counts the message bytes the client sent on the wire (after
	// DATA's 354 up to but excluding the end-of-data line, or the sum of
	// the BDAT chunk sizes).
	Size int64
	// MessageID is the Message-ID header if it was seen (no body is kept).
	MessageID string
	// Mail is the MAIL command's mark, Data the DATA command (or the first
	// BDAT), EndOfData the final dot line (or the BDAT ... LAST chunk end).
	MailFrame, DataFrame, EndOfDataFrame int
	MailTime, DataTime, EndOfDataTime    time.Time
	// Reply is the final reply after end-of-data, nil if none.
	Reply *Reply
	// Outcome summarises the transaction.
	Outcome Outcome
	// Ended says, for no-reply, aborted, withdrawn and unknown outcomes
	// (and with LateReply), how the transaction's wait ended, and EndFrame/EndTime
	// where: the first of the client's QUIT (unless pipelined in the frame
	// of the end-of-data), the client's RSET or new MAIL abandoning the
	// transaction (both client-closed), a FIN or RST from either peer, or
	// the end of the capture. For other outcomes they are zero.
	Ended    EndReason
	EndFrame int
	EndTime  time.Time
	// Incomplete is set when a capture gap or a mid-stream start hides part
	// of the transaction.
	Incomplete bool

	// BodyParam is the MAIL FROM BODY= value (7BIT, 8BITMIME, BINARYMIME;
	// RFC 6152, RFC 3030 §3), "" if absent.
	BodyParam string
	// MailReply is the reply to MAIL FROM, DataReply the reply to DATA
	// (354, or the refusal that kept the body from starting); nil if none
	// was seen. BDAT chunk replies are on their Commands.
	MailReply, DataReply *Reply
	// Chunks counts the BDAT commands of the transaction (RFC 3030).
	Chunks int
	// PartialReply is the reply the server had begun after end-of-data
	// but never finished with CRLF before the connection closed or the
	// capture ended (Partial set). Reply stays nil and the outcome no-reply:
	// a client cannot act on half a reply (RFC 5321 §4.2).
	PartialReply *Reply
	// LateReply is set when the final reply came only after the client
	// had given up (QUIT, FIN or RST after end-of-data). The server took
	// responsibility for the message (RFC 5321 §4.2.5) while the client
	// will retry: a duplicate. Ended, EndFrame and EndTime then say where
	// the client gave up.
	LateReply bool
	// Inferred is set on a transaction inferred from TLS records (in
	// TLS.Inferred; tlsinfer.go): no command was seen; DataFrame and
	// EndOfDataFrame are the body's first and last records, Size the upper
	// bound of its plaintext.
	Inferred *Inference
}

// RefusedAttempt reports whether the server refused the MAIL command: no
// transaction was opened (RFC 5321 §3.3), and the entry records an attempt.
// The RCPT and DATA a client pipelined behind it (RFC 2920 §3.1) stay on
// it, with the refusals they got in consequence.
func (t *Transaction) RefusedAttempt() bool {
	if t.MailReply == nil {
		return false
	}
	c := t.MailReply.Class()
	return c == 4 || c == 5
}

// Latency is the time from end-of-data to the final reply (0 without one).
func (t *Transaction) Latency() time.Duration {
	if t.Reply == nil || t.EndOfDataFrame == 0 {
		return 0
	}
	return t.Reply.Time.Sub(t.EndOfDataTime)
}

// Waited is, for a transaction without reply, the time from end-of-data to
// the end of the connection or capture.
func (t *Transaction) Waited() time.Duration {
	if t.EndOfDataFrame == 0 || t.EndTime.IsZero() {
		return 0
	}
	return t.EndTime.Sub(t.EndOfDataTime)
}

// TLS describes encryption seen on the connection.
type TLS struct {
	// How is "starttls" or "implicit".
	How string
	// Frame is where encrypted data begins: the client's first TLS byte
	// (0 if the capture shows the STARTTLS go-ahead but no TLS byte).
	Frame int
	// Version and ServerName come from the ClientHello if present:
	// Version is the highest version the client offered ("TLS 1.3"), not
	// the one the server chose.
	Version    string
	ServerName string
	// Handshake is what the TLS records showed (tlsrecord), nil until the
	// first TLS byte. Left out of JSON: tlsrecord's tests hold it to
	// tshark's reading.
	Handshake *tlsrecord.Facts `json:"-"`
	// Inferred lists the mail transactions inferred from the records of
	// the established session (tlsinfer.go), each with Inferred set; nil
	// when the session was decrypted (its transactions are then in
	// Session.Transactions).
	Inferred []Transaction
	// Pending is the message-sized client flight under way, not decided
	// yet (no server record after it so far), as an inferred transaction
	// with OutcomeUnknown; nil when none, and always after End. A live
	// view times it as it times an unanswered end-of-data.
	Pending *Transaction `json:"-"`
	// Decryption says what came of decrypting the session, nil unless
	// Options.TLSKeys was given.
	Decryption *Decryption `json:",omitempty"`
}

// Anomaly is a protocol oddity or a resource limit that was hit.
type Anomaly struct {
	// Name is a stable identifier, one of the Anomaly* constants
	// (AnomalyLineTooLong is "line-too-long").
	Name  string
	Frame int
	// Detail is a short human-readable explanation.
	Detail string
}

// Session is everything the decoder learned about one connection.
type Session struct {
	// IsSMTP is false when the connection's bytes do not look like SMTP:
	// neither a reply line from the server nor a known command from the
	// client. A connection whose client spoke TLS first is not called SMTP
	// (the decoder does not see ports); TLS is then set with How
	// "implicit", and a caller that knows the server port is 465 may
	// treat it as SMTPS (RFC 8314 §3.3). For a connection that is not SMTP
	// every other field is empty.
	IsSMTP bool
	// Preamble is what a proxy sent before SMTP and the decoder set aside
	// (an HTTP CONNECT and its answer, a PROXY protocol header), nil if
	// none.
	Preamble *Preamble
	// Banner is the server's greeting, nil if not captured.
	Banner *Reply
	// Hello is the EHLO/HELO/LHLO argument the server last accepted (the
	// last one sent while none was accepted); Extensions the EHLO keywords
	// the server advertised (upper case, with parameters, e.g. "SIZE 10240000").
	Hello      string
	Extensions []string
	// Commands lists every client command in order.
	Commands []Command
	// Transactions lists every mail transaction in order.
	Transactions []Transaction
	// TLS is non-nil once the connection turned to TLS.
	TLS *TLS
	// MidStream is set when the capture starts after the greeting: the
	// server's first reply is not a greeting, or, without server data, the
	// client's first line is not EHLO, HELO or LHLO.
	MidStream bool
	// Unmatched lists, up to MaxUnmatchedReplies, replies that answered no
	// command: an unprompted 421/451 before the server hangs up, an extra
	// reply to a line the decoder did not take for a command or that a
	// capture gap hid, or a reply after gaps on both sides that may answer
	// an end-of-data the capture lost but cannot be tied to it (anomaly
	// "end-of-data-in-gap").
	Unmatched []Reply
	// Closes lists, up to MaxCloses, the FIN and RST segments each peer
	// sent, with the SMTP phase the session was in at that moment.
	Closes []Close
	// Anomalies lists oddities, bounded in number.
	Anomalies []Anomaly
	// AnomaliesDropped counts anomalies not listed because of the bound
	// (Options.MaxAnomalies, and a bound per name).
	AnomaliesDropped int
}

// Close is a FIN or RST and when in the SMTP session it came.
type Close struct {
	// Kind is "FIN" or "RST"; By is "client" or "server".
	Kind, By string
	Frame    int
	Time     time.Time
	// Phase is where the session was: "before-greeting", "envelope",
	// "body", "awaiting-reply" (end-of-data sent), "idle" (between
	// transactions), "after-quit", or "tls" (after STARTTLS or implicit).
	Phase string
}
