package reassembly

import "time"

// MaxEvidenceFrames is how many frame numbers a FlagCount, a zero-window
// or idle-gap list, or a reset list keeps: the first ones in capture order.
// Counts go on past it.
const MaxEvidenceFrames = 8

// FlagCount is how many frames carried one tcp.analysis flag, with the first
// MaxEvidenceFrames of them.
type FlagCount struct {
	// Count is how many frames carried the flag.
	Count int
	// Frames are the first MaxEvidenceFrames of them, in capture order.
	Frames []int
}

// Handshake is what the capture shows of the three-way handshake
// (RFC 9293 §3.5).
type Handshake struct {
	// SYN, SYNACK and ACK are the first SYN, the first SYN+ACK and the
	// first pure ACK after a SYN+ACK (Frame 0: not seen).
	SYN, SYNACK, ACK Mark
	// SYNRetries counts SYNs sent again with the same ISN; SYNACKRetries
	// the same for the SYN+ACK.
	SYNRetries, SYNACKRetries int
	// LastSYN is the last SYN sent (the first one if never retried).
	LastSYN Mark
	// RefusedBy is the RST that answered a SYN before any SYN+ACK
	// (Frame 0: none): a refused connection.
	RefusedBy Mark
	// InitialRTT is Wireshark's tcp.analysis.initial_rtt: from the most
	// recent SYN to the first ACK without SYN, in either direction. Zero
	// when the handshake was not captured.
	InitialRTT time.Duration
	// MSS, WindowScale and SACKPermitted are the options each side's SYN
	// carried, indexed by Direction (MSS 0 and WindowScale -1: absent or
	// SYN not captured).
	MSS           [2]int
	WindowScale   [2]int
	SACKPermitted [2]bool
	// Scaling tells how window fields are read, as Wireshark decides it:
	// ScalingUnknown when the SYNs were not both captured, ScalingNone when
	// either SYN lacked the option, ScalingOn when both carried it.
	Scaling Scaling
	// MidStream is true when the first captured segment was not a SYN: the
	// capture picked the connection up after it opened.
	MidStream bool
	// Opener is the side that sent the first SYN (ClientToServer when no
	// SYN was captured).
	Opener Direction
	// NewISNSYNs counts SYNs with another initial sequence number on this
	// connection's ports: a new connection the flow table did not split
	// (Wireshark's reused_ports).
	NewISNSYNs int
	// State is what became of the handshake, as far as the capture shows.
	State HandshakeState
}

// HandshakeState names what the capture shows of a connection's opening.
type HandshakeState int

const (
	// HandshakeNotCaptured: no SYN was captured (the capture started
	// mid-stream, or lost it).
	HandshakeNotCaptured HandshakeState = iota
	// HandshakeAnswered: a SYN and its SYN+ACK were captured.
	HandshakeAnswered
	// HandshakeRefused: the SYN was answered by a RST before any SYN+ACK
	// (Handshake.RefusedBy): nothing listens, or a firewall rejects it.
	HandshakeRefused
	// HandshakeUnanswered: SYN(s) with no SYN+ACK, no packet from the
	// other side and no data from the opener: a connect timeout.
	HandshakeUnanswered
	// HandshakeSYNACKNotCaptured: no SYN+ACK was captured, yet the other
	// side sent segments: the capture missed it.
	HandshakeSYNACKNotCaptured
	// HandshakeOpenerOnly: no SYN+ACK and nothing else from the other
	// side, yet the opener sent data: a capture of one direction only.
	HandshakeOpenerOnly
)

// String names the state in a few words.
func (s HandshakeState) String() string {
	switch s {
	case HandshakeAnswered:
		return "answered"
	case HandshakeRefused:
		return "refused"
	case HandshakeUnanswered:
		return "unanswered"
	case HandshakeSYNACKNotCaptured:
		return "syn-ack-not-captured"
	case HandshakeOpenerOnly:
		return "opener-only"
	}
	return "not-captured"
}

// Scaling is what the handshake tells about RFC 7323 window scaling.
type Scaling int

const (
	// ScalingUnknown: the handshake was not (fully) captured, so windows
	// cannot be scaled; Wireshark then skips tcp.analysis.window_full.
	ScalingUnknown Scaling = iota
	// ScalingNone: a SYN lacked the option, so windows are not scaled.
	ScalingNone
	// ScalingOn: both SYNs carried the option.
	ScalingOn
)

