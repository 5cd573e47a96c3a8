package report

import (
	"bytes"
	"strings"
	"testing"
)

// TestEvictionWarnings checks that evictions reach the report as one
// warning per server and kind, in every format, with the server hidden
// by --redact everywhere.
func TestEvictionWarnings(t *testing.T) {
	const server = "192.0.2.10:25"
	for _, redact := range []bool{false, true} {
		in := Input{Name: "flood.pcap", Reassembly: &ReassemblyStats{Evicted: 124_003,
			Evictions: []Eviction{{Server: server, HalfOpen: 124_000, Idle: 2}, {HalfOpen: 1}}}}
		b := NewBuilder(Options{Redact: redact})
		r, err := b.Finish([]Input{in})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		ws := r.Inputs[0].Warnings
		wantServer := server
		if redact {
			wantServer = newRedactor(true).addr(server)
		}
		want := []string{
			"124,000 SYN-only connections to " + wantServer + " evicted under a SYN flood",
			"2 idle connections to " + wantServer + " evicted",
			"1 SYN-only connections to other servers evicted",
		}
		if len(ws) != len(want) {
			t.Fatalf("redact %v: warnings %q, want %d", redact, ws, len(want))
		}
		for i, w := range want {
			if !strings.HasPrefix(ws[i], w) {
				t.Errorf("redact %v: warning %d = %q, want it to begin %q", redact, i, ws[i], w)
			}
		}
		if got := r.Inputs[0].Reassembly.Evictions[0].Server; got != wantServer {
			t.Errorf("redact %v: evictions[0].server = %q, want %q", redact, got, wantServer)
		}
		writers := map[string]func(*bytes.Buffer) error{
			"text":     func(w *bytes.Buffer) error { return r.WriteText(w, TextOptions{}) },
			"json":     func(w *bytes.Buffer) error { return r.WriteJSON(w) },
			"markdown": func(w *bytes.Buffer) error { return r.WriteMarkdown(w, ViewOptions{}) },
			"html":     func(w *bytes.Buffer) error { return r.WriteHTML(w, ViewOptions{}) },
		}
		for format, write := range writers {
			var out bytes.Buffer
			if err := write(&out); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "124,000 SYN-only connections") {
				t.Errorf("redact %v: %s report does not say what was evicted", redact, format)
			}
			if redact && strings.Contains(out.String(), "192.0.2.10") {
				t.Errorf("--redact: %s report shows the server address", format)
			}
		}
	}
}
