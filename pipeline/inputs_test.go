package pipeline

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/report"
)

// TestPatternsAcrossInputs: captures analysed each on its own (one per
// mail hub) get their own totals, and the patterns say when every
// failure is in some of them while the others deliver, and when those
// fail only big messages the others deliver (report.hubPattern's rule,
// shared with analyze --hub). Lab captures made by real
// peers: healthy (six messages delivered, up to 1 MiB), bdat-fail (a
// 1 MiB BDAT message refused after a small one was delivered),
// relay-stall (the seed: a 1.2 MB message unanswered), eod-552, ipv6.
func TestPatternsAcrossInputs(t *testing.T) {
	for _, tt := range []struct {
		name   string
		inputs []string
		merge  bool
		want   []string // kind: words the summary holds
	}{
		{name: "size only at one hub, others deliver as big",
			inputs: []string{"healthy", "bdat-fail", "ipv6"},
			want:   []string{"input-size: only input bdat-fail.pcapng fails messages: 1 failed message of 1,048,576 bytes (refused by the server (5xx) ×1; to 127.0.0.1:25 ×1), and it delivered only smaller ones: 1 message of at most 2,048 bytes; inputs healthy.pcapng and ipv6.pcapng delivered messages as big (largest: healthy.pcapng 1,049,706, ipv6.pcapng 1,049,699 bytes) and failed none: only input bdat-fail.pcapng fails messages of that size"}},
		{name: "others deliver bigger, not as big",
			inputs: []string{"healthy", "relay-stall"},
			want:   []string{"input-size: only input relay-stall.pcapng fails messages: 1 failed message of 1,230,123 bytes (no reply after end-of-data ×1; to 127.0.0.1:25 ×1), and it delivered only smaller ones: 1 message of at most 2,050 bytes; input healthy.pcapng delivered bigger messages than any input relay-stall.pcapng delivered, though none as big as the smallest failure (largest: healthy.pcapng 1,049,706 bytes), and failed none"}},
		{name: "failures at two hubs", inputs: []string{"healthy", "relay-stall", "eod-552"},
			want: []string{"input-size: only inputs relay-stall.pcapng and eod-552.pcapng fail messages: 2 failed messages, every one at least 1,230,118 bytes (no reply after end-of-data ×1, refused by the server (5xx) ×1; to 127.0.0.1:25 ×2), and delivered only smaller ones: 2 messages of at most 2,050 bytes"}},
		{name: "failures of every size at one hub", inputs: []string{"healthy", "rcpt-reject"},
			want: []string{"input: only input rcpt-reject.pcapng fails messages"}},
		{name: "the other hub delivered nothing", inputs: []string{"relay-stall", "connect-refused"}},
		{name: "merged: one timeline, not hubs", inputs: []string{"healthy", "relay-stall"}, merge: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var names []string
			for _, n := range tt.inputs {
				names = append(names, filepath.Join(repoRoot, "testdata/scenarios/captures", n+".pcapng"))
			}
			rep, _, err := Files(context.Background(), names, nil, Options{Merge: tt.merge})
			if err != nil {
				t.Fatal(err)
			}
			defer rep.Close()
			var got []report.Pattern
			for _, p := range rep.Patterns {
				if strings.HasPrefix(p.Kind, "input") {
					got = append(got, p)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("patterns across inputs %+v, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				kind, words, _ := strings.Cut(w, ": ")
				if got[i].Kind != kind || !strings.Contains(got[i].Summary, words) {
					t.Errorf("pattern %d = %s: %q, want %s: %q", i, got[i].Kind, got[i].Summary, kind, words)
				}
			}
			// Each input's totals add up to the report's, or none are
			// given for a merged timeline.
			var sum report.Totals
			for _, in := range rep.Inputs {
				if tt.merge {
					if in.Totals != nil {
						t.Errorf("merged input %s has totals", in.Name)
					}
					continue
				}
				if in.Totals == nil {
					t.Fatalf("input %s has no totals", in.Name)
				}
				sum.Connections += in.Totals.Connections
				sum.SMTPConnections += in.Totals.SMTPConnections
				sum.Transactions += in.Totals.Transactions
				sum.Delivered += in.Totals.Delivered
				sum.Failed += in.Totals.Failed
				sum.RefusedAttempts += in.Totals.RefusedAttempts
				sum.Withdrawn += in.Totals.Withdrawn
			}
			if !tt.merge && sum != rep.Totals {
				t.Errorf("inputs' totals add up to %+v, the report's are %+v", sum, rep.Totals)
			}
		})
	}
}
