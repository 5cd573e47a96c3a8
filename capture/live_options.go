package capture

import (
	"errors"
	"time"
)

// ErrTimeout is returned (wrapped) by a live source's Next when no packet
// arrived within LiveOptions.Timeout. It ends nothing: the caller can do
// its periodic work, such as expiring idle connections, and call Next
// again.
var ErrTimeout = errors.New("no packet before the read timeout")

// LiveOptions configures OpenLive. The zero value captures every packet,
// whole, on all interfaces ("any", Linux only), without promiscuous mode,
// and Next waits for packets without a timeout.
type LiveOptions struct {
	// Interface is the interface to capture on, e.g. "eth0"; "" means
	// "any", the pseudo-interface of Linux that captures on all of them.
	Interface string
	// Filter is a BPF filter in tcpdump syntax, e.g. "tcp port 25";
	// "" keeps every packet.
	Filter string
	// Snaplen is the number of bytes kept of each packet; 0 means
	// 262144, enough for any packet.
	Snaplen int
	// Promisc puts the interface in promiscuous mode, to see traffic not
	// addressed to this host.
	Promisc bool
	// BufferSize is the size in bytes of the kernel buffer that holds
	// packets until they are read; 0 means DefaultBufferSize. A packet
	// that finds it full is dropped (counted in LiveStats.Dropped).
	BufferSize int
	// Timeout bounds how long Next waits for a packet before it returns
	// an error wrapping ErrTimeout; 0 means Next waits until a packet
	// arrives or the source is closed.
	Timeout time.Duration
}

// defaultSnaplen is the snap length used when LiveOptions.Snaplen is 0:
// libpcap's MAXIMUM_SNAPLEN.
const defaultSnaplen = 262144

// DefaultBufferSize is the kernel buffer size used when
// LiveOptions.BufferSize is 0: 32 MiB, about a second of a busy hub's
// traffic. libpcap's own default, 2 MiB, held on Linux in immediate mode
// (TPACKET_V2, a ring slot per packet sized for the 64 KiB MTU of a
// loopback) as few as 16 packets, fewer than one short SMTP session sends
// in a millisecond: a reader descheduled that long lost packets. OpenLive
// uses TPACKET_V3, which packs packets into the buffer as they come.
const DefaultBufferSize = 32 << 20
