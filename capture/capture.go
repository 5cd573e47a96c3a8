package capture

import (
	"errors"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Sentinel errors. Callers test them with errors.Is; the messages returned by
// this package wrap them with the input's name and what was expected.
var (
	// ErrNotCapture means the input's first bytes match no capture format
	// this package reads.
	ErrNotCapture = errors.New("not a capture file")
	// ErrTruncated means the input ends in the middle of a packet record.
	// Every frame before the cut has been returned.
	ErrTruncated = errors.New("capture file truncated")
)

// Frame is one captured packet as the rest of smtpscope sees it.
type Frame struct {
	// Number is the 1-based index of the packet within its input, the
	// number Wireshark shows in its "No." column.
	Number int
	// Input is the index of the input the frame came from (0 for the first).
	Input int
	// Time is the capture timestamp of the packet (never wall-clock time).
	Time time.Time
	// LinkType is the link-layer encapsulation of Data.
	LinkType layers.LinkType
	// Data holds the captured bytes. It is only valid until the next call
	// to Next on the source that returned it.
	Data []byte
	// Length is the packet's original length on the wire; it exceeds
	// len(Data) when the capture's snaplen cut the packet short.
	Length int
	// Process is the program that sent or received the frame when the
	// format records it per frame (the process table index in a Network
	// Monitor 2.2+ record trailer); nil otherwise.
	Process *Process
}

// Info describes one input after (or while) it is read.
type Info struct {
	// Name is the name the input was opened under ("-" for standard input).
	Name string
	// Format names the file format: "pcap", "pcap-ns", "pcapng", "netmon2",
	// "netmon1", optionally suffixed "+gzip"; "live" for a live capture.
	Format string
	// Packets counts the frames returned so far.
	Packets int
	// Truncated is set once the input was found to end mid-record.
	Truncated bool
	// Skipped counts records that were read but carry no packet, such as
	// Network Monitor metadata frames.
	Skipped int
}

// Source yields frames in order. Next returns io.EOF after the last frame;
// an error wrapping ErrTruncated when the input is cut mid-record (every
// earlier frame has been returned); any other error means the input is
// damaged from that point on. A live source also returns errors wrapping
// ErrTimeout when no packet came for a while; Next may then be called
// again.
type Source interface {
	Next() (Frame, error)
}
