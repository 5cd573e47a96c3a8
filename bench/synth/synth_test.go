package synth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// generate runs a Generator into memory and returns the pcap file, the
// expectations and the stats.
func generate(t testing.TB, opts Options) ([]byte, []Expectation, Stats) {
	t.Helper()
	var capture, expect bytes.Buffer
	w := pcapgo.NewWriter(&capture)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	st, err := New(opts).Run(w, &expect)
	if err != nil {
		t.Fatalf("Run(%+v): %v", opts, err)
	}
	var exps []Expectation
	sc := bufio.NewScanner(&expect)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e Expectation
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("expectation %q: %v", sc.Text(), err)
		}
		exps = append(exps, e)
	}
	return capture.Bytes(), exps, st
}

// smallOptions plays every kind of fault in a few sessions.
var smallOptions = Options{Seed: 7, Sessions: 60, Problems: 0.6, Concurrency: 20, Clients: 50}

func TestSameSeedSameBytes(t *testing.T) {
	hash := func(opts Options) [32]byte {
		var capture, expect bytes.Buffer
		w := pcapgo.NewWriter(&capture)
		if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
			t.Fatal(err)
		}
		if _, err := New(opts).Run(w, &expect); err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(append(capture.Bytes(), expect.Bytes()...))
	}
	a, b := hash(smallOptions), hash(smallOptions)
	if a != b {
		t.Errorf("two runs with seed %d: hashes %x and %x differ", smallOptions.Seed, a, b)
	}
	other := smallOptions
	other.Seed++
	if c := hash(other); c == a {
		t.Errorf("seeds %d and %d gave the same capture", smallOptions.Seed, other.Seed)
	}
	// TLS sessions too: the certificates and the noise come from the seed.
	withTLS := smallOptions
	withTLS.TLS = 0.5
	if a, b := hash(withTLS), hash(withTLS); a != b {
		t.Errorf("two runs with TLS 0.5: hashes %x and %x differ", a, b)
	}
	withBDAT := smallOptions
	withBDAT.BDAT, withBDAT.CaptureLoss, withBDAT.SACK = 0.5, 0.3, 0.5
	if a, b := hash(withBDAT), hash(withBDAT); a != b {
		t.Errorf("two runs with BDAT 0.5, capture loss 0.3 and SACK 0.5: hashes %x and %x differ", a, b)
	}
}

// TestSealedBodyFraming: a body streamed as TLS records is exactly the
// records' length, each a header of the right length over the
// plaintext's share plus the suite's overhead, the last one short.
func TestSealedBodyFraming(t *testing.T) {
	noise := newNoise(rand.New(rand.NewPCG(1, 2)))
	for _, tc := range []struct {
		suite      tlsSuite
		recordSize int
		plain      int
	}{
		{suites[0], 4096, 703}, {suites[0], 4096, 4096}, {suites[3], 16384, 100003}, {suites[5], 8192, 8193},
	} {
		st := &tlsState{plan: tlsPlan{suite: tc.suite, recordSize: tc.recordSize}, noise: noise}
		var b sealedBody
		b.reset(st, tc.plain)
		var stream []byte
		buf := make([]byte, mss)
		for b.left() > 0 {
			n := b.fill(buf)
			if n == 0 {
				t.Fatalf("%+v: fill gave nothing with %d left", tc, b.left())
			}
			stream = append(stream, buf[:n]...)
		}
		plain := 0
		for len(stream) > 0 {
			if len(stream) < 5 || stream[0] != recordApplicationData || stream[1] != 3 || stream[2] != 3 {
				t.Fatalf("%+v: bad record header % x", tc, stream[:min(5, len(stream))])
			}
			n := int(stream[3])<<8 | int(stream[4])
			if n-tc.suite.overhead > tc.recordSize || len(stream) < 5+n {
				t.Fatalf("%+v: record of %d bytes, %d left", tc, n, len(stream)-5)
			}
			plain += n - tc.suite.overhead
			stream = stream[5+n:]
		}
		if plain != tc.plain {
			t.Errorf("%+v: records carry %d plaintext bytes, want %d", tc, plain, tc.plain)
		}
	}
}

