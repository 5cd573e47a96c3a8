package report

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"
)

// WriteMarkdown writes the report as GitHub-flavoured Markdown, to be
// pasted into a ticket, summary first as the text report: the verdict, the
// failures by cause and by server, each server's deliveries and
// end-of-data reply latency, the patterns; then the failing connections
// grouped by cause (five each) with their evidence tables, Wireshark
// filters and TCP facts, the noted ones likewise, and the healthy ones
// counted. It uses no colour and no HTML.
//
// Everything that came off the wire (addresses, reply texts, HELO names,
// file names) is escaped: it is shown in code spans with a fence longer
// than any backtick run inside, pipes are escaped in table cells, and
// control and bidirectional-override characters are shown as escapes, so
// that hostile input can neither break the layout nor hide text.
func (r *Report) WriteMarkdown(w io.Writer, opt ViewOptions) error {
	lim := viewLimits{Failed: maxGroupShown, Noted: maxGroupShown, MaxFailed: math.MaxInt}
	if opt.All {
		lim = viewLimits{Failed: math.MaxInt, Noted: math.MaxInt, MaxFailed: math.MaxInt, Healthy: math.MaxInt}
	}
	v := newReportView(r, lim)
	m := &mdWriter{w: bufio.NewWriter(w)}
	m.header(v)
	m.summary(v)
	m.logs(r)
	if len(r.Patterns) > 0 {
		m.line("## Patterns")
		m.line()
		for _, p := range r.Patterns {
			m.line("- " + mdText(p.Summary))
		}
		m.line()
	}
	for i := range v.Groups {
		g := &v.Groups[i]
		what := "Failed"
		if !g.Failed {
			what = "Note (not a failure)"
		}
		m.line(fmt.Sprintf("## %s: %s — %s (%s)", what, mdCode(string(g.Cause), false), mdText(g.Words), Thousands(int64(g.Total))))
		m.line()
		for k := range g.Conns {
			m.connection(v, &g.Conns[k])
		}
		if g.More > 0 {
			m.line("… and ", Thousands(int64(g.More)), " more: `--all` or the JSON.")
			m.line()
		}
	}
	if n := len(v.Healthy) + v.HealthyMore; n > 0 && !opt.All {
		m.line(fmt.Sprintf("✓ %s healthy connection(s) not listed: `--all` or the JSON.", Thousands(int64(n))))
		m.line()
	} else if n > 0 {
		m.line(fmt.Sprintf("## Healthy connections (%s)", Thousands(int64(n))))
		m.line()
		m.briefTable(v, v.Healthy, v.HealthyMore)
	}
	if err := m.w.Flush(); err != nil {
		return fmt.Errorf("writing Markdown report: %w", err)
	}
	if err := r.readErr(); err != nil {
		return fmt.Errorf("writing Markdown report: %w", err)
	}
	return nil
}

type mdWriter struct {
	w *bufio.Writer
}

// line writes its parts and a newline.
func (m *mdWriter) line(parts ...string) {
	for _, p := range parts {
		m.w.WriteString(p)
	}
	m.w.WriteByte('\n')
}

func (m *mdWriter) header(v *reportView) {
	mark := "✓"
	switch {
	case v.Failed:
		mark = "✗"
	case v.Verdict.Cause != CauseOK:
		mark = "⚠"
	}
	m.line("## ", mark, " smtpscope: ", mdText(v.Verdict.Summary))
	m.line()
	if v.Verdict.Cause != CauseOK {
		m.line("**Verdict:** ", mdText(v.Verdict.Layer), " · ", mdCode(string(v.Verdict.Cause), false))
		m.line()
	}
	m.line(mdText(v.headlineCounts()), ".")
	m.line()
	m.line("| Capture | Format | Packets | Span |")
	m.line("|:--|:--|--:|--:|")
	for i, in := range v.Inputs {
		span := ""
		if i == 0 {
			span = span0(v)
		}
		format := mdText(in.Format)
		if in.Truncated {
			format += " (truncated)"
		}
		m.line("| ", orDash(mdCode(in.Name, true)), " | ", format, " | ", Thousands(int64(in.Packets)), " | ", span, " |")
	}
	m.line()
	for _, in := range v.Inputs {
		for _, w := range in.Warnings {
			m.line("> **Warning** ", mdCode(in.Name, false), ": ", mdText(w))
			m.line()
		}
	}
}

// span0 is the capture length, shown once.
func span0(v *reportView) string {
	if v.CaptureStart.IsZero() {
		return "—"
	}
	return span(v.Span)
}

