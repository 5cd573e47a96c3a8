package reassembly

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// ErrUnsupportedLink means a frame's link type is not one smtpscope decodes.
var ErrUnsupportedLink = errors.New("unsupported link type")

// packet is one decoded TCP/IP packet. Its slices point into the frame's
// bytes or the decoder's layers and are valid until the next decode.
type packet struct {
	src, dst netip.AddrPort
	tcp      *layers.TCP
	// ipPayloadLen is the TCP segment length (header + payload) according
	// to the IP header, which exceeds the captured bytes under a snaplen.
	ipPayloadLen int
	ttl          uint8
	// ipID is the IPv4 identification (zero for IPv6).
	ipID uint16
}

// decoder turns captured frames into TCP packets with gopacket's
// DecodingLayerParser, one parser per first layer so that each link type
// starts where it should. It holds the decoded layers, reused per frame.
type decoder struct {
	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	sll     layers.LinuxSLL
	sll2    layers.LinuxSLL2
	loop    layers.Loopback
	ip4     layers.IPv4
	ip6     layers.IPv6
	ip6ext  layers.IPv6ExtensionSkipper
	tcp     layers.TCP
	parsers map[gopacket.LayerType]*gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
	// first and parser are the last first layer decoded and its parser:
	// a capture seldom changes link type.
	first  gopacket.LayerType
	parser *gopacket.DecodingLayerParser
}

func newDecoder() *decoder {
	d := &decoder{decoded: make([]gopacket.LayerType, 0, 8)}
	// The layers sit in an array indexed by layer type, gopacket's fastest
	// container (the default is a map looked up once per layer), shared by
	// the parsers, which only read it.
	var layersToUse gopacket.DecodingLayerContainer = gopacket.DecodingLayerSparse(nil)
	for _, l := range []gopacket.DecodingLayer{&d.eth, &d.dot1q, &d.sll, &d.sll2, &d.loop, &d.ip4, &d.ip6, &d.ip6ext, &d.tcp} {
		layersToUse = layersToUse.Put(l)
	}
	d.parsers = make(map[gopacket.LayerType]*gopacket.DecodingLayerParser)
	for _, first := range []gopacket.LayerType{layers.LayerTypeEthernet, layers.LayerTypeLinuxSLL,
		layers.LayerTypeLinuxSLL2, layers.LayerTypeLoopback, layers.LayerTypeIPv4, layers.LayerTypeIPv6} {
		p := gopacket.NewDecodingLayerParser(first)
		p.SetDecodingLayerContainer(layersToUse)
		p.IgnoreUnsupported = true
		d.parsers[first] = p
	}
	return d
}

// firstLayer maps a link type to the layer its frames start with.
func firstLayer(lt layers.LinkType, data []byte) (gopacket.LayerType, error) {
	switch lt {
	case layers.LinkTypeEthernet:
		return layers.LayerTypeEthernet, nil
	case layers.LinkTypeLinuxSLL:
		return layers.LayerTypeLinuxSLL, nil
	case layers.LinkType(276): // LINKTYPE_LINUX_SLL2
		return layers.LayerTypeLinuxSLL2, nil
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return layers.LayerTypeLoopback, nil
	case layers.LinkTypeIPv4:
		return layers.LayerTypeIPv4, nil
	case layers.LinkTypeIPv6:
		return layers.LayerTypeIPv6, nil
	case layers.LinkTypeRaw, 12, 14: // LINKTYPE_RAW and the DLT_RAW values some systems write
		if len(data) > 0 && data[0]>>4 == 6 {
			return layers.LayerTypeIPv6, nil
		}
		return layers.LayerTypeIPv4, nil
	}
	return 0, fmt.Errorf("%w %d (%s)", ErrUnsupportedLink, int(lt), lt)
}

// decode decodes one frame. It returns ok=false for frames that are not
// TCP over IP (or that are too damaged to say), and an error only for an
// unsupported link type.
func (d *decoder) decode(lt layers.LinkType, data []byte) (p packet, ok bool, err error) {
	ok, err = d.decodeInto(&p, lt, data)
	return p, ok, err
}

