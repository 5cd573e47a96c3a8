package report

import "fmt"

// logs writes the text report's lines about the logs given.
func (t *textWriter) logs(r *Report) {
	lines := logInputLines(r)
	for i, l := range lines {
		label := "         "
		if i == 0 {
			label = "LOGS     "
		}
		fmt.Fprintf(t.w, "%s%s\n", label, l)
	}
	if len(lines) > 0 {
		fmt.Fprintln(t.w)
	}
}

// logLines writes a connection's log lines beside its wire events
// (detail), or one line saying they were found.
func (t *textWriter) logLines(c *Connection, detail bool) {
	v := logViewOf(c)
	if v == nil {
		return
	}
	if !detail {
		fmt.Fprintf(t.w, "    LOG   %d line(s): %s\n", len(c.Log), v.Match)
		return
	}
	fmt.Fprintf(t.w, "    LOG   %s\n", wrap(v.Match, 90, "          "))
	for _, r := range v.Rows {
		where := fmt.Sprintf("frame %d", r.Frame)
		text := r.Text
		if r.Source != "" {
			where = r.Source
			text = "│ " + text
		}
		fmt.Fprintf(t.w, "          %-12s %-24s %s\n", r.Rel, where, text)
	}
	for _, e := range v.Explanations {
		fmt.Fprintf(t.w, "    Log   %s\n", wrap(e, 90, "          "))
	}
}
