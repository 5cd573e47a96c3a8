//go:build cgo

package capture

import (
	"fmt"
	"io"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
)

// Live captures packets from a network interface with libpcap. It
// implements [Source]; frames are numbered from 1 in arrival order.
// Next must not be called concurrently with itself, but Close may be
// called from another goroutine to end a Next that is waiting.
type Live struct {
	handle   *pcap.Handle
	linkType layers.LinkType
	info     Info
	last     int
}

// OpenLive starts a capture on opts.Interface. It usually needs root or
// CAP_NET_RAW (on Linux). The caller must Close the Live.
func OpenLive(opts LiveOptions) (*Live, error) {
	name := opts.Interface
	if name == "" {
		name = "any"
	}
	snaplen := opts.Snaplen
	if snaplen <= 0 {
		snaplen = defaultSnaplen
	}
	buffer := opts.BufferSize
	if buffer <= 0 {
		buffer = DefaultBufferSize
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = pcap.BlockForever
	}
	inactive, err := pcap.NewInactiveHandle(name)
	if err != nil {
		return nil, fmt.Errorf("live capture on %s: %w", name, err)
	}
	defer inactive.CleanUp()
	for _, set := range []func() error{
		func() error { return inactive.SetSnapLen(snaplen) },
		func() error { return inactive.SetPromisc(opts.Promisc) },
		func() error { return inactive.SetTimeout(timeout) },
		func() error { return inactive.SetBufferSize(buffer) },
		// No immediate mode: on Linux it makes libpcap use TPACKET_V2,
		// whose ring gives every packet a slot of the interface's largest
		// frame (128 KiB on a loopback: 256 packets in 32 MiB), where
		// TPACKET_V3 packs packets into blocks as they come (tens of
		// thousands). Packets then wait at most the read timeout (the
		// kernel hands over a block that is not full when it expires).
		func() error { return inactive.SetImmediateMode(false) },
	} {
		if err := set(); err != nil {
			return nil, fmt.Errorf("live capture on %s: %w", name, err)
		}
	}
	handle, err := inactive.Activate()
	if err != nil {
		return nil, fmt.Errorf("live capture on %s: %w", name, err)
	}
	if opts.Filter != "" {
		if err := handle.SetBPFFilter(opts.Filter); err != nil {
			handle.Close()
			return nil, fmt.Errorf("live capture on %s: filter %q: %w", name, opts.Filter, err)
		}
	}
	return &Live{
		handle:   handle,
		linkType: handle.LinkType(),
		info:     Info{Name: name, Format: "live"},
	}, nil
}

// Next waits for the next packet. Its Data is valid until the following
// call. Next returns an error wrapping ErrTimeout when LiveOptions.Timeout
// passes without a packet, and io.EOF once the Live is closed.
func (l *Live) Next() (Frame, error) {
	data, ci, err := l.handle.ZeroCopyReadPacketData()
	switch {
	case err == nil:
	case err == pcap.NextErrorTimeoutExpired:
		return Frame{}, fmt.Errorf("%s: %w", l.info.Name, ErrTimeout)
	case err == io.EOF:
		return Frame{}, io.EOF
	default:
		return Frame{}, fmt.Errorf("%s: after frame %d: %w", l.info.Name, l.last, err)
	}
	l.last++
	l.info.Packets++
	return Frame{
		Number:   l.last,
		Time:     ci.Timestamp.UTC(),
		LinkType: l.linkType,
		Data:     data[:len(data):len(data)],
		Length:   ci.Length,
	}, nil
}

// Info describes the capture: Name is the interface, Format "live".
func (l *Live) Info() Info {
	return l.info
}

// Close stops the capture. A Next waiting for a packet returns io.EOF.
func (l *Live) Close() error {
	l.handle.Close() // safe to repeat
	return nil
}

// LiveStats are the capture's packet counters, as libpcap keeps them
// (pcap_stats): Received by the filter, Dropped by the kernel for want of
// buffer room, IfDropped by the interface or its driver.
type LiveStats struct{ Received, Dropped, IfDropped int }

// Stats returns the capture's packet counters since it opened. It may be
// called from another goroutine than Next's.
func (l *Live) Stats() (LiveStats, error) {
	s, err := l.handle.Stats()
	if err != nil {
		return LiveStats{}, fmt.Errorf("capture statistics: %w", err)
	}
	return LiveStats{Received: s.PacketsReceived, Dropped: s.PacketsDropped, IfDropped: s.PacketsIfDropped}, nil
}