// String returns "unknown", "none" or "on".
func (s Scaling) String() string {
	switch s {
	case ScalingNone:
		return "none"
	case ScalingOn:
		return "on"
	}
	return "unknown"
}

// ResetKind names the circumstances of a RST, checked in the order of the
// constants: the first that applies is the RST's Kind.
type ResetKind int

const (
	// ResetRefusal: the RST answered a SYN (Handshake.RefusedBy).
	ResetRefusal ResetKind = iota
	// ResetClosing: a side had already sent a FIN; the RST ends a closing
	// connection, which is usually harmless.
	ResetClosing
	// ResetOddTTL: the RST's TTL lies outside the range of its side's
	// other packets, so a middlebox probably forged it.
	ResetOddTTL
	// ResetSenderContinued: its supposed sender went on sending after it,
	// which a host whose stack reset the connection never does (Zeek's
	// data_after_reset): probably forged.
	ResetSenderContinued
	// ResetDataInFlight: bytes of either side were unacknowledged.
	ResetDataInFlight
	// ResetAfterData: data had flowed, all of it acknowledged, and
	// neither side had closed.
	ResetAfterData
	// ResetBeforeData: no data had flowed yet.
	ResetBeforeData
)

// String names the kind in a few words.
func (k ResetKind) String() string {
	switch k {
	case ResetRefusal:
		return "refusal"
	case ResetClosing:
		return "closing"
	case ResetOddTTL:
		return "odd-ttl"
	case ResetSenderContinued:
		return "sender-continued"
	case ResetDataInFlight:
		return "data-in-flight"
	case ResetAfterData:
		return "after-data"
	}
	return "before-data"
}

// Reset is one RST segment.
type Reset struct {
	Mark
	// Kind is the first of the ResetKind circumstances that applies.
	Kind ResetKind
	// TTL is the RST's IPv4 TTL or IPv6 hop limit.
	TTL uint8
	// Injected is set when the RST probably came from a middlebox forging
	// that side, not from the host: its TTL lies outside the range of the
	// side's other packets (OddTTL), or the side went on sending after it
	// (SenderContinued), which a host whose stack reset the connection
	// never does (Zeek's data_after_reset).
	Injected        bool
	OddTTL          bool
	SenderContinued bool
	// DataInFlight is set when, as the RST was sent, bytes sent by either
	// side were not yet acknowledged.
	DataInFlight bool
	// AfterFIN is set when the RST's sender had already sent a FIN, and
	// PeerFIN when the other side had.
	AfterFIN, PeerFIN bool
	// SinceData is the time from the last segment with payload (either
	// side) to the RST; zero if no data was sent.
	SinceData time.Duration
}

// RTTStats summarises round-trip samples: the time from a data segment to
// the ACK that covers exactly its end (Wireshark's tcp.analysis.ack_rtt),
// skipping retransmitted segments (Karn's rule).
type RTTStats struct {
	// Samples is how many round trips were measured.
	Samples int
	// Min, Median and Max are over the samples (the median of a uniform
	// reservoir of them; all zero without samples).
	Min, Median, Max time.Duration
}

// Gap is a time between two consecutive packets of a connection.
type Gap struct {
	// From is the packet before the silence, To the one that ended it.
	From, To Mark
}

// Duration returns how long the gap lasted.
func (g Gap) Duration() time.Duration { return g.To.Time.Sub(g.From.Time) }

