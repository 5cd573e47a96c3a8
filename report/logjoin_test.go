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
	var b strings.Builder
	b.WriteString("#Log-type: SMTP Send Protocol Log\n#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context\n")
	for i, f := range facts {
		c := f.Conn
		for j, ev := range []struct {
			at       float64
			ev, data string
		}{{0, "+", ""}, {0.001, "<", "220 ready"}, {10.0, "<", "354 go ahead"}, {59, "-", ""}} {
			ts := c.FirstTime.Add(skew + time.Duration(ev.at*float64(time.Second))).UTC().Format("2006-01-02T15:04:05.000Z")
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
