package reassembly

import (
	"fmt"
	"time"

	"github.com/smtpscope/smtpscope/capture"
)

// Sharder splits a capture's frames between n Trackers by connection, for
// analysing on several cores: it decodes each frame, numbers its stream
// as one Tracker would, and picks the shard from a hash of the 4-tuple, so
// every frame of a connection goes to the same shard. Give each frame to
// its shard's Tracker with AddNumbered, and every shard Tick when Shard
// says so, and the shards together analyse the capture exactly as one
// Tracker would.
type Sharder struct {
	n     int
	dec   *decoder
	num   numbering
	stats Stats
	// nextTick is the capture time from which the next frame asks for a
	// tick to every shard, kept as Tracker.maybeFlush keeps its own.
	now, nextTick time.Time
}

// NewSharder returns a Sharder over n shards (n ≥ 1).
func NewSharder(n int) *Sharder {
	return &Sharder{n: max(n, 1), dec: newDecoder(), num: newNumbering(), nextTick: time.Time{}.Add(flushEvery)}
}

// Shard decodes f and returns the shard of its connection and its stream
// number; ok is false for a frame that is not TCP over IP (it belongs to
// no shard). tick is set when capture time has moved on enough that every
// shard should be told (Tracker.Tick with f.Time) after this frame. The
// only error is for a frame of a link type that is not decoded.
func (s *Sharder) Shard(f *capture.Frame) (shard int, n Number, ok, tick bool, err error) {
	s.stats.Frames++
	if f.Time.After(s.now) {
		s.now = f.Time
	}
	if !s.now.Before(s.nextTick) {
		tick = true
		s.nextTick = s.now.Add(flushEvery)
	}
	p, ok, err := s.dec.decode(f.LinkType, f.Data)
	if err != nil {
		s.stats.UnsupportedLink++
		return 0, n, false, tick, fmt.Errorf("frame %d: %w", f.Number, err)
	}
	if !ok {
		s.stats.OtherFrames++
		return 0, n, false, tick, nil
	}
	s.stats.TCPFrames++
	k, side := keyOf(p.src, p.dst)
	fl, fresh := s.num.flow(k)
	n = s.num.number(fl, fresh, side, &p)
	return int(k.hash() % uint64(s.n)), n, true, tick, nil
}

// Stats returns the frame counters: Frames, TCPFrames, OtherFrames and
// UnsupportedLink count what Shard saw; the shards' Trackers count the rest.
func (s *Sharder) Stats() Stats { return s.stats }

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