// frames decodes every frame of a pcap file.
func frames(t testing.TB, capture []byte) []gopacket.Packet {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(capture))
	if err != nil {
		t.Fatal(err)
	}
	var out []gopacket.Packet
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		p.Metadata().CaptureInfo = ci
		out = append(out, p)
	}
}

func TestChecksumsAndOrder(t *testing.T) {
	capture, _, st := generate(t, smallOptions)
	ps := frames(t, capture)
	if int64(len(ps)) != st.Frames {
		t.Fatalf("read %d frames, Stats says %d", len(ps), st.Frames)
	}
	var prev int64
	for i, p := range ps {
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip == nil || tcp == nil {
			t.Fatalf("frame %d: not TCP/IPv4: %v", i+1, p)
		}
		if err, res := ip.VerifyChecksum(); err != nil || !res.Valid {
			t.Errorf("frame %d: IPv4 checksum %#04x, want %#04x (%v)", i+1, res.Actual, res.Correct, err)
		}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		if err, res := tcp.VerifyChecksum(); err != nil || !res.Valid {
			t.Errorf("frame %d: TCP checksum %#04x, want %#04x (%v)", i+1, res.Actual, res.Correct, err)
		}
		if int(ip.Length) != len(ip.Contents)+len(ip.Payload) {
			t.Errorf("frame %d: IP length %d, %d bytes follow", i+1, ip.Length, len(ip.Contents)+len(ip.Payload))
		}
		if ts := p.Metadata().Timestamp.UnixMicro(); ts < prev {
			t.Errorf("frame %d: time goes back", i+1)
		} else {
			prev = ts
		}
	}
}

// TestAssembleMatchesGopacket checks the hand-built headers against
// gopacket's serialisation of the same segment.
func TestAssembleMatchesGopacket(t *testing.T) {
	src := netip.MustParseAddrPort("198.18.0.7:40001")
	dst := netip.MustParseAddrPort("198.19.0.10:25")
	tests := []struct {
		name    string
		flags   uint8
		payload string
		sack    [][2]uint32 // nil: no SACK; empty: SACK permitted on a SYN
	}{
		{"syn", flagSYN, "", nil},
		{"synack", flagSYN | flagACK, "", nil},
		{"syn, SACK permitted", flagSYN, "", [][2]uint32{}},
		{"synack, SACK permitted", flagSYN | flagACK, "", [][2]uint32{}},
		{"ack, one SACK block", flagACK, "", [][2]uint32{{20000, 21460}}},
		{"ack, D-SACK and SACK blocks", flagACK, "", [][2]uint32{{0xfffffff0, 0x5a4}, {0xfffffff0, 0x1000}}},
		{"ack", flagACK, "", nil},
		{"data even", flagPSH | flagACK, "EHLO c1.example.org\r\n", nil},
		{"data odd", flagPSH | flagACK, "QUIT\r\n.", nil},
		{"fin", flagFIN | flagACK, "", nil},
		{"rst", flagRST | flagACK, "", nil},
		{"full", flagACK, strings.Repeat("x", mss), nil},
	}
	for _, tt := range tests {
		s := segment{padded: true, srcMAC: routerMAC, dstMAC: [6]byte{2, 0, 0x5e, 0, 1, 0}, src: src, dst: dst, ipID: 0xbeef,
			ttl: 51, seq: 0xfffffff0, ack: 12345, flags: tt.flags, window: 502, mss: mss, wscale: 7}
		if tt.sack != nil && tt.flags&flagSYN != 0 {
			s.sackPerm = true
		}
		s.nsack = copy(s.sack[:], tt.sack)
		got := assemble(make([]byte, headerRoom+mss), &s, []byte(tt.payload))

		eth := &layers.Ethernet{SrcMAC: s.srcMAC[:], DstMAC: s.dstMAC[:], EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, IHL: 5, Id: s.ipID, Flags: layers.IPv4DontFragment, TTL: s.ttl,
			Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: s.seq, Ack: s.ack,
			Window: s.window, FIN: tt.flags&flagFIN != 0, SYN: tt.flags&flagSYN != 0, RST: tt.flags&flagRST != 0,
			PSH: tt.flags&flagPSH != 0, ACK: tt.flags&flagACK != 0}
		nop := layers.TCPOption{OptionType: layers.TCPOptionKindNop}
		switch {
		case tt.flags&flagSYN != 0:
			tcp.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{mss >> 8, mss & 0xff}}}
			if s.sackPerm {
				tcp.Options = append(tcp.Options, nop, nop, layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2})
			}
			tcp.Options = append(tcp.Options, nop, layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}})
		case len(tt.sack) > 0:
			var blocks []byte
			for _, b := range tt.sack {
				blocks = binary.BigEndian.AppendUint32(blocks, b[0])
				blocks = binary.BigEndian.AppendUint32(blocks, b[1])
			}
			tcp.Options = []layers.TCPOption{nop, nop, {OptionType: layers.TCPOptionKindSACK, OptionLength: uint8(2 + len(blocks)), OptionData: blocks}}
		}
		if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
			t.Fatal(err)
		}
		buf := gopacket.NewSerializeBuffer()
		err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, tcp, gopacket.Payload(tt.payload))
		if err != nil {
			t.Fatal(err)
		}
		if want := buf.Bytes(); !bytes.Equal(got, want) {
			t.Errorf("%s: assemble =\n% x\nwant (gopacket)\n% x", tt.name, got, want)
		}
	}
}

