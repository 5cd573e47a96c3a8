package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/report"
	"github.com/smtpscope/smtpscope/smtp"
)

// incident is a failure seen while the capture runs, told once.
type incident struct {
	// Time is when it was seen: the capture time of the evidence, or of
	// the sweep that found a timeout.
	Time time.Time
	// Kind is a report cause (report.Cause), or incidentEODTimeout.
	Kind           string
	Stream         int
	Client, Server netip.AddrPort
	// Frame is the frame to look at: the reply, the reset, the
	// end-of-data that waits.
	Frame int
	// Message is the 1-based index of the mail transaction in the
	// connection, 0 for an incident of the connection.
	Message int
	// Summary says what happened in one sentence.
	Summary string
}

// incidentEODTimeout is the incident of an end-of-data still unanswered
// after --eod-timeout. It is not a report cause: the report decides at the
// end whether the reply never came (eod-no-reply) or came late
// (slow-reply).
const incidentEODTimeout = "eod-timeout"

// incidentRules decide, from what the pipeline knows of an open
// connection so far, which incidents to tell. They read a Session still
// being decoded: outcomes are not set yet (smtp.Decoder.Session), so the
// rules look at replies and end marks instead.
type incidentRules struct {
	// eodTimeout: an end-of-data unanswered this long is an incident.
	eodTimeout time.Duration
	// connectTimeout: a SYN to an SMTP port unanswered this long is one.
	connectTimeout time.Duration
}

// connWatch is what the rules remember of one connection, so that each
// incident is told once: once per mail transaction, and once for the
// connection itself (greeting refused, connection refused or unanswered).
type connWatch struct {
	// smtpPort: the server port is an SMTP port; only then are refused
	// and unanswered connections incidents, as in the report.
	smtpPort bool
	// established: the server answered, so the connection can no longer
	// be refused or unanswered.
	established bool
	// told: the connection's own incident was told (or can no longer be).
	told bool
	// done[i]: transaction i can raise no more incident, because it was
	// told or finished; firstOpen is the first i not done.
	done      []bool
	firstOpen int
}

// check applies the rules to one connection at capture time now and
// appends the incidents not told before to dst. reset says a RST was just
// seen (the refused-connection rule needs the L4 health, which is only
// computed then); timed runs the timeout rules.
func (rules *incidentRules) check(dst []incident, w *connWatch, c *reassembly.Conn, s *smtp.Session, now time.Time, reset, timed bool) []incident {
	base := incident{Stream: c.Stream, Client: c.Client, Server: c.Server}
	if !w.told {
		if in, ok := rules.connection(w, c, s, now, reset, timed); ok {
			w.told = true
			in.Stream, in.Client, in.Server = base.Stream, base.Client, base.Server
			dst = append(dst, in)
		}
	}
	for len(w.done) < len(s.Transactions) {
		w.done = append(w.done, false)
	}
	for i := w.firstOpen; i < len(s.Transactions); i++ {
		if w.done[i] {
			continue
		}
		in, told, done := rules.transaction(&s.Transactions[i], now, timed)
		if told {
			in.Stream, in.Client, in.Server, in.Message = base.Stream, base.Client, base.Server, i+1
			dst = append(dst, in)
		}
		w.done[i] = told || done
	}
	for w.firstOpen < len(w.done) && w.done[w.firstOpen] {
		w.firstOpen++
	}
	return dst
}

