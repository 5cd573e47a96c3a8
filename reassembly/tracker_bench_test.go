package reassembly

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/bench/synth"
	"github.com/smtpscope/smtpscope/capture"
)

// synthFrames generates a capture in memory and returns its frames, each
// with its own copy of the bytes.
func synthFrames(tb testing.TB, opts synth.Options) []capture.Frame {
	tb.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		tb.Fatal(err)
	}
	if _, err := synth.New(opts).Run(w, nil); err != nil {
		tb.Fatal(err)
	}
	f, err := capture.Open("synth", &buf)
	if err != nil {
		tb.Fatal(err)
	}
	var frames []capture.Frame
	for {
		fr, err := f.Next()
		if errors.Is(err, io.EOF) {
			return frames
		}
		if err != nil {
			tb.Fatal(err)
		}
		fr.Data = bytes.Clone(fr.Data)
		frames = append(frames, fr)
	}
}

// markHandler is a Handler doing what the smtp decoder asks of a Data
// call at least: the Mark of its first and last byte.
type markHandler struct{ bytes, frames int }

func (h *markHandler) Data(_ Direction, data []byte, at Marker) {
	h.bytes += len(data)
	h.frames += at.Mark(0).Frame + at.Mark(len(data)-1).Frame
}
func (h *markHandler) Gap(Direction, int, Mark)           {}
func (h *markHandler) Control(EventKind, Direction, Mark) {}
func (h *markHandler) End(Mark)                           {}

// benchFrames is the capture the tracker benchmarks share: 8 MiB with the
// synthetic generator's default 5% faults, so that some data comes out
// of order, is retransmitted or goes missing.
var benchFrames = sync.OnceValue(func() []capture.Frame {
	return synthFrames(&testing.B{}, synth.Options{Seed: 1, Size: 8 << 20})
})

// BenchmarkTrackerAdd measures the flow table, the L4 analysis and
// gopacket's reassembly per frame, with a handler that only asks for
// marks; ns/pkt is per frame.
func BenchmarkTrackerAdd(b *testing.B) {
	for _, bc := range []struct {
		name    string
		handler bool
	}{{"analysis-only", false}, {"reassembly", true}} {
		b.Run(bc.name, func(b *testing.B) {
			frames := benchFrames()
			opts := Options{ServerPorts: []uint16{25}}
			if bc.handler {
				opts.NewHandler = func(*Conn) Handler { return &markHandler{} }
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				tr := NewTracker(opts)
				for i := range frames {
					if err := tr.Add(&frames[i]); err != nil {
						b.Fatal(err)
					}
				}
				tr.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(frames)), "ns/pkt")
		})
	}
}

// ownFrameChecker is a Handler that checks that every delivered byte
// names a frame of its own connection and direction that carried it: each
// run of bytes given the same frame must lie within that frame's payload,
// and the time must be that frame's.
type ownFrameChecker struct {
	t        *testing.T
	payloads map[int][]byte // frame number → TCP payload
	frames   []capture.Frame
	bytes    int
}

func (h *ownFrameChecker) Data(dir Direction, data []byte, at Marker) {
	h.bytes += len(data)
	start, m := 0, at.Mark(0)
	for off := 1; off <= len(data); off++ {
		var next Mark
		if off < len(data) {
			if next = at.Mark(off); next == m {
				continue
			}
		}
		if m.Frame < 1 || m.Frame > len(h.frames) || !h.frames[m.Frame-1].Time.Equal(m.Time) {
			h.t.Fatalf("bytes %d-%d of a %s Data call: mark %+v names no frame of the capture", start, off-1, dir, m)
		}
		if !bytes.Contains(h.payloads[m.Frame], data[start:off]) {
			h.t.Fatalf("bytes %d-%d of a %s Data call (%.40q…) are not in frame %d's payload", start, off-1, dir, data[start:off], m.Frame)
		}
		start, m = off, next
	}
}
func (h *ownFrameChecker) Gap(Direction, int, Mark)           {}
func (h *ownFrameChecker) Control(EventKind, Direction, Mark) {}
func (h *ownFrameChecker) End(Mark)                           {}

// TestTrackerMarksOwnFrame checks frame marks over a capture in which
// every session carries a fault, so that much data waits in gopacket's
// buffers for a missing or reordered segment before it is delivered.
func TestTrackerMarksOwnFrame(t *testing.T) {
	frames := synthFrames(t, synth.Options{Seed: 7, Sessions: 120, Problems: 1, Concurrency: 40})
	payloads := make(map[int][]byte, len(frames))
	for _, f := range frames {
		p := gopacket.NewPacket(f.Data, layers.LayerTypeEthernet, gopacket.NoCopy)
		if tcp, ok := p.TransportLayer().(*layers.TCP); ok {
			payloads[f.Number] = tcp.Payload
		}
	}
	h := &ownFrameChecker{t: t, payloads: payloads, frames: frames}
	tr := NewTracker(Options{ServerPorts: []uint16{25},
		NewHandler: func(*Conn) Handler { return h }})
	for i := range frames {
		if err := tr.Add(&frames[i]); err != nil {
			t.Fatal(err)
		}
	}
	tr.Close()
	if h.bytes == 0 {
		t.Fatal("no bytes delivered")
	}
}

// endLog is a Handler that records when its connection ended.
type endLog struct {
	stream int
	ends   *[]int
}

