package report

import (
	"fmt"
	"sort"
	"time"
)

// logView is a connection's log lines beside its wire events, on the
// capture's time axis, for the text and Markdown renderers.
type logView struct {
	// Match says how the lines were found, e.g. "postfix.log, peer+time,
	// log clock -0.736 s".
	Match        string
	Rows         []logRow
	Explanations []string
}

// logRow is one wire event or log line. Exactly one of Frame and Source
// is set.
type logRow struct {
	Time   time.Time
	Rel    string // "+10.051 s" from the connection's start
	Frame  int
	Source string // "maillog:16"
	Text   string
}

// maxLogRows bounds a timeline (a long session's lines are cut).
const maxLogRows = 60

// logViewOf builds the view of c's log lines; nil when it has none.
func logViewOf(c *Connection) *logView {
	if c.LogMatch == nil {
		return nil
	}
	v := &logView{Explanations: c.LogMatch.Explanations}
	for i, s := range c.LogMatch.Sessions {
		if i > 0 {
			v.Match += "; "
		}
		v.Match += fmt.Sprintf("%s (%s %s), matched by %s, times aligned by %+.3f s", s.Source, s.Format, s.Role, s.Method, s.SkewMS/1000)
	}
	var rows []logRow
	for _, l := range c.Log {
		rows = append(rows, logRow{Time: l.WireTime, Source: fmt.Sprintf("%s:%d", l.Source, l.Line), Text: l.Text})
	}
	rows = append(rows, wireRows(c)...)
	sort.SliceStable(rows, func(i, j int) bool {
		if !rows[i].Time.Equal(rows[j].Time) {
			return rows[i].Time.Before(rows[j].Time)
		}
		return rows[i].Frame != 0 && rows[j].Frame != 0 && rows[i].Frame < rows[j].Frame
	})
	if len(rows) > maxLogRows {
		rows = rows[len(rows)-maxLogRows:]
	}
	for i := range rows {
		rows[i].Rel = fmt.Sprintf("%+.3f s", rows[i].Time.Sub(c.Start).Seconds())
	}
	v.Rows = rows
	return v
}

// wireRows are the connection's SMTP events worth setting beside a log:
// commands, replies, end-of-data, closes.
func wireRows(c *Connection) []logRow {
	var rows []logRow
	add := func(t time.Time, frame int, text string) {
		if !t.IsZero() && frame > 0 {
			rows = append(rows, logRow{Time: t, Frame: frame, Text: text})
		}
	}
	if c.SMTP == nil {
		return rows
	}
	m := c.SMTP
	if m.Banner != nil {
		add(m.Banner.Time, m.Banner.Frame, fmt.Sprintf("server: %s", logReplyLine(m.Banner)))
	}
	for _, tx := range m.Transactions {
		add(tx.EODTime, tx.EODFrame, "client: end-of-data \".\"")
		if tx.Reply != nil {
			add(tx.Reply.Time, tx.Reply.Frame, "server: "+logReplyLine(tx.Reply))
		}
	}
	for _, cmd := range m.Commands {
		add(cmd.Time, cmd.Frame, "client: "+cmd.Verb)
		if cmd.Reply != nil {
			add(cmd.Reply.Time, cmd.Reply.Frame, "server: "+logReplyLine(cmd.Reply))
		}
	}
	for _, cl := range m.Closes {
		add(cl.Time, cl.Frame, fmt.Sprintf("%s: %s", cl.By, cl.Kind))
	}
	return rows
}

func logReplyLine(r *Reply) string {
	s := codes(r.Code, r.Enhanced)
	if r.Text != "" {
		s += " " + r.Text
	}
	return s
}

// logInputLines are the report's lines about the logs given: one per log,
// then its unmatched sessions, then the unmatched connections.
func logInputLines(r *Report) []string {
	var out []string
	for _, l := range r.Logs {
		if l.Error != "" {
			out = append(out, fmt.Sprintf("%s: not read: %s", l.Name, l.Error))
			continue
		}
		s := fmt.Sprintf("%s: %s, %d lines, %d sessions, %d matched", l.Name, l.Format, l.Lines, l.Sessions, l.Matched)
		if l.SkewFrom > 0 {
			s += "; " + clockText(&l)
		}
		out = append(out, s)
		for _, w := range l.Warnings {
			out = append(out, "  warning: "+w)
		}
		for _, u := range l.Unmatched {
			out = append(out, fmt.Sprintf("  unmatched session %s (line %d, %s, peer %s): %s", u.ID, u.Line, u.Time.UTC().Format("2006-01-02 15:04:05"), orDash(u.Remote), u.Why))
		}
	}
	for _, u := range r.LogUnmatched {
		out = append(out, fmt.Sprintf("  unmatched connection: stream %d %s → %s: %s", u.Stream, u.Client, u.Server, u.Why))
	}
	return out
}