// connection applies the rules of the connection itself.
func (rules *incidentRules) connection(w *connWatch, c *reassembly.Conn, s *smtp.Session, now time.Time, reset, timed bool) (incident, bool) {
	if b := s.Banner; b != nil {
		w.established = true
		if b.Code < 400 {
			w.told = true // a greeting accepted stays accepted
			return incident{}, false
		}
		return incident{Time: b.Time, Kind: refusalCause(b), Frame: b.Frame,
			Summary: fmt.Sprintf("the server refused the session in its greeting: %s", replyWords(b))}, true
	}
	if w.established || !w.smtpPort {
		return incident{}, false
	}
	if !reset && !(timed && now.Sub(c.FirstTime) >= rules.connectTimeout) {
		return incident{}, false
	}
	h := c.Health()
	hs := &h.Handshake
	switch {
	case hs.SYN.Frame == 0:
		// Picked up mid-stream: the handshake is not ours to judge.
		w.established = true
	case hs.RefusedBy.Frame != 0:
		return incident{Time: hs.RefusedBy.Time, Kind: string(report.CauseConnectRefused), Frame: hs.RefusedBy.Frame,
			Summary: fmt.Sprintf("the connection to %s was refused: its SYN was answered by RST", c.Server)}, true
	case hs.SYNACK.Frame != 0 || h.Sides[reassembly.ServerToClient].Segments > 0 ||
		h.Sides[reassembly.ClientToServer].DataSegments > 0:
		// A client sends data only after a SYN+ACK, even one the capture
		// missed (asymmetric routing, a one-sided capture).
		w.established = true
	case timed:
		return incident{Time: now, Kind: string(report.CauseConnectTimeout), Frame: hs.SYN.Frame,
			Summary: fmt.Sprintf("the connection to %s is unanswered: %d SYN(s) and no SYN+ACK in %s",
				c.Server, hs.SYNRetries+1, waitSpan(now.Sub(hs.SYN.Time)))}, true
	}
	return incident{}, false
}

// transaction applies the rules of one mail transaction. told says an
// incident is returned; done that the transaction can raise no other.
func (rules *incidentRules) transaction(tx *smtp.Transaction, now time.Time, timed bool) (in incident, told, done bool) {
	switch {
	case tx.EndOfDataFrame != 0 && tx.Reply != nil:
		// The final reply (RFC 5321 §4.2.5): 2xx accepted the message.
		r := tx.Reply
		if r.Code < 400 {
			return incident{}, false, true
		}
		return incident{Time: r.Time, Kind: refusalCause(r), Frame: r.Frame,
			Summary: fmt.Sprintf("the server answered the end-of-data with %s after %s", replyWords(r), waitSpan(r.Time.Sub(tx.EndOfDataTime)))}, true, true
	case tx.EndOfDataFrame != 0 && tx.EndFrame != 0:
		// The wait ended without a reply: the client gave up, or a peer
		// closed or reset the connection.
		cause := report.CauseEODNoReply
		switch {
		case tx.Incomplete:
			cause = report.CauseCaptureIncomplete // the reply may be in a capture gap
		case tx.Ended == smtp.EndServerReset:
			cause = report.CauseResetByServer
		}
		return incident{Time: tx.EndTime, Kind: string(cause), Frame: tx.EndFrame,
			Summary: fmt.Sprintf("no reply to the end-of-data (frame %d): %s %s later", tx.EndOfDataFrame, endWords(tx.Ended), waitSpan(tx.EndTime.Sub(tx.EndOfDataTime)))}, true, true
	case tx.EndOfDataFrame != 0:
		if !timed || now.Sub(tx.EndOfDataTime) < rules.eodTimeout {
			return incident{}, false, false
		}
		kind := incidentEODTimeout
		if tx.Incomplete {
			kind = string(report.CauseCaptureIncomplete)
		}
		return incident{Time: now, Kind: kind, Frame: tx.EndOfDataFrame,
			Summary: fmt.Sprintf("the end-of-data has been unanswered for %s (%s bytes sent)", waitSpan(now.Sub(tx.EndOfDataTime)), groupDigits(tx.Size))}, true, false
	case tx.Method != "" && tx.EndFrame != 0:
		// The body was cut short (RFC 5321 §4.1.1.4: only the final dot
		// ends it).
		cause := map[smtp.EndReason]report.Cause{
			smtp.EndClientReset:  report.CauseResetByClient,
			smtp.EndServerReset:  report.CauseResetByServer,
			smtp.EndServerClosed: report.CauseClosedByServer,
			smtp.EndClientClosed: report.CauseAbortedByClient,
		}[tx.Ended]
		if cause == "" {
			return incident{}, false, true
		}
		return incident{Time: tx.EndTime, Kind: string(cause), Frame: tx.EndFrame,
			Summary: fmt.Sprintf("the message body was cut short: %s after %s bytes", endWords(tx.Ended), groupDigits(tx.Size))}, true, true
	}
	// Before the body: a refusal of MAIL or DATA ends the transaction;
	// refused recipients do once the client moves on.
	for _, r := range []*smtp.Reply{tx.MailReply, tx.DataReply} {
		if r != nil && r.Code >= 400 {
			return incident{Time: r.Time, Kind: refusalCause(r), Frame: r.Frame,
				Summary: fmt.Sprintf("the server refused the transaction: %s", replyWords(r))}, true, true
		}
	}
	if tx.EndFrame == 0 {
		return incident{}, false, false
	}
	if r := everyRecipientRefused(tx); r != nil {
		return incident{Time: r.Time, Kind: refusalCause(r), Frame: r.Frame,
			Summary: fmt.Sprintf("the server refused every recipient (%d); the last with %s", len(tx.Rcpts), replyWords(r))}, true, true
	}
	return incident{}, false, true
}

