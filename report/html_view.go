package report

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The Markdown and HTML writers share one view of a Report, built here.
// The view only groups, orders, caps and words what the Report already
// says; every verdict in it comes from diagnose.go (connectionFailed,
// the diagnoses, sortedConnections).

// Limits that keep a rendering of a huge report readable and bounded. The
// JSON report always has everything.
const (
	// maxBriefRows caps the one-line-per-connection tables.
	maxBriefRows = 200
	// maxHTMLFailing is how many failing connections the HTML page
	// details, each with its ladder diagram, folded in <details>; beyond
	// it the page says how many more the JSON has.
	maxHTMLFailing = 1000
	// maxTimelineLanes caps the HTML timeline's lanes (one per server, the
	// most failures first); the rest share one lane.
	maxTimelineLanes = 16
	// maxTimelineMarks caps the failure marks on the HTML timeline.
	maxTimelineMarks = 5000
)

// reportView is a Report arranged for reading: the headline, failing
// connections, connections that delivered with a note, then the rest.
type reportView struct {
	Inputs  []inputView
	Packets int
	// Span is the capture's length, CaptureStart its first packet.
	Span         time.Duration
	CaptureStart time.Time
	Verdict      Diagnosis
	// Failed is Report.Failed: the exit status 1 condition.
	Failed bool
	Totals Totals
	// Summary is the Report's summary in words.
	Summary *summaryView
	// Groups are the failing connections by cause, in the summary's order
	// (most frequent first), then the noted ones.
	Groups      []groupView
	Healthy     []briefRow
	HealthyMore int
	// OtherTCP counts connections that are neither SMTP nor diagnosed.
	OtherTCP int
	// ManyInputs is set when frame numbers must be read with a file name.
	ManyInputs bool
}

// inputView is one capture file.
type inputView struct {
	Name, Format string
	Packets      int
	Truncated    bool
	Warnings     []string
}

// connView is one failing or noted connection in full.
type connView struct {
	Index  int // into Report.Connections
	Anchor string
	Stream int
	Client string
	Server string
	// File is the input file name when the report has several.
	File    string
	Process string
	Failed  bool
	// Headline says what went wrong in a few words.
	Headline     string
	Layer        string
	Cause        Cause
	Conversation string
	Findings     []findingView
	// Others are the connection's other transactions, one line each;
	// OthersAll says they are all of them (the finding is the connection's).
	Others    []string
	OthersAll bool
	TCP       tcpView
	// Log is the connection's MTA log beside its wire events (JoinLogs).
	Log *logView
}

// findingView is one diagnosis with its evidence: a failed transaction's,
// or the connection's when no transaction carries one.
type findingView struct {
	Title    string
	Facts    []factView
	Evidence []evidenceView
	Why      string
	Filter   string
}

// factView is a labelled value; Code marks values that came off the wire
// (addresses, reply texts) and are shown verbatim in monospace.
type factView struct {
	Label, Value string
	Code         bool
}

// evidenceView is one evidence frame; Offset is from the stream's start.
type evidenceView struct {
	Frame  int
	Offset string
	What   string
}

// tcpView is the TCP facts of a connection.
type tcpView struct {
	Verdict   string
	Counts    string
	Handshake string
	Sides     []tcpRow
	Reasons   []string
	Notes     []string
	Flags     []flagView
}

// flagView is a tcp.analysis flag: how many frames had it, the first ones.
type flagView struct {
	Field  string
	Count  int
	Frames string
}

// tcpRow is one fact for both directions.
type tcpRow struct {
	Name, Client, Server string
}

// briefRow is a connection on one line.
type briefRow struct {
	Anchor   string
	Stream   int
	Client   string
	Server   string
	File     string
	Start    string
	Duration string
	Result   string
	Failed   bool
}

