package report

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/mtalog"
)

// exchangeLog writes an Exchange send log with one session per
// connection given, skewed by skew.
func exchangeLog(t *testing.T, facts []Facts, skew time.Duration) *mtalog.Log {
	t.Helper()
	return exchangeLogLate(t, facts, skew, func(int) time.Duration { return 0 })
}

// exchangeLogLate is exchangeLog with session i's lines written late(i)
// after their events.
func exchangeLogLate(t *testing.T, facts []Facts, skew time.Duration, late func(i int) time.Duration) *mtalog.Log {
	t.Helper()
	var b strings.Builder
	b.WriteString("#Log-type: SMTP Send Protocol Log\n#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context\n")
	for i, f := range facts {
		c := f.Conn
		for j, ev := range []struct {
			at       float64
			ev, data string
		}{{0, "+", ""}, {0.001, "<", "220 ready"}, {10.0, "<", "354 go ahead"}, {55, "-", ""}} {
			ts := c.FirstTime.Add(skew + late(i) + time.Duration(ev.at*float64(time.Second))).UTC().Format("2006-01-02T15:04:05.000Z")
			fmt.Fprintf(&b, "%s,C,%016X,%d,%s,%s,%s,%s,\n", ts, i, j, c.Client, c.Server, ev.ev, ev.data)
		}
	}
	l, err := mtalog.Read("send.log", strings.NewReader(b.String()), mtalog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestJoinLogsSpilled: connections held in the temporary file get their
// log lines as those in memory do, in every format.
func TestJoinLogsSpilled(t *testing.T) {
	facts := builderFacts()
	// distinct client ports: Exchange logs both ends
	for i := range facts {
		c := *facts[i].Conn
		c.Client = netipPort(c.Client.Addr().String(), 40000+i)
		facts[i].Conn = &c
	}
	log := exchangeLog(t, facts[:6], 90*time.Second)
	var out []string
	for _, spill := range []int{1000, -1} {
		b := NewBuilder(Options{MemoryConnections: spill, TempDir: t.TempDir(), JoinLogs: true})
		for i := range facts {
			b.Add(&facts[i])
		}
		r, err := b.Finish(nil)
		if err != nil {
			t.Fatal(err)
		}
		r.JoinLogs([]*mtalog.Log{log}, LogOptions{})
		if len(r.Logs) != 1 || r.Logs[0].Matched != 6 || r.Logs[0].SkewMS != 90000 {
			t.Errorf("spill %d: logs %+v", spill, r.Logs)
		}
		if len(r.LogUnmatched) != 6 {
			t.Errorf("spill %d: %d unmatched connections, want 6", spill, len(r.LogUnmatched))
		}
		out = append(out, render(t, r))
		r.Close()
	}
	if out[0] != out[1] {
		t.Errorf("report with connections in a temporary file differs:\n%s", firstLineDiff(out[0], out[1]))
	}
	if n := strings.Count(out[0], `"log_match"`); n != 6 {
		t.Errorf("%d log_match objects, want 6", n)
	}
}

func firstLineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return al[i] + "\n" + bl[i]
		}
	}
	return ""
}

func netipPort(addr string, port int) netip.AddrPort {
	return netip.MustParseAddrPort(fmt.Sprintf("%s:%d", addr, port))
}