// everyRecipientRefused returns the last refusal when every recipient got
// a 4xx or 5xx reply, nil otherwise.
func everyRecipientRefused(tx *smtp.Transaction) *smtp.Reply {
	var last *smtp.Reply
	for _, rc := range tx.Rcpts {
		if rc.Reply == nil || rc.Reply.Code < 400 {
			return nil
		}
		last = rc.Reply
	}
	return last
}

// refusalCause is deferred for a 4xx (transient, RFC 5321 §4.2.1) and
// rejected for a 5xx.
func refusalCause(r *smtp.Reply) string {
	if r.Code >= 500 {
		return string(report.CauseRejected)
	}
	return string(report.CauseDeferred)
}

// replyWords renders a reply as `451 4.3.0 "Try again later"`.
func replyWords(r *smtp.Reply) string {
	s := fmt.Sprint(r.Code)
	if !r.Enhanced.IsZero() {
		s += " " + r.Enhanced.String()
	}
	if r.Text != "" {
		s += fmt.Sprintf(" %q", r.Text)
	}
	return s
}

// endWords says how a wait ended.
func endWords(e smtp.EndReason) string {
	switch e {
	case smtp.EndClientClosed:
		return "the client gave up"
	case smtp.EndServerClosed:
		return "the server closed the connection"
	case smtp.EndClientReset:
		return "the client reset the connection"
	case smtp.EndServerReset:
		return "the server reset the connection"
	}
	return "the capture ended"
}

// waitSpan formats a duration for event lines as the report does: "2.0 s",
// "340 ms", "0.38 ms".
func waitSpan(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
}

