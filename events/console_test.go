package events

import (
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/pipeline"
	"github.com/smtpscope/smtpscope/report"
)

func TestWaitSpan(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{{380 * time.Microsecond, "0.38 ms"}, {19 * time.Millisecond, "19 ms"}, {2100 * time.Millisecond, "2.1 s"}}
	for _, tt := range tests {
		if got := waitSpan(tt.in); got != tt.want {
			t.Errorf("waitSpan(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestConsoleDrops checks that the summary and stop lines say how many
// packets the capture lost, in text and JSON, and say nothing of it when
// none was lost.
func TestConsoleDrops(t *testing.T) {
	at := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	p := &pipeline.Progress{Time: at, Packets: 5000, Dropped: pipeline.Drops{Kernel: 1200, Ring: 34}}
	for _, tt := range []struct {
		format, lost, none string
	}{
		{"text", "5,000 packets (1,234 lost before analysis)", "lost before analysis"},
		{"json", `"dropped":1234`, `"dropped"`},
	} {
		var b strings.Builder
		c := NewConsole(&b, tt.format)
		c.Summary(p)
		c.Stop(at, "duration reached", time.Second, 5000, 1234, 0, &report.Totals{})
		if got := b.String(); strings.Count(got, tt.lost) != 2 {
			t.Errorf("%s: %q, want %q in the summary and the stop line", tt.format, got, tt.lost)
		}
		b.Reset()
		c.Summary(&pipeline.Progress{Time: at, Packets: 5000})
		c.Stop(at, "duration reached", time.Second, 5000, 0, 0, &report.Totals{})
		if got := b.String(); strings.Contains(got, tt.none) {
			t.Errorf("%s without drops: %q mentions them", tt.format, got)
		}
	}
}
