package report

import "time"

// Schema names the JSON layout this package writes.
const Schema = "smtpscope.report/v1"

// Report is the whole analysis, ready to render.
type Report struct {
	Schema  string    `json:"schema"`
	Inputs  []Input   `json:"inputs"`
	Verdict Diagnosis `json:"verdict"`
	// Summary is the failures by cause and by server, and each server's
	// deliveries and end-of-data reply latency (see summary.go).
	Summary     *Summary     `json:"summary"`
	Connections []Connection `json:"connections"`
	// Totals over all connections.
	Totals Totals `json:"totals"`
	// Patterns are correlations between failed and delivered messages.
	Patterns []Pattern `json:"patterns,omitempty"`
	// Logs are the MTA logs joined to the connections (JoinLogs), and
	// LogUnmatched the SMTP connections no log session matched.
	Logs         []LogInput            `json:"logs,omitempty"`
	LogUnmatched []UnmatchedConnection `json:"log_unmatched_connections,omitempty"`

	// store holds the connections instead of Connections when a Builder
	// moved them to a temporary file; index says where each is, in
	// report order. err is the first error reading one back.
	store *connStore
	index []connMeta
	err   error
	// keys are what JoinLogs needs of each connection (report order);
	// logs what it added to connections held in the temporary file.
	keys   []joinKey
	logs   map[int]*logAttach
	redact bool
}

// Input describes one capture file that was read.
type Input struct {
	Name      string   `json:"name"`
	Format    string   `json:"format"`
	Packets   int      `json:"packets"`
	Truncated bool     `json:"truncated"`
	Warnings  []string `json:"warnings,omitempty"`
	// Reassembly counts what the TCP stage did with the input's frames.
	Reassembly *ReassemblyStats `json:"reassembly,omitempty"`
	// Dropped counts what a live capture lost before analysis (nil for a
	// file).
	Dropped *Dropped `json:"dropped,omitempty"`
	// Start and End bound the capture times of its packets.
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	// Totals count this input's connections and mail transactions, when
	// several inputs were analysed each on its own (not merged).
	Totals *Totals `json:"totals,omitempty"`
}

// ReassemblyStats counts what the TCP stage did with an input's frames.
type ReassemblyStats struct {
	// TCPFrames decoded to TCP over IP; OtherFrames did not (other
	// protocols, fragments, damaged headers); UnsupportedLink frames had a
	// link type smtpscope does not decode.
	TCPFrames       int `json:"tcp_frames"`
	OtherFrames     int `json:"other_frames"`
	UnsupportedLink int `json:"unsupported_link,omitempty"`
	// Expired connections were ended by the idle timeout; AckedHoles are
	// stream holes the receiver had acknowledged (capture loss), skipped at
	// once; Recovered counts reassembly library faults caught.
	Expired    int `json:"expired,omitempty"`
	AckedHoles int `json:"acked_holes,omitempty"`
	Recovered  int `json:"recovered,omitempty"`
	// Evicted connections were no longer followed, to stay within the
	// connection cap; Evictions counts them per server.
	Evicted   int        `json:"evicted,omitempty"`
	Evictions []Eviction `json:"evictions,omitempty"`
}

// Dropped counts the packets a live capture lost before analysis, and
// the connections they may have hit.
type Dropped struct {
	// Kernel and Interface are libpcap's counts (pcap_stats): packets the
	// kernel found no buffer room for, and those the interface or its
	// driver dropped. Ring counts packets captured but dropped because
	// the analysis was too far behind.
	Kernel    int `json:"kernel"`
	Interface int `json:"interface"`
	Ring      int `json:"ring"`
	// Connections counts the connections open while packets were lost:
	// each is capture-incomplete (Facts.Dropped).
	Connections int `json:"connections"`
}

// Totals counts across connections.
type Totals struct {
	Connections     int `json:"connections"`
	SMTPConnections int `json:"smtp_connections"`
	Transactions    int `json:"transactions"`
	Delivered       int `json:"delivered"`
	Failed          int `json:"failed"`
	// RefusedAttempts counts the MAIL commands the server refused: no
	// transaction was opened (RFC 5321 §3.3), so they are counted apart
	// from Transactions, Delivered and Failed.
	RefusedAttempts int `json:"refused_attempts,omitempty"`
	// Withdrawn counts the transactions the client left before offering a
	// message, every command of them accepted (outcome withdrawn: a
	// sender-verification callout, a RSET): no message was sent, so they
	// are counted apart from Transactions, Delivered and Failed.
	Withdrawn int `json:"withdrawn,omitempty"`
}