func (h *endLog) Data(Direction, []byte, Marker)     {}
func (h *endLog) Gap(Direction, int, Mark)           {}
func (h *endLog) Control(EventKind, Direction, Mark) {}
func (h *endLog) End(Mark)                           { *h.ends = append(*h.ends, h.stream) }

// TestTrackerIdleExpiry checks the idle timeout against its definition —
// at each flush, every connection not yet ended whose last packet is older
// than IdleTimeout ends. The packets' capture times mostly advance, some
// after a lull, and some are stamped much earlier than the packets before
// them, so that a connection's last packet may be older than an earlier
// one.
func TestTrackerIdleExpiry(t *testing.T) {
	const idle = 30 * time.Second
	sec := func(s int) time.Duration { return time.Duration(s) * time.Second }
	// Connection 40000's last packet is stamped before one it had sent,
	// after its idle key was last renewed.
	fixed := []seg{
		{clientPort: 40000, after: 0},
		{clientPort: 40000, after: sec(35)},
		{clientPort: 40001, after: sec(40)},
		{clientPort: 40001, after: sec(41)},
		{clientPort: 40000, after: sec(5)},
		{clientPort: 40001, after: sec(42)},
		{clientPort: 40001, after: sec(50)},
	}
	// A few connections at a time, each busy for a while and then quiet.
	rng := rand.New(rand.NewPCG(3, 4))
	var random []seg
	var clock time.Duration
	for n := range 4000 {
		clock += time.Duration(rng.Int64N(int64(time.Second)))
		if rng.IntN(100) < 3 {
			clock += time.Duration(rng.Int64N(int64(2 * idle))) // a lull
		}
		at := clock
		if rng.IntN(100) < 10 {
			at -= time.Duration(rng.Int64N(int64(2 * idle))) // stamped late
		}
		random = append(random, seg{clientPort: uint16(40000 + n/200 + rng.IntN(3)), after: at})
	}
	for _, tc := range []struct {
		name string
		segs []seg
	}{{"late stamp", fixed}, {"random", random}} {
		t.Run(tc.name, func(t *testing.T) {
			var ends []int
			tr := NewTracker(Options{IdleTimeout: idle, NewHandler: func(c *Conn) Handler {
				return &endLog{stream: c.Stream, ends: &ends}
			}})
			// The model: each port's stream, its last packet's time, ended or not.
			stream := map[uint16]int{}
			last := map[int]time.Duration{}
			ended := map[int]bool{}
			var now, lastFlush time.Duration
			for i, sg := range tc.segs {
				n := i + 1
				sg.seq, sg.ack, sg.flags = 1, 1, "A"
				if err := tr.Add(frameOf(t, n, sg)); err != nil {
					t.Fatal(err)
				}
				s, ok := stream[sg.clientPort]
				if !ok {
					s = len(stream)
					stream[sg.clientPort] = s
				}
				last[s] = sg.after
				if i == 0 || sg.after > now {
					now = sg.after
				}
				if i == 0 || now-lastFlush >= time.Second {
					lastFlush = now
					for s, l := range last {
						if !ended[s] && l < now-idle {
							ended[s] = true
						}
					}
				}
				got := map[int]bool{}
				for _, s := range ends {
					if got[s] {
						t.Fatalf("frame %d: stream %d ended twice", n, s)
					}
					got[s] = true
				}
				if !maps.Equal(got, ended) {
					t.Fatalf("frame %d: ended streams %v, want %v", n, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(ended)))
				}
			}
			if tr.Stats().Expired != len(ended) || len(ended) == 0 {
				t.Errorf("Expired = %d, model %d", tr.Stats().Expired, len(ended))
			}
		})
	}
}

// TestTrackerInOrderDoesNotAllocate checks the steady path of a
// connection: in-order data segments and their ACKs, each delivered to
// the handler at once, cost no allocation.
func TestTrackerInOrderDoesNotAllocate(t *testing.T) {
	segs := append([]seg{}, handshake...)
	const runs = 200
	payload := strings.Repeat("x", 1000)
	for i := range runs + 1 {
		seq := uint32(cISN + 1 + i*len(payload))
		after := time.Duration(i) * time.Millisecond
		segs = append(segs,
			seg{seq: seq, ack: sISN + 1, flags: "PA", payload: payload, after: after},
			seg{fromServer: true, seq: sISN + 1, ack: seq + uint32(len(payload)), flags: "A", after: after})
	}
	frames := make([]*capture.Frame, len(segs))
	for i, s := range segs {
		frames[i] = frameOf(t, i+1, s)
	}
	h := &markHandler{}
	tr := NewTracker(Options{NewHandler: func(*Conn) Handler { return h }})
	next := 0
	add := func() {
		for range 2 { // a data segment and its ACK
			if err := tr.Add(frames[next]); err != nil {
				t.Fatal(err)
			}
			next++
		}
	}
	for next < len(handshake)+2 {
		if err := tr.Add(frames[next]); err != nil {
			t.Fatal(err)
		}
		next++
	}
	if n := testing.AllocsPerRun(runs-1, add); n != 0 {
		t.Errorf("Add of an in-order segment and its ACK: %v allocations, want 0", n)
	}
	if h.bytes != (runs+1)*len(payload) {
		t.Errorf("handler got %d bytes, want %d", h.bytes, (runs+1)*len(payload))
	}
}
