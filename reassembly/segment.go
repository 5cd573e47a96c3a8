package reassembly

import (
	"strings"
	"time"
)

// Segment is what the L4 analyser needs to know of one TCP packet. The flow
// table builds one per TCP packet and hands it to the connection's Analyzer.
type Segment struct {
	// Frame is the 1-based frame number in the capture (Wireshark's
	// frame.number) and Time its capture time.
	Frame int
	Time  time.Time
	// Dir is the sender's direction within the connection.
	Dir Direction
	// Seq and Ack are the raw (absolute) TCP sequence and acknowledgement
	// numbers. Ack is taken as it is on the wire even when the ACK flag is
	// clear, as Wireshark does.
	Seq, Ack uint32
	// Len is the TCP payload length as sent (IP length minus headers;
	// Wireshark's tcp.len), which may exceed CapturedLen when the snaplen
	// cut the packet.
	Len         int
	CapturedLen int
	// Flags.
	SYN, ACK, FIN, RST, PSH, URG, ECE, CWR bool
	// Window is the raw window field (not yet scaled).
	Window uint16
	// Options from the TCP header, valid on SYN segments: MSS (0 if absent),
	// WindowScale (the shift count, -1 if absent), SACKPermitted; SACK is
	// set on any segment carrying SACK blocks, with the blocks' edges in
	// SACKBlocks.
	MSS           int
	WindowScale   int
	SACKPermitted bool
	SACK          bool
	SACKBlocks    [][2]uint32
	// TTL is the IPv4 TTL or IPv6 hop limit.
	TTL uint8
	// IPID is the IPv4 identification field (zero for IPv6), and TSval
	// the TCP timestamp option's value, when HasTS: a retransmission
	// changes them, a frame captured twice does not.
	IPID  uint16
	TSval uint32
	HasTS bool
}

// Flag is a bit set of Wireshark tcp.analysis.* flags for one segment.
type Flag uint32

// The flags Wireshark's TCP analysis sets, named after their tcp.analysis.*
// field (REFERENCE §1.1; epan/dissectors/packet-tcp.c,
// tcp_analyze_sequence_number). As in Wireshark, where the field
// tcp.analysis.retransmission is present on fast and spurious
// retransmissions too, the Analyzer sets FlagRetransmission together with
// FlagFastRetransmission and FlagSpuriousRetransmission.
const (
	// FlagRetransmission is tcp.analysis.retransmission: the segment carries
	// data (or SYN/FIN) below the highest sequence number already seen.
	FlagRetransmission Flag = 1 << iota
	// FlagFastRetransmission is tcp.analysis.fast_retransmission: a
	// retransmission of the sequence number the peer has duplicate-ACKed at
	// least twice, within 20 ms of its last ACK.
	FlagFastRetransmission
	// FlagSpuriousRetransmission is tcp.analysis.spurious_retransmission:
	// data the peer had already acknowledged.
	FlagSpuriousRetransmission
	// FlagOutOfOrder is tcp.analysis.out_of_order: an older segment that
	// came within the out-of-order threshold (the initial RTT, or 3 ms) of
	// the highest one.
	FlagOutOfOrder
	// FlagLostSegment is tcp.analysis.lost_segment ("previous segment(s) not
	// captured"): the segment starts beyond the next expected sequence
	// number.
	FlagLostSegment
	// FlagAckLostSegment is tcp.analysis.ack_lost_segment ("ACKed segment
	// that wasn't captured"): the ACK covers bytes never seen.
	FlagAckLostSegment
	// FlagDuplicateAck is tcp.analysis.duplicate_ack.
	FlagDuplicateAck
	// FlagZeroWindow is tcp.analysis.zero_window.
	FlagZeroWindow
	// FlagZeroWindowProbe is tcp.analysis.zero_window_probe.
	FlagZeroWindowProbe
	// FlagZeroWindowProbeAck is tcp.analysis.zero_window_probe_ack.
	FlagZeroWindowProbeAck
	// FlagWindowFull is tcp.analysis.window_full.
	FlagWindowFull
	// FlagWindowUpdate is tcp.analysis.window_update.
	FlagWindowUpdate
	// FlagKeepAlive is tcp.analysis.keep_alive.
	FlagKeepAlive
	// FlagKeepAliveAck is tcp.analysis.keep_alive_ack.
	FlagKeepAliveAck
	// FlagReusedPorts is tcp.analysis.reused_ports. The Analyzer never sets
	// it: the flow table does, when a SYN with a new ISN opens a new
	// connection on a known 4-tuple.
	FlagReusedPorts
)

// flagNames are the tcp.analysis.* field names, in bit order.
var flagNames = [...]string{
	"retransmission",
	"fast_retransmission",
	"spurious_retransmission",
	"out_of_order",
	"lost_segment",
	"ack_lost_segment",
	"duplicate_ack",
	"zero_window",
	"zero_window_probe",
	"zero_window_probe_ack",
	"window_full",
	"window_update",
	"keep_alive",
	"keep_alive_ack",
	"reused_ports",
}

// Name returns the tcp.analysis field name of a single flag
// ("retransmission", "duplicate_ack", …), or "" if f is not exactly one
// known flag.
func (f Flag) Name() string {
	for i, n := range flagNames {
		if f == 1<<i {
			return n
		}
	}
	return ""
}

// String lists the set flags by field name, joined with "|".
func (f Flag) String() string {
	if f == 0 {
		return "none"
	}
	var b strings.Builder
	for i, n := range flagNames {
		if f&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte('|')
			}
			b.WriteString(n)
		}
	}
	return b.String()
}
