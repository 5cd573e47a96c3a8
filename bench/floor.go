package bench

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/gopacket/gopacket/reassembly"
)

// FloorStats counts what Floor saw.
type FloorStats struct {
	Packets int64 // frames read
	Bytes   int64 // frame bytes read (captured length)
	TCP     int64 // frames that decoded to TCP over IPv4 or IPv6
	// Connections counts the connections the assembler created.
	Connections int64
	// Reassembled counts stream bytes delivered in order, Lines the
	// CRLF-terminated lines in them.
	Reassembled, Lines int64
}

// Floor flush cadence, the same as smtpscope's tracker uses, so that both
// hold out-of-order data and idle connections as long.
const (
	floorFlushEvery = time.Second
	floorGapWait    = 3 * time.Second
	floorIdle       = 5 * time.Minute
)

// packetSource is what pcapgo.Reader and pcapgo.NgReader both offer.
type packetSource interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

// Floor runs the least work any gopacket-based SMTP analyser does over a
// pcap or pcapng capture: read each frame without copying
// (ZeroCopyReadPacketData), decode Ethernet/IPv4/IPv6/TCP with a
// DecodingLayerParser, feed TCP to a reassembly.Assembler with
// AssembleWithContext, and split the reassembled bytes into CRLF lines.
// Nothing else: no flow table of its own, no TCP analysis, no SMTP.
func Floor(r io.Reader) (FloorStats, error) {
	var st FloorStats
	br := bufio.NewReaderSize(r, 1<<20)
	magic, err := br.Peek(4)
	if err != nil {
		return st, fmt.Errorf("floor: %w", err)
	}
	var src packetSource
	if binary.LittleEndian.Uint32(magic) == 0x0a0d0d0a { // pcapng section header block
		src, err = pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
	} else {
		src, err = pcapgo.NewReader(br)
	}
	if err != nil {
		return st, fmt.Errorf("floor: %w", err)
	}
	first := layers.LayerTypeEthernet
	switch src.LinkType() {
	case layers.LinkTypeEthernet:
	case layers.LinkTypeRaw, layers.LinkTypeIPv4:
		first = layers.LayerTypeIPv4
	case layers.LinkTypeIPv6:
		first = layers.LayerTypeIPv6
	default:
		return st, fmt.Errorf("floor: link type %s not decoded", src.LinkType())
	}

	var (
		eth     layers.Ethernet
		ip4     layers.IPv4
		ip6     layers.IPv6
		tcp     layers.TCP
		decoded = make([]gopacket.LayerType, 0, 4)
	)
	parser := gopacket.NewDecodingLayerParser(first, &eth, &ip4, &ip6, &tcp)
	parser.IgnoreUnsupported = true
	asm := reassembly.NewAssembler(reassembly.NewStreamPool(&floorFactory{st: &st}))
	ctx := &floorContext{}
	var lastFlush time.Time
	for {
		data, ci, err := src.ZeroCopyReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, fmt.Errorf("floor: frame %d: %w", st.Packets+1, err)
		}
		st.Packets++
		st.Bytes += int64(len(data))
		if err := parser.DecodeLayers(data, &decoded); err != nil {
			continue
		}
		var flow gopacket.Flow
		haveTCP := false
		for _, t := range decoded {
			switch t {
			case layers.LayerTypeIPv4:
				flow = ip4.NetworkFlow()
			case layers.LayerTypeIPv6:
				flow = ip6.NetworkFlow()
			case layers.LayerTypeTCP:
				haveTCP = true
			}
		}
		if !haveTCP {
			continue
		}
		st.TCP++
		ctx.ci = ci
		asm.AssembleWithContext(flow, &tcp, ctx)
		if lastFlush.IsZero() {
			lastFlush = ci.Timestamp
		}
		if ci.Timestamp.Sub(lastFlush) >= floorFlushEvery {
			asm.FlushWithOptions(reassembly.FlushOptions{T: ci.Timestamp.Add(-floorGapWait), TC: ci.Timestamp.Add(-floorIdle)})
			lastFlush = ci.Timestamp
		}
	}
	asm.FlushAll()
	return st, nil
}

// floorContext carries a frame's capture info into the assembler.
type floorContext struct{ ci gopacket.CaptureInfo }

func (c *floorContext) GetCaptureInfo() gopacket.CaptureInfo { return c.ci }

type floorFactory struct{ st *FloorStats }

func (f *floorFactory) New(_, _ gopacket.Flow, _ *layers.TCP, _ reassembly.AssemblerContext) reassembly.Stream {
	f.st.Connections++
	return &floorStream{st: f.st}
}

// floorStream splits each direction's bytes into lines. cr remembers a
// CR that ended the previous delivery, so a CRLF split across segments
// still ends one line.
type floorStream struct {
	st *FloorStats
	cr [2]bool
}

func (s *floorStream) Accept(*layers.TCP, gopacket.CaptureInfo, reassembly.TCPFlowDirection, reassembly.Sequence, *bool, reassembly.AssemblerContext) bool {
	return true
}

func (s *floorStream) ReassembledSG(sg reassembly.ScatterGather, _ reassembly.AssemblerContext) {
	n, _ := sg.Lengths()
	if n == 0 {
		return
	}
	d, _, _, skip := sg.Info()
	dir := 0
	if d == reassembly.TCPDirServerToClient {
		dir = 1
	}
	data := sg.Fetch(n)
	s.st.Reassembled += int64(n)
	cr := s.cr[dir] && skip == 0
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			cr = data[len(data)-1] == '\r'
			break
		}
		if (i > 0 && data[i-1] == '\r') || (i == 0 && cr) {
			s.st.Lines++
		}
		cr = false
		data = data[i+1:]
	}
	s.cr[dir] = cr
}

// ReassemblyComplete keeps the connection in the pool, as smtpscope's
// tracker does, so that the ACK after the last FIN does not create it
// anew; the idle flush removes it.
func (s *floorStream) ReassemblyComplete(reassembly.AssemblerContext) bool { return false }
