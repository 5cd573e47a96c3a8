package reassembly_test

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/bench/synth"
	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/reassembly"
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

func (h *markHandler) Data(_ reassembly.Direction, data []byte, at reassembly.Marker) {
	h.bytes += len(data)
	h.frames += at.Mark(0).Frame + at.Mark(len(data)-1).Frame
}
func (h *markHandler) Gap(reassembly.Direction, int, reassembly.Mark)                      {}
func (h *markHandler) Control(reassembly.EventKind, reassembly.Direction, reassembly.Mark) {}
func (h *markHandler) End(reassembly.Mark)                                                 {}

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
			opts := reassembly.Options{ServerPorts: []uint16{25}}
			if bc.handler {
				opts.NewHandler = func(*reassembly.Conn) reassembly.Handler { return &markHandler{} }
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				tr := reassembly.NewTracker(opts)
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

func (h *ownFrameChecker) Data(dir reassembly.Direction, data []byte, at reassembly.Marker) {
	h.bytes += len(data)
	start := 0
	for off := 1; off <= len(data); off++ {
		if off < len(data) && at.Mark(off) == at.Mark(start) {
			continue
		}
		m := at.Mark(start)
		if m.Frame < 1 || m.Frame > len(h.frames) || !h.frames[m.Frame-1].Time.Equal(m.Time) {
			h.t.Fatalf("bytes %d-%d of a %s Data call: mark %+v names no frame of the capture", start, off-1, dir, m)
		}
		if !bytes.Contains(h.payloads[m.Frame], data[start:off]) {
			h.t.Fatalf("bytes %d-%d of a %s Data call (%.40q…) are not in frame %d's payload", start, off-1, dir, data[start:off], m.Frame)
		}
		start = off
	}
}
func (h *ownFrameChecker) Gap(reassembly.Direction, int, reassembly.Mark)                      {}
func (h *ownFrameChecker) Control(reassembly.EventKind, reassembly.Direction, reassembly.Mark) {}
func (h *ownFrameChecker) End(reassembly.Mark)                                                 {}

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
	tr := reassembly.NewTracker(reassembly.Options{ServerPorts: []uint16{25},
		NewHandler: func(*reassembly.Conn) reassembly.Handler { return h }})
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
