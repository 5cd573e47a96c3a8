package reassembly

// numbering gives TCP packets their tcp.stream numbers as Wireshark does:
// in order of first packet, a new number for a new 4-tuple and, on a
// 4-tuple already numbered, for a SYN (without ACK) whose sequence number
// differs from the first one seen in that direction. It remembers every
// 4-tuple it numbered until told to forget it, so that a connection
// retired from memory keeps its number if packets come on it later.
type numbering struct {
	next  int
	flows map[flowKey]*flowNumber
}

// flowNumber is what numbering keeps of a 4-tuple: its current stream and
// the first sequence number seen per side (side 0 is the key's lower
// endpoint).
type flowNumber struct {
	stream   int
	base     [2]uint32
	haveBase [2]bool
}

// Number is a packet's tcp.stream and whether the packet starts it.
type Number struct {
	Stream int
	New    bool
}

func newNumbering() numbering { return numbering{flows: make(map[flowKey]*flowNumber)} }

// number returns the stream of packet p on 4-tuple k.
func (n *numbering) number(k flowKey, p *packet) Number {
	side := 0
	if endpointOf(p.src) != k.lo {
		side = 1
	}
	f := n.flows[k]
	switch {
	case f == nil:
		f = &flowNumber{}
		n.flows[k] = f
	case p.tcp.SYN && !p.tcp.ACK && f.haveBase[side] && f.base[side] != p.tcp.Seq:
		*f = flowNumber{}
	default:
		if !f.haveBase[side] {
			f.base[side], f.haveBase[side] = p.tcp.Seq, true
		}
		return Number{Stream: f.stream}
	}
	f.stream = n.next
	n.next++
	f.base[side], f.haveBase[side] = p.tcp.Seq, true
	return Number{Stream: f.stream, New: true}
}

// forget drops what is known of 4-tuple k: its next packet starts a new
// stream.
func (n *numbering) forget(k flowKey) { delete(n.flows, k) }
