package reassembly

import (
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/capture"
)

// halfOpenBytes returns the heap that each of n connections of one
// unanswered SYN takes in a Tracker under its connection cap, with a
// handler from newHandler (nil: none).
func halfOpenBytes(tb testing.TB, n int, newHandler func(*Conn) Handler) float64 {
	tb.Helper()
	frames := make([]*capture.Frame, n)
	for i := range frames {
		frames[i] = frameOf(tb, i+1, seg{seq: cISN, flags: "S", clientPort: uint16(1024 + i),
			after: time.Duration(i) * time.Millisecond})
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tr := NewTracker(Options{MaxConnections: n, NewHandler: newHandler})
	for _, f := range frames {
		if err := tr.Add(f); err != nil {
			tb.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := len(tr.Conns()); got != n {
		tb.Fatalf("%d connections followed, want %d", got, n)
	}
	runtime.KeepAlive(tr)
	return (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(n)
}

// maxHalfOpenBytes bounds what a SYN-only connection costs the Tracker:
// its Conn, its place in the flow table, the idle heap and the half-open
// queue, and its SYN. A connection analysed and handed to gopacket cost
// 3,480 bytes without a handler, 4,389 with one.
const maxHalfOpenBytes = 1200

// TestHalfOpenIsSmall checks that SYN-only connections under the cap
// cost a small fixed record, not a full connection (#14).
func TestHalfOpenIsSmall(t *testing.T) {
	for _, tc := range []struct {
		name       string
		newHandler func(*Conn) Handler
	}{
		{"no handler", nil},
		{"handler", func(*Conn) Handler { return endCounter{new(int)} }},
	} {
		if per := halfOpenBytes(t, 5000, tc.newHandler); per > maxHalfOpenBytes {
			t.Errorf("%s: %.0f bytes per SYN-only connection, want at most %d", tc.name, per, maxHalfOpenBytes)
		} else {
			t.Logf("%s: %.0f bytes per SYN-only connection", tc.name, per)
		}
	}
}

// BenchmarkHalfOpen measures the heap a SYN-only connection takes
// (B/conn) with a handler, as in a SYN flood under the cap.
func BenchmarkHalfOpen(b *testing.B) {
	var per float64
	for b.Loop() {
		per = halfOpenBytes(b, 5000, func(*Conn) Handler { return endCounter{new(int)} })
	}
	b.ReportMetric(per, "B/conn")
}

// TestHalfOpenReplay checks that the segments a connection keeps while
// it has sent only SYNs and SYN-ACKs are analysed and reassembled as if
// they had been at once: the same L4 health, PMTU and handler events,
// whether the wait ends with the handshake's ACK, with data, with a RST,
// or never (Health asked of the record), and with more retries than the
// record holds.
func TestHalfOpenReplay(t *testing.T) {
	synRetry := func(after time.Duration) seg { return seg{seq: cISN, flags: "S", after: after} }
	data := seg{seq: cISN + 1, ack: sISN + 1, flags: "PA", payload: "EHLO x\r\n", after: 4 * time.Second}
	reply := seg{fromServer: true, seq: sISN + 1, ack: cISN + 9, flags: "PA", payload: "250 ok\r\n", after: 4 * time.Second}
	cases := []struct {
		name string
		segs []seg
	}{
		{"handshake and data", join(handshake, []seg{data, reply})},
		{"SYN retries, then answered", join([]seg{synRetry(0), synRetry(time.Second), synRetry(3 * time.Second)},
			[]seg{{fromServer: true, seq: sISN, ack: cISN + 1, flags: "SA", after: 3 * time.Second},
				{seq: cISN + 1, ack: sISN + 1, flags: "A", after: 3 * time.Second}, data, reply})},
		{"refused", []seg{synRetry(0), {fromServer: true, ack: cISN + 1, flags: "RA", after: time.Millisecond}}},
		{"unanswered", []seg{synRetry(0), synRetry(time.Second), synRetry(3 * time.Second)}},
		{"more retries than kept", []seg{synRetry(0), synRetry(time.Second), synRetry(3 * time.Second), synRetry(7 * time.Second),
			synRetry(15 * time.Second), synRetry(31 * time.Second)}},
		{"SYN-ACK retries, then data", join([]seg{synRetry(0)},
			[]seg{{fromServer: true, seq: sISN, ack: cISN + 1, flags: "SA", after: time.Millisecond},
				{fromServer: true, seq: sISN, ack: cISN + 1, flags: "SA", after: time.Second},
				data, reply})},
		{"first data segment not captured", join(handshake, []seg{
			{seq: cISN + 9, ack: sISN + 1, flags: "PA", payload: "MAIL FROM:<a@b>\r\n", after: 4 * time.Second}})},
		{"first server segment not captured", join(handshake, []seg{
			{fromServer: true, seq: sISN + 9, ack: cISN + 1, flags: "PA", payload: "250 ok\r\n", after: 4 * time.Second}})},
		{"data on the SYN", []seg{{seq: cISN, flags: "S", payload: "x"}, synRetry(time.Second)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run := func(pending bool) (Health, PMTU, []string, Health) {
				var log eventLog
				tr := NewTracker(Options{NewHandler: func(*Conn) Handler { return &log }})
				var c *Conn
				for i, s := range tc.segs {
					if err := tr.Add(frameOf(t, i+1, s)); err != nil {
						t.Fatal(err)
					}
					c = tr.Conns()[0]
					if !pending && c.Analyzer == nil {
						// As before the record: analysed and reassembled at once.
						c.analysis()
						tr.replaySYNs(c)
						c.pending = nil
					}
				}
				open := c.Health()
				tr.Close()
				return open, c.PMTU(), log.events, c.Health()
			}
			open, pmtu, events, closed := run(true)
			wantOpen, wantPMTU, wantEvents, wantClosed := run(false)
			if !reflect.DeepEqual(open, wantOpen) || !reflect.DeepEqual(closed, wantClosed) {
				t.Errorf("health %+v\nwant %+v", closed, wantClosed)
			}
			if pmtu != wantPMTU {
				t.Errorf("PMTU %+v, want %+v", pmtu, wantPMTU)
			}
			if len(events) != len(wantEvents) {
				t.Fatalf("events %q\nwant %q", events, wantEvents)
			}
			for i := range events {
				if events[i] != wantEvents[i] {
					t.Errorf("event %d %q, want %q", i, events[i], wantEvents[i])
				}
			}
		})
	}
}