func TestStreamsNumberedLikeWireshark(t *testing.T) {
	capture, exps, st := generate(t, smallOptions)
	if len(exps) != smallOptions.Sessions || st.Sessions != smallOptions.Sessions {
		t.Fatalf("%d expectations, %d sessions in Stats, want %d", len(exps), st.Sessions, smallOptions.Sessions)
	}
	// tcp.stream: connections numbered in order of their first frame.
	type key struct{ a, b string }
	stream := map[key]int{}
	var order []key
	for _, p := range frames(t, capture) {
		ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		a := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip.SrcIP.To4())), uint16(tcp.SrcPort)).String()
		b := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip.DstIP.To4())), uint16(tcp.DstPort)).String()
		if tcp.SYN && !tcp.ACK {
			if _, dup := stream[key{a, b}]; dup {
				t.Fatalf("connection %s -> %s opened twice", a, b)
			}
			stream[key{a, b}] = len(order)
			order = append(order, key{a, b})
		}
	}
	for i, e := range exps {
		if e.Stream != i {
			t.Errorf("expectation %d has stream %d: the file is not in stream order", i, e.Stream)
		}
		if got, ok := stream[key{e.Client, e.Server}]; !ok || got != e.Stream {
			t.Errorf("stream %d (%s -> %s): its SYN is connection %d (found %v)", e.Stream, e.Client, e.Server, got, ok)
		}
	}
}

func TestEveryFaultInjected(t *testing.T) {
	_, exps, _ := generate(t, Options{Seed: 3, Sessions: 300, Problems: 1, Concurrency: 40})
	checkCoverage(t, exps)
	for _, e := range exps {
		if e.Fault == FaultNone {
			t.Errorf("stream %d: healthy with Problems 1", e.Stream)
		}
		want := map[Fault][2]string{ // outcome and cause of the fault's message
			FaultLossAbort:       {"aborted", "packet-loss"},
			FaultZeroWindowStall: {"aborted", "zero-window-stall"},
			FaultResetByServer:   {"aborted", "reset-by-server"},
			FaultEODNoReply:      {"no-reply", "eod-no-reply"},
			FaultPMTUBlackhole:   {"aborted", "pmtu-blackhole"},
		}[e.Fault]
		if e.Fault == FaultPMTUBlackhole && e.Shape == ShapeFirstOnly && e.L4.Resets == 1 {
			want[1] = "packet-loss" // the client gave up first: no sign of the server
		}
		if last := e.Messages[len(e.Messages)-1]; want[0] != "" && (last.Outcome != want[0] || last.Cause != want[1]) {
			t.Errorf("stream %d (%s): last message %s/%s, want %s/%s", e.Stream, e.Fault, last.Outcome, last.Cause, want[0], want[1])
		}
		checkFaultL4(t, &e)
	}
}

