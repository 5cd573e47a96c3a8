package report

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// The timeline shows every connection as a bar over capture time, coloured
// by how it ended, with a tick at each evidence frame of a failing one.

// Timeline geometry, in SVG user units.
const (
	timelineWidth  = 1000.0
	timelineLabelW = 330.0 // the connection labels' column
	timelinePlotX  = timelineLabelW + 10
	timelinePlotW  = timelineWidth - timelinePlotX - 20
	timelineTop    = 30.0
	timelineRowH   = 18.0
	timelineBarH   = 10.0
)

// timelineSVG is a laid-out timeline, ready for the template.
type timelineSVG struct {
	Width, Height float64
	PlotX, PlotW  float64
	AxisY         float64
	Ticks         []timelineTick
	Bars          []timelineBar
	LegendY       float64
	// Shown and Total count bars and connections when capped.
	Shown, Total int
}

// timelineTick is a labelled time on the axis.
type timelineTick struct {
	X     float64
	Label string
}

// timelineBar is one connection.
type timelineBar struct {
	Y, TextY, X, W float64
	Class          string // fail, note, ok, other
	Label          string
	Title          string
	// Anchor links to the connection's section, "" when it has none.
	Anchor string
	Marks  []float64
}

// newTimeline lays out the bars of r's connections; detailed names the
// connections that have a section to link to.
func newTimeline(r *Report, v *reportView, detailed map[int]bool) *timelineSVG {
	if r.count() == 0 {
		return nil
	}
	// Failing and noted connections first, then the rest, then capped.
	order := make([]int, 0, r.count())
	var rest []int
	for _, i := range sortedConnections(r) {
		if r.causeOf(i) != CauseOK || r.failedAt(i) {
			order = append(order, i)
		} else {
			rest = append(rest, i)
		}
	}
	order = append(order, rest...)
	t := &timelineSVG{Width: timelineWidth, PlotX: timelinePlotX, PlotW: timelinePlotW, Total: len(order)}
	if len(order) > maxTimelineBars {
		order = order[:maxTimelineBars]
	}
	t.Shown = len(order)
	conns := make(map[int]*Connection, len(order))
	for _, i := range order {
		conns[i] = r.conn(i)
	}
	sort.SliceStable(order, func(a, b int) bool {
		ca, cb := conns[order[a]], conns[order[b]]
		if !ca.Start.Equal(cb.Start) {
			return ca.Start.Before(cb.Start)
		}
		return order[a] < order[b]
	})

	start, span := v.CaptureStart, v.Span
	if span <= 0 {
		span = time.Millisecond
	}
	x := func(at time.Time) float64 {
		if at.IsZero() || start.IsZero() {
			return timelinePlotX
		}
		f := float64(at.Sub(start)) / float64(span)
		return timelinePlotX + timelinePlotW*math.Min(math.Max(f, 0), 1)
	}
	t.AxisY = timelineTop - 8
	for _, tk := range niceTicks(span) {
		t.Ticks = append(t.Ticks, timelineTick{X: x(start.Add(tk)), Label: tickLabel(tk, span)})
	}
	y := timelineTop
	for _, i := range order {
		c := conns[i]
		b := timelineBar{Y: y + (timelineRowH-timelineBarH)/2, TextY: y + timelineRowH/2 + 4, X: x(c.Start),
			Class: timelineClass(c)}
		b.W = math.Max(x(connEnd(c))-b.X, 2)
		b.Label = fmt.Sprintf("%d  %s → %s", c.Stream, c.Client, c.Server)
		if v.ManyInputs {
			b.Label = fmt.Sprintf("#%d %s", c.Input+1, b.Label)
		}
		b.Label = truncateRunes(shown(b.Label), 48)
		b.Title = shown(fmt.Sprintf("stream %d %s → %s: %s, %s from %s", c.Stream, c.Client, c.Server,
			timelineResult(c), dur(msDuration(c.DurationMS)), rel(start, c.Start)))
		if detailed[i] {
			b.Anchor = "#" + streamAnchor(c)
		}
		if connectionFailed(c) {
			for _, e := range failureEvidence(c) {
				if !e.Time.IsZero() {
					b.Marks = append(b.Marks, x(e.Time))
				}
			}
		}
		t.Bars = append(t.Bars, b)
		y += timelineRowH
	}
	t.LegendY = y + 22
	t.Height = t.LegendY + 16
	return t
}

// failureEvidence is the evidence of a failing connection's diagnoses.
func failureEvidence(c *Connection) []Evidence {
	var ev []Evidence
	if c.SMTP != nil {
		for _, tx := range c.SMTP.Transactions {
			if tx.Diagnosis.Cause != CauseOK {
				ev = append(ev, tx.Diagnosis.Evidence...)
			}
		}
	}
	if len(ev) == 0 {
		ev = c.Diagnosis.Evidence
	}
	return ev
}

func timelineClass(c *Connection) string {
	switch {
	case connectionFailed(c):
		return "fail"
	case c.Diagnosis.Cause != CauseOK:
		return "note"
	case c.SMTP == nil:
		return "other"
	}
	return "ok"
}

func timelineResult(c *Connection) string {
	switch {
	case c.Diagnosis.Cause != CauseOK:
		return describeCause(c.Diagnosis.Cause)
	case c.SMTP == nil:
		return "not SMTP"
	}
	return "ok"
}

// niceTicks returns 1-2-5 steps across span, at most about eight.
func niceTicks(span time.Duration) []time.Duration {
	step := time.Microsecond
	for _, m := range []time.Duration{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000,
		200000, 500000, 1000000, 2000000, 5000000, 10000000, 30000000, 60000000, 120000000, 300000000, 600000000,
		1800000000, 3600000000, 7200000000, 21600000000, 43200000000, 86400000000} {
		step = m * time.Microsecond
		if span/step <= 8 {
			break
		}
	}
	var ticks []time.Duration
	for t := time.Duration(0); t <= span && len(ticks) < 100; t += step {
		ticks = append(ticks, t)
	}
	return ticks
}

// tickLabel formats an axis offset with the precision the span needs.
func tickLabel(t, span time.Duration) string {
	switch {
	case span >= 2*time.Hour:
		return fmt.Sprintf("+%.1f h", t.Hours())
	case span >= 10*time.Minute:
		return fmt.Sprintf("+%.0f min", t.Minutes())
	case span >= 10*time.Second:
		return fmt.Sprintf("+%.0f s", t.Seconds())
	case span >= time.Second:
		return fmt.Sprintf("+%.1f s", t.Seconds())
	}
	ms := float64(t) / float64(time.Millisecond)
	switch {
	case span >= 100*time.Millisecond:
		return fmt.Sprintf("+%.0f ms", ms)
	case span >= 10*time.Millisecond:
		return fmt.Sprintf("+%.1f ms", ms)
	}
	return fmt.Sprintf("+%.2f ms", ms)
}
