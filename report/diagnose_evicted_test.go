package report

import (
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/smtp"
)

// TestEvictedOpenTransactionWords: a transaction still open when
// smtpscope stopped following its connection (connection cap) is unknown
// like one open at the capture's end, but its summary names the eviction,
// not "the capture ended": the capture may well hold the rest.
func TestEvictedOpenTransactionWords(t *testing.T) {
	frames := readFrames("../testdata/scenarios/captures/relay-stall.pcapng")
	if len(frames) < 1223 {
		t.Fatalf("relay-stall.pcapng: %d frames, want the seed capture", len(frames))
	}
	// Frame 1222 is the 1.2 MB message's end-of-data; the capture as cut
	// ends 10 ms later, with no reply and no QUIT yet.
	cut := frames[:1222]
	for _, tc := range []struct {
		evicted bool
		want    string
		not     string
	}{
		{false, "The capture ended", "stopped following"},
		{true, "smtpscope stopped following the connection (connection cap, --max-connections)", "capture ended"},
	} {
		b := NewBuilder(Options{})
		tr := reassembly.NewTracker(reassembly.Options{
			ServerPorts: []uint16{25},
			NewHandler:  func(*reassembly.Conn) reassembly.Handler { return smtp.NewDecoder(smtp.Options{}) },
			Retire: func(c *reassembly.Conn) {
				c.Evicted = tc.evicted
				f := Facts{Conn: c, Health: c.Health(), SMTPPort: true, Session: c.Handler.(*smtp.Decoder).Session()}
				b.Add(&f)
			},
		})
		for i := range cut {
			fr := cut[i]
			_ = tr.Add(&fr)
		}
		tr.Close()
		r, err := b.Finish([]Input{{Name: "relay-stall cut"}})
		if err != nil {
			t.Fatal(err)
		}
		txs := r.Connections[0].SMTP.Transactions
		last := txs[len(txs)-1]
		if last.Outcome != "unknown" || last.Diagnosis.Cause != CauseCaptureIncomplete {
			t.Fatalf("evicted=%v: last transaction %s (%s), want unknown (capture-incomplete)", tc.evicted, last.Outcome, last.Diagnosis.Cause)
		}
		if s := last.Diagnosis.Summary; !strings.Contains(s, tc.want) || strings.Contains(s, tc.not) {
			t.Errorf("evicted=%v: summary %q, want %q and not %q", tc.evicted, s, tc.want, tc.not)
		}
	}
}