// checkCoverage fails unless exps hold every fault, each shaped one in
// every shape, and no shape on a fault without one.
func checkCoverage(t *testing.T, exps []Expectation) {
	t.Helper()
	covered := map[Fault]map[Shape]bool{}
	for _, e := range exps {
		if !e.Fault.shaped() && e.Shape != ShapeNone {
			t.Errorf("stream %d (%s): shape %s on a fault without one", e.Stream, e.Fault, e.Shape)
		}
		if covered[e.Fault] == nil {
			covered[e.Fault] = map[Shape]bool{}
		}
		covered[e.Fault][e.Shape] = true
	}
	for _, f := range faultWeights {
		want := []Shape{ShapeNone}
		if f.fault.shaped() {
			want = shapes
		}
		for _, sh := range want {
			if !covered[f.fault][sh] {
				t.Errorf("no %s session in shape %q among %d", f.fault, sh, len(exps))
			}
		}
	}
}

// checkFaultL4 checks the TCP analysis counts a session's fault implies.
func checkFaultL4(t *testing.T, e *Expectation) {
	t.Helper()
	l4 := e.L4
	switch e.Fault {
	case FaultLossFast, FaultLossRTO, FaultSpurious:
		want := 1
		if e.Fault == FaultLossRTO && e.Shape == ShapeTailLossProbe {
			want = 2 // the probe, then the hole
		}
		if l4.Retransmissions != want {
			t.Errorf("stream %d (%s %s): %d retransmissions, want %d", e.Stream, e.Fault, e.Shape, l4.Retransmissions, want)
		}
	case FaultPMTUBlackhole, FaultLossAbort:
		// The PMTU rule needs three retransmissions, two of the lowest
		// segment (reassembly's minPMTURetransmissions).
		if l4.Retransmissions < 3 {
			t.Errorf("stream %d (%s %s): %d retransmissions, want at least 3", e.Stream, e.Fault, e.Shape, l4.Retransmissions)
		}
		if e.Fault == FaultPMTUBlackhole {
			checkBlackholeFit(t, e)
		}
	case FaultDuplicateFrames:
		if l4.Retransmissions < 1 || l4.Retransmissions > 2 {
			t.Errorf("stream %d (%s): %d retransmissions (data copies), want 1 or 2", e.Stream, e.Fault, l4.Retransmissions)
		}
	case FaultReorder:
		if l4.OutOfOrder != 1 {
			t.Errorf("stream %d (%s): %d out of order, want 1", e.Stream, e.Fault, l4.OutOfOrder)
		}
	case FaultZeroWindow, FaultZeroWindowStall:
		if l4.ZeroWindows == 0 {
			t.Errorf("stream %d (%s): no zero window", e.Stream, e.Fault)
		}
	case FaultNone, FaultDeferred, FaultRejected:
		if l4 != (L4Expectation{}) && !(e.Fault == FaultNone && l4.Resets == 0) {
			t.Errorf("stream %d (%s): L4 %+v, want none", e.Stream, e.Fault, l4)
		}
	}
}

