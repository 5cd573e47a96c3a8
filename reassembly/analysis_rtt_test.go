package reassembly

import (
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestRTTSamplerBounds checks what the sampler's ring relies on.
func TestRTTSamplerBounds(t *testing.T) {
	if bits.OnesCount(rttOutstanding) != 1 || rttOutstanding > 16 {
		t.Errorf("rttOutstanding = %d, want a power of two of at most 16", rttOutstanding)
	}
}

// refSampler is the RTT sampler written plainly (a slice of pending
// segments, a reservoir of time.Duration), for TestRTTSamplerMatchesReference.
type refSampler struct {
	pending []refPending
	samples int
	min     time.Duration
	max     time.Duration
	res     []time.Duration
}

type refPending struct {
	end     uint32
	retrans bool
	sent    int64
}

func (r *refSampler) sent(seq, end uint32, t int64, retrans bool) {
	if retrans {
		for i := range r.pending {
			if seqGT(r.pending[i].end, seq) {
				r.pending[i].retrans = true
			}
		}
		return
	}
	if len(r.pending) > 0 && !seqGT(end, r.pending[len(r.pending)-1].end) {
		return
	}
	if len(r.pending) == rttOutstanding {
		r.pending = r.pending[1:]
	}
	r.pending = append(r.pending, refPending{end: end, sent: t})
}

func (r *refSampler) acked(ack uint32, t int64, rng *uint64) {
	for len(r.pending) > 0 {
		p := r.pending[0]
		if seqGT(p.end, ack) {
			return
		}
		if p.end == ack && !p.retrans {
			r.add(since(t, p.sent), rng)
		}
		r.pending = r.pending[1:]
	}
}

func (r *refSampler) add(d time.Duration, rng *uint64) {
	if d < 0 {
		return
	}
	if r.samples == 0 || d < r.min {
		r.min = d
	}
	r.max = max(r.max, d)
	if r.samples < rttReservoir {
		r.res = append(r.res, d)
	} else if j := nextRand(rng) % uint64(r.samples+1); j < rttReservoir {
		r.res[j] = d
	}
	r.samples++
}

func (r *refSampler) stats() RTTStats {
	if r.samples == 0 {
		return RTTStats{}
	}
	s := slices.Sorted(slices.Values(r.res))
	return RTTStats{Samples: r.samples, Min: r.min, Median: s[len(s)/2], Max: r.max}
}

// TestRTTSamplerMatchesReference drives the compact sampler and the plain
// one with the same random segments, retransmissions and ACKs, with round
// trips from microseconds to past the 4.29 s that 32 bits of nanoseconds
// hold, and wants the same statistics after every step.
func TestRTTSamplerMatchesReference(t *testing.T) {
	for seed := range uint64(200) {
		rnd := rand.New(rand.NewPCG(seed, 7))
		var got rttSampler
		var want refSampler
		var rngGot, rngWant uint64
		seq, acked := rnd.Uint32(), uint32(0)
		acked = seq
		now := int64(rnd.Uint32())
		long := seed%4 == 0 // some runs have round trips over 2^32 ns
		for step := range 400 {
			switch op := rnd.IntN(10); {
			case op < 5:
				n := uint32(1 + rnd.IntN(1500))
				got.sent(seq, seq+n, now, false)
				want.sent(seq, seq+n, now, false)
				seq += n
			case op < 6:
				back := uint32(rnd.IntN(3000))
				got.sent(seq-back, seq, now, true)
				want.sent(seq-back, seq, now, true)
			default:
				if seq != acked {
					acked += uint32(rnd.Int64N(int64(seq-acked) + 1))
				}
				got.acked(acked, now, &rngGot)
				want.acked(acked, now, &rngWant)
			}
			gap := int64(rnd.IntN(int(50 * time.Millisecond)))
			if long && rnd.IntN(50) == 0 {
				gap = int64(4*time.Second) + rnd.Int64N(int64(3*time.Second))
			}
			now += gap
			if g, w := got.stats(), want.stats(); g != w {
				t.Fatalf("seed %d step %d: stats %+v, want %+v", seed, step, g, w)
			}
		}
	}
}

// TestRTTSamplerWide: a round trip too long for 32 bits of nanoseconds
// moves the reservoir to full width with the samples kept so far.
func TestRTTSamplerWide(t *testing.T) {
	var r rttSampler
	var rng uint64
	ds := []time.Duration{time.Millisecond, 3 * time.Millisecond, 5 * time.Second, 2 * time.Millisecond, 9 * time.Second}
	for _, d := range ds {
		r.add(d, &rng)
	}
	want := RTTStats{Samples: 5, Min: time.Millisecond, Median: 3 * time.Millisecond, Max: 9 * time.Second}
	if got := r.stats(); got != want || r.wide == nil {
		t.Errorf("stats %+v (wide %v), want %+v (wide)", got, r.wide != nil, want)
	}
	r.add(6*time.Second, &rng)
	r.add(7*time.Second, &rng)
	if got := r.stats().Median; got != 5*time.Second {
		t.Errorf("median %v, want 5s", got)
	}
}