func (m *mdWriter) connection(v *reportView, c *connView) {
	mark := "✗"
	if !c.Failed {
		mark = "⚠"
	}
	m.line("### ", mark, " Stream ", fmt.Sprint(c.Stream), " · ", mdCode(c.Client, false), " → ", mdCode(c.Server, false),
		" · ", mdText(c.Headline))
	m.line()
	var about []string
	if c.File != "" {
		about = append(about, "File "+mdCode(c.File, false)+" (frame numbers are this file's)")
	}
	if c.Process != "" {
		about = append(about, "Process "+mdCode(c.Process, false))
	}
	about = append(about, "Diagnosis "+mdText(c.Layer)+" · "+mdCode(string(c.Cause), false))
	m.line(strings.Join(about, " · "))
	m.line()
	if c.Conversation != "" {
		m.line("SMTP ", mdCode(c.Conversation, false))
		m.line()
	}
	for i := range c.Findings {
		m.finding(&c.Findings[i])
	}
	if len(c.Others) > 0 {
		if c.OthersAll {
			m.line("Messages on this connection:")
		} else {
			m.line("Other messages on this connection:")
		}
		m.line()
		for _, o := range c.Others {
			m.line("- ", mdText(o))
		}
		m.line()
	}
	m.logLines(c.Log)
	m.tcp(&c.TCP)
}

func (m *mdWriter) finding(f *findingView) {
	m.line("#### ", mdText(f.Title))
	m.line()
	for _, fact := range f.Facts {
		val := mdText(fact.Value)
		if fact.Code {
			val = orDash(mdCode(fact.Value, false))
		}
		m.line("- ", fact.Label, ": ", val)
	}
	if len(f.Facts) > 0 {
		m.line()
	}
	if len(f.Evidence) > 0 {
		m.line("| Frame | Since stream start | What |")
		m.line("|--:|--:|:--|")
		for _, e := range f.Evidence {
			m.line("| ", fmt.Sprint(e.Frame), " | ", orDash(e.Offset), " | ", mdText(e.What), " |")
		}
		m.line()
	}
	if f.Why != "" {
		m.line("**Why:** ", mdText(f.Why))
		m.line()
	}
	if f.Filter != "" {
		m.line("**Wireshark filter:** ", mdCode(f.Filter, false))
		m.line()
	}
}

func (m *mdWriter) tcp(t *tcpView) {
	m.line("**TCP: ", mdText(t.Verdict), "** · ", mdText(t.Counts))
	if t.Handshake != "" {
		m.line("· handshake ", mdText(t.Handshake))
	}
	m.line()
	for _, r := range t.Reasons {
		m.line("- ", mdText(r))
	}
	for _, n := range t.Notes {
		m.line("- (", mdText(n), ")")
	}
	for _, f := range t.Flags {
		m.line("- ", mdCode(f.Field, false), " × ", fmt.Sprint(f.Count), " (first frames ", f.Frames, ")")
	}
	if len(t.Reasons)+len(t.Notes)+len(t.Flags) > 0 {
		m.line()
	}
	m.line("| TCP | client → server | server → client |")
	m.line("|:--|--:|--:|")
	for _, r := range t.Sides {
		m.line("| ", r.Name, " | ", mdText(r.Client), " | ", mdText(r.Server), " |")
	}
	m.line()
}

func (m *mdWriter) briefTable(v *reportView, rows []briefRow, more int) {
	file := ""
	if v.ManyInputs {
		file = " File |"
	}
	m.line("| Stream |", file, " Client | Server | Start | Duration | Result |")
	m.line("|--:|", strings.Repeat(":--|", strings.Count(file, "|")), ":--|:--|--:|--:|:--|")
	for _, b := range rows {
		f := ""
		if v.ManyInputs {
			f = " " + orDash(mdCode(b.File, true)) + " |"
		}
		result := mdText(b.Result)
		if b.Failed {
			result = "✗ " + result
		}
		m.line("| ", fmt.Sprint(b.Stream), " |", f, " ", mdCode(b.Client, true), " | ", mdCode(b.Server, true), " | ",
			orDash(b.Start), " | ", b.Duration, " | ", result, " |")
	}
	m.line()
	if more > 0 {
		m.line(fmt.Sprintf("… and %d more (see the JSON report).", more))
		m.line()
	}
}

