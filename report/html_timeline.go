package report

import (
	"fmt"
	"math"
	"time"
)

// The timeline aggregates: one lane per server, shaded by how many
// connections began in each slice of capture time, with a mark at each
// failing (or noted) connection's diagnosis, linked to its section. Its
// size depends on the servers and the failures, not on the connections.

// Timeline geometry, in SVG user units.
const (
	timelineWidth  = 1000.0
	timelineLabelW = 250.0 // the server labels' column
	timelinePlotX  = timelineLabelW + 10
	timelinePlotW  = timelineWidth - timelinePlotX - 20
	timelineTop    = 30.0
	timelineRowH   = 26.0
	timelineBarH   = 16.0
	// timelineBins is how many slices of capture time a lane is shaded in.
	timelineBins = 120
)

// timelineSVG is a laid-out timeline, ready for the template.
type timelineSVG struct {
	Width, Height float64
	PlotX, PlotW  float64
	AxisY         float64
	Ticks         []timelineTick
	Lanes         []timelineLane
	LegendY       float64
	// Servers counts the servers, Shown the lanes; MarksLeft the marks
	// not drawn beyond maxTimelineMarks.
	Servers, Shown int
	MarksLeft      int
}

// timelineTick is a labelled time on the axis.
type timelineTick struct {
	X     float64
	Label string
}

// timelineLane is one server's connections over time.
type timelineLane struct {
	Y, TextY, BarY float64
	Label, Title   string
	Bins           []timelineBin
	Marks          []timelineMark
}

// timelineBin is a slice of time with connections beginning in it;
// Opacity grows with their number.
type timelineBin struct {
	X, W, Opacity float64
	Title         string
}

// timelineMark is a failing (fail) or noted (note) connection.
type timelineMark struct {
	X      float64
	Class  string
	Title  string
	Anchor string
}

// newTimeline lays out one lane per server of r (the summary's order: the
// most failures first), capped at maxTimelineLanes with the rest sharing
// the last lane.
func newTimeline(r *Report, v *reportView) *timelineSVG {
	if r.count() == 0 || r.Summary == nil || len(r.Summary.Servers) == 0 {
		return nil
	}
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
	t := &timelineSVG{Width: timelineWidth, PlotX: timelinePlotX, PlotW: timelinePlotW, Servers: len(r.Summary.Servers)}
	lane := t.addLanes(r.Summary.Servers)
	t.Shown = len(t.Lanes)
	counts := make([][timelineBins]int, len(t.Lanes))
	marks := 0
	for i := range r.count() {
		failed, cause := r.failedAt(i), r.causeOf(i)
		if !r.isSMTP(i) && !failed {
			continue
		}
		c := r.conn(i)
		k, ok := lane[c.Server]
		if !ok {
			continue
		}
		if !c.Start.IsZero() && !start.IsZero() {
			b := int(float64(timelineBins) * float64(c.Start.Sub(start)) / float64(span))
			counts[k][min(max(b, 0), timelineBins-1)]++
		}
		if !failed && (cause == CauseOK || cause == CauseTLSOpaque) {
			continue // nothing to mark
		}
		if marks == maxTimelineMarks {
			t.MarksLeft++
			continue
		}
		marks++
		w := whereOf(c)
		m := timelineMark{X: x(w.Time), Class: "note", Anchor: "#" + streamAnchor(c),
			Title: shown(fmt.Sprintf("stream %d %s → %s: %s (frame %d, %s)", c.Stream, c.Client, c.Server,
				describeCause(cause), w.Frame, rel(start, w.Time)))}
		if failed {
			m.Class = "fail"
		}
		t.Lanes[k].Marks = append(t.Lanes[k].Marks, m)
	}
	t.AxisY = timelineTop - 8
	for _, tk := range niceTicks(span) {
		t.Ticks = append(t.Ticks, timelineTick{X: x(start.Add(tk)), Label: tickLabel(tk, span)})
	}
	y := timelineTop
	for k := range t.Lanes {
		t.Lanes[k].shade(y, &counts[k], span)
		y += timelineRowH
	}
	t.LegendY = y + 22
	t.Height = t.LegendY + 16
	return t
}

// addLanes adds a lane per server, in order, the last one shared by the
// servers beyond maxTimelineLanes; it returns each server's lane.
func (t *timelineSVG) addLanes(servers []ServerSummary) map[string]int {
	lane := map[string]int{}
	for _, s := range servers {
		k := len(t.Lanes)
		if k == maxTimelineLanes-1 && len(servers) > maxTimelineLanes {
			if len(t.Lanes) == k {
				t.Lanes = append(t.Lanes, timelineLane{Label: fmt.Sprintf("%d other servers", len(servers)-k)})
			}
			lane[s.Server] = k
			continue
		}
		if k >= maxTimelineLanes {
			lane[s.Server] = maxTimelineLanes - 1
			continue
		}
		lane[s.Server] = k
		t.Lanes = append(t.Lanes, timelineLane{Label: truncateRunes(shown(s.Server), 34),
			Title: shown(fmt.Sprintf("%s: %d connections, %d failed", s.Server, s.Connections, s.FailedConnections))})
	}
	return lane
}

// shade places the lane at y and shades its time slices by counts, the
// connections that began in each.
func (l *timelineLane) shade(y float64, counts *[timelineBins]int, span time.Duration) {
	binW := timelinePlotW / timelineBins
	l.Y, l.TextY, l.BarY = y, y+timelineRowH/2+4, y+(timelineRowH-timelineBarH)/2
	most := 0
	for _, n := range counts {
		most = max(most, n)
	}
	for b, n := range counts {
		if n == 0 {
			continue
		}
		from := span * time.Duration(b) / timelineBins
		l.Bins = append(l.Bins, timelineBin{X: timelinePlotX + float64(b)*binW, W: binW,
			Opacity: 0.15 + 0.85*float64(n)/float64(most),
			Title:   fmt.Sprintf("%d connection(s) began %s – %s", n, tickLabel(from, span), tickLabel(from+span/timelineBins, span))})
	}
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
