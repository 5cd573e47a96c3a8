package report

import (
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/reassembly"
)

// labHealth runs the tracker over one of reassembly's lab captures and
// returns the Health of each connection, in tcp.stream order.
func labHealth(t *testing.T, name string) []reassembly.Health {
	t.Helper()
	f, err := capture.OpenFile(filepath.Join("..", "reassembly", "testdata", "analysis", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := reassembly.NewTracker(reassembly.Options{})
	for {
		fr, err := f.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Add(&fr); err != nil {
			t.Fatal(err)
		}
	}
	tr.Close()
	var hs []reassembly.Health
	for _, c := range tr.Conns() {
		hs = append(hs, c.Health())
	}
	return hs
}

func holds(list []string, words string) bool {
	for _, s := range list {
		if strings.Contains(s, words) {
			return true
		}
	}
	return false
}

// TestL4VerdictLab checks the L4 verdicts, reasons and notes on the lab
// captures of reassembly/testdata/analysis (made by make_captures.sh).
func TestL4VerdictLab(t *testing.T) {
	tests := []struct {
		capture string
		verdict l4Verdict
		reason  string // a phrase one of the reasons holds ("" for none expected)
		note    string // a phrase one of the notes holds ("" for any)
		not     string // a phrase no reason may hold
	}{
		{"lab_bulk.pcap", l4Healthy, "", "", ""},
		{"lab_loss.pcap", l4Degraded, "retransmitted segment", "", ""},
		{"lab_captureloss.pcap", l4Degraded, "retransmitted segment", "capture loss, not network loss", ""},
		{"lab_zerowindow.pcap", l4Degraded, "zero window", "filled the receiver", "filled the receiver"},
		{"lab_midstream.pcap", l4Degraded, "zero window", "capture starts after the connection opened", ""},
		{"lab_keepalive.pcap", l4Healthy, "", "keep-alive", ""},
		{"lab_refused.pcap", l4Broken, "connection refused", "", ""},
		{"lab_syntimeout.pcap", l4Broken, "not answered", "", "retransmitted segment"},
		{"lab_abort.pcap", l4Broken, "while data was unacknowledged", "", ""},
		{"lab_injectedrst.pcap", l4Broken, "probably injected", "", ""},
		{"lab_rstafterclose.pcap", l4Healthy, "", "after a FIN", ""},
		{"lab_portreuse.pcap", l4Healthy, "", "", ""},
		{"lab_snaplen.pcap", l4Healthy, "", "snaplen", ""},
		{"lab_reorder.pcap", l4Degraded, "retransmitted", "out of order", ""},
		{"lab_wrap.pcap", l4Degraded, "retransmitted", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.capture, func(t *testing.T) {
			for _, h := range labHealth(t, tc.capture) {
				j := judgeL4(&h)
				if j.verdict != tc.verdict {
					t.Errorf("verdict %v, want %v; reasons %q; notes %q", j.verdict, tc.verdict, j.reasons, j.notes)
				}
				if tc.reason != "" && !holds(j.reasons, tc.reason) {
					t.Errorf("reasons %q, want one with %q", j.reasons, tc.reason)
				}
				if tc.verdict == l4Healthy && len(j.reasons) != 0 {
					t.Errorf("healthy with reasons %q", j.reasons)
				}
				if tc.note != "" && !holds(j.notes, tc.note) {
					t.Errorf("notes %q, want one with %q", j.notes, tc.note)
				}
				if tc.not != "" && holds(j.reasons, tc.not) {
					t.Errorf("reasons %q hold %q", j.reasons, tc.not)
				}
			}
		})
	}
}

// TestL4Rules checks each rule on facts made by hand.
func TestL4Rules(t *testing.T) {
	at := func(ms int) time.Time {
		return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(ms) * time.Millisecond)
	}
	mark := func(f, ms int) reassembly.Mark { return reassembly.Mark{Frame: f, Time: at(ms)} }
	handshake := func(h *reassembly.Health) {
		h.Handshake.SYN, h.Handshake.SYNACK, h.Handshake.LastSYN = mark(1, 0), mark(2, 1), mark(1, 0)
		h.Handshake.State = reassembly.HandshakeAnswered
	}
	reset := func(d reassembly.Direction, r reassembly.Reset) func(h *reassembly.Health) {
		return func(h *reassembly.Health) {
			handshake(h)
			s := &h.Sides[d]
			s.Resets, s.ResetCount, s.TTLMin, s.TTLMax = []reassembly.Reset{r}, 1, 64, 64
		}
	}
	tests := []struct {
		name    string
		edit    func(h *reassembly.Health)
		verdict l4Verdict
		words   string // in a reason, or in a note when the verdict is healthy
	}{
		{"nothing", func(h *reassembly.Health) {}, l4Healthy, ""},
		{"SYN retried", func(h *reassembly.Health) {
			handshake(h)
			h.Handshake.SYNRetries, h.Handshake.LastSYN = 2, mark(3, 3000)
			h.Retransmission, h.SYNRetransmissions = reassembly.FlagCount{Count: 2, Frames: []int{2, 3}}, 2
		}, l4Degraded, "the SYN was sent 3 times before it was answered (first in frame 1, last in frame 3, 3s later)"},
		{"refused", func(h *reassembly.Health) {
			h.Handshake.SYN, h.Handshake.RefusedBy, h.Handshake.State = mark(1, 0), mark(2, 1), reassembly.HandshakeRefused
		}, l4Broken, "the SYN in frame 1 was answered by a RST from the server in frame 2"},
		{"unanswered", func(h *reassembly.Health) {
			h.Handshake.SYN, h.Handshake.LastSYN, h.Handshake.State = mark(1, 0), mark(3, 3000), reassembly.HandshakeUnanswered
			h.Handshake.SYNRetries = 2
		}, l4Broken, "3 SYN(s) from frame 1 to frame 3 (3s) got no SYN+ACK"},
		{"SYN+ACK not captured", func(h *reassembly.Health) {
			h.Handshake.SYN, h.Handshake.State = mark(1, 0), reassembly.HandshakeSYNACKNotCaptured
		}, l4Healthy, "the SYN+ACK was not captured"},
		{"ports reused", func(h *reassembly.Health) { handshake(h); h.Handshake.NewISNSYNs = 1 }, l4Healthy, "new initial sequence number"},
		{"RST after data", reset(reassembly.ServerToClient, reassembly.Reset{Mark: mark(9, 30), Kind: reassembly.ResetAfterData, TTL: 64, SinceData: 10 * time.Millisecond}),
			l4Broken, "the server reset the connection in frame 9, 10ms after the last data, before either side closed it"},
		{"RST with odd TTL", reset(reassembly.ServerToClient, reassembly.Reset{Mark: mark(9, 30), Kind: reassembly.ResetOddTTL, TTL: 250, OddTTL: true, Injected: true}),
			l4Broken, "a RST with TTL 250, while the server's other packets have TTL 64–64: probably injected"},
		{"RST from a sender that went on", reset(reassembly.ClientToServer, reassembly.Reset{Mark: mark(9, 30), Kind: reassembly.ResetSenderContinued, Injected: true}),
			l4Broken, "yet the client went on sending after it"},
		{"RST with data in flight", reset(reassembly.ServerToClient, reassembly.Reset{Mark: mark(9, 30), Kind: reassembly.ResetDataInFlight}),
			l4Broken, "while data was unacknowledged"},
		{"RST before data", reset(reassembly.ClientToServer, reassembly.Reset{Mark: mark(4, 30), Kind: reassembly.ResetBeforeData}),
			l4Healthy, "the client reset the connection in frame 4 before any data"},
		{"RST after a FIN", reset(reassembly.ServerToClient, reassembly.Reset{Mark: mark(9, 30), Kind: reassembly.ResetClosing, AfterFIN: true}),
			l4Healthy, "after a FIN (usually harmless"},
		{"RST refusing the SYN is the handshake's", func(h *reassembly.Health) {
			h.Handshake.SYN, h.Handshake.RefusedBy, h.Handshake.State = mark(1, 0), mark(2, 1), reassembly.HandshakeRefused
			h.Sides[1].Resets, h.Sides[1].ResetCount = []reassembly.Reset{{Mark: mark(2, 1), Kind: reassembly.ResetRefusal}}, 1
		}, l4Broken, "connection refused"},
		{"retransmissions", func(h *reassembly.Health) {
			handshake(h)
			h.Retransmission = reassembly.FlagCount{Count: 3, Frames: []int{7, 8, 9}}
			h.FastRetransmission.Count = 1
		}, l4Degraded, "3 retransmitted segment(s) (1 fast, 0 spurious, 0 reported as duplicates by the receiver), first in frame 7"},
		{"retransmissions all D-SACKed", func(h *reassembly.Health) {
			handshake(h)
			h.Retransmission = reassembly.FlagCount{Count: 1, Frames: []int{7}}
			h.Sides[0].DSACKed = 1
		}, l4Healthy, "all reported as duplicates by the receiver"},
		{"retransmissions all spurious: an ACK was late, no data lost", func(h *reassembly.Health) {
			handshake(h)
			h.Retransmission = reassembly.FlagCount{Count: 2, Frames: []int{7, 9}}
			h.SpuriousRetransmission = reassembly.FlagCount{Count: 2, Frames: []int{7, 9}}
		}, l4Healthy, "all spurious"},
		{"one spurious, one lost", func(h *reassembly.Health) {
			handshake(h)
			h.Retransmission = reassembly.FlagCount{Count: 2, Frames: []int{7, 9}}
			h.SpuriousRetransmission = reassembly.FlagCount{Count: 1, Frames: []int{7}}
		}, l4Degraded, "2 retransmitted segment(s) (0 fast, 1 spurious"},
		{"a long zero window", func(h *reassembly.Health) {
			handshake(h)
			h.Sides[1].ZeroWindowTime, h.Sides[1].LongestZeroWindow = 2*time.Second, 2*time.Second
		}, l4Degraded, "the server advertised a zero window for 2s in total (longest 2s)"},
		{"a short zero window", func(h *reassembly.Health) {
			handshake(h)
			h.Sides[1].ZeroWindowTime, h.Sides[1].LongestZeroWindow = 100*time.Millisecond, 100*time.Millisecond
		}, l4Healthy, "zero window for 100ms"},
		{"capture loss", func(h *reassembly.Health) {
			handshake(h)
			h.AckLostSegment.Count, h.Sides[0].UnseenBytes = 2, 2896
		}, l4Healthy, "capture loss, not network loss: 2896 acknowledged byte(s)"},
		{"idle gap", func(h *reassembly.Health) {
			handshake(h)
			h.IdleGapCount, h.IdleThreshold, h.LongestGap = 1, 5*time.Second, reassembly.Gap{From: mark(5, 100), To: mark(6, 12100)}
		}, l4Healthy, "1 idle gap(s) over 5s; the longest lasted 12s, between frames 5 and 6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h reassembly.Health
			tc.edit(&h)
			j := judgeL4(&h)
			if j.verdict != tc.verdict {
				t.Errorf("verdict %v, want %v; reasons %q; notes %q", j.verdict, tc.verdict, j.reasons, j.notes)
			}
			where := j.reasons
			if tc.verdict == l4Healthy {
				where = j.notes
				if len(j.reasons) > 0 {
					t.Errorf("healthy with reasons %q", j.reasons)
				}
			}
			if tc.words != "" && !holds(where, tc.words) {
				t.Errorf("reasons %q notes %q, want %q", j.reasons, j.notes, tc.words)
			}
		})
	}
}