// groupDigits formats n with thousands separators: 1,230,123.
func groupDigits(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + groupDigits(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// liveSummary is the periodic summary line.
type liveSummary struct {
	Time    time.Time
	Elapsed time.Duration
	Packets int
	// Open and Ended count connections.
	Open, Ended int
	// Delivered and Failed count mail transactions, ended or not;
	// Awaiting those whose end-of-data waits for its reply.
	Delivered, Failed, Awaiting int
	Incidents                   int
}

// eventWriter writes the event stream (start, incidents, summaries,
// stop) as text lines or JSON objects, one per line.
type eventWriter struct {
	w    io.Writer
	json bool
}

func newEventWriter(w io.Writer, format string) *eventWriter {
	return &eventWriter{w: w, json: format == "json"}
}

// timeFormat is RFC 3339 in UTC with milliseconds, as events are read
// beside logs.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

func (e *eventWriter) line(text string, obj any) {
	if !e.json {
		fmt.Fprintln(e.w, text)
		return
	}
	b, err := json.Marshal(obj)
	if err != nil {
		fmt.Fprintf(e.w, "smtpscope live: %v\n", err)
		return
	}
	fmt.Fprintf(e.w, "%s\n", b)
}

func (e *eventWriter) start(now time.Time, iface, filter string, snaplen int, write string) {
	text := fmt.Sprintf("%s START capturing on %s, filter %q, snaplen %d", now.UTC().Format(timeFormat), iface, filter, snaplen)
	if write != "" {
		text += ", writing " + write
	}
	e.line(text, struct {
		Type      string `json:"type"`
		Time      string `json:"time"`
		Interface string `json:"interface"`
		Filter    string `json:"filter"`
		Snaplen   int    `json:"snaplen"`
		Write     string `json:"write,omitempty"`
	}{"start", now.UTC().Format(timeFormat), iface, filter, snaplen, write})
}

func (e *eventWriter) incident(in *incident) {
	where := ""
	if in.Message > 0 {
		where = fmt.Sprintf(" message %d", in.Message)
	}
	e.line(fmt.Sprintf("%s INCIDENT %s stream %d %s → %s frame %d%s: %s",
		in.Time.UTC().Format(timeFormat), in.Kind, in.Stream, in.Client, in.Server, in.Frame, where, in.Summary),
		struct {
			Type    string `json:"type"`
			Time    string `json:"time"`
			Kind    string `json:"kind"`
			Stream  int    `json:"stream"`
			Client  string `json:"client"`
			Server  string `json:"server"`
			Frame   int    `json:"frame"`
			Message int    `json:"message,omitempty"`
			Summary string `json:"summary"`
		}{"incident", in.Time.UTC().Format(timeFormat), in.Kind, in.Stream, in.Client.String(), in.Server.String(), in.Frame, in.Message, in.Summary})
}

func (e *eventWriter) summary(s *liveSummary) {
	e.line(fmt.Sprintf("%s SUMMARY %s packets; connections %d open, %d ended; messages %d delivered, %d failed, %d awaiting a reply; %d incidents",
		s.Time.UTC().Format(timeFormat), groupDigits(int64(s.Packets)), s.Open, s.Ended, s.Delivered, s.Failed, s.Awaiting, s.Incidents),
		struct {
			Type      string  `json:"type"`
			Time      string  `json:"time"`
			ElapsedS  float64 `json:"elapsed_s"`
			Packets   int     `json:"packets"`
			Open      int     `json:"open"`
			Ended     int     `json:"ended"`
			Delivered int     `json:"delivered"`
			Failed    int     `json:"failed"`
			Awaiting  int     `json:"awaiting"`
			Incidents int     `json:"incidents"`
		}{"summary", s.Time.UTC().Format(timeFormat), s.Elapsed.Seconds(), s.Packets, s.Open, s.Ended, s.Delivered, s.Failed, s.Awaiting, s.Incidents})
}

func (e *eventWriter) stop(now time.Time, why string, captured time.Duration, packets, incidents int, t *report.Totals) {
	e.line(fmt.Sprintf("%s STOP %s: %s packets over %s; %d connections, %d messages delivered, %d failed; %d incidents",
		now.UTC().Format(timeFormat), why, groupDigits(int64(packets)), waitSpan(captured), t.Connections, t.Delivered, t.Failed, incidents),
		struct {
			Type      string  `json:"type"`
			Time      string  `json:"time"`
			Reason    string  `json:"reason"`
			CapturedS float64 `json:"captured_s"`
			Packets   int     `json:"packets"`
			Conns     int     `json:"connections"`
			Delivered int     `json:"delivered"`
			Failed    int     `json:"failed"`
			Incidents int     `json:"incidents"`
		}{"stop", now.UTC().Format(timeFormat), why, captured.Seconds(), packets, t.Connections, t.Delivered, t.Failed, incidents})
}
