package reassembly

import (
	"hash/maphash"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/capture"
)

// TestConflictAnyByte: a retransmission of a full-sized segment that
// differs from the original in a single byte, wherever it lies, is a
// Conflict; an identical one is not. The segment's whole payload is
// compared, not a sample of it.
func TestConflictAnyByte(t *testing.T) {
	const size = 1448
	body := strings.Repeat("0123456789abcdef", size/16+1)[:size]
	changed := func(i int) string {
		b := []byte(body)
		b[i] ^= 0x20
		return string(b)
	}
	cases := []struct {
		name   string
		resend string
		want   int
	}{
		{"identical", body, 0},
		{"first byte", changed(0), 1},
		{"byte 129 (past the first 128)", changed(129), 1},
		{"middle byte", changed(size / 2), 1},
		{"last byte", changed(size - 1), 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			segs := join(handshake, []seg{
				{seq: cISN + 1, ack: sISN + 1, flags: "A", payload: body},
				{seq: cISN + 1, ack: sISN + 1, flags: "A", payload: tc.resend, after: 300 * time.Millisecond},
			})
			tr, _ := runSegs(t, segs)
			c := tr.Conns()[0]
			if c.ConflictCount != tc.want {
				t.Errorf("ConflictCount = %d, want %d (%+v)", c.ConflictCount, tc.want, c.Conflicts)
			}
			if tc.want > 0 && (len(c.Conflicts) != 1 || c.Conflicts[0].Len != size || c.Conflicts[0].Original.Frame != 4) {
				t.Errorf("Conflicts = %+v, want one of %d bytes whose original is frame 4", c.Conflicts, size)
			}
		})
	}
}

// TestConflictBehindRun: a segment that continues the last remembered
// one in order is still compared when an older remembered segment starts
// where it starts, as after reordered and overlapping ranges: X is sent
// at 1000, then ranges below it end exactly at 1000; a resend of X's range
// with other bytes is a Conflict with X.
func TestConflictBehindRun(t *testing.T) {
	at := func(off uint32, n int, c byte, after time.Duration) seg {
		return seg{seq: cISN + 1 + off, ack: sISN + 1, flags: "A", payload: strings.Repeat(string(c), n), after: after}
	}
	for _, tc := range []struct {
		name   string
		resend byte
		want   int
	}{{"other bytes", 'y', 1}, {"same bytes", 'x', 0}} {
		t.Run(tc.name, func(t *testing.T) {
			segs := join(handshake, []seg{
				at(1000, 100, 'x', 0),                          // frame 4: X
				at(0, 1200, 'a', time.Millisecond),             // frame 5: ends past X
				at(500, 100, 'b', 2*time.Millisecond),          // frame 6: starts later than frame 5
				at(600, 400, 'c', 3*time.Millisecond),          // frame 7: ends where X starts
				at(1000, 100, tc.resend, 300*time.Millisecond), // frame 8: X's range again
			})
			tr, _ := runSegs(t, segs)
			c := tr.Conns()[0]
			if c.ConflictCount != tc.want || tc.want > 0 && (c.Conflicts[0].Original.Frame != 4 || c.Conflicts[0].Retransmission.Frame != 8) {
				t.Errorf("ConflictCount %d, Conflicts %+v; want %d, frame 8 against frame 4", c.ConflictCount, c.Conflicts, tc.want)
			}
		})
	}
}

// refOverlap is the conflict check as it was before segments sent in
// order skipped the search (overlapWatch.inOrder): every segment is
// looked for among the remembered ones.
type refOverlap struct {
	seqs   [overlapMemory]uint32
	lens   [overlapMemory]int
	hashes [overlapMemory]uint64
	frames [overlapMemory]int
	n      uint
}

// check returns the frame of the remembered segment the segment
// conflicts with (0: none).
func (r *refOverlap) check(seed maphash.Seed, seq uint32, payload []byte, frame int) int {
	for i := range min(r.n, overlapMemory) {
		if r.seqs[i] != seq || r.lens[i] != len(payload) {
			continue
		}
		if r.hashes[i] != hashPayload(seed, payload) {
			return r.frames[i]
		}
		return 0
	}
	end := seq + uint32(len(payload))
	if r.n > 0 {
		last := (r.n - 1) % overlapMemory
		if int32(end-(r.seqs[last]+uint32(r.lens[last]))) <= 0 && int32(seq-r.seqs[last]) < 0 {
			return 0
		}
	}
	i := r.n % overlapMemory
	r.seqs[i], r.lens[i], r.hashes[i], r.frames[i] = seq, len(payload), hashPayload(seed, payload), frame
	r.n++
	return 0
}

// TestOverlapInOrderAgrees: on random runs of in-order data, resends
// (some with a byte changed), reordered and overlapping ranges, and
// sequence numbers that wrap, the conflict check finds exactly the
// conflicts of the search over every remembered segment.
func TestOverlapInOrderAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 1))
	content := func(seq uint32) byte { return byte(seq*2654435761>>24) | 1 }
	for trial := range 3000 {
		tr := NewTracker(Options{})
		c := &Conn{}
		var ref [2]refOverlap
		base := rng.Uint32()
		if trial%3 == 0 {
			base = -uint32(rng.IntN(5000)) // wraps within the run
		}
		next := [2]uint32{base, base + 7777}
		var sent [2][][2]uint32 // seq, len of segments sent so far
		for i := range 60 {
			dir := Direction(rng.IntN(2))
			var seq uint32
			var n int
			recent := func() [2]uint32 { // one of the last 10 segments sent
				l := sent[dir]
				return l[len(l)-1-rng.IntN(min(len(l), 10))]
			}
			switch p := rng.IntN(20); {
			case p < 8 || len(sent[dir]) == 0: // in order
				seq, n = next[dir], 1+rng.IntN(300)
				next[dir] += uint32(n)
			case p < 13: // a resend of a recent segment
				s := recent()
				seq, n = s[0], int(s[1])
			case p < 15: // a range from below the end to beyond it
				seq = next[dir] - uint32(rng.IntN(1500))
				n = int(next[dir]-seq) + 1 + rng.IntN(300)
				next[dir] = seq + uint32(n)
			case p < 18: // a range that ends where a recent segment starts
				s := recent()
				n = 1 + rng.IntN(600)
				seq = s[0] - uint32(n)
			default: // a range near the ones sent
				seq, n = next[dir]-uint32(rng.IntN(1500)), 1+rng.IntN(600)
			}
			sent[dir] = append(sent[dir], [2]uint32{seq, uint32(n)})
			payload := make([]byte, n)
			for j := range payload {
				payload[j] = content(seq + uint32(j))
			}
			if rng.IntN(8) == 0 {
				payload[rng.IntN(n)] ^= 0x40
			}
			f := &capture.Frame{Number: i + 1, Time: t0.Add(time.Duration(i) * time.Millisecond)}
			before := c.ConflictCount
			tr.checkOverlap(c, dir, seq, payload, f, unixNano(f.Time))
			want := ref[dir].check(tr.seed, seq, payload, i+1)
			got := 0
			if c.ConflictCount > before {
				got = c.Conflicts[len(c.Conflicts)-1].Original.Frame
				if c.ConflictCount > maxConflicts {
					got = -1 // beyond the list: counted only
				}
			}
			if got != want && !(got == -1 && want != 0) {
				t.Fatalf("trial %d, frame %d (dir %v, seq %d, len %d): conflict with frame %d, the full search says %d",
					trial, i+1, dir, seq, n, got, want)
			}
		}
	}
}
