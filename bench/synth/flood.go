package synth

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
)

// Flood is a kind of load that no mail hub sees on a good day, for
// measuring how smtpscope sheds it: many connections that each cost the
// analyser a tracked connection and never end.
type Flood int

const (
	// FloodSYN is a SYN flood from spoofed sources: each connection is a
	// SYN from a new address and port, answered by one SYN-ACK that is
	// never acknowledged (half-open, as a server with SYN cookies leaves it).
	FloodSYN Flood = iota + 1
	// FloodIdleEHLO is a slow client holding sessions open: each
	// connection completes the handshake, gets the banner, says EHLO, gets
	// the 250 reply and then sends nothing more until the capture ends.
	FloodIdleEHLO
)

// String names the flood as smtpgen's --flood flag does.
func (f Flood) String() string {
	switch f {
	case FloodSYN:
		return "syn"
	case FloodIdleEHLO:
		return "idle-ehlo"
	}
	return fmt.Sprintf("Flood(%d)", int(f))
}

// ParseFlood returns the Flood that String names.
func ParseFlood(s string) (Flood, error) {
	for _, f := range []Flood{FloodSYN, FloodIdleEHLO} {
		if f.String() == s {
			return f, nil
		}
	}
	return 0, fmt.Errorf("unknown flood %q (want syn or idle-ehlo)", s)
}

// FloodOptions configures WriteFlood. The zero value of each field but
// Kind means its default.
type FloodOptions struct {
	Kind Flood
	// Connections is how many connections the flood opens (zero:
	// DefaultFloodConnections).
	Connections int
	// Duration spreads the connections' starts evenly over this much
	// capture time (zero: DefaultFloodDuration).
	Duration time.Duration
	// Seed selects the sources' addresses, ports and sequence numbers.
	Seed uint64
	// Start is the capture time of the first frame (zero: DefaultStart).
	Start time.Time
}

// Defaults of FloodOptions, the sizes of the floods issue 14 measured.
const (
	DefaultFloodConnections = 200_000
	DefaultFloodDuration    = 100 * time.Second
)

// FloodServer is the server every flood connection goes to.
var FloodServer = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, 0, 10}), smtpPort)

// floodRTT is the time from a client's segment to the server's answer at
// the capture point (the hub, beside the server).
const floodRTT = 200 * time.Microsecond

// WriteFlood writes a flood of o.Kind to pw in capture-time order and
// returns what it wrote. Memory stays flat whatever o.Connections: each
// connection's frames are written before the next one starts, except for
// the idle-EHLO sessions' later frames, which follow within floodRTT
// multiples and are interleaved through a small fixed window.
func WriteFlood(pw PacketWriter, o FloodOptions) (Stats, error) {
	if o.Connections <= 0 {
		o.Connections = DefaultFloodConnections
	}
	if o.Duration <= 0 {
		o.Duration = DefaultFloodDuration
	}
	if o.Start.IsZero() {
		o.Start = DefaultStart
	}
	var st Stats
	r := rand.New(rand.NewPCG(o.Seed, 0xf100d))
	buf := make([]byte, headerRoom+64)
	server := FloodServer
	serverMAC := [6]byte{0x02, 0x00, 0x5e, 0x00, 0x01, 0x00}
	step := o.Duration / time.Duration(o.Connections)
	// tick spaces one connection's frames, all within step, so that
	// connections never interleave and frames stay in time order.
	tick := max(min(step/8, floodRTT), 1)
	write := func(t time.Duration, s *segment, payload []byte) error {
		data := assemble(buf, s, payload)
		st.Frames++
		st.Bytes += int64(len(data))
		if t > st.Duration {
			st.Duration = t
		}
		ci := gopacket.CaptureInfo{Timestamp: o.Start.Add(t), CaptureLength: len(data), Length: len(data)}
		return pw.WritePacket(ci, data)
	}
	banner := []byte("220 mx1.example.net ESMTP\r\n")
	ehlo := []byte("EHLO slow.example.org\r\n")
	ehloReply := []byte("250-mx1.example.net\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
	for i := 0; i < o.Connections; i++ {
		// Sources in 198.18.0.0/15 (RFC 2544), a new address and port each.
		a := uint32(198)<<24 | 18<<16 | uint32(i+1)&0x1ffff
		client := netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}),
			uint16(ephemeralLow+r.IntN(ephemeralHigh-ephemeralLow)))
		cseq, sseq := r.Uint32(), r.Uint32()
		t0 := time.Duration(i) * step
		c2s := segment{srcMAC: routerMAC, dstMAC: serverMAC, src: client, dst: server, ttl: 50,
			ipID: uint16(r.Uint32()), window: 64240, mss: mss, wscale: 7, padded: true}
		s2c := segment{srcMAC: serverMAC, dstMAC: routerMAC, src: server, dst: client, ttl: 64,
			ipID: uint16(r.Uint32()), window: 65160, mss: mss, wscale: 7}
		c2s.seq, c2s.flags = cseq, flagSYN
		if err := write(t0, &c2s, nil); err != nil {
			return st, err
		}
		s2c.seq, s2c.ack, s2c.flags = sseq, cseq+1, flagSYN|flagACK
		if err := write(t0+tick/2, &s2c, nil); err != nil {
			return st, err
		}
		st.Sessions++
		if o.Kind == FloodSYN {
			continue
		}
		at := t0
		cseq, sseq = cseq+1, sseq+1
		for _, p := range []struct {
			fromClient bool
			flags      uint8
			payload    []byte
		}{
			{true, flagACK, nil},
			{false, flagACK | flagPSH, banner},
			{true, flagACK, nil},
			{true, flagACK | flagPSH, ehlo},
			{false, flagACK | flagPSH, ehloReply},
			{true, flagACK, nil},
		} {
			at += tick
			seg := &s2c
			if p.fromClient {
				seg = &c2s
			}
			seg.ipID++
			seg.flags = p.flags
			if p.fromClient {
				seg.seq, seg.ack = cseq, sseq
				cseq += uint32(len(p.payload))
			} else {
				seg.seq, seg.ack = sseq, cseq
				sseq += uint32(len(p.payload))
			}
			seg.window = 502
			if err := write(at, seg, p.payload); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}
