package reassembly

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/smtpscope/smtpscope/capture"
)

// Sharder splits a capture's frames between n Trackers by connection, for
// analysing on several cores: every frame of a 4-tuple goes to the same
// shard (a fixed hash of the 4-tuple), frames that are not TCP to shard
// 0. It reads the addresses and ports straight from the common headers
// (Ethernet, 802.1Q, IPv4, IPv6) and decodes other frames fully, so that
// the reading goroutine does little. Each shard's Tracker numbers its
// streams on its own (Options.NewStream tells in which frames streams
// start; see StreamNumbers for one numbering over all shards), and must be
// told the capture time (Tracker.Tick) when Shard says so, so that the
// shards flush and retire exactly when one Tracker would.
type Sharder struct {
	n   int
	dec *decoder
	// nextTick is the capture time from which the next frame asks for a
	// tick to every shard, kept as Tracker.maybeFlush keeps its own.
	now, nextTick time.Time
}

// NewSharder returns a Sharder over n shards (n ≥ 1).
func NewSharder(n int) *Sharder {
	return &Sharder{n: max(n, 1), dec: newDecoder(), nextTick: time.Time{}.Add(flushEvery)}
}

// Shard returns the shard of frame f. tick is set when capture time has
// moved on enough that every shard should be told (Tracker.Tick with
// f.Time) after this frame.
func (s *Sharder) Shard(f *capture.Frame) (shard int, tick bool) {
	if f.Time.After(s.now) {
		s.now = f.Time
	}
	if !s.now.Before(s.nextTick) {
		tick = true
		s.nextTick = s.now.Add(flushEvery)
	}
	src, dst, ok := headerAddrs(f.LinkType, f.Data)
	if !ok {
		p, isTCP, _ := s.dec.decode(f.LinkType, f.Data)
		if !isTCP {
			return 0, tick
		}
		src, dst = p.src, p.dst
	}
	k, _ := keyOf(src, dst)
	return int(k.hash() % uint64(s.n)), tick
}

// headerAddrs reads a TCP segment's addresses and ports from an Ethernet
// frame (with any 802.1Q tags) carrying IPv4 without fragmentation or
// IPv6 without extension headers; ok is false for anything else, which
// the decoder then decides.
func headerAddrs(lt layers.LinkType, b []byte) (src, dst netip.AddrPort, ok bool) {
	if lt != layers.LinkTypeEthernet || len(b) < 14 {
		return src, dst, false
	}
	etherType, off := binary.BigEndian.Uint16(b[12:]), 14
	for etherType == 0x8100 || etherType == 0x88a8 {
		if len(b) < off+4 {
			return src, dst, false
		}
		etherType, off = binary.BigEndian.Uint16(b[off+2:]), off+4
	}
	ip := b[off:]
	var sa, da netip.Addr
	switch etherType {
	case 0x0800:
		if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != 6 {
			return src, dst, false
		}
		ihl := int(ip[0]&0x0f) * 4
		if ihl < 20 || ihl > len(ip) || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 { // MF flag or fragment offset
			return src, dst, false
		}
		sa, da = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		ip = ip[ihl:]
	case 0x86dd:
		if len(ip) < 40 || ip[0]>>4 != 6 || ip[6] != 6 {
			return src, dst, false
		}
		sa, da = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
		ip = ip[40:]
	default:
		return src, dst, false
	}
	if len(ip) < 4 {
		return src, dst, false
	}
	return netip.AddrPortFrom(sa, binary.BigEndian.Uint16(ip)), netip.AddrPortFrom(da, binary.BigEndian.Uint16(ip[2:])), true
}

// hash mixes a 4-tuple's words (splitmix64's finaliser on each), the
// same on every run so that a shard's work can be reproduced.
func (k flowKey) hash() uint64 {
	h := uint64(0x9e3779b97f4a7c15)
	for _, v := range [6]uint64{k.lo.ip0, k.lo.ip1, k.lo.port, k.hi.ip0, k.hi.ip1, k.hi.port} {
		h ^= v
		h ^= h >> 30
		h *= 0xbf58476d1ce4e5b9
		h ^= h >> 27
		h *= 0x94d049bb133111eb
		h ^= h >> 31
	}
	return h
}

// StreamNumbers turns the stream numbers of several shards' Trackers into
// the ones a single Tracker would give: streams are numbered in the order
// of their first frames, so a stream's number is how many streams of any
// shard started before it. Tell it each shard's stream starts in order
// (Start, from Options.NewStream) and how far each shard has got
// (Reached); Number answers once every shard has got past the stream's
// start.
type StreamNumbers struct {
	starts  [][]int // per shard, the first frame of each local stream
	reached []int   // per shard, the frame number up to which it is done
}

// NewStreamNumbers returns the numbering over n shards.
func NewStreamNumbers(n int) *StreamNumbers {
	return &StreamNumbers{starts: make([][]int, n), reached: make([]int, n)}
}

// Start records that shard's next stream (its local number is the count
// of Start calls for the shard before) starts at frame.
func (s *StreamNumbers) Start(shard, frame int) { s.starts[shard] = append(s.starts[shard], frame) }

// Reached records that shard has handled every frame up to frame (use
// math.MaxInt when it has finished).
func (s *StreamNumbers) Reached(shard, frame int) { s.reached[shard] = max(s.reached[shard], frame) }

// Number returns the global stream number of shard's local stream, or
// ok=false while some shard may still start a stream before it.
func (s *StreamNumbers) Number(shard, local int) (global int, ok bool) {
	if local < 0 || local >= len(s.starts[shard]) {
		return 0, false
	}
	first := s.starts[shard][local]
	for w, r := range s.reached {
		if w != shard && r < first {
			return 0, false
		}
	}
	for _, starts := range s.starts {
		global += countBelow(starts, first)
	}
	return global, true
}

// countBelow counts the frames in the increasing list below frame.
func countBelow(frames []int, frame int) int {
	lo, hi := 0, len(frames)
	for lo < hi {
		m := (lo + hi) / 2
		if frames[m] < frame {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}