// checkBlackholeFit: a black hole's path MTU is below a full segment's
// and the messages before it fit in one packet under it.
func checkBlackholeFit(t *testing.T, e *Expectation) {
	t.Helper()
	if e.PathMTU < 1280 || e.PathMTU-40 >= mss {
		t.Errorf("stream %d (%s): path MTU %d", e.Stream, e.Fault, e.PathMTU)
	}
	fit := int64(e.PathMTU - 40)
	if e.TLS != "" {
		fit -= 5 + 24 // a record's header and the largest protection
	}
	for i, m := range e.Messages[:len(e.Messages)-1] {
		if m.Size+3 > fit {
			t.Errorf("stream %d (%s): message %d of %d bytes before the black hole needs more than one packet", e.Stream, e.Fault, i, m.Size)
		}
	}
}

func TestBodyWriterExactSize(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ls := newLineSet(r)
	h := messageHeaders{from: "a@c1.example.org", to: "b@example.net", subject: "s", date: "Mon, 04 Mar 2024 09:00:00 +0000",
		messageID: "<1.2.3@c1.example.org>"}
	for _, size := range []int{minMessageSize, 701, 1000, 1459, 1460, 1461, 4096, attachmentFrom - 1, attachmentFrom,
		attachmentFrom + 1, 100000, 1 << 20} {
		for seed := range uint64(5) {
			var w bodyWriter
			w.reset(ls, rand.New(rand.NewPCG(seed, 0)), size, h)
			var out []byte
			buf := make([]byte, mss)
			for w.left() > 0 {
				n := w.fill(buf)
				if n == 0 {
					t.Fatalf("size %d: fill gave nothing with %d left", size, w.left())
				}
				out = append(out, buf[:n]...)
			}
			if len(out) != size+3 || !bytes.HasSuffix(out, []byte("\r\n.\r\n")) {
				t.Fatalf("size %d seed %d: %d bytes ending %q, want %d ending CRLF.CRLF", size, seed, len(out), out[max(0, len(out)-8):], size+3)
			}
			lines := strings.Split(string(out[:size]), "\r\n")
			for i, l := range lines[:len(lines)-1] {
				if l == "." || (strings.HasPrefix(l, ".") && !strings.HasPrefix(l, "..")) {
					t.Errorf("size %d: line %d %q is not dot-stuffed", size, i, l)
				}
				if strings.ContainsAny(l, "\r\n") || len(l) > 998 {
					t.Errorf("size %d: line %d %q breaks RFC 5322 §2.1.1", size, i, l)
				}
			}
			if !strings.Contains(string(out), "Message-ID: "+h.messageID+"\r\n") {
				t.Errorf("size %d: no Message-ID header", size)
			}
		}
	}
}

// discard is a PacketWriter that only counts.
type discard struct{ frames int }

func (d *discard) WritePacket(gopacket.CaptureInfo, []byte) error { d.frames++; return nil }

// BenchmarkGenerate measures the generator per capture of 8 MiB with
// expectations; allocations per frame show whether memory stays flat.
func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	var st Stats
	for b.Loop() {
		var err error
		st, err = New(Options{Seed: 1, Size: 8 << 20}).Run(&discard{}, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(st.Bytes)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(int64(b.N)*st.Frames), "ns/frame")
}