// TestLogClockClaim: what the report says about a log's clock is what the
// lines prove. A logger can be late but not early: lines written late by a
// varying delay on the capture's own clock are not a skew (the median
// lateness used to be reported as one), a log whose lines come before
// their connections proves its clock behind, and a log whose every line
// is late cannot tell lateness from a clock ahead.
func TestLogClockClaim(t *testing.T) {
	facts := builderFacts()[:8]
	for i := range facts {
		c := *facts[i].Conn
		c.Client = netipPort(c.Client.Addr().String(), 41000+i)
		facts[i].Conn = &c
	}
	varying := func(i int) time.Duration { return 300*time.Millisecond + time.Duration(i*i)*100*time.Millisecond } // 0.3 … 5.2 s
	onTime := func(int) time.Duration { return 0 }
	for _, tt := range []struct {
		name  string
		skew  time.Duration
		late  func(int) time.Duration
		clock string
	}{
		{"same clock, on time", 0, onTime, ClockNoSkewShown},
		{"same clock, late by 0.3 to 5.2 s", 0, varying, ClockLateOrAhead},
		{"90 s behind, late by 0.3 to 5.2 s", -90 * time.Second, varying, ClockBehind},
		{"90 s behind, on time", -90 * time.Second, onTime, ClockBehind},
		{"90 s ahead, on time", 90 * time.Second, onTime, ClockLateOrAhead},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBuilder(Options{JoinLogs: true})
			for i := range facts {
				b.Add(&facts[i])
			}
			r, err := b.Finish(nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			r.JoinLogs([]*mtalog.Log{exchangeLogLate(t, facts, tt.skew, tt.late)}, LogOptions{})
			if len(r.Logs) != 1 || r.Logs[0].Matched != len(facts) {
				t.Fatalf("logs %+v: want all %d sessions matched", r.Logs, len(facts))
			}
			l := r.Logs[0]
			minLate := tt.late(0)
			if l.Clock != tt.clock {
				t.Errorf("clock %q, want %q (%+v)", l.Clock, tt.clock, l)
			}
			// The bound is true: the log's clock is no further ahead than
			// skew_max_ms says.
			if float64(tt.skew.Milliseconds()) > l.SkewMaxMS {
				t.Errorf("skew_max_ms %.3f below the true skew %v", l.SkewMaxMS, tt.skew)
			}
			// The alignment never exceeds what the most prompt line allows.
			if got, most := l.SkewMS, float64((tt.skew + minLate).Milliseconds()); got > most+0.001 || got < most-1 {
				t.Errorf("skew_ms %.3f, want the lower envelope %.0f", got, most)
			}
			if l.SkewFrom != len(facts) {
				t.Errorf("skew_from %d, want %d", l.SkewFrom, len(facts))
			}
			var text strings.Builder
			if err := r.WriteText(&text, TextOptions{}); err != nil {
				t.Fatal(err)
			}
			if tt.clock != ClockBehind && strings.Contains(text.String(), "behind the capture") {
				t.Errorf("text claims a clock behind:\n%s", text.String())
			}
			if tt.clock == ClockLateOrAhead && !strings.Contains(text.String(), "the capture cannot tell") {
				t.Errorf("text does not say lateness and skew cannot be told apart:\n%s", text.String())
			}
		})
	}
}

// TestEstimateClockStrong: the clock claim rests on the strongly matched
// sessions where there are any: a session matched by the peer's address
// and time alone, its line 1.5 s before its connection, may be another
// connection's, and does not make the log's clock "behind".
func TestEstimateClockStrong(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	line := func(at time.Duration) mtalog.Event {
		return mtalog.Event{Kind: mtalog.EventConnect, Line: mtalog.Line{Time: t0.Add(at)}}
	}
	l := &mtalog.Log{Sessions: []mtalog.Session{
		{Events: []mtalog.Event{line(20 * time.Millisecond)}},
		{Events: []mtalog.Event{line(10*time.Second - 1500*time.Millisecond)}},
	}}
	keys := []joinKey{{start: t0}, {start: t0.Add(10 * time.Second)}}
	for _, tt := range []struct {
		name          string
		strong1       bool
		clock         string
		from          int
		envelopeMilli int64
	}{
		{"weak pair beside a strong one", false, ClockLateOrAhead, 1, 20},
		{"both strong", true, ClockBehind, 2, -1500},
	} {
		est := estimateClock(l, []pair{{sess: 0, conn: 0, strong: true}, {sess: 1, conn: 1, strong: tt.strong1}}, keys)
		if est.claim() != tt.clock || est.from != tt.from || est.envelope.Milliseconds() != tt.envelopeMilli {
			t.Errorf("%s: %s from %d, envelope %v; want %s from %d, %d ms", tt.name, est.claim(), est.from, est.envelope, tt.clock, tt.from, tt.envelopeMilli)
		}
	}
}
