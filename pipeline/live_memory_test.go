package pipeline

import (
	"bytes"
	"cmp"
	"context"
	"io"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/smtpscope/smtpscope/bench/synth"
	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/report"
)

// synthSource serves the frames of a synth.Generator as a live source.
type synthSource struct {
	frames chan capture.Frame
	n      int
}

func newSynthSource(opts synth.Options) *synthSource {
	s := &synthSource{frames: make(chan capture.Frame, 1024)}
	go func() {
		defer close(s.frames)
		synth.New(opts).Run(s, nil)
	}()
	return s
}

func (s *synthSource) WritePacket(ci gopacket.CaptureInfo, data []byte) error {
	s.frames <- capture.Frame{Time: ci.Timestamp, LinkType: layers.LinkTypeEthernet, Data: append([]byte(nil), data...), Length: ci.Length}
	return nil
}

func (s *synthSource) Next() (capture.Frame, error) {
	fr, ok := <-s.frames
	if !ok {
		return fr, io.EOF
	}
	s.n++
	fr.Number = s.n
	return fr, nil
}

func (s *synthSource) Info() capture.Info { return capture.Info{Name: "synth", Format: "live"} }

// TestLiveMemoryBoundedByOpen checks that a live run's memory follows its
// open connections rather than how many it has seen: over a long run of
// short sessions, 50 open at a time, the heap may grow by at most
// maxGrowthPerEnded bytes per ended connection once the flow table's
// memory of retired 4-tuples (4 x --max-connections of them, for their
// stream numbers) is full. A connection kept whole until an idle timeout
// costs several KB; before reassembly released cleanly closed
// connections from gopacket's pool as they retired (rather than at its
// idle flush, 5 minutes of capture time later), this measured about 950
// bytes, and with the flow table still filling, 180.
func TestLiveMemoryBoundedByOpen(t *testing.T) {
	if testing.Short() {
		t.Skip("plays 20,000 sessions")
	}
	const sessions, maxConns, maxGrowthPerEnded = 20000, 1500, 64
	src := newSynthSource(synth.Options{Seed: 3, Sessions: sessions, Concurrency: 50, Problems: -1, MaxMessageSize: 1 << 10})
	b := report.NewBuilder(report.Options{ListFailed: 100, ListHealthy: 100, MemoryConnections: 200})
	type sample struct {
		ended int
		heap  uint64
	}
	var samples []sample
	open := 0
	res := Live(context.Background(), src, b, LiveOptions{RingWait: true, Options: Options{MaxConnections: maxConns}, Interval: 2 * time.Second, Progress: func(p *Progress) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		samples = append(samples, sample{p.Ended, ms.HeapAlloc})
		open = max(open, p.Open)
	}})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	rep, err := b.Finish(res.Inputs)
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	if rep.Totals.Connections != sessions {
		t.Fatalf("%d connections, want %d", rep.Totals.Connections, sessions)
	}
	// The median of three samples, once the flow table remembers as many
	// retired 4-tuples as it will (the report's lists full, the pools
	// warm), and at the end.
	median := func(s []sample) sample {
		h := []sample{s[0], s[1], s[2]}
		slices.SortFunc(h, func(a, b sample) int { return cmp.Compare(a.heap, b.heap) })
		return h[1]
	}
	i := slices.IndexFunc(samples, func(s sample) bool { return s.ended >= 4*maxConns+2000 })
	if i < 0 {
		t.Fatalf("too few samples: %v", samples)
	}
	// The generator's own memory goes when it ends: the last samples
	// taken while it still ran.
	j := slices.IndexFunc(samples, func(s sample) bool { return s.ended >= sessions-1500 })
	if j < i+6 {
		t.Fatalf("too few samples: %v", samples)
	}
	from, to := median(samples[i:]), median(samples[j-3:j])
	per := (float64(to.heap) - float64(from.heap)) / float64(to.ended-from.ended)
	t.Logf("heap %.1f MB at %d ended, %.1f MB at %d: %.0f bytes per ended connection; at most %d open", float64(from.heap)/(1<<20), from.ended,
		float64(to.heap)/(1<<20), to.ended, per, open)
	if per > maxGrowthPerEnded {
		t.Errorf("the heap grew by %.0f bytes per ended connection, want at most %d", per, maxGrowthPerEnded)
	}
}

// maxSYNOnlyBytes bounds what a live run keeps per open SYN-only
// connection (a SYN flood under --max-connections): the Tracker's small
// record of it and its live handler without an SMTP decoder. As full
// connections (L4 analysis, gopacket's state, a decoder and the facts)
// they measured 7,268 bytes each.
const maxSYNOnlyBytes = 1200

// TestLiveSYNOnlyIsSmall plays a SYN flood under the connection cap
// through a live run and measures the heap per open connection, between
// two moments of the flood.
func TestLiveSYNOnlyIsSmall(t *testing.T) {
	const flood = 4000
	data := floodCapture(t, synth.FloodSYN, flood, 4*time.Second)
	f, err := capture.Open("flood", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	type sample struct {
		open int
		heap uint64
	}
	var samples []sample
	src := &pacedFile{File: f}
	b := report.NewBuilder(report.Options{})
	res := Live(context.Background(), src, b, LiveOptions{RingWait: true, Options: Options{MaxConnections: 2 * flood},
		Clock: func() time.Time { return src.now }, Interval: 500 * time.Millisecond, Progress: func(p *Progress) {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			samples = append(samples, sample{p.Open, ms.HeapAlloc})
		}})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	i := slices.IndexFunc(samples, func(s sample) bool { return s.open >= flood/4 })
	if i < 0 || len(samples)-1-i < 3 {
		t.Fatalf("too few samples: %v", samples)
	}
	from, to := samples[i], samples[len(samples)-1]
	per := (float64(to.heap) - float64(from.heap)) / float64(to.open-from.open)
	t.Logf("heap %.1f MB with %d open, %.1f MB with %d: %.0f bytes per SYN-only connection", float64(from.heap)/(1<<20), from.open,
		float64(to.heap)/(1<<20), to.open, per)
	if per > maxSYNOnlyBytes {
		t.Errorf("%.0f bytes per open SYN-only connection, want at most %d", per, maxSYNOnlyBytes)
	}
}