// TestBDATShapes: with Options.BDAT every BDAT shape is played (a
// message in one chunk and in several, refusals after an earlier chunk
// and after BDAT LAST, the silence after BDAT LAST, a connection broken
// in a chunk by a body fault), BDAT only where it may be (in clear), and
// each message's expectation is consistent: a refusal after an earlier
// chunk stops the chunks (RFC 3030 §2), a broken connection stops them
// anywhere, every other message ends with BDAT LAST. Every body fault
// hits some BDAT session.
func TestBDATShapes(t *testing.T) {
	capture, exps, _ := generate(t, Options{Seed: 8, Sessions: 200, Problems: 0.6, Concurrency: 30, BDAT: 0.8, MaxMessageSize: 16 << 10})
	// With pipelining the next chunk's BDAT line follows the previous
	// chunk's last bytes in one segment; without, it starts a segment.
	if mid := bdatLinesInside(t, capture); mid == 0 {
		t.Error("no BDAT line inside a segment: no chunks pipelined")
	}
	seen := map[string]int{}
	faults := map[Fault]bool{}
	for _, e := range exps {
		if !e.BDAT {
			continue
		}
		if e.TLS != "" {
			t.Errorf("stream %d (%s, %s): BDAT", e.Stream, e.Fault, e.TLS)
		}
		faults[e.Fault] = true
		for i, m := range e.Messages {
			refused := m.Outcome == "rejected" || m.Outcome == "deferred"
			var shape string
			switch {
			case m.Chunks == 0:
				if !refused || m.Size != 0 {
					t.Errorf("stream %d message %d: no chunk, %s, %d bytes: want its envelope refused", e.Stream, i, m.Outcome, m.Size)
				}
				continue
			case m.Outcome == "aborted":
				shape = "broken in a chunk"
			case !m.Last && refused:
				shape = "refused after a chunk"
			case !m.Last:
				t.Errorf("stream %d message %d: %s without BDAT LAST", e.Stream, i, m.Outcome)
			case refused:
				shape = "refused after LAST"
			case m.Outcome == "no-reply":
				shape = "no reply after LAST"
				if m.Cause != "eod-no-reply" {
					t.Errorf("stream %d message %d: no reply after LAST with cause %s", e.Stream, i, m.Cause)
				}
			case m.Outcome == "delivered" && m.Chunks > 1:
				shape = "delivered in chunks"
			case m.Outcome == "delivered":
				shape = "delivered in one chunk"
			}
			seen[shape]++
		}
	}
	for _, shape := range []string{"refused after a chunk", "refused after LAST", "no reply after LAST", "delivered in chunks", "delivered in one chunk", "broken in a chunk"} {
		if seen[shape] == 0 {
			t.Errorf("no BDAT message %s (seen %v)", shape, seen)
		}
	}
	for _, f := range faultWeights {
		if f.fault.bodyFault() && !faults[f.fault] {
			t.Errorf("no BDAT session with %s", f.fault)
		}
	}
}

// TestCaptureLossShapes: with Options.CaptureLoss every Loss is played,
// only on sessions in clear with healthy TCP, on one message each, and
// the expectations say what the capture proves: unknown (code 0, cause
// capture-incomplete, the wire's outcome beside it) when the deciding
// reply or, without a reply, the end-of-data is missing; the wire's
// outcome, unknown allowed, when a frame is missing that the outcome does
// not rest on; the wire's outcome alone when only a pure ACK is missing.
// Later messages may be told unknown too (not after a lost pure ACK),
// earlier ones not.
func TestCaptureLossShapes(t *testing.T) {
	_, exps, st := generate(t, Options{Seed: 9, Sessions: 300, Problems: 0.5, Concurrency: 40, BDAT: 0.3, CaptureLoss: 0.6, MaxMessageSize: 16 << 10})
	seen := map[Loss]int{}
	for _, e := range exps {
		hit := 0
		for i, m := range e.Messages {
			if m.Lost == LossNone {
				// After the loss, unknown may be told (not after a lost
				// pure ACK); before it, nothing changes.
				if want := hit > 0 && e.CaptureLoss != LossServerACK; m.UnknownOK != want || m.WireOutcome != "" {
					t.Errorf("stream %d message %d (%s, after the loss: %v): %+v", e.Stream, i, e.CaptureLoss, hit > 0, m)
				}
				continue
			}
			hit++
			seen[m.Lost]++
			if m.Lost != e.CaptureLoss {
				t.Errorf("stream %d message %d: lost %s, session lacks %s", e.Stream, i, m.Lost, e.CaptureLoss)
			}
			switch {
			case m.Outcome == "unknown":
				if m.Cause != "capture-incomplete" || m.Code != 0 || m.WireOutcome == "" || m.UnknownOK {
					t.Errorf("stream %d message %d: unknown expectation %+v", e.Stream, i, m)
				}
				if m.Lost != LossServerFinal && m.Lost != LossServerRefusal && !(m.Lost == LossClientEnd && m.WireOutcome == "no-reply") {
					t.Errorf("stream %d message %d: lost %s proves nothing?", e.Stream, i, m.Lost)
				}
			case m.Lost == LossServerACK:
				if m.UnknownOK {
					t.Errorf("stream %d message %d: a lost pure ACK allows unknown", e.Stream, i)
				}
			case !m.UnknownOK || m.WireOutcome != "":
				t.Errorf("stream %d message %d: proven expectation %+v", e.Stream, i, m)
			}
		}
		if e.CaptureLoss != LossNone && (hit != 1 || e.TLS != "" || !lossSession(e.Fault)) {
			t.Errorf("stream %d (%s, %s): capture lacks %s on %d messages", e.Stream, e.Fault, e.TLS, e.CaptureLoss, hit)
		}
	}
	for _, l := range losses {
		if seen[l] == 0 {
			t.Errorf("no message whose capture lacks %s (seen %v)", l, seen)
		}
	}
	lossy := 0
	for _, e := range exps {
		if e.CaptureLoss != LossNone {
			lossy++
		}
	}
	if st.CaptureLoss != lossy {
		t.Errorf("Stats.CaptureLoss %d, %d expectations with capture loss", st.CaptureLoss, lossy)
	}
}