// Connection is one TCP connection with its L4 and L7 facts and diagnosis.
type Connection struct {
	Stream     int       `json:"stream"`
	Client     string    `json:"client"`
	Server     string    `json:"server"`
	FirstFrame int       `json:"first_frame"`
	LastFrame  int       `json:"last_frame"`
	Start      time.Time `json:"start"`
	DurationMS float64   `json:"duration_ms"`
	Packets    int       `json:"packets"`
	// Input is the index in Inputs of the file the connection is in
	// (frame numbers are that file's).
	Input int `json:"input"`
	// Resumed is set when these packets came on the 4-tuple of an earlier
	// connection, reported separately under the same stream number, after
	// it had ended (closed, or idle for minutes): Wireshark counts them in
	// that tcp.stream.
	Resumed bool `json:"resumed,omitempty"`
	// Evicted is set when smtpscope stopped following the connection
	// before it ended, to stay within its connection cap: what came after
	// LastFrame is not analysed (see ReassemblyStats.Evictions).
	Evicted bool `json:"evicted,omitempty"`
	// Process is the program that owned the connection, if the capture
	// recorded it (Network Monitor 2.2+).
	Process   *Process  `json:"process,omitempty"`
	L4        L4        `json:"l4"`
	SMTP      *SMTP     `json:"smtp"`
	Diagnosis Diagnosis `json:"diagnosis"`
	// Log holds the MTA log lines matched to the connection, LogMatch how
	// they were matched and what their errors were on the wire.
	Log      []LogLine `json:"log,omitempty"`
	LogMatch *LogMatch `json:"log_match,omitempty"`
}

// Process is a program that owned a connection.
type Process struct {
	PID  int    `json:"pid"`
	Name string `json:"name"`
	Path string `json:"path"`
}

// L4 is the TCP health of a connection, with Wireshark's definitions.
type L4 struct {
	// Retransmissions counts frames marked tcp.analysis.retransmission
	// (fast and spurious ones included), Resets frames with RST set,
	// ZeroWindows frames marked tcp.analysis.zero_window.
	Retransmissions int `json:"retransmissions"`
	Resets          int `json:"resets"`
	ZeroWindows     int `json:"zero_windows"`
	// Verdict is healthy, degraded or broken; Reasons say why, Notes add
	// facts that did not change it.
	Verdict string   `json:"verdict"`
	Reasons []string `json:"reasons,omitempty"`
	Notes   []string `json:"notes,omitempty"`
	// Analysis has one entry per tcp.analysis flag seen, keyed by the
	// field's last name (e.g. "duplicate_ack"), with the first frames.
	Analysis map[string]FlagCount `json:"analysis,omitempty"`
	// Conflicts lists retransmissions whose bytes differ from the segment
	// they repeat (the first 8; ConflictCount counts them all): the
	// receiver kept one version and the capture cannot say which.
	Conflicts     []Conflict `json:"conflicts,omitempty"`
	ConflictCount int        `json:"conflict_count,omitempty"`
	Handshake     Handshake  `json:"handshake"`
	Client        Side       `json:"client"`
	Server        Side       `json:"server"`
}

// Conflict is a retransmission with other bytes than the segment it
// repeats (reassembly.Conflict): By sent both, the original in
// OriginalFrame and the other version in RetransmissionFrame, at Offset
// in By's byte stream, Bytes long.
type Conflict struct {
	By                  string `json:"by"`
	OriginalFrame       int    `json:"original_frame"`
	RetransmissionFrame int    `json:"retransmission_frame"`
	Offset              int64  `json:"offset"`
	Bytes               int    `json:"bytes"`
}

// FlagCount is how many frames carried a tcp.analysis flag, and the first ones.
type FlagCount struct {
	Count  int   `json:"count"`
	Frames []int `json:"frames"`
}

// Handshake is what the capture shows of the TCP handshake.
type Handshake struct {
	SYNFrame      int     `json:"syn_frame,omitempty"`
	SYNACKFrame   int     `json:"synack_frame,omitempty"`
	ACKFrame      int     `json:"ack_frame,omitempty"`
	SYNRetries    int     `json:"syn_retries,omitempty"`
	RefusedFrame  int     `json:"refused_frame,omitempty"`
	InitialRTTMS  float64 `json:"initial_rtt_ms,omitempty"`
	ClientMSS     int     `json:"client_mss,omitempty"`
	ServerMSS     int     `json:"server_mss,omitempty"`
	WindowScaling string  `json:"window_scaling"`
	MidStream     bool    `json:"mid_stream,omitempty"`
}

