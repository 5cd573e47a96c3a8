package report

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// seedWithLog is the seed incident with the sending MTA's log matched to
// its failing connection: the DATA and 354 it logged, and its timeout 20 s
// after the end-of-data, while the wire stays silent.
func seedWithLog() *Report {
	r := seedIncident()
	c := &r.Connections[1]
	const s = 0.1
	line := func(n int, at float64, msg string) LogLine {
		return LogLine{Source: "/var/log/mail.log", Line: n, Time: rt(s + at - 0.5), WireTime: rt(s + at),
			Text: "Dec  1 22:28:09 mta " + msg, Message: msg}
	}
	c.Log = []LogLine{
		line(7, 0.0023, "postfix/smtp[7]: 1A2B3C: sending DATA"),
		line(8, 20.0, "postfix/smtp[7]: 1A2B3C: to=<postmaster@example.net>, relay=relay.example.net[10.0.0.25]:25, delay=21, delays=0.1/0/0.1/20, dsn=4.4.2, status=deferred (conversation with relay.example.net[10.0.0.25] timed out while sending end of data -- message may be sent more than once)"),
	}
	c.LogMatch = &LogMatch{Method: "peer+time", SkewMS: -500,
		Sessions:     []LogSessionRef{{Source: "/var/log/mail.log", ID: "1A2B3C", Format: "postfix", Role: "client", Method: "peer+time", SkewMS: -500}},
		Explanations: []string{"Postfix logged a timeout; on the wire the server sent nothing after the end-of-data in frame 982."}}
	return r
}

// TestLadderLogColumn: the log's lines are rows of the ladder's third
// column at their place on the wire's time, marked on the lifeline of the
// side that wrote them, and the silence after the end-of-data is split
// where the MTA's timeout line falls.
func TestLadderLogColumn(t *testing.T) {
	r := seedWithLog()
	c := &r.Connections[1]
	l := newLadder(c, "l")
	if len(l.Logs) != 2 || l.LogX == 0 || l.Width <= ladderWidth {
		t.Fatalf("log column: %d rows at x=%v, width %v; want 2 rows right of the server", len(l.Logs), l.LogX, l.Width)
	}
	y := map[string]float64{}
	for _, row := range l.Rows {
		y[row.Frame] = row.Y
	}
	data, eod, quit := y["30"], y["982"], y["987"]
	tests := []struct {
		name         string
		row          ladderLogRow
		after, under float64 // the wire rows it lies between
		time         string
	}{
		{"DATA line", l.Logs[0], data, eod, "+0.0023 s"},
		{"timeout line", l.Logs[1], eod, quit, "+20.0000 s"},
	}
	for _, tt := range tests {
		if tt.row.Y <= tt.after || tt.row.Y >= tt.under {
			t.Errorf("%s at y=%v, want between %v and %v", tt.name, tt.row.Y, tt.after, tt.under)
		}
		if tt.row.Time != tt.time || tt.row.MarkX != ladderClientX {
			t.Errorf("%s: time %q mark x=%v, want %q on the client's lifeline", tt.name, tt.row.Time, tt.row.MarkX, tt.time)
		}
	}
	timeout := l.Logs[1]
	if len(timeout.Lines) < 3 || len(timeout.Lines) > maxLogLinesPerRow || !strings.HasPrefix(timeout.Lines[0].Text, "postfix/smtp[7]: 1A2B3C: to=") ||
		!strings.Contains(timeout.Title, "/var/log/mail.log:8 Dec  1 22:28:09 mta postfix/smtp[7]") {
		t.Errorf("timeout row: lines %+v, title %q", timeout.Lines, timeout.Title)
	}
	var wrapped strings.Builder
	for _, ln := range timeout.Lines {
		wrapped.WriteString(ln.Text + " ")
	}
	if !strings.Contains(wrapped.String(), "timed out while") {
		t.Errorf("the timeout line's words are cut: %q", wrapped.String())
	}
	wantBands := []string{
		"19.4 s without a reply from the server to end-of-data",
		"5.6 s without a reply from the server to end-of-data",
		"25.0 s without a reply from the server to end-of-data and QUIT",
	}
	if len(l.Bands) != len(wantBands) {
		t.Fatalf("bands %+v, want %d", l.Bands, len(wantBands))
	}
	for i, want := range wantBands {
		if l.Bands[i].Label != want {
			t.Errorf("band %d = %q, want %q", i, l.Bands[i].Label, want)
		}
	}
	if got := l.BandX + l.BandW; got >= l.LogX {
		t.Errorf("bands reach x=%v, into the log column at %v", got, l.LogX)
	}

	// The page draws the column and drops the table the ladder replaces;
	// the explanation stays.
	var b bytes.Buffer
	if err := summarized(r).WriteHTML(&b, ViewOptions{}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{`<g class="logrow">`, "MTA log: mail.log (postfix client)", "Postfix logged a timeout", "<strong>MTA log</strong>"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "wire event or log line") {
		t.Error("page still has the log table under a ladder that shows the log")
	}
	checkHTML(t, b.Bytes())
}

// TestLadderLogRowsBounded: a long log keeps its latest lines and says how
// many it left out.
func TestLadderLogRowsBounded(t *testing.T) {
	r := seedWithLog()
	c := &r.Connections[1]
	many := make([]LogLine, 0, maxLadderLogRows+25)
	for i := range maxLadderLogRows + 25 {
		ln := c.Log[0]
		ln.Line = i + 1
		many = append(many, ln)
	}
	c.Log = append(many, c.Log[1])
	l := newLadder(c, "l")
	if len(l.Logs) != maxLadderLogRows || l.LogLeft != 26 {
		t.Errorf("%d log rows, %d left out; want %d and 26", len(l.Logs), l.LogLeft, maxLadderLogRows)
	}
	if !strings.Contains(l.Logs[len(l.Logs)-1].Title, "timed out") {
		t.Error("the latest line (the timeout) is not drawn")
	}
}

func TestWrapRunes(t *testing.T) {
	tests := []struct {
		in      string
		n, most int
		want    []string
	}{
		{"", 10, 3, nil},
		{"short", 10, 3, []string{"short"}},
		{"alpha beta gamma delta", 10, 3, []string{"alpha beta", "gamma", "delta"}},
		{"alpha  beta", 6, 3, []string{"alpha", "beta"}},
		{"to=<a@b>, relay=x, delay=1", 12, 5, []string{"to=<a@b>,", "relay=x,", "delay=1"}},
		{"abcdefghijklmnopqrstuvwxyz", 10, 2, []string{"abcdefghij", "klmnopqrs…"}},
		{"ééééééééééééé", 5, 5, []string{"ééééé", "ééééé", "ééé"}},
	}
	for _, tt := range tests {
		got := wrapRunes(tt.in, tt.n, tt.most)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("wrapRunes(%q, %d, %d) = %q, want %q", tt.in, tt.n, tt.most, got, tt.want)
		}
		for _, s := range got {
			if utf8.RuneCountInString(s) > tt.n {
				t.Errorf("wrapRunes(%q, %d, %d): line %q is longer than %d", tt.in, tt.n, tt.most, s, tt.n)
			}
		}
	}
}
