package pipeline

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/bench/synth"
)

// floodCapture writes a flood of n connections over d as a pcap.
func floodCapture(t *testing.T, kind synth.Flood, n int, d time.Duration) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	if _, err := synth.WriteFlood(w, synth.FloodOptions{Kind: kind, Connections: n, Duration: d}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestFloodEvictions runs floods past the connection cap through the
// whole pipeline, on one and on two workers: the report counts the
// evictions per server, lists no SYN-only connection it evicted, and
// lists the evicted idle sessions marked as such.
func TestFloodEvictions(t *testing.T) {
	const capConns, flood = 40, 300
	server := synth.FloodServer.String()
	cases := []struct {
		kind      synth.Flood
		listed    int
		evicted   int
		warning   string
		smtpConns int
	}{
		{synth.FloodSYN, capConns, flood - capConns, "260 SYN-only connections to " + server + " evicted under a SYN flood", 0},
		{synth.FloodIdleEHLO, flood, flood - capConns, "260 idle connections to " + server + " evicted", flood},
	}
	for _, tc := range cases {
		data := floodCapture(t, tc.kind, flood, 10*time.Second)
		for _, workers := range []int{1, 2} {
			rep, _, err := Files(context.Background(), []string{"-"}, bytes.NewReader(data),
				Options{Workers: workers, MaxConnections: capConns})
			if err != nil {
				t.Fatal(err)
			}
			in := rep.Inputs[0]
			if in.Reassembly == nil || in.Reassembly.Evicted != tc.evicted {
				t.Errorf("%s flood, %d workers: reassembly %+v, want %d evicted", tc.kind, workers, in.Reassembly, tc.evicted)
			}
			if !strings.HasPrefix(strings.Join(in.Warnings, "\n"), tc.warning) {
				t.Errorf("%s flood, %d workers: warnings %q, want one beginning %q", tc.kind, workers, in.Warnings, tc.warning)
			}
			if rep.Totals.Connections != tc.listed || rep.Totals.SMTPConnections != tc.smtpConns {
				t.Errorf("%s flood, %d workers: %d connections (%d SMTP), want %d (%d)", tc.kind, workers,
					rep.Totals.Connections, rep.Totals.SMTPConnections, tc.listed, tc.smtpConns)
			}
			var js bytes.Buffer
			if err := rep.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			evicted := len(regexp.MustCompile(`"evicted": ?true`).FindAllIndex(js.Bytes(), -1))
			if want := tc.listed - capConns; evicted != want {
				t.Errorf("%s flood, %d workers: %d connections marked evicted, want %d", tc.kind, workers, evicted, want)
			}
			rep.Close()
		}
	}
}
