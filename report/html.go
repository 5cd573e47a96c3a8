package report

import (
	"bufio"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
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
	Groups   []htmlGroup
	Patterns []Pattern
	Limits   htmlLimits
	// FailedMore counts failing connections beyond maxHTMLFailing.
	FailedMore int
}

// htmlGroup is the connections of one cause, each with its ladder diagram
// when it failed.
type htmlGroup struct {
	groupView
	Conns []htmlConn
}

// htmlConn is a detailed connection with its ladder diagram, if drawn;
// Open unfolds it.
type htmlConn struct {
	connView
	Ladder *ladderSVG
	Open   bool
}

// maxHTMLOpen is how many failing connections the page shows unfolded,
// the first of each group first.
const maxHTMLOpen = 5

// htmlLimits are the caps, for the notes saying what was left out.
type htmlLimits struct {
	Failing, Noted, Rows int
}

// WriteHTML writes the report as one self-contained HTML page: inline CSS
// and inline SVG, no script, no external resource. It has the verdict,
// the summary tables, a timeline with one lane per server and a mark per
// failing connection, then the failing connections grouped by cause, each
// with its evidence, Wireshark filter, TCP facts and ladder diagram folded
// in <details> (so that a page of thousands opens fast without a script),
// the noted connections, and the healthy ones counted in one line (listed,
// folded, with ViewOptions.All). On huge reports the
// sections (maxHTMLFailing), lanes, marks and rows are capped, and the
// page says so.
func (r *Report) WriteHTML(w io.Writer, opt ViewOptions) error {
	tmpl, err := template.New("report").Funcs(template.FuncMap{
		"f":         func(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) },
		"plus":      func(a, b float64) float64 { return a + b },
		"minus":     func(a, b float64) float64 { return a - b },
		"plusInt":   func(a, b int) int { return a + b },
		"minusInt":  func(a, b int) int { return a - b },
		"f2":        func(x float64) string { return strconv.FormatFloat(x, 'f', 2, 64) },
		"thousands": func(n int) string { return Thousands(int64(n)) },
		"upper":     upperFirst,
		"marker":    arrowMarker,
	}).Parse(reportTemplate)
	if err != nil {
		return fmt.Errorf("writing HTML report: %w", err)
	}
	// Healthy connections are one line: a hub's day has tens of thousands.
	lim := viewLimits{Failed: maxHTMLFailing, Noted: maxGroupShown, MaxFailed: maxHTMLFailing}
	if opt.All {
		lim = viewLimits{Failed: math.MaxInt, Noted: math.MaxInt, MaxFailed: math.MaxInt, Healthy: math.MaxInt}
	}
	v := newReportView(r, lim)
	p := &htmlPage{reportView: v, Class: "ok",
		Limits: htmlLimits{Failing: maxHTMLFailing, Noted: maxGroupShown, Rows: maxBriefRows}}
	switch {
	case v.Failed:
		p.Class = "fail"
	case v.Verdict.Cause != CauseOK:
		p.Class = "note"
	}
	p.Patterns = r.Patterns
	ladders, open := 0, 0
	for _, g := range v.Groups {
		hg := htmlGroup{groupView: g}
		for k, cv := range g.Conns {
			hc := htmlConn{connView: cv}
			if cv.Failed && k == 0 && open < maxHTMLOpen {
				hc.Open = true
				open++
			}
			if cv.Failed {
				hc.Ladder = newLadder(r.conn(cv.Index), fmt.Sprintf("ladder-%d", ladders))
				ladders++
			}
			hg.Conns = append(hg.Conns, hc)
		}
		if g.Failed {
			p.FailedMore += g.More
		}
		p.Groups = append(p.Groups, hg)
	}
	p.Timeline = newTimeline(r, v)

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

// HealthyTable is the table of healthy connections.
func (p *htmlPage) HealthyTable() briefTable {
	return briefTable{ManyInputs: p.ManyInputs, Rows: p.Healthy, More: p.HealthyMore}
}

// HeadlineCounts says how many transactions failed, in one sentence.
func (p *htmlPage) HeadlineCounts() string { return p.headlineCounts() }

// SpanText is the capture's length in words.
func (p *htmlPage) SpanText() string { return span0(p.reportView) }