// decodeInto is decode into *p, which it sets whole when ok (the
// per-frame path: the packet is not copied out of a result).
func (d *decoder) decodeInto(p *packet, lt layers.LinkType, data []byte) (ok bool, err error) {
	first, err := firstLayer(lt, data)
	if err != nil {
		return false, err
	}
	if first != d.first || d.parser == nil {
		d.first, d.parser = first, d.parsers[first]
	}
	parser := d.parser
	// Decoding errors (malformed headers) leave the packet out; the layers
	// decoded before the error are not enough to analyse TCP.
	if derr := parser.DecodeLayers(data, &d.decoded); derr != nil {
		return false, nil
	}
	var haveIP, haveTCP bool
	var isV6 bool
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeIPv4:
			if d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0 {
				return false, nil // fragments are not reassembled
			}
			src, _ := netip.AddrFromSlice(d.ip4.SrcIP.To4())
			dst, _ := netip.AddrFromSlice(d.ip4.DstIP.To4())
			p.src, p.dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
			p.ipPayloadLen = int(d.ip4.Length) - int(d.ip4.IHL)*4
			p.ttl, p.ipID = d.ip4.TTL, d.ip4.Id
			haveIP = true
		case layers.LayerTypeIPv6:
			src, _ := netip.AddrFromSlice(d.ip6.SrcIP)
			dst, _ := netip.AddrFromSlice(d.ip6.DstIP)
			p.src, p.dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
			p.ipPayloadLen = int(d.ip6.Length)
			p.ttl, p.ipID = d.ip6.HopLimit, 0
			haveIP = true
			isV6 = true
		case layers.LayerTypeTCP:
			haveTCP = true
		}
	}
	if !haveIP || !haveTCP {
		return false, nil
	}
	if isV6 {
		// Extension headers sit between the IPv6 header and TCP: the TCP
		// bytes are a suffix of the IPv6 payload.
		p.ipPayloadLen -= len(d.ip6.Payload) - len(d.tcp.Contents) - len(d.tcp.Payload)
	}
	p.src = netip.AddrPortFrom(p.src.Addr(), uint16(d.tcp.SrcPort))
	p.dst = netip.AddrPortFrom(p.dst.Addr(), uint16(d.tcp.DstPort))
	p.tcp = &d.tcp
	return true, nil
}

// segment is what the L4 analyser needs of the packet (Dir aside, which
// the flow table decides). SACK blocks are appended to sack.
func (p *packet) segment(frame int, t time.Time, sack [][2]uint32) (seg Segment) {
	p.fillSegment(&seg, frame, t, sack)
	return seg
}

// fillSegment is segment into *seg, which must be the zero Segment (the
// per-frame path: the Segment is not copied out of a result).
func (p *packet) fillSegment(seg *Segment, frame int, t time.Time, sack [][2]uint32) {
	// Field by field: a composite literal would be built in a temporary
	// and copied, on every packet.
	tcp := p.tcp
	seg.Frame, seg.Time = frame, t
	seg.Seq, seg.Ack, seg.Len, seg.CapturedLen = tcp.Seq, tcp.Ack, p.segmentLen(), len(tcp.Payload)
	seg.SYN, seg.ACK, seg.FIN, seg.RST = tcp.SYN, tcp.ACK, tcp.FIN, tcp.RST
	seg.PSH, seg.URG, seg.ECE, seg.CWR = tcp.PSH, tcp.URG, tcp.ECE, tcp.CWR
	seg.Window, seg.WindowScale, seg.TTL, seg.IPID = tcp.Window, -1, p.ttl, p.ipID
	seg.SACKBlocks = sack
	readOptions(tcp, seg)
}

// segmentLen is the TCP payload length as sent, from the IP header; it
// falls back to the captured payload when the IP length is implausible
// (e.g. TSO super-frames captured with IP length 0).
func (p *packet) segmentLen() int {
	n := p.ipPayloadLen - int(p.tcp.DataOffset)*4
	if n < len(p.tcp.Payload) {
		return len(p.tcp.Payload)
	}
	return n
}

// readOptions copies the TCP options the analyser uses into seg.
func readOptions(tcp *layers.TCP, seg *Segment) {
	for i := range tcp.Options {
		o := &tcp.Options[i]
		switch o.OptionType {
		case layers.TCPOptionKindMSS:
			if len(o.OptionData) == 2 {
				seg.MSS = int(binary.BigEndian.Uint16(o.OptionData))
			}
		case layers.TCPOptionKindWindowScale:
			if len(o.OptionData) == 1 {
				seg.WindowScale = int(o.OptionData[0])
			}
		case layers.TCPOptionKindTimestamps:
			if len(o.OptionData) == 8 {
				seg.TSval, seg.HasTS = binary.BigEndian.Uint32(o.OptionData), true
			}
		case layers.TCPOptionKindSACKPermitted:
			seg.SACKPermitted = true
		case layers.TCPOptionKindSACK:
			seg.SACK = true
			for b := o.OptionData; len(b) >= 8; b = b[8:] {
				seg.SACKBlocks = append(seg.SACKBlocks, [2]uint32{
					binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])})
			}
		}
	}
}
