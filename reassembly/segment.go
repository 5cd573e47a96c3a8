package reassembly

import "time"

// Segment is what the L4 analyser needs to know of one TCP packet.
type Segment struct {
	Frame int
	Time  time.Time
	// Dir is the sender's direction within the connection.
	Dir Direction
	// Seq and Ack are the raw (absolute) TCP sequence and acknowledgement numbers.
	Seq, Ack uint32
	// Len is the TCP payload length as sent (from the IP length), which may
	// exceed CapturedLen when the snaplen cut the packet.
	Len         int
	CapturedLen int
	// Flags.
	SYN, ACK, FIN, RST, PSH, URG, ECE, CWR bool
	// Window is the raw window field (not yet scaled).
	Window uint16
	// Options from the TCP header, valid on SYN segments: MSS (0 if absent),
	// WindowScale (-1 if absent), SACKPermitted; SACK is set on any segment
	// carrying SACK blocks, with the blocks' edges in SACKBlocks.
	MSS           int
	WindowScale   int
	SACKPermitted bool
	SACK          bool
	SACKBlocks    [][2]uint32
	// TTL is the IPv4 TTL or IPv6 hop limit.
	TTL uint8
}

// Flag is a bit set of Wireshark tcp.analysis.* flags for one segment.
type Flag uint32

// The flags Wireshark's TCP analysis sets, named after their tcp.analysis.*
// field (REFERENCE §1.1; epan/dissectors/packet-tcp.c).
const (
	FlagRetransmission Flag = 1 << iota
	FlagFastRetransmission
	FlagSpuriousRetransmission
	FlagOutOfOrder
	FlagLostSegment
	FlagAckLostSegment
	FlagDuplicateAck
	FlagZeroWindow
	FlagZeroWindowProbe
	FlagZeroWindowProbeAck
	FlagWindowFull
	FlagWindowUpdate
	FlagKeepAlive
	FlagKeepAliveAck
	FlagReusedPorts
)