// Side is what one peer sent.
type Side struct {
	Segments       int       `json:"segments"`
	Bytes          int64     `json:"bytes"`
	LargestSegment int       `json:"largest_segment"`
	FINFrame       int       `json:"fin_frame,omitempty"`
	FINTime        time.Time `json:"fin_time,omitzero"`
	Resets         []Reset   `json:"resets,omitempty"`
	ZeroWindowMS   float64   `json:"zero_window_ms,omitempty"`
	RTT            *RTT      `json:"rtt,omitempty"`
	// UnseenBytes are bytes the peer ACKed that the capture lacks;
	// TruncatedBytes payload cut by the snaplen: both are capture loss.
	UnseenBytes int64 `json:"unseen_bytes,omitempty"`
	// MissedBytes are bytes of this side's stream the SMTP decoder got as
	// gaps (not captured, or dropped at the reassembly buffer limits).
	MissedBytes    int64 `json:"missed_bytes,omitempty"`
	TruncatedBytes int64 `json:"truncated_bytes,omitempty"`
}

// Reset is one RST a side sent.
type Reset struct {
	Frame    int       `json:"frame"`
	Time     time.Time `json:"time"`
	TTL      int       `json:"ttl"`
	Injected bool      `json:"probably_injected,omitempty"`
	// OddTTL and SenderContinued say why: a TTL unlike the side's other
	// packets, or more packets from the side after its RST.
	OddTTL          bool `json:"odd_ttl,omitempty"`
	SenderContinued bool `json:"sender_continued,omitempty"`
	DataInFlight    bool `json:"data_in_flight,omitempty"`
}

// RTT summarises round-trip samples (data to its ACK).
type RTT struct {
	Samples  int     `json:"samples"`
	MinMS    float64 `json:"min_ms"`
	MedianMS float64 `json:"median_ms"`
	MaxMS    float64 `json:"max_ms"`
}

// Preamble is what came before SMTP on a connection: an HTTP CONNECT
// request and the proxy's answer, or a PROXY protocol header (smtp.Preamble).
type Preamble struct {
	Kind        string `json:"kind"`
	Frame       int    `json:"frame"`
	ClientBytes int    `json:"client_bytes"`
	ServerBytes int    `json:"server_bytes,omitempty"`
	// Target is the host:port a CONNECT asked for, Status the proxy's
	// answer code.
	Target string `json:"target,omitempty"`
	Status int    `json:"status,omitempty"`
	// Source and Destination are the original endpoints a PROXY header
	// names.
	Source      string `json:"source,omitempty"`
	Destination string `json:"destination,omitempty"`
}

// SMTP is the decoded SMTP conversation of a connection.
type SMTP struct {
	Banner       *Reply        `json:"banner"`
	Hello        string        `json:"hello,omitempty"`
	Preamble     *Preamble     `json:"preamble,omitempty"`
	Extensions   []string      `json:"extensions,omitempty"`
	TLS          *TLS          `json:"tls"`
	MidStream    bool          `json:"mid_stream,omitempty"`
	Commands     []Command     `json:"commands"`
	Transactions []Transaction `json:"transactions"`
	// Unmatched are replies that answered no command (an unprompted 421
	// or 451 before the server hangs up, say).
	Unmatched []Reply `json:"unmatched_replies,omitempty"`
	// Closes are the FINs and RSTs with the SMTP phase they came in.
	Closes    []Close   `json:"closes,omitempty"`
	Anomalies []Anomaly `json:"anomalies,omitempty"`
	// Verdict is "ok" when every transaction was delivered (or there were
	// none and nothing failed), else "failed".
	Verdict string `json:"verdict"`
}

// Reply is an SMTP reply as reported.
type Reply struct {
	Code      int       `json:"code"`
	Enhanced  string    `json:"enhanced,omitempty"`
	Text      string    `json:"text,omitempty"`
	Frame     int       `json:"frame"`
	Time      time.Time `json:"time"`
	LatencyMS float64   `json:"latency_ms"`
	Partial   bool      `json:"partial,omitempty"`
	// Truncated: a capture gap cut the reply; code and enhanced code are
	// as sent, the text may lack its end.
	Truncated bool `json:"truncated,omitempty"`
}

// Command is a client command and its reply.
type Command struct {
	Verb  string    `json:"verb"`
	Frame int       `json:"frame"`
	Time  time.Time `json:"time"`
	Reply *Reply    `json:"reply"`
	// Truncated: a capture gap cut the command line.
	Truncated bool `json:"truncated,omitempty"`
}