// newReportView arranges r for the Markdown and HTML writers, detailing
// as many connections per group as lim allows.
func newReportView(r *Report, lim viewLimits) *reportView {
	v := &reportView{Verdict: r.Verdict, Failed: r.Failed(), Totals: r.Totals, ManyInputs: len(r.Inputs) > 1}
	v.Verdict.Summary, v.Verdict.Evidence = shown(v.Verdict.Summary), nil
	var end time.Time
	for _, in := range r.Inputs {
		iv := inputView{Name: shown(in.Name), Format: shown(in.Format), Packets: in.Packets, Truncated: in.Truncated}
		for _, w := range in.Warnings {
			iv.Warnings = append(iv.Warnings, shown(w))
		}
		v.Inputs = append(v.Inputs, iv)
		v.Packets += in.Packets
		if !in.Start.IsZero() && (v.CaptureStart.IsZero() || in.Start.Before(v.CaptureStart)) {
			v.CaptureStart = in.Start
		}
		if in.End.After(end) {
			end = in.End
		}
	}
	for i := range r.count() {
		c := r.conn(i)
		if !c.Start.IsZero() && (v.CaptureStart.IsZero() || c.Start.Before(v.CaptureStart)) {
			v.CaptureStart = c.Start
		}
		if e := connEnd(c); e.After(end) {
			end = e
		}
	}
	if !v.CaptureStart.IsZero() {
		v.Span = end.Sub(v.CaptureStart)
	}

	for _, i := range sortedConnections(r) {
		if cause := r.causeOf(i); r.failedAt(i) || (cause != CauseOK && cause != CauseTLSOpaque) {
			continue
		}
		if !r.isSMTP(i) {
			v.OtherTCP++
		} else if len(v.Healthy) < lim.Healthy {
			v.Healthy = append(v.Healthy, v.briefRow(r, r.conn(i)))
		} else {
			v.HealthyMore++
		}
	}
	v.Summary = newSummaryView(r)
	v.Groups = groupConnections(r, v, lim)
	return v
}

// connEnd is the capture time of a connection's last frame.
func connEnd(c *Connection) time.Time {
	if c.Start.IsZero() {
		return time.Time{}
	}
	return c.Start.Add(time.Duration(c.DurationMS * float64(time.Millisecond)))
}

func streamAnchor(c *Connection) string {
	return fmt.Sprintf("input-%d-stream-%d", c.Input, c.Stream)
}

func (v *reportView) fileOf(r *Report, c *Connection) string {
	if !v.ManyInputs || c.Input < 0 || c.Input >= len(r.Inputs) {
		return ""
	}
	return shown(r.Inputs[c.Input].Name)
}

func (v *reportView) connView(r *Report, i int) connView {
	c := r.conn(i)
	cv := connView{Index: i, Log: logViewOf(c), Anchor: streamAnchor(c), Stream: c.Stream, Client: shown(c.Client), Server: shown(c.Server),
		File: v.fileOf(r, c), Failed: connectionFailed(c), Headline: describeCause(c.Diagnosis.Cause),
		Layer: c.Diagnosis.Layer, Cause: c.Diagnosis.Cause, TCP: newTCPView(&c.L4)}
	if p := c.Process; p != nil {
		cv.Process = fmt.Sprintf("%s (PID %d)", shown(p.Name), p.PID)
		if p.Path != "" {
			cv.Process += " " + shown(p.Path)
		}
	}
	if c.SMTP == nil {
		cv.Findings = []findingView{newFinding(c, "", nil, &c.Diagnosis)}
		return cv
	}
	cv.Conversation = shown(conversation(c.SMTP))
	n := len(c.SMTP.Transactions)
	for k := range c.SMTP.Transactions {
		tx := &c.SMTP.Transactions[k]
		title := fmt.Sprintf("Message %d of %d", k+1, n)
		if tx.Inferred {
			title += " (inferred from TLS records)"
		}
		if tx.Diagnosis.Cause != CauseOK {
			cv.Findings = append(cv.Findings, newFinding(c, title+": "+describeCause(tx.Diagnosis.Cause), tx, &tx.Diagnosis))
			continue
		}
		cv.Others = append(cv.Others, title+": "+shown(txBrief(tx)))
	}
	if len(cv.Findings) == 0 && c.Diagnosis.Cause != CauseOK {
		cv.Findings = append(cv.Findings, newFinding(c, "", nil, &c.Diagnosis))
		cv.OthersAll = true
	}
	return cv
}

