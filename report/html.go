package report

import (
	"bufio"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strconv"
)

// reportTemplate is the HTML page; html/template escapes every value
// for the context it lands in (text, attribute, URL), because addresses
// and reply texts come from whoever sent the packets.
//
//go:embed templates/report.html.tmpl
var reportTemplate string

// htmlPage is what the template renders.
type htmlPage struct {
	*reportView
	// Class is fail, note or ok: the colour of the verdict.
	Class    string
	Timeline *timelineSVG
	Failing  []htmlConn
	Noted    []htmlConn
	Limits   htmlLimits
}

// htmlConn is a detailed connection with its ladder diagram, if drawn.
type htmlConn struct {
	connView
	Ladder *ladderSVG
}

// htmlLimits are the caps, for the notes saying what was left out.
type htmlLimits struct {
	Ladders, Detailed, Rows int
}

// WriteHTML writes the report as one self-contained HTML page: inline CSS
// and inline SVG, no script, no external resource. It has the verdict, a
// timeline of all connections coloured by outcome, then each failing
// connection with its evidence, Wireshark filter, TCP facts and a ladder
// diagram, the connections that delivered with a note, a per-server table
// and the healthy connections. On huge reports, ladders, sections, table
// rows and timeline bars are capped, and the page says so.
func (r *Report) WriteHTML(w io.Writer) error {
	tmpl, err := template.New("report").Funcs(template.FuncMap{
		"f":         func(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) },
		"plus":      func(a, b float64) float64 { return a + b },
		"minus":     func(a, b float64) float64 { return a - b },
		"plusInt":   func(a, b int) int { return a + b },
		"thousands": func(n int) string { return thousands(int64(n)) },
		"upper":     upperFirst,
		"marker":    arrowMarker,
	}).Parse(reportTemplate)
	if err != nil {
		return fmt.Errorf("writing HTML report: %w", err)
	}
	v := newReportView(r)
	p := &htmlPage{reportView: v, Class: "ok",
		Limits: htmlLimits{Ladders: maxLadders, Detailed: maxDetailed, Rows: maxBriefRows}}
	switch {
	case v.Failed:
		p.Class = "fail"
	case v.Verdict.Cause != CauseOK:
		p.Class = "note"
	}
	detailed := map[int]bool{}
	for k, cv := range v.Failing {
		hc := htmlConn{connView: cv}
		if k < maxLadders {
			hc.Ladder = newLadder(r.conn(cv.Index), fmt.Sprintf("ladder-%d", k))
		}
		p.Failing = append(p.Failing, hc)
		detailed[cv.Index] = true
	}
	for _, cv := range v.Noted {
		p.Noted = append(p.Noted, htmlConn{connView: cv})
		detailed[cv.Index] = true
	}
	p.Timeline = newTimeline(r, v, detailed)

	bw := bufio.NewWriter(w)
	if err := tmpl.Execute(bw, p); err != nil {
		return fmt.Errorf("writing HTML report: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing HTML report: %w", err)
	}
	if err := r.readErr(); err != nil {
		return fmt.Errorf("writing HTML report: %w", err)
	}
	return nil
}

// arrowMarker names the arrowhead (by colour) for a ladder row's class.
func arrowMarker(class string) string {
	switch class {
	case "ok", "warn", "bad":
		return class
	case "rst":
		return "bad"
	}
	return "dark"
}

// briefTable is a one-line-per-connection table for the template.
type briefTable struct {
	ManyInputs bool
	Rows       []briefRow
	More       int
}

// BriefTable is the table of failing and noted connections beyond the
// detailed ones.
func (p *htmlPage) BriefTable() briefTable {
	return briefTable{ManyInputs: p.ManyInputs, Rows: p.Brief, More: p.BriefMore}
}

// HealthyTable is the table of healthy connections.
func (p *htmlPage) HealthyTable() briefTable {
	return briefTable{ManyInputs: p.ManyInputs, Rows: p.Healthy, More: p.HealthyMore}
}

// HeadlineCounts says how many transactions failed, in one sentence.
func (p *htmlPage) HeadlineCounts() string { return p.headlineCounts() }

// SpanText is the capture's length in words.
func (p *htmlPage) SpanText() string { return span0(p.reportView) }