// Side is what one peer sent, indexed in Health.Sides by Direction.
type Side struct {
	// Segments counts all segments; DataSegments those with payload.
	Segments, DataSegments int
	// Bytes is the payload sent, as on the wire (sum of tcp.len, including
	// retransmissions); LargestSegment the largest tcp.len.
	Bytes          int64
	LargestSegment int
	// Truncated counts segments whose captured payload is shorter than
	// sent (snaplen), and TruncatedBytes the payload missing from the
	// capture file for that reason.
	Truncated      int
	TruncatedBytes int64
	// FIN is the first FIN this side sent (Frame 0: none).
	FIN Mark
	// Resets lists the first MaxEvidenceFrames RSTs this side sent;
	// ResetCount counts all of them.
	Resets     []Reset
	ResetCount int
	// TTLMin and TTLMax span the TTLs of this side's packets other than
	// RSTs (both 0 if none).
	TTLMin, TTLMax uint8
	// ZeroWindowTime is how long this side advertised a zero receive
	// window in total; LongestZeroWindow the longest single stretch. A
	// stretch still open at the last packet counts up to that packet.
	ZeroWindowTime, LongestZeroWindow time.Duration
	// RTT samples for data this side sent.
	RTT RTTStats
	// UnseenBytes counts the bytes this side sent that the peer
	// acknowledged but the capture never held: capture loss, not network
	// loss (after a network loss the capture holds the original and its
	// retransmission). Sequence space acknowledged before the side's first
	// captured segment is not counted.
	UnseenBytes int64
	// DSACKed counts this side's retransmissions that the peer reported
	// with a D-SACK block (RFC 2883) as duplicates: the original had
	// arrived, so they were needless, not signs of loss.
	DSACKed int
	// Duplicates counts this side's frames that repeat an earlier frame
	// exactly (sequence and acknowledgement numbers, length, flags,
	// window, IPv4 ID and TCP timestamp; without either of the last two,
	// within less than a millisecond): one packet captured twice, on both members of
	// a bond or at two points, not sent twice. DuplicateRetransmissions of
	// them carry the retransmission flag (and not the spurious one), as
	// Wireshark marks such a copy: they are no sign of loss.
	Duplicates, DuplicateRetransmissions int
}

// Health is the L4 summary of one connection, from the Analyzer: counts,
// frames, flags and named conditions (HandshakeState, ResetKind), never a
// verdict or a sentence, which are package report's.
type Health struct {
	// Retransmissions counts frames Wireshark marks
	// tcp.analysis.retransmission (including fast and spurious ones, and
	// retransmitted SYNs).
	Retransmissions int
	// Resets counts frames with RST set.
	Resets int
	// ZeroWindows counts frames marked tcp.analysis.zero_window.
	ZeroWindows int

	// One count per tcp.analysis flag, named after the field.
	Retransmission, FastRetransmission, SpuriousRetransmission FlagCount
	OutOfOrder, LostSegment, AckLostSegment, DuplicateAck      FlagCount
	ZeroWindow, ZeroWindowProbe, ZeroWindowProbeAck            FlagCount
	WindowFull, WindowUpdate, KeepAlive, KeepAliveAck          FlagCount
	// SYNRetransmissions counts the retransmission flags on SYN segments
	// (told by Handshake.SYNRetries, not loss of data).
	SYNRetransmissions int
	// LinuxZeroWindowProbes counts keep-alives sent while the peer's window
	// was zero: Linux probes a closed window with a segment tshark 4.0
	// labels tcp.analysis.keep_alive (REFERENCE §4).
	LinuxZeroWindowProbes int

	// Handshake is what the capture shows of the connection's opening.
	Handshake Handshake
	// Sides is what each peer sent, indexed by Direction.
	Sides [2]Side

	// Packets counts all segments; First and Last are the first and last.
	Packets     int
	First, Last Mark
	// IdleGaps lists the first MaxEvidenceFrames gaps longer than
	// IdleThreshold between consecutive packets; IdleGapCount counts them
	// all and LongestGap is the longest of them.
	IdleGaps     []Gap
	IdleGapCount int
	LongestGap   Gap
	// IdleThreshold is the gap from which IdleGaps lists one.
	IdleThreshold time.Duration
}

// Count returns the FlagCount for one flag (zero for FlagReusedPorts or a
// combination of flags).
func (h *Health) Count(f Flag) FlagCount {
	if p := h.flagCount(f); p != nil {
		return *p
	}
	return FlagCount{}
}

func (h *Health) flagCount(f Flag) *FlagCount {
	switch f {
	case FlagRetransmission:
		return &h.Retransmission
	case FlagFastRetransmission:
		return &h.FastRetransmission
	case FlagSpuriousRetransmission:
		return &h.SpuriousRetransmission
	case FlagOutOfOrder:
		return &h.OutOfOrder
	case FlagLostSegment:
		return &h.LostSegment
	case FlagAckLostSegment:
		return &h.AckLostSegment
	case FlagDuplicateAck:
		return &h.DuplicateAck
	case FlagZeroWindow:
		return &h.ZeroWindow
	case FlagZeroWindowProbe:
		return &h.ZeroWindowProbe
	case FlagZeroWindowProbeAck:
		return &h.ZeroWindowProbeAck
	case FlagWindowFull:
		return &h.WindowFull
	case FlagWindowUpdate:
		return &h.WindowUpdate
	case FlagKeepAlive:
		return &h.KeepAlive
	case FlagKeepAliveAck:
		return &h.KeepAliveAck
	}
	return nil
}