// bdatLinesInside counts the TCP payloads of a pcap file that hold "BDAT "
// after their first byte.
func bdatLinesInside(t *testing.T, capture []byte) int {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(capture))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && bytes.Index(tcp.Payload, []byte("BDAT ")) > 0 {
			n++
		}
	}
}

// TestFaultCaptureLossShapes: with FaultCaptureLoss every session with a
// network fault lacks a frame (the envelope's reply always goes out, so
// each planned loss happens), on the fault's message too (broken there
// or recovered), and the expectations keep the false-claim rule: a
// message the loss hit is unknown or allows it, never a failure the
// capture does not prove.
func TestFaultCaptureLossShapes(t *testing.T) {
	_, exps, _ := generate(t, Options{Seed: 11, Sessions: 300, Problems: 1, Concurrency: 40, BDAT: 0.3, FaultCaptureLoss: 1, MaxMessageSize: 16 << 10})
	faulty, lossy, brokenHit, recoveredHit := 0, 0, 0, 0
	for _, e := range exps {
		if lossSession(e.Fault) {
			if e.CaptureLoss != LossNone {
				t.Errorf("stream %d (%s): capture lacks %s without CaptureLoss", e.Stream, e.Fault, e.CaptureLoss)
			}
			continue
		}
		faulty++
		if e.CaptureLoss == LossNone {
			continue
		}
		lossy++
		for i, m := range e.Messages {
			if m.Lost == LossNone {
				continue
			}
			if m.Outcome != "unknown" && !m.UnknownOK && m.Lost != LossServerACK { // a pure ACK holds no SMTP
				t.Errorf("stream %d message %d (%s, lacks %s): %+v proven without the frame?", e.Stream, i, e.Fault, m.Lost, m)
			}
			switch {
			case m.Outcome == "aborted":
				brokenHit++
			case m.WireOutcome != "" || m.Outcome == "delivered" && i == len(e.Messages)-1 && e.Fault.bodyFault():
				recoveredHit++
			}
		}
	}
	if faulty == 0 || lossy < faulty*9/10 {
		t.Errorf("%d of %d sessions with a network fault lack a frame", lossy, faulty)
	}
	if brokenHit == 0 || recoveredHit == 0 {
		t.Errorf("losses on broken messages %d, on recovered or unknown ones %d", brokenHit, recoveredHit)
	}
}