// Transaction is one mail transaction as reported.
type Transaction struct {
	// MailFrom and the recipients' addresses end in "…" when a capture gap
	// cut them (MailFromTruncated, Recipient.Truncated).
	MailFrom          string      `json:"mail_from"`
	MailFromTruncated bool        `json:"mail_from_truncated,omitempty"`
	RcptTo            []string    `json:"rcpt_to"`
	Rcpts             []Recipient `json:"rcpts,omitempty"`
	Method            string      `json:"method"`
	Size              int64       `json:"size"`
	// RefusedAttempt is set when the server refused the MAIL: the entry
	// is an attempt, not a transaction (smtp.Transaction.RefusedAttempt).
	RefusedAttempt bool `json:"refused_attempt,omitempty"`
	// SizeAtLeast is set when the capture ended or lost frames before the
	// body's end: the message was at least Size bytes.
	SizeAtLeast bool      `json:"size_at_least,omitempty"`
	SizeParam   int64     `json:"size_param,omitempty"`
	MessageID   string    `json:"message_id,omitempty"`
	MailFrame   int       `json:"mail_frame"`
	DataFrame   int       `json:"data_frame,omitempty"`
	EODFrame    int       `json:"eod_frame"`
	EODTime     time.Time `json:"eod_time,omitzero"`
	Reply       *Reply    `json:"reply"`
	Outcome     string    `json:"outcome"`
	// Ended, EndFrame and WaitedMS say, for no-reply and aborted
	// transactions, how and where the connection ended and how long the
	// client had waited since end-of-data.
	Ended      string    `json:"ended,omitempty"`
	EndFrame   int       `json:"end_frame,omitempty"`
	EndTime    time.Time `json:"end_time,omitzero"`
	WaitedMS   float64   `json:"waited_ms,omitempty"`
	Incomplete bool      `json:"incomplete,omitempty"`
	// Inferred is set on a transaction inferred from TLS records: no
	// command was seen; SizeMin and SizeMax bound its body, DataFrame and
	// EODFrame are its first and last records, AnswerFrame and
	// AnswerMS the server's record after it and its delay, if any.
	Inferred    bool      `json:"inferred,omitempty"`
	SizeMin     int64     `json:"size_min,omitempty"`
	SizeMax     int64     `json:"size_max,omitempty"`
	AnswerFrame int       `json:"answer_frame,omitempty"`
	AnswerMS    float64   `json:"answer_ms,omitempty"`
	Diagnosis   Diagnosis `json:"diagnosis"`
}

// Recipient is one RCPT TO and its reply.
type Recipient struct {
	Addr      string `json:"addr"`
	Truncated bool   `json:"truncated,omitempty"`
	Frame     int    `json:"frame"`
	Reply     *Reply `json:"reply"`
}

// TLS says the connection turned to TLS.
type TLS struct {
	How        string `json:"how"`
	Frame      int    `json:"frame"`
	Version    string `json:"version,omitempty"`
	ServerName string `json:"server_name,omitempty"`
	// Handshake is what the TLS records showed (report/tls.go), absent
	// when no TLS byte was captured.
	Handshake *TLSHandshake `json:"handshake,omitempty"`
	// Decryption says what came of decrypting the session with a key log
	// (report/tls.go), absent when no key log was given.
	Decryption *TLSDecryption `json:"decryption,omitempty"`
}

// Close is a FIN or RST and the SMTP phase it came in: before-greeting,
// envelope, body, awaiting-reply, idle, after-quit or tls.
type Close struct {
	Kind  string    `json:"kind"`
	By    string    `json:"by"`
	Frame int       `json:"frame"`
	Time  time.Time `json:"time"`
	Phase string    `json:"phase"`
}

// Anomaly is a protocol oddity.
type Anomaly struct {
	Name   string `json:"name"`
	Frame  int    `json:"frame"`
	Detail string `json:"detail,omitempty"`
}

// Diagnosis says which layer failed, why, and the evidence.
type Diagnosis struct {
	// Layer is none, L4, L7 or capture.
	Layer string `json:"layer"`
	// Cause is a Cause constant.
	Cause Cause `json:"cause"`
	// Summary is one plain sentence.
	Summary string `json:"summary"`
	// Evidence lists frames to look at, in order.
	Evidence []Evidence `json:"evidence,omitempty"`
	// Filter is a Wireshark display filter showing the evidence.
	Filter string `json:"filter,omitempty"`
}

// Evidence is one frame and what it shows.
type Evidence struct {
	Frame int       `json:"frame"`
	Time  time.Time `json:"time"`
	What  string    `json:"what"`
}

// SizeWords is the body size for sentences: "4,096", or "at least 4,096"
// when the capture did not hold the body's end (SizeAtLeast).
func (t *Transaction) SizeWords() string {
	if t.SizeAtLeast {
		return "at least " + Thousands(t.Size)
	}
	return Thousands(t.Size)
}