// newFinding words one diagnosis; tx is nil for a connection's own.
func newFinding(c *Connection, title string, tx *Transaction, d *Diagnosis) findingView {
	f := findingView{Title: title, Why: shown(d.Summary), Filter: shown(d.Filter)}
	if f.Title == "" {
		f.Title = upperFirst(describeCause(d.Cause))
	}
	if tx != nil {
		f.Facts = txFacts(tx)
	}
	for _, e := range d.Evidence {
		if e.Frame == 0 {
			continue
		}
		f.Evidence = append(f.Evidence, evidenceView{Frame: e.Frame, Offset: rel(c.Start, e.Time), What: shown(e.What)})
	}
	return f
}

// txFacts lists what a transaction carried, wire values marked as code.
func txFacts(tx *Transaction) []factView {
	var fs []factView
	fs = append(fs, factView{Label: "Outcome", Value: shown(tx.Outcome)})
	fs = append(fs, factView{Label: "Body", Value: txSize(tx)})
	if tx.MailFrom != "" || tx.MailFrame != 0 {
		fs = append(fs, factView{Label: "From", Value: shown(tx.MailFrom), Code: true})
	}
	for i, to := range tx.RcptTo {
		if i == maxListedRcpts {
			fs = append(fs, factView{Label: "To", Value: fmt.Sprintf("… and %d more", len(tx.RcptTo)-i)})
			break
		}
		fs = append(fs, factView{Label: "To", Value: shown(to), Code: true})
	}
	if tx.MessageID != "" {
		fs = append(fs, factView{Label: "Message-ID", Value: shown(tx.MessageID), Code: true})
	}
	if r := tx.Reply; r != nil {
		fs = append(fs, factView{Label: "Reply", Value: shown(replyLine(r)), Code: true})
	}
	if tx.Ended != "" {
		s := shown(tx.Ended)
		if tx.EndFrame != 0 {
			s += fmt.Sprintf(" in frame %d", tx.EndFrame)
		}
		if tx.WaitedMS > 0 && tx.EODFrame != 0 {
			s += ", " + dur(msDuration(tx.WaitedMS)) + " after end-of-data"
		}
		fs = append(fs, factView{Label: "Ended", Value: s})
	}
	if tx.Incomplete {
		fs = append(fs, factView{Label: "Capture", Value: "misses part of this transaction"})
	}
	return fs
}

// maxListedRcpts caps the recipients listed per transaction.
const maxListedRcpts = 5

func txSize(tx *Transaction) string {
	if tx.Inferred {
		// No command was seen: the body is the size of a client flight.
		return inferredSize(tx) + ", inferred from the sizes of the client's TLS records"
	}
	if tx.Method == "" {
		s := "none sent (the transaction ended before DATA or BDAT)"
		if tx.SizeParam > 0 {
			s += fmt.Sprintf("; SIZE=%s declared", Thousands(tx.SizeParam))
		}
		return s
	}
	s := fmt.Sprintf("%s bytes via %s", tx.SizeWords(), shown(tx.Method))
	if tx.EODFrame == 0 {
		s += " before the connection ended"
	}
	if tx.SizeParam > 0 && tx.SizeParam != tx.Size {
		s += fmt.Sprintf(" (SIZE=%s declared)", Thousands(tx.SizeParam))
	}
	return s
}

