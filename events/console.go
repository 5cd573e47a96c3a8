package events

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/smtpscope/smtpscope/pipeline"
	"github.com/smtpscope/smtpscope/report"
)

// waitSpan formats a duration for event lines as the report does: "2.0 s",
// "340 ms", "0.38 ms".
func waitSpan(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
}

// Console writes the event stream of smtpscope live on its standard
// error: a start line, each incident, a summary every interval and a stop
// line, as text lines or (format "json") JSON objects with "type" start,
// incident, summary or stop, one per line. It is for a person watching, or
// a script; Writer is for a log pipeline.
type Console struct {
	w    io.Writer
	json bool
}

// NewConsole returns a Console writing format "text" or "json" to w.
func NewConsole(w io.Writer, format string) *Console {
	return &Console{w: w, json: format == "json"}
}

// timeFormat is RFC 3339 in UTC with milliseconds, as events are read
// beside logs.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

func (e *Console) line(text string, obj any) {
	if !e.json {
		fmt.Fprintln(e.w, text)
		return
	}
	b, err := json.Marshal(obj)
	if err != nil {
		fmt.Fprintf(e.w, "smtpscope live: %v\n", err)
		return
	}
	fmt.Fprintf(e.w, "%s\n", b)
}

// Start writes the start line.
func (e *Console) Start(now time.Time, iface, filter string, snaplen int, write string) {
	text := fmt.Sprintf("%s START capturing on %s, filter %q, snaplen %d", now.UTC().Format(timeFormat), iface, filter, snaplen)
	if write != "" {
		text += ", writing " + write
	}
	e.line(text, struct {
		Type      string `json:"type"`
		Time      string `json:"time"`
		Interface string `json:"interface"`
		Filter    string `json:"filter"`
		Snaplen   int    `json:"snaplen"`
		Write     string `json:"write,omitempty"`
	}{"start", now.UTC().Format(timeFormat), iface, filter, snaplen, write})
}

// Incident writes an incident line.
func (e *Console) Incident(in *report.Incident) {
	where, late := "", ""
	if in.Message > 0 {
		where = fmt.Sprintf(" message %d", in.Message)
	}
	if w := report.KeyLateWords(in.Decryption); w != "" {
		late = " (" + w + ")"
	}
	e.line(fmt.Sprintf("%s INCIDENT %s stream %d %s → %s frame %d%s: %s%s",
		in.Time.UTC().Format(timeFormat), in.Kind, in.Stream, in.Client, in.Server, in.Frame, where, in.Summary, late),
		struct {
			Type       string                `json:"type"`
			Time       string                `json:"time"`
			Kind       report.Cause          `json:"kind"`
			Stream     int                   `json:"stream"`
			Client     string                `json:"client"`
			Server     string                `json:"server"`
			Frame      int                   `json:"frame"`
			Message    int                   `json:"message,omitempty"`
			Summary    string                `json:"summary"`
			Decryption *report.TLSDecryption `json:"decryption,omitempty"`
		}{"incident", in.Time.UTC().Format(timeFormat), in.Kind, in.Stream, in.Client, in.Server, in.Frame, in.Message, in.Summary, in.Decryption})
}

// dropped says, for a text line, how many packets the capture lost, if any.
func droppedText(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%s lost before analysis)", report.Thousands(int64(n)))
}

// Summary writes a summary line.
func (e *Console) Summary(s *pipeline.Progress) {
	e.line(fmt.Sprintf("%s SUMMARY %s packets%s; connections %d open, %d ended; messages %d delivered, %d failed, %d awaiting a reply; %d incidents",
		s.Time.UTC().Format(timeFormat), report.Thousands(int64(s.Packets)), droppedText(s.Dropped.Total()), s.Open, s.Ended, s.Delivered, s.Failed, s.Awaiting, s.Incidents),
		struct {
			Type      string  `json:"type"`
			Time      string  `json:"time"`
			ElapsedS  float64 `json:"elapsed_s"`
			Packets   int     `json:"packets"`
			Dropped   int     `json:"dropped,omitempty"`
			Open      int     `json:"open"`
			Ended     int     `json:"ended"`
			Delivered int     `json:"delivered"`
			Failed    int     `json:"failed"`
			Awaiting  int     `json:"awaiting"`
			Incidents int     `json:"incidents"`
		}{"summary", s.Time.UTC().Format(timeFormat), s.Elapsed.Seconds(), s.Packets, s.Dropped.Total(), s.Open, s.Ended, s.Delivered, s.Failed, s.Awaiting, s.Incidents})
}

// Stop writes the stop line: why the capture stopped, how long it
// captured, and the counts (dropped: packets lost before analysis).
func (e *Console) Stop(now time.Time, why string, captured time.Duration, packets, dropped, incidents int, t *report.Totals) {
	e.line(fmt.Sprintf("%s STOP %s: %s packets%s over %s; %d connections, %d messages delivered, %d failed; %d incidents",
		now.UTC().Format(timeFormat), why, report.Thousands(int64(packets)), droppedText(dropped), waitSpan(captured), t.Connections, t.Delivered, t.Failed, incidents),
		struct {
			Type      string  `json:"type"`
			Time      string  `json:"time"`
			Reason    string  `json:"reason"`
			CapturedS float64 `json:"captured_s"`
			Packets   int     `json:"packets"`
			Dropped   int     `json:"dropped,omitempty"`
			Conns     int     `json:"connections"`
			Delivered int     `json:"delivered"`
			Failed    int     `json:"failed"`
			Incidents int     `json:"incidents"`
		}{"stop", now.UTC().Format(timeFormat), why, captured.Seconds(), packets, dropped, t.Connections, t.Delivered, t.Failed, incidents})
}