// TestCommandLossShapes: with CommandLoss the capture lacks a command of
// a pipelined envelope (the batch then written one command a segment) or
// a BDAT line after the first chunk's; the expectations say the outcome
// is proven (unknown allowed) but for the silence after a lost BDAT LAST
// line, which proves nothing.
func TestCommandLossShapes(t *testing.T) {
	_, exps, _ := generate(t, Options{Seed: 12, Sessions: 400, Problems: 0.6, Concurrency: 40, BDAT: 0.5, CommandLoss: 1, MaxMessageSize: 16 << 10})
	seen := map[Loss]int{}
	silentLast := 0
	for _, e := range exps {
		for i, m := range e.Messages {
			if m.Lost == LossNone {
				continue
			}
			seen[m.Lost]++
			if !slices.Contains(commandLosses, m.Lost) || m.Lost != e.CaptureLoss || e.Unseen.Client == 0 || e.Unseen.Server != 0 {
				t.Errorf("stream %d message %d: lost %s, session %s, unseen %+v", e.Stream, i, m.Lost, e.CaptureLoss, e.Unseen)
			}
			switch {
			case m.Outcome == "unknown":
				silentLast++
				if m.Lost != LossClientChunkLine || m.WireOutcome != "no-reply" || m.Cause != "capture-incomplete" {
					t.Errorf("stream %d message %d: unknown %+v", e.Stream, i, m)
				}
			case !m.UnknownOK:
				t.Errorf("stream %d message %d: %+v without unknown_ok", e.Stream, i, m)
			}
		}
	}
	for _, l := range commandLosses {
		if seen[l] == 0 {
			t.Errorf("no message lacks %s (seen %v)", l, seen)
		}
	}
	if silentLast == 0 {
		t.Errorf("no silence after a lost BDAT LAST line")
	}
}

// TestPipelinedChunkRefusal: with PipelinedChunkRefusal, BDAT lines go
// out after a chunk's refusal (the chunks pipelined behind it), each
// refused message has sent its LAST chunk, and without the option no
// BDAT line follows a refusal.
func TestPipelinedChunkRefusal(t *testing.T) {
	for _, share := range []float64{0, 1} {
		capture, exps, _ := generate(t, Options{Seed: 13, Sessions: 300, Problems: 1, Concurrency: 40, BDAT: 1, PipelinedChunkRefusal: share, MaxMessageSize: 32 << 10})
		behind := bdatAfterRefusal(t, capture)
		switch {
		case share == 0 && behind != 0:
			t.Errorf("without the option, %d BDAT lines after a refusal", behind)
		case share == 1 && behind == 0:
			t.Errorf("no BDAT line after a refused chunk")
		}
		last := 0 // refused BDAT messages that sent their LAST chunk
		for _, e := range exps {
			for _, m := range e.Messages {
				if (m.Outcome == "rejected" || m.Outcome == "deferred") && m.Chunks > 1 && m.Last {
					last++
				}
			}
		}
		if share == 1 && last == 0 {
			t.Errorf("%d BDAT lines after a refusal, no refused message sent BDAT LAST", behind)
		}
	}
}

// bdatAfterRefusal counts the client payloads holding a BDAT line sent
// after a 4xx or 5xx reply of the same connection that names no address
// (not a recipient's refusal) and before the next MAIL, RSET or QUIT.
func bdatAfterRefusal(t *testing.T, capture []byte) int {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(capture))
	if err != nil {
		t.Fatal(err)
	}
	refused := map[layers.TCPPort]bool{}
	n := 0
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || len(tcp.Payload) == 0 {
			continue
		}
		if tcp.SrcPort == smtpPort {
			for _, line := range strings.Split(string(tcp.Payload), "\r\n") {
				if len(line) > 3 && (line[0] == '4' || line[0] == '5') && line[3] == ' ' && !strings.Contains(line, "<") {
					refused[tcp.DstPort] = true
				}
			}
			continue
		}
		switch s := string(tcp.Payload); {
		case strings.HasPrefix(s, "MAIL"), strings.HasPrefix(s, "RSET"), strings.HasPrefix(s, "QUIT"):
			refused[tcp.SrcPort] = false
		case refused[tcp.SrcPort] && strings.Contains(s, "BDAT "):
			n++
		}
	}
}