// txBrief is a transaction on one line.
func txBrief(tx *Transaction) string {
	s := tx.Outcome
	if tx.Inferred {
		s = fmt.Sprintf("%s, %s", inferredSize(tx), tx.Outcome)
		if tx.AnswerFrame != 0 {
			s += " (answered after " + durMS(tx.AnswerMS) + ")"
		}
		return s
	}
	if tx.Method != "" {
		s = fmt.Sprintf("%s bytes via %s, %s", tx.SizeWords(), tx.Method, tx.Outcome)
	}
	if tx.Reply != nil {
		s += " (" + replyLatency(tx.Reply) + ")"
	}
	return s
}

// replyLine is a reply as the server sent it: code, enhanced code, text.
func replyLine(r *Reply) string {
	s := codes(r.Code, r.Enhanced)
	if r.Text != "" {
		s += " " + r.Text
	}
	if r.Partial {
		s += " (partial)"
	}
	return s
}

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (v *reportView) briefRow(r *Report, c *Connection) briefRow {
	b := briefRow{Anchor: streamAnchor(c), Stream: c.Stream, Client: shown(c.Client), Server: shown(c.Server), File: v.fileOf(r, c),
		Start: rel(v.CaptureStart, c.Start), Duration: dur(msDuration(c.DurationMS)), Failed: connectionFailed(c)}
	switch {
	case c.Diagnosis.Cause != CauseOK:
		b.Result = describeCause(c.Diagnosis.Cause)
	case c.SMTP == nil:
		b.Result = "not SMTP"
	case len(c.SMTP.Transactions) == 0:
		b.Result = "no mail transaction"
	case len(c.SMTP.Transactions) == 1:
		b.Result = shown(txBrief(&c.SMTP.Transactions[0]))
	default:
		b.Result = messageCounts(c.SMTP.Transactions)
	}
	return b
}

func newTCPView(l *L4) tcpView {
	t := tcpView{Verdict: shown(l.Verdict), Counts: tcpCounts(l)}
	for _, x := range l.Reasons {
		t.Reasons = append(t.Reasons, shown(x))
	}
	for _, x := range l.Notes {
		t.Notes = append(t.Notes, shown(x))
	}
	h := &l.Handshake
	var hs []string
	switch {
	case h.MidStream:
		hs = append(hs, "not captured (the capture starts mid-stream)")
	case h.SYNFrame != 0:
		s := fmt.Sprintf("SYN frame %d", h.SYNFrame)
		if h.SYNRetries > 0 {
			s += fmt.Sprintf(" (sent %d times)", h.SYNRetries+1)
		}
		if h.SYNACKFrame != 0 {
			s += fmt.Sprintf(", SYN-ACK %d", h.SYNACKFrame)
		}
		if h.ACKFrame != 0 {
			s += fmt.Sprintf(", ACK %d", h.ACKFrame)
		}
		if h.RefusedFrame != 0 {
			s += fmt.Sprintf(", refused by RST in frame %d", h.RefusedFrame)
		}
		hs = append(hs, s)
	}
	if h.InitialRTTMS > 0 {
		hs = append(hs, "initial RTT "+msText(h.InitialRTTMS))
	}
	if h.ClientMSS != 0 || h.ServerMSS != 0 {
		hs = append(hs, fmt.Sprintf("MSS %s / %s", orDash(intText(h.ClientMSS)), orDash(intText(h.ServerMSS))))
	}
	if h.WindowScaling != "" {
		hs = append(hs, "window scaling "+h.WindowScaling)
	}
	t.Handshake = strings.Join(hs, " · ")

	side := func(name string, f func(s *Side) string) {
		t.Sides = append(t.Sides, tcpRow{Name: name, Client: f(&l.Client), Server: f(&l.Server)})
	}
	side("Segments", func(s *Side) string { return Thousands(int64(s.Segments)) })
	side("Bytes", func(s *Side) string { return Thousands(s.Bytes) })
	side("Largest segment", func(s *Side) string { return Thousands(int64(s.LargestSegment)) })
	side("RTT median (min–max, samples)", func(s *Side) string {
		if s.RTT == nil {
			return "—"
		}
		return fmt.Sprintf("%s (%s–%s, %d)", msText(s.RTT.MedianMS), msText(s.RTT.MinMS), msText(s.RTT.MaxMS), s.RTT.Samples)
	})
	side("FIN", func(s *Side) string {
		if s.FINFrame == 0 {
			return "—"
		}
		return fmt.Sprintf("frame %d", s.FINFrame)
	})
	side("RST", func(s *Side) string {
		var rs []string
		for _, r := range s.Resets {
			x := fmt.Sprintf("frame %d (TTL %d)", r.Frame, r.TTL)
			if r.Injected {
				x += " probably injected"
			}
			if r.DataInFlight {
				x += " with data in flight"
			}
			rs = append(rs, x)
		}
		return orDash(strings.Join(rs, ", "))
	})
	side("Zero window", func(s *Side) string {
		if s.ZeroWindowMS == 0 {
			return "—"
		}
		return dur(msDuration(s.ZeroWindowMS))
	})
	if l.Client.UnseenBytes+l.Server.UnseenBytes+l.Client.TruncatedBytes+l.Server.TruncatedBytes > 0 {
		side("Capture loss (ACKed unseen / snaplen-cut bytes)", func(s *Side) string {
			return Thousands(s.UnseenBytes) + " / " + Thousands(s.TruncatedBytes)
		})
	}
	names := make([]string, 0, len(l.Analysis))
	for name := range l.Analysis {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fc := l.Analysis[name]
		t.Flags = append(t.Flags, flagView{Field: "tcp.analysis." + shown(name), Count: fc.Count, Frames: frameList(fc.Frames)})
	}
	return t
}

