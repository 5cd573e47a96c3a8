package report

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/smtpscope/smtpscope/smtp"
)

// TextOptions tunes the text rendering.
type TextOptions struct {
	// Color adds ANSI colours (for terminals).
	Color bool
	// All lists every connection: each failing group in full and the
	// healthy connections one by one. By default a group shows its first
	// maxGroupShown connections and the healthy ones are one line.
	All bool
}

// maxGroupShown is how many connections of one cause the text report
// details unless TextOptions.All is set.
const maxGroupShown = 5

type textWriter struct {
	w   *bufio.Writer
	opt TextOptions
}

func (t *textWriter) color(code, s string) string {
	if !t.opt.Color {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// WriteText writes the report for a person, summary first: the headline
// verdict, the failures by cause and by server, each server's deliveries
// and end-of-data reply latency, the patterns; then the failing
// connections grouped by cause (most frequent first) with their evidence,
// the connections that delivered with a note, and the healthy rest as one
// line (listed with TextOptions.All).
func (r *Report) WriteText(w io.Writer, opt TextOptions) error {
	t := &textWriter{w: bufio.NewWriter(w), opt: opt}
	t.header(r)
	t.logs(r)
	t.verdict(r)
	t.summary(r)
	for _, p := range r.Patterns {
		fmt.Fprintf(t.w, "PATTERN  %s\n", wrap(p.Summary, 90, "         "))
	}
	if len(r.Patterns) > 0 {
		fmt.Fprintln(t.w)
	}
	t.groups(r)
	if err := t.w.Flush(); err != nil {
		return fmt.Errorf("writing text report: %w", err)
	}
	if err := r.readErr(); err != nil {
		return fmt.Errorf("writing text report: %w", err)
	}
	return nil
}

func (t *textWriter) header(r *Report) {
	var names []string
	packets := 0
	var start, end time.Time
	for _, in := range r.Inputs {
		names = append(names, in.Name)
		packets += in.Packets
		if !in.Start.IsZero() && (start.IsZero() || in.Start.Before(start)) {
			start = in.Start
		}
		if in.End.After(end) {
			end = in.End
		}
	}
	fmt.Fprintf(t.w, "smtpscope — %s: %s packets, %s TCP connections (%s SMTP), %s\n",
		strings.Join(names, ", "), Thousands(int64(packets)), Thousands(int64(r.Totals.Connections)), Thousands(int64(r.Totals.SMTPConnections)), span(end.Sub(start)))
	for _, in := range r.Inputs {
		for _, w := range in.Warnings {
			fmt.Fprintf(t.w, "%s %s: %s\n", t.color("33", "WARNING"), in.Name, w)
		}
	}
	fmt.Fprintln(t.w)
}

func (t *textWriter) verdict(r *Report) {
	v := r.Verdict
	label := "VERDICT  "
	if v.Cause == CauseOK {
		fmt.Fprintf(t.w, "%s%s\n\n", label, t.color("32", v.Summary))
		return
	}
	if !r.Failed() {
		fmt.Fprintf(t.w, "%s%s\n\n", label, t.color("33", v.Layer+": "+v.Summary))
		return
	}
	fmt.Fprintf(t.w, "%s%s\n", label, t.color("1;31", wrap(failedLayers(r, v.Layer)+": "+v.Summary, 90, "         ")))
	fmt.Fprintf(t.w, "         %s of %s mail transactions failed, %s delivered%s.\n\n", Thousands(int64(r.Totals.Failed)), Thousands(int64(r.Totals.Transactions)), Thousands(int64(r.Totals.Delivered)), r.Totals.refusedClause())
}

func (t *textWriter) connection(c *Connection) {
	ok := c.Diagnosis.Cause == CauseOK || c.Diagnosis.Cause == CauseTLSOpaque
	mark := t.color("31", "✗")
	switch {
	case ok:
		mark = t.color("32", "✓")
	case !connectionFailed(c):
		mark = t.color("33", "!") // delivered, with a note
	}
	fmt.Fprintf(t.w, "%s stream %-4d %s → %s", mark, c.Stream, c.Client, c.Server)
	if c.Resumed {
		fmt.Fprintf(t.w, " (again from frame %d, after the stream had ended)", c.FirstFrame)
	}
	if p := c.Process; p != nil {
		fmt.Fprintf(t.w, " [%s, PID %d]", p.Name, p.PID)
	}
	if c.SMTP == nil {
		fmt.Fprintf(t.w, "   %s\n", strings.ToUpper(describeCause(c.Diagnosis.Cause)))
		t.evidence(c, &c.Diagnosis)
		t.logLines(c, true)
		t.l4(c, true)
		fmt.Fprintln(t.w)
		return
	}
	if ok {
		fmt.Fprintf(t.w, "   %s\n", t.okSummary(c))
	} else {
		fmt.Fprintf(t.w, "   %s\n", strings.ToUpper(describeCause(c.Diagnosis.Cause)))
	}
	fmt.Fprintf(t.w, "    SMTP  %s\n", conversation(c.SMTP))
	for i := range c.SMTP.Transactions {
		t.transaction(c, &c.SMTP.Transactions[i], ok)
	}
	if !ok && c.Diagnosis.Summary != "" && len(c.SMTP.Transactions) == 0 {
		t.evidence(c, &c.Diagnosis)
	}
	if !ok {
		for _, cl := range c.SMTP.Closes {
			if cl.Kind == "RST" {
				fmt.Fprintf(t.w, "    RST   from the %s in frame %d, %s\n", cl.By, cl.Frame, phaseWords(cl.Phase))
			}
		}
	}
	t.logLines(c, !ok)
	t.l4(c, !ok)
	fmt.Fprintln(t.w)
}

// phaseWords says where in the SMTP session an event came.
func phaseWords(p string) string {
	switch p {
	case "before-greeting":
		return "before the greeting"
	case "envelope":
		return "during the envelope (MAIL/RCPT)"
	case "body":
		return "during the message body"
	case "awaiting-reply":
		return "while the end-of-data awaited its reply"
	case "idle":
		return "between transactions"
	case "after-quit":
		return "after QUIT (usually harmless)"
	case "tls":
		return "inside TLS"
	}
	return p
}

func (t *textWriter) okSummary(c *Connection) string {
	s := c.SMTP
	n := len(s.Transactions)
	switch {
	case s.TLS != nil:
		return "encrypted (" + s.TLS.How + " TLS): " + c.Diagnosis.Summary
	case n == 0:
		return "no mail transaction"
	case n == 1 && s.Transactions[0].Outcome == outcomeDelivered:
		tx := &s.Transactions[0]
		return fmt.Sprintf("%s-byte message   %s", Thousands(tx.Size), replyLatency(tx.Reply))
	}
	return messageCounts(s.Transactions)
}

// messageCounts says what came of a connection's transactions, "2
// messages delivered" only when both were: a transaction whose outcome
// the capture does not show is never counted as delivered (#14).
func messageCounts(txs []Transaction) string {
	var delivered, unknown, withdrawn, other int
	for i := range txs {
		switch txs[i].Outcome {
		case outcomeDelivered:
			delivered++
		case outcomeWithdrawn:
			withdrawn++
		case smtp.OutcomeUnknown.String():
			unknown++
		default:
			other++
		}
	}
	if delivered == len(txs) {
		return fmt.Sprintf("%d messages delivered", delivered)
	}
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(delivered, "delivered")
	add(unknown, "of unknown outcome")
	add(other, "not delivered")
	add(withdrawn, "envelope(s) withdrawn before DATA")
	return strings.Join(parts, ", ")
}

func (t *textWriter) transaction(c *Connection, tx *Transaction, connOK bool) {
	failedTx := tx.Diagnosis.Cause != CauseOK
	if !failedTx && connOK && len(c.SMTP.Transactions) == 1 {
		return
	}
	mark := "·"
	switch {
	case tx.Outcome == smtp.OutcomeUnknown.String():
		mark = t.color("33", "?") // the capture cannot tell
	case failedTx:
		mark = t.color("31", "✗")
	}
	if tx.Inferred {
		fmt.Fprintf(t.w, "    %s message of %s, inferred from TLS records: %s", mark, inferredSize(tx), strings.ToUpper(tx.Outcome))
		if tx.AnswerFrame != 0 {
			fmt.Fprintf(t.w, " (answered after %s)", durMS(tx.AnswerMS))
		}
	} else {
		fmt.Fprintf(t.w, "    %s message %s bytes via %s, from %s to %d recipient(s): %s",
			mark, tx.SizeWords(), orDash(tx.Method), orDash(tx.MailFrom), len(tx.RcptTo), strings.ToUpper(tx.Outcome))
	}
	if tx.Reply != nil {
		fmt.Fprintf(t.w, " (%s)", replyLatency(tx.Reply))
	}
	fmt.Fprintln(t.w)
	if failedTx {
		t.evidence(c, &tx.Diagnosis)
	}
}

func (t *textWriter) evidence(c *Connection, d *Diagnosis) {
	for _, e := range d.Evidence {
		if e.Frame == 0 {
			continue
		}
		fmt.Fprintf(t.w, "        frame %-8d %-52s %s\n", e.Frame, e.What, rel(c.Start, e.Time))
	}
	fmt.Fprintf(t.w, "        Why   %s\n", wrap(d.Summary, 90, "              "))
	if d.Filter != "" {
		fmt.Fprintf(t.w, "        Check %s\n", d.Filter)
	}
}

func (t *textWriter) l4(c *Connection, detail bool) {
	rtt := ""
	for _, s := range []Side{c.L4.Client, c.L4.Server} {
		if s.RTT != nil {
			rtt = fmt.Sprintf(" · RTT %s ms", strconv.FormatFloat(s.RTT.MedianMS, 'g', 3, 64))
			break
		}
	}
	fmt.Fprintf(t.w, "    TCP   %d retransmissions · %d resets · %d zero windows%s   → %s\n",
		c.L4.Retransmissions, c.L4.Resets, c.L4.ZeroWindows, rtt, c.L4.Verdict)
	for _, r := range c.L4.Reasons {
		fmt.Fprintf(t.w, "          %s\n", r)
	}
	if detail {
		for _, n := range c.L4.Notes {
			fmt.Fprintf(t.w, "          (%s)\n", n)
		}
	}
}

// conversation renders the command/reply sequence on one line, e.g.
// "220 · EHLO 250 · MAIL 250 · RCPT 250 · DATA 354 · . 250 · QUIT 221".
func conversation(s *SMTP) string {
	var parts []string
	if p := s.Preamble; p != nil {
		parts = append(parts, "["+preambleWords(p)+"]")
	}
	if s.Banner != nil {
		parts = append(parts, strconv.Itoa(s.Banner.Code))
	}
	eods := map[int]*Transaction{}
	for i := range s.Transactions {
		if f := s.Transactions[i].EODFrame; f != 0 && s.Transactions[i].Method == "DATA" {
			eods[f] = &s.Transactions[i]
		}
	}
	for _, c := range s.Commands {
		p := c.Verb + " " + code(c.Reply)
		parts = append(parts, p)
		if c.Verb == "DATA" && c.Reply != nil && c.Reply.Code == 354 {
			for i := range s.Transactions {
				tx := &s.Transactions[i]
				if tx.DataFrame == c.Frame && tx.EODFrame != 0 {
					parts = append(parts, ". "+code(tx.Reply))
				}
			}
		}
		if len(parts) > 40 {
			parts = append(parts, "…")
			break
		}
	}
	if s.TLS != nil {
		parts = append(parts, "["+TLSLine(s.TLS)+"]")
	}
	for _, u := range s.Unmatched {
		parts = append(parts, fmt.Sprintf("(unprompted %s in frame %d)", replyCode(&u), u.Frame))
	}
	return strings.Join(parts, " · ")
}

// replyCode renders "451 4.7.0" or, without a basic code, "4.7.0".
func replyCode(r *Reply) string {
	return codes(r.Code, r.Enhanced)
}

func code(r *Reply) string {
	if r == nil {
		return "—"
	}
	c := strconv.Itoa(r.Code)
	if r.Code == 0 {
		c = codes(r.Code, r.Enhanced)
	}
	if r.Partial {
		return c + "(partial)"
	}
	return c
}

func replyLatency(r *Reply) string {
	if r == nil {
		return "no reply"
	}
	return codes(r.Code, r.Enhanced) + " after " + dur(time.Duration(r.LatencyMS*float64(time.Millisecond)))
}

func describeCause(c Cause) string {
	switch c {
	case CauseEODNoReply:
		return "no reply after end-of-data"
	case CauseEODPartialReply:
		return "partial reply after end-of-data"
	}
	return strings.ReplaceAll(string(c), "-", " ")
}

// span formats the length of a capture: "51.2 s", "12 min 5 s", "3 h 20 min", "412 days".
func span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return dur(d)
	case d < time.Hour:
		return fmt.Sprintf("%d min %d s", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

func rel(start, t time.Time) string {
	if t.IsZero() || start.IsZero() {
		return ""
	}
	return fmt.Sprintf("+%.3f s", t.Sub(start).Seconds())
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// Thousands formats n with comma separators, 1048576 → "1,048,576", as
// every report and event line writes counts.
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// wrap breaks s into lines of at most width runes, indenting continuations.
func wrap(s string, width int, indent string) string {
	words := strings.Fields(s)
	var b strings.Builder
	n := 0
	for i, w := range words {
		if i > 0 && n+1+len(w) > width {
			b.WriteString("\n" + indent)
			n = 0
		} else if i > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}

// preambleWords names what a proxy sent before SMTP, e.g. "HTTP CONNECT
// mx.example.com:25, proxy 200" or "PROXY v2 192.0.2.1:4000 → 198.51.100.2:25".
func preambleWords(p *Preamble) string {
	switch p.Kind {
	case "http-connect":
		s := "HTTP CONNECT " + p.Target
		if p.Status != 0 {
			s += ", proxy " + strconv.Itoa(p.Status)
		}
		return s
	case "proxy-v1", "proxy-v2":
		s := "PROXY " + strings.TrimPrefix(p.Kind, "proxy-")
		if p.Source != "" {
			s += " " + p.Source + " → " + p.Destination
		}
		return s
	}
	return p.Kind
}
