package reassembly

import (
	"math/rand/v2"
	"testing"
	"time"
)

// refDuplicate is the copy check as it was before the sequence and
// acknowledgement numbers were kept apart (sideRecord.recentKeys): the
// whole signature of each recent segment, compared in order.
type refDuplicate struct {
	recent [duplicateMemory]struct {
		seq, ack, tsval uint32
		len             int
		window, ipID    uint16
		flags           uint8
		hasTS           bool
		ns              int64
	}
	n int
}

func (r *refDuplicate) duplicate(s *Segment, now int64) bool {
	for i := range min(r.n, duplicateMemory) {
		x := &r.recent[i]
		if x.seq != s.Seq || x.ack != s.Ack || x.len != s.Len || x.tsval != s.TSval || x.window != s.Window ||
			x.ipID != s.IPID || x.flags != flagBits(s) || x.hasTS != s.HasTS {
			continue
		}
		if !s.HasTS && s.IPID == 0 && since(now, x.ns) >= time.Duration(duplicateWindow) {
			continue
		}
		return true
	}
	x := &r.recent[r.n%duplicateMemory]
	x.seq, x.ack, x.tsval, x.len, x.window, x.ipID = s.Seq, s.Ack, s.TSval, s.Len, s.Window, s.IPID
	x.flags, x.hasTS, x.ns = flagBits(s), s.HasTS, now
	r.n++
	return false
}

// TestDuplicateAgrees: on random segments drawn from a few values of
// every field (zero sequence and acknowledgement numbers included, which
// an unused slot also holds), copies near and far in time, the copy check
// tells the copies the whole-signature check tells.
func TestDuplicateAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	pick := func(vals ...uint32) uint32 { return vals[rng.IntN(len(vals))] }
	for trial := range 2000 {
		var side sideRecord
		var ref refDuplicate
		var prev []Segment
		now := int64(0)
		for i := range 40 {
			var s Segment
			if len(prev) > 0 && rng.IntN(3) == 0 {
				s = prev[len(prev)-1-rng.IntN(min(len(prev), 6))] // a copy, or nearly
				switch rng.IntN(6) {
				case 0:
					s.IPID++
				case 1:
					s.FIN = !s.FIN
				case 2:
					s.TSval++
				}
			} else {
				s = Segment{Seq: pick(0, 1, 1000), Ack: pick(0, 5000, 5001), Len: int(pick(0, 0, 6)),
					IPID: uint16(pick(0, 0, 7)), TSval: pick(0, 9), HasTS: rng.IntN(2) == 0,
					Window: uint16(pick(100, 0)), ACK: rng.IntN(4) > 0, PSH: rng.IntN(2) == 0}
			}
			now += int64(pick(0, 100, uint32(duplicateWindow)))
			prev = append(prev, s)
			got, want := side.duplicate(&s, now, 0), ref.duplicate(&s, now)
			if got != want {
				t.Fatalf("trial %d, segment %d %+v: duplicate %v, the whole-signature check says %v", trial, i, s, got, want)
			}
		}
	}
}
