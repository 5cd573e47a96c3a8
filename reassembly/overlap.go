package reassembly

import (
	"hash/maphash"
	"time"
	"unsafe"

	"github.com/smtpscope/smtpscope/capture"
)

// Retransmissions that carry different bytes than the segment they
// repeat: Suricata's reassembly_overlap_different_data, Wireshark's
// tcp.segment.overlap.conflict expert info. A receiver keeps one of the
// two versions (which one depends on its stack and on which arrived), so
// the capture cannot prove what the peer read; an evasion attempt or a
// broken middlebox looks like this. gopacket hands on the first version
// and drops the overlap, so the Handler sees the first one.

// overlapMemory is how many recent data segments per direction are
// remembered, by sequence range and a hash of their bytes, to compare
// their retransmissions with: a retransmission usually repeats one of the
// last few segments.
const overlapMemory = 8

// Conflict is a retransmission whose bytes differ from those of the
// segment it repeats, as far as the capture holds both.
type Conflict struct {
	// Dir is the sender of both segments.
	Dir Direction
	// Original and Retransmission are the two frames.
	Original, Retransmission Mark
	// Offset is where the range starts in Dir's byte stream (0: the first
	// byte after the SYN, or of the first segment captured), and Len its
	// length.
	Offset int64
	Len    int
}

// sentSegment is a data segment remembered for comparison (its sequence
// number is in overlapWatch.seqs).
type sentSegment struct {
	len   int32
	hash  uint64
	frame int
	ns    int64 // capture time, unixNano
}

// overlapWatch remembers the last data segments of each direction. Their
// sequence numbers sit apart from the rest: every data segment is looked
// for among them, and they fill one cache line.
type overlapWatch struct {
	seqs [2][overlapMemory]uint32
	segs [2][overlapMemory]sentSegment
	n    [2]uint // segments ever remembered per direction
	// next is where the last remembered segment of a direction ends, and
	// run how many of the last remembered segments (at most
	// overlapMemory) each start where the one before ended: a stream
	// sent in order. A segment starting at next while every remembered
	// segment is in that run cannot repeat any of them (see inOrder).
	next [2]uint32
	run  [2]uint8
}

// maxRunSegment bounds the length of a segment counted in a run: the
// lengths of overlapMemory such segments add up to less than 2^32, so
// that no run wraps the sequence space.
const maxRunSegment = 1 << 28

// inOrder tells whether a segment from seq continues the remembered
// segments of dir in order: it starts where the last one ended, and every
// remembered segment is in the run that leads there. Each of them then
// starts at next minus the lengths of the run from it to the last, a sum
// of 1 to overlapMemory lengths in (0, maxRunSegment), so never at seq:
// the segment repeats none of them and needs no looking for.
func (w *overlapWatch) inOrder(dir Direction, seq uint32) bool {
	n := w.n[dir]
	return n > 0 && seq == w.next[dir] && uint(w.run[dir]) >= min(n, overlapMemory)
}

// maxConflicts bounds Conn.Conflicts; ConflictCount counts them all.
const maxConflicts = MaxEvidenceFrames

// checkOverlap compares a fully captured data segment (its payload is
// all of it) with the recent segments of its direction: a new one is
// remembered, one that repeats a remembered range exactly with other
// bytes is a Conflict. ns is f.Time by unixNano.
func (t *Tracker) checkOverlap(c *Conn, dir Direction, seq uint32, payload []byte, f *capture.Frame, ns int64) {
	w := c.overlaps
	if w == nil {
		w = new(overlapWatch)
		c.overlaps = w
	}
	if !w.inOrder(dir, seq) && !t.compareOverlap(c, w, dir, seq, payload, f) {
		return
	}
	w.remember(dir, seq, len(payload), hashPayload(t.seed, payload), f.Number, ns)
}

// compareOverlap looks for the segment among the remembered ones of dir:
// one that repeats a range exactly is compared (a Conflict if its bytes
// differ). It tells whether the segment is to be remembered: not if it
// repeats one, nor if it is an older range than the last remembered.
func (t *Tracker) compareOverlap(c *Conn, w *overlapWatch, dir Direction, seq uint32, payload []byte, f *capture.Frame) bool {
	length := len(payload)
	n := w.n[dir]
	seqs := &w.seqs[dir]
	for i := range min(n, overlapMemory) {
		if seqs[i] != seq {
			continue
		}
		s := &w.segs[dir][i]
		if s.len != int32(length) {
			continue
		}
		if s.hash != hashPayload(t.seed, payload) {
			c.ConflictCount++
			if len(c.Conflicts) < maxConflicts {
				c.Conflicts = append(c.Conflicts, Conflict{Dir: dir,
					Original:       Mark{Frame: s.frame, Time: time.Unix(0, s.ns).UTC()},
					Retransmission: Mark{Frame: f.Number, Time: f.Time},
					Offset:         int64(seq - c.holes.start[dir]), Len: length})
			}
		}
		return false
	}
	if n > 0 {
		end := seq + uint32(length)
		lastSeq, last := seqs[(n-1)%overlapMemory], &w.segs[dir][(n-1)%overlapMemory]
		if int32(end-(lastSeq+uint32(last.len))) <= 0 && int32(seq-lastSeq) < 0 {
			return false // an older range, no longer remembered
		}
	}
	return true
}

// remember keeps a data segment of dir, in place of the oldest.
func (w *overlapWatch) remember(dir Direction, seq uint32, length int, hash uint64, frame int, ns int64) {
	n := w.n[dir]
	switch {
	case length >= maxRunSegment:
		w.run[dir] = 0
	case n > 0 && seq == w.next[dir]:
		w.run[dir] = uint8(min(int(w.run[dir])+1, overlapMemory))
	default:
		w.run[dir] = 1
	}
	w.seqs[dir][n%overlapMemory] = seq
	w.segs[dir][n%overlapMemory] = sentSegment{len: int32(length), hash: hash, frame: frame, ns: ns}
	w.next[dir] = seq + uint32(length)
	w.n[dir]++
}

// hashPayload is a keyed hash of a segment's bytes (keyed, so that a
// sender cannot craft a retransmission that hashes like the original).
// maphash.Bytes feeds the runtime's hash 128 bytes at a time; hashing the
// bytes as one string lets it take the whole segment in one call, about
// four times faster on full-sized segments, and every data segment is
// hashed. The string is a read-only view of payload that does not outlive
// the call, and payload is not written meanwhile.
func hashPayload(seed maphash.Seed, payload []byte) uint64 {
	return maphash.Comparable(seed, unsafe.String(unsafe.SliceData(payload), len(payload)))
}
