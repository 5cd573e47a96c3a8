package reassembly

import (
	"encoding/binary"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// TestAnalyzerHasFixedSize proves the per-connection memory bound by
// construction: an Analyzer holds no slice, map or channel, and its
// pointers lead to fixed-size state (allocated on first use), so it cannot
// grow however many segments it sees.
func TestAnalyzerHasFixedSize(t *testing.T) {
	var walk func(path string, typ reflect.Type)
	walk = func(path string, typ reflect.Type) {
		switch typ.Kind() {
		case reflect.Pointer:
			walk("(*"+path+")", typ.Elem())
		case reflect.Slice, reflect.Map, reflect.Chan, reflect.Interface, reflect.Func, reflect.String:
			t.Errorf("%s is a %s: an Analyzer must not grow", path, typ.Kind())
		case reflect.Struct:
			if typ == reflect.TypeOf(time.Time{}) {
				return // its *Location points at shared zone data
			}
			for i := 0; i < typ.NumField(); i++ {
				f := typ.Field(i)
				walk(path+"."+f.Name, f.Type)
			}
		case reflect.Array:
			walk(path+"[]", typ.Elem())
		}
	}
	walk("Analyzer", reflect.TypeOf(Analyzer{}))
	t.Logf("an Analyzer takes %d bytes, and a Conn %d", reflect.TypeOf(Analyzer{}).Size(), reflect.TypeOf(Conn{}).Size())
}

// inOrderSegments is a steady bulk transfer: data segments from the
// client, an ACK from the server for every second one.
func inOrderSegments(n int) []Segment {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	segs := []Segment{
		{Frame: 1, Time: start, Seq: isnC, SYN: true, Window: 65535, WindowScale: 7, MSS: 1460, SACKPermitted: true, TTL: 64},
		{Frame: 2, Time: start.Add(time.Millisecond), Dir: ServerToClient, Seq: isnS, Ack: c1, SYN: true, ACK: true, Window: 65535, WindowScale: 7, MSS: 1460, SACKPermitted: true, TTL: 64},
		{Frame: 3, Time: start.Add(2 * time.Millisecond), Seq: c1, Ack: s1, ACK: true, Window: 512, WindowScale: -1, TTL: 64},
	}
	seq := uint32(c1)
	for i := 0; len(segs) < n; i++ {
		at := start.Add(time.Duration(3+i) * time.Millisecond)
		segs = append(segs, Segment{Frame: len(segs) + 1, Time: at, Seq: seq, Ack: s1, Len: 1448, CapturedLen: 1448,
			ACK: true, PSH: i%4 == 0, Window: 512, WindowScale: -1, TTL: 64})
		seq += 1448
		if i%2 == 1 {
			segs = append(segs, Segment{Frame: len(segs) + 1, Time: at.Add(100 * time.Microsecond), Dir: ServerToClient,
				Seq: s1, Ack: seq, ACK: true, Window: 512, WindowScale: -1, TTL: 64})
		}
	}
	return segs
}

// TestObserveDoesNotAllocate checks the steady in-order path.
func TestObserveDoesNotAllocate(t *testing.T) {
	segs := inOrderSegments(4096)
	var a Analyzer
	for i := range segs[:100] {
		a.Observe(&segs[i])
	}
	i := 100
	allocs := testing.AllocsPerRun(2000, func() {
		if f := a.Observe(&segs[i]); f != 0 {
			t.Fatalf("frame %d flagged %s", segs[i].Frame, f)
		}
		i++
	})
	if allocs != 0 {
		t.Errorf("Observe allocates %v times per in-order segment, want 0", allocs)
	}
}

// BenchmarkAnalyzerObserve measures the per-packet cost on an in-order bulk
// transfer.
func BenchmarkAnalyzerObserve(b *testing.B) {
	segs := inOrderSegments(1 << 16)
	b.ReportAllocs()
	b.ResetTimer()
	var a Analyzer
	for i := 0; i < b.N; i++ {
		j := i % len(segs)
		if j == 0 {
			a = Analyzer{}
		}
		a.Observe(&segs[j])
	}
}

// BenchmarkAnalyzerCapture measures Observe over a real lossy capture
// (decoding excluded).
func BenchmarkAnalyzerCapture(b *testing.B) {
	frames, _, _, err := analyseCapture(filepath.Join(analysisOwnData, "lab_loss.pcap"))
	if err != nil {
		b.Skip(err)
	}
	var segs []Segment
	for _, fr := range frames {
		if fr.stream >= 0 {
			segs = append(segs, fr.seg)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var a Analyzer
		for j := range segs {
			a.Observe(&segs[j])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(segs)), "ns/segment")
}

// FuzzAnalyzer feeds random segment sequences: Observe and Health must not
// panic, Health must stay consistent, and its lists bounded.
func FuzzAnalyzer(f *testing.F) {
	// Seeds: the rule cases and a bulk transfer, encoded.
	for _, tc := range ruleCases {
		var b []byte
		start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		for n, x := range tc.segs {
			s := x.segment(n+1, start)
			b = append(b, encodeFuzzSegment(&s, start)...)
		}
		f.Add(b)
	}
	var bulk []byte
	segs := inOrderSegments(64)
	for i := range segs {
		bulk = append(bulk, encodeFuzzSegment(&segs[i], segs[0].Time)...)
	}
	f.Add(bulk)

	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		var a Analyzer
		n := 0
		for len(data) >= fuzzSegmentSize {
			n++
			s := decodeFuzzSegment(data[:fuzzSegmentSize], n, start)
			data = data[fuzzSegmentSize:]
			f := a.Observe(&s)
			if f&FlagReusedPorts != 0 {
				t.Fatalf("frame %d: the Analyzer set reused_ports", n)
			}
			if f&(FlagFastRetransmission|FlagSpuriousRetransmission) != 0 && f&FlagRetransmission == 0 {
				t.Fatalf("frame %d: %s without retransmission", n, f)
			}
		}
		h := a.Health()
		if h.Packets != n {
			t.Fatalf("Packets = %d, want %d", h.Packets, n)
		}
		for i := 0; i < numFlags; i++ {
			fc := h.Count(1 << i)
			if fc.Count > n || len(fc.Frames) > MaxEvidenceFrames || len(fc.Frames) != min(fc.Count, MaxEvidenceFrames) {
				t.Fatalf("%s: count %d frames %v over %d packets", Flag(1<<i), fc.Count, fc.Frames, n)
			}
		}
		if len(h.IdleGaps) > MaxEvidenceFrames || len(h.Sides[0].Resets) > MaxEvidenceFrames || len(h.Sides[1].Resets) > MaxEvidenceFrames {
			t.Fatalf("unbounded lists: %d gaps, %d+%d resets", len(h.IdleGaps), len(h.Sides[0].Resets), len(h.Sides[1].Resets))
		}
		if st := h.Handshake.State; st < HandshakeNotCaptured || st > HandshakeOpenerOnly {
			t.Fatalf("handshake state %d", st)
		}
		if h.Resets != h.Sides[0].ResetCount+h.Sides[1].ResetCount {
			t.Fatalf("Resets %d != %d+%d", h.Resets, h.Sides[0].ResetCount, h.Sides[1].ResetCount)
		}
	})
}

