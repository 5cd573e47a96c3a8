package report

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// The MTA log as the ladder's third column: each log line matched to the
// connection (Report.JoinLogs) becomes a row of the diagram at its place
// on the wire's time axis (the log's time corrected by its clock skew),
// between the wire rows before and after it, with a mark on the lifeline
// of the side that wrote it and its text, wrapped, right of the server.
// A silence the log line falls into is split around it, so that a
// client's timeout line shows where the waiting ended.

// Log column geometry, in SVG user units.
const (
	ladderLogX     = ladderWidth - 96 // left edge of the log column
	ladderLogW     = 456.0            // its width
	ladderLogLineH = 14.0             // a wrapped line's height
	// ladderLogRunes is how many characters of a log line fit the column
	// (11 px monospace).
	ladderLogRunes = 68
	// maxLogLinesPerRow bounds a log row's wrapped lines; the full line is
	// the tooltip.
	maxLogLinesPerRow = 5
	// maxLadderLogRows bounds the log rows of one diagram: a long
	// session's latest lines are kept, near the failure.
	maxLadderLogRows = 40
)

// ladderLogRow is a drawn log line.
type ladderLogRow struct {
	Y           float64
	Time        string
	MarkX       float64 // the lifeline of the side that wrote it; 0: unknown
	Title       string  // source:line and the whole text
	Lines       []ladderLogText
	GuideX1     float64
	GuideX2     float64
	SourceShort string
}

// ladderLogText is one wrapped line of a log row.
type ladderLogText struct {
	Y    float64
	Text string
}

// withLogRows merges c's log lines into the diagram's rows (in frame
// order, after elision) by time: a log line goes before the first wire
// row later than it. Rows without a time never take a log line before
// them. It returns how many earlier log lines were not drawn.
func withLogRows(c *Connection, ev []ladderEvent) ([]ladderEvent, int) {
	lines := c.Log
	left := 0
	if len(lines) > maxLadderLogRows {
		left = len(lines) - maxLadderLogRows
		lines = lines[left:]
	}
	if len(lines) == 0 {
		return ev, 0
	}
	out := make([]ladderEvent, 0, len(ev)+len(lines))
	k := 0
	for _, e := range ev {
		for ; k < len(lines) && !e.time.IsZero() && lines[k].WireTime.Before(e.time); k++ {
			out = append(out, logEvent(&lines[k], e.frame))
		}
		out = append(out, e)
	}
	for ; k < len(lines); k++ {
		out = append(out, logEvent(&lines[k], math.MaxInt))
	}
	return out, left
}

// logEvent is the row of log line l, which comes before the wire row of
// frame next.
func logEvent(l *LogLine, next int) ladderEvent {
	return ladderEvent{dir: logLineRow, class: "log", time: l.WireTime, label: l.Text, log: l, nextFrame: next}
}

// logRowOf lays out the log row e at y and returns it with the height its
// wrapped lines take beyond one row.
func logRowOf(c *Connection, e *ladderEvent, y float64, roles map[string]string) (ladderLogRow, float64) {
	l := e.log
	r := ladderLogRow{Y: y, Time: ladderTime(c.Start, l.WireTime),
		Title:   shown(fmt.Sprintf("%s:%d %s", l.Source, l.Line, l.Text)),
		GuideX1: ladderServerX + 8, GuideX2: ladderLogX - 6}
	switch roles[l.Source] {
	case "client":
		r.MarkX = ladderClientX
	case "server":
		r.MarkX = ladderServerX
	}
	text := l.Message
	if text == "" {
		text = l.Text
	}
	for i, s := range wrapRunes(shown(text), ladderLogRunes, maxLogLinesPerRow) {
		r.Lines = append(r.Lines, ladderLogText{Y: y + 4 + float64(i)*ladderLogLineH, Text: s})
	}
	return r, float64(len(r.Lines)-1) * ladderLogLineH
}

// logRoles maps each matched log source to the side of the connection
// that wrote it ("client" or "server"), when one side only did.
func logRoles(c *Connection) map[string]string {
	roles := map[string]string{}
	if c.LogMatch == nil {
		return roles
	}
	for _, s := range c.LogMatch.Sessions {
		if r, ok := roles[s.Source]; ok && r != s.Role {
			roles[s.Source] = ""
			continue
		}
		roles[s.Source] = s.Role
	}
	return roles
}

// logColumnHead names the log column: the log file(s) and their role.
func logColumnHead(c *Connection) string {
	if c.LogMatch == nil || len(c.LogMatch.Sessions) == 0 {
		return "MTA log"
	}
	var names []string
	for _, s := range c.LogMatch.Sessions {
		n := s.Source
		if i := strings.LastIndexAny(n, `/\`); i >= 0 {
			n = n[i+1:]
		}
		n += " (" + s.Format + " " + s.Role + ")"
		if !strings.Contains(strings.Join(names, "\x00"), n) {
			names = append(names, n)
		}
	}
	return truncateRunes(shown("MTA log: "+strings.Join(names, ", ")), ladderLogRunes)
}

// wrapRunes cuts s into lines of at most n runes, preferring to break
// after a space, comma or semicolon; beyond most lines the last ends in
// "…".
func wrapRunes(s string, n, most int) []string {
	r := []rune(s)
	var out []string
	for len(r) > 0 {
		if len(out) == most-1 && len(r) > n {
			out = append(out, string(r[:n-1])+"…")
			break
		}
		if len(r) <= n {
			out = append(out, string(r))
			break
		}
		cut := n
		for i := n; i > n/2 && r[n] != ' '; i-- {
			if r[i-1] == ' ' || r[i-1] == ',' || r[i-1] == ';' {
				cut = i
				break
			}
		}
		out = append(out, strings.TrimRight(string(r[:cut]), " "))
		for r = r[cut:]; len(r) > 0 && r[0] == ' '; {
			r = r[1:]
		}
	}
	return out
}

// logGap is the time since the previous timed row that e starts a
// silence at, for log rows and wire rows alike.
func logGap(e *ladderEvent, last time.Time, prevElided bool) time.Duration {
	if e.time.IsZero() || last.IsZero() || !e.time.After(last) || prevElided {
		return 0
	}
	return e.time.Sub(last)
}
