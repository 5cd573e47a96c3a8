package report

import "fmt"

// logs writes the Markdown report's section about the logs given.
func (m *mdWriter) logs(r *Report) {
	lines := logInputLines(r)
	if len(lines) == 0 {
		return
	}
	m.line("## MTA logs")
	m.line()
	for _, l := range lines {
		m.line("- ", mdText(l))
	}
	m.line()
}

// logLines writes a connection's log lines beside its wire events.
func (m *mdWriter) logLines(v *logView) {
	if v == nil {
		return
	}
	m.line("Log: ", mdText(v.Match))
	m.line()
	m.line("| time | where | wire event or log line |")
	m.line("|---|---|---|")
	for _, r := range v.Rows {
		where := fmt.Sprintf("frame %d", r.Frame)
		if r.Source != "" {
			where = r.Source
		}
		m.line("| ", mdText(r.Rel), " | ", mdCode(where, true), " | ", mdCode(r.Text, true), " |")
	}
	m.line()
	for _, e := range v.Explanations {
		m.line("- ", mdText(e))
	}
	if len(v.Explanations) > 0 {
		m.line()
	}
}