// summary writes the summary tables, as the text report has them.
func (m *mdWriter) summary(v *reportView) {
	s := v.Summary
	if s == nil {
		return
	}
	causes := func(title, of string, rows []causeRow, more int) {
		if len(rows) == 0 {
			return
		}
		m.line("## ", title)
		m.line()
		m.line("| Cause | In plain words | Connections | Share of the ", of, " | First → last (frame, time) | Example | Servers |")
		m.line("|:--|:--|--:|--:|:--|--:|:--|")
		for _, c := range rows {
			m.line("| ", mdCode(c.Cause, true), " | ", mdText(c.Words), " | ", c.Connections, " | ", c.Share, " | ",
				mdText(c.Range), " | stream ", fmt.Sprint(c.Example), " | ", mdCode(c.Servers, true), " |")
		}
		m.line()
		if more > 0 {
			m.line(fmt.Sprintf("… and %d more causes in the JSON summary.", more))
			m.line()
		}
	}
	causes("Failures by cause", "failed", s.Causes, s.MoreCauses)
	causes("Notes by cause", "noted", s.Notes, s.MoreNotes)
	if len(s.FailingServers) > 0 {
		m.line("## Failures by server")
		m.line()
		m.line("| Server | Failed connections | Share of its connections | First → last (frame, time) | Example | Causes |")
		m.line("|:--|--:|--:|:--|--:|:--|")
		for _, f := range s.FailingServers {
			m.line("| ", mdCode(f.Server, true), " | ", f.Failed, " | ", f.Share, " | ", mdText(f.Range),
				" | stream ", fmt.Sprint(f.Example), " | ", mdText(f.Causes), " |")
		}
		m.line()
		if s.MoreFailingServers > 0 {
			m.line(fmt.Sprintf("… and %d more servers with failures in the JSON summary.", s.MoreFailingServers))
			m.line()
		}
	}
	if len(s.Servers) > 0 {
		m.line("## Servers")
		m.line()
		m.line("| Server | Connections | Delivered | Failed | End-of-data reply median | p95 | max | Retransmissions |")
		m.line("|:--|--:|--:|--:|--:|--:|--:|--:|")
		for _, sv := range s.Servers {
			m.line("| ", mdCode(sv.Server, true), " | ", sv.Connections, " | ", sv.Delivered, " | ", sv.Failed, " | ",
				sv.Median, " | ", sv.P95, " | ", sv.Max, " | ", sv.Retransmissions, " |")
		}
		m.line()
		if s.MoreServers > 0 {
			m.line(fmt.Sprintf("… and %d more servers in the JSON summary.", s.MoreServers))
			m.line()
		}
	}
	if v.OtherTCP > 0 {
		m.line(fmt.Sprintf("%d other TCP connection(s) carried no SMTP and are not shown.", v.OtherTCP))
		m.line()
	}
}

// mdSpecial are the characters Markdown (CommonMark plus GitHub's
// extensions: tables, strikethrough, math, mentions, issue references)
// may read as syntax in running text.
const mdSpecial = "\\`*_[]<>|~&$@#!"

// mdText escapes s for running text and table cells: Markdown syntax
// characters get a backslash, and control characters, line breaks and
// bidirectional overrides are shown as escapes.
func mdText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case strings.ContainsRune(mdSpecial, r):
			b.WriteByte('\\')
			b.WriteRune(r)
		case hiddenRune(r):
			b.WriteString(runeEscape(r))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// mdCode puts s in a code span, verbatim except for hidden characters
// shown as escapes and, in a table cell, pipes escaped as GitHub's table
// syntax requires even inside code spans. It returns "" for "".
func mdCode(s string, cell bool) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	run, longest := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
		switch {
		case hiddenRune(r):
			b.WriteString(runeEscape(r))
		case r == '|' && cell:
			b.WriteString(`\|`)
		default:
			b.WriteRune(r)
		}
	}
	body := b.String()
	// A span starting or ending with a backtick needs padding; one space
	// each side is stripped again when both are present.
	if strings.HasPrefix(body, "`") || strings.HasSuffix(body, "`") ||
		(strings.HasPrefix(body, " ") && strings.HasSuffix(body, " ")) {
		body = " " + body + " "
	}
	fence := strings.Repeat("`", longest+1)
	return fence + body + fence
}

// hiddenRune tells whether r would be invisible or rearrange text around
// it: control characters, line and paragraph separators, bidirectional
// embeddings, overrides and isolates, and zero-width characters.
func hiddenRune(r rune) bool {
	switch {
	case r == utf8.RuneError:
		return true
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r == 0x2028, r == 0x2029, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r >= 0x200b && r <= 0x200f, r == 0xfeff:
		return true
	}
	return unicode.Is(unicode.Cf, r)
}

// runeEscape writes r as a Go escape: \n, \r, \t, \x00, \u202e.
func runeEscape(r rune) string {
	switch r {
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	}
	if r < 0x80 {
		return fmt.Sprintf(`\x%02x`, r)
	}
	return fmt.Sprintf(`\u%04x`, r)
}
