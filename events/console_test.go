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

// TestConsoleKeyLate checks that an incident of a TLS session whose key
// came late says so on the console, in text and JSON, and that one whose
// key was there in time says nothing of a wait.
func TestConsoleKeyLate(t *testing.T) {
	at := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name       string
		decryption *report.TLSDecryption
		text, json string // in the line; "" = no such words
	}{
		{"late", &report.TLSDecryption{State: "decrypted", ClientRecords: 9, ServerRecords: 4, HeldForKey: 11, KeyWaitMS: 350},
			"(TLS key came 350 ms late: 11 records held for it)", `"decryption":{"state":"decrypted","client_records_decrypted":9,"server_records_decrypted":4,"held_for_key":11,"key_wait_ms":350}`},
		{"in time", &report.TLSDecryption{State: "decrypted", ClientRecords: 9, ServerRecords: 4},
			"", `"decryption":{"state":"decrypted","client_records_decrypted":9,"server_records_decrypted":4}`},
		{"no key log", nil, "", ""},
	} {
		in := &report.Incident{Time: at, Kind: report.CauseEODNoReply, Stream: 3, Client: "192.0.2.1:40000", Server: "192.0.2.2:25",
			Frame: 120, Message: 1, Summary: "No reply.", Decryption: tt.decryption}
		for _, format := range []string{"text", "json"} {
			var b strings.Builder
			NewConsole(&b, format).Incident(in)
			got, want := b.String(), tt.text
			if format == "json" {
				want = tt.json
			}
			switch {
			case want != "" && !strings.Contains(got, want):
				t.Errorf("%s, %s: %q, want %q in it", tt.name, format, got, want)
			case want == "" && (strings.Contains(got, "late") || strings.Contains(got, "decryption")):
				t.Errorf("%s, %s: %q speaks of a decryption", tt.name, format, got)
			}
		}
	}
}
