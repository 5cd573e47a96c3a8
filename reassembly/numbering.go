package reassembly

// numbering gives TCP packets their tcp.stream numbers as Wireshark does:
// in order of first packet, a new number for a new 4-tuple and, on a
// 4-tuple already numbered, for a SYN (without ACK) whose sequence number
// differs from the first one seen in that direction. It remembers every
// 4-tuple it numbered until told to forget it, so that a connection
// retired from memory keeps its number if packets come on it later. Its
// table is also the Tracker's flow table: one map lookup per packet.
type numbering struct {
	next  int
	flows map[flowKey]*flow
	// lastKey and last are the entry found for the previous packet (last
	// nil: none): most packets follow one of the same 4-tuple, and
	// comparing the 48-byte key costs less than hashing it.
	lastKey flowKey
	last    *flow
}

// flow is what is kept of a 4-tuple: its current stream, the first
// sequence number seen per side (side 0 is the key's lower endpoint), and
// the Conn in memory for it (nil once retired, or in a Sharder).
type flow struct {
	stream   int
	base     [2]uint32
	haveBase [2]bool
	conn     *Conn
}

// streamNumber is a packet's tcp.stream and whether the packet starts it.
type streamNumber struct {
	Stream int
	New    bool
}

func newNumbering() numbering { return numbering{flows: make(map[flowKey]*flow)} }

// flow returns the entry of 4-tuple k, made if new (fresh reports that).
func (n *numbering) flow(k flowKey) (f *flow, fresh bool) {
	if n.last != nil && k == n.lastKey {
		return n.last, false
	}
	f = n.flows[k]
	if f == nil {
		f = &flow{}
		n.flows[k] = f
		fresh = true
	}
	n.lastKey, n.last = k, f
	return f, fresh
}

// number returns the stream of packet p, which was sent by side of the
// 4-tuple whose entry is f.
func (n *numbering) number(f *flow, fresh bool, side int, p *packet) streamNumber {
	if !fresh {
		if !(p.tcp.SYN && !p.tcp.ACK && f.haveBase[side] && f.base[side] != p.tcp.Seq) {
			if !f.haveBase[side] {
				f.base[side], f.haveBase[side] = p.tcp.Seq, true
			}
			return streamNumber{Stream: f.stream}
		}
		f.base, f.haveBase = [2]uint32{}, [2]bool{}
	}
	f.stream = n.next
	n.next++
	f.base[side], f.haveBase[side] = p.tcp.Seq, true
	return streamNumber{Stream: f.stream, New: true}
}

// forget drops what is known of 4-tuple k: its next packet starts a new
// stream.
func (n *numbering) forget(k flowKey) {
	delete(n.flows, k)
	if n.last != nil && k == n.lastKey {
		n.last = nil
	}
}