func frameList(frames []int) string {
	s := make([]string, len(frames))
	for i, f := range frames {
		s[i] = strconv.Itoa(f)
	}
	return strings.Join(s, ", ")
}

func intText(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// msText formats milliseconds from the model for a table: "0.035 ms", "43.8 ms", "1.2 s".
func msText(ms float64) string {
	switch {
	case ms >= 1000:
		return dur(msDuration(ms))
	case ms >= 10:
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(ms, 'f', 3, 64) + " ms"
}

// headlineCounts says how many transactions failed, in one sentence.
func (v *reportView) headlineCounts() string {
	t := v.Totals
	n := func(i int) string { return Thousands(int64(i)) }
	var s string
	switch {
	case t.Transactions == 0:
		s = "no mail transaction"
	case t.Failed == 0:
		s = fmt.Sprintf("%s of %s mail transactions delivered", n(t.Delivered), n(t.Transactions))
	default:
		s = fmt.Sprintf("%s of %s mail transactions failed, %s delivered", n(t.Failed), n(t.Transactions), n(t.Delivered))
	}
	s += t.refusedClause()
	conn := "connections"
	if t.Connections == 1 {
		conn = "connection"
	}
	return upperFirst(fmt.Sprintf("%s · %s TCP %s, %s SMTP", s, n(t.Connections), conn, n(t.SMTPConnections)))
}

// tcpCounts is the TCP trouble counters in words.
func tcpCounts(l *L4) string {
	return plural(l.Retransmissions, "retransmission") + " · " + plural(l.Resets, "reset") + " · " +
		plural(l.ZeroWindows, "zero window")
}

// plural is "1 reset", "2 resets".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// shown makes hidden characters visible: control characters, line
// breaks, bidirectional overrides and zero-width characters become Go
// escapes (\r, \n, \u202e), so that text from the wire can neither break
// a line nor reorder or hide the text around it. Both writers show only
// shown text.
func shown(s string) string {
	if !strings.ContainsFunc(s, hiddenRune) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if hiddenRune(r) {
			b.WriteString(runeEscape(r))
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}