// fuzzSegmentSize is the bytes one fuzzed segment takes: time delta (2,
// in 100 µs), seq (4), ack (4), len (2), flags (1), window (2), options
// and TTL (1), one SACK block offset (2).
const fuzzSegmentSize = 18

func encodeFuzzSegment(s *Segment, start time.Time) []byte {
	b := make([]byte, fuzzSegmentSize)
	binary.BigEndian.PutUint16(b[0:], uint16(s.Time.Sub(start)/(100*time.Microsecond)))
	binary.BigEndian.PutUint32(b[2:], s.Seq)
	binary.BigEndian.PutUint32(b[6:], s.Ack)
	binary.BigEndian.PutUint16(b[10:], uint16(s.Len))
	var fl byte
	for i, on := range []bool{s.SYN, s.ACK, s.FIN, s.RST, s.PSH, s.Dir == ServerToClient, s.SACKPermitted, s.CapturedLen < s.Len} {
		if on {
			fl |= 1 << i
		}
	}
	b[12] = fl
	binary.BigEndian.PutUint16(b[13:], s.Window)
	ws := byte(15)
	if s.WindowScale >= 0 && s.WindowScale < 15 {
		ws = byte(s.WindowScale)
	}
	b[15] = ws<<4 | byte(s.TTL&0x0f)
	return b
}

func decodeFuzzSegment(b []byte, frame int, start time.Time) Segment {
	fl := b[12]
	s := Segment{
		Frame: frame,
		// Times go forward mostly; a high bit sends one backwards, as
		// captures merged badly do.
		Time: start.Add(time.Duration(binary.BigEndian.Uint16(b[0:])&0x7fff) * 100 * time.Microsecond * time.Duration(frame)),
		Seq:  binary.BigEndian.Uint32(b[2:]),
		Ack:  binary.BigEndian.Uint32(b[6:]),
		Len:  int(binary.BigEndian.Uint16(b[10:])),
		SYN:  fl&1 != 0, ACK: fl&2 != 0, FIN: fl&4 != 0, RST: fl&8 != 0, PSH: fl&16 != 0,
		Window: binary.BigEndian.Uint16(b[13:]),
		TTL:    64 + b[15]&0x0f,
	}
	if b[0]&0x80 != 0 {
		s.Time = start.Add(-time.Duration(frame) * time.Millisecond)
	}
	s.CapturedLen = s.Len
	if fl&128 != 0 {
		s.CapturedLen = s.Len / 2
	}
	if fl&32 != 0 {
		s.Dir = ServerToClient
	}
	s.SACKPermitted = fl&64 != 0
	s.WindowScale = int(b[15] >> 4)
	if s.WindowScale == 15 {
		s.WindowScale = -1
	}
	if off := binary.BigEndian.Uint16(b[16:]); off != 0 {
		s.SACK = true
		s.SACKBlocks = [][2]uint32{{s.Ack - uint32(off), s.Ack - uint32(off) + 100}}
	}
	return s
}
