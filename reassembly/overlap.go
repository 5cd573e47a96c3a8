package reassembly

import (
	"hash/maphash"
	"time"
	"unsafe"
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
}

// maxConflicts bounds Conn.Conflicts; ConflictCount counts them all.
const maxConflicts = MaxEvidenceFrames

// checkOverlap compares a fully captured data segment with the recent
// segments of its direction: a new one is remembered, one that repeats a
// remembered range exactly with other bytes is a Conflict. Segments the
// snaplen cut are not compared.
func (t *Tracker) checkOverlap(c *Conn, dir Direction, seq uint32, payload []byte, length int, f Mark) {
	if len(payload) == 0 || len(payload) != length {
		return
	}
	w := c.overlaps
	if w == nil {
		w = new(overlapWatch)
		c.overlaps = w
	}
	end := seq + uint32(length)
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
					Retransmission: f,
					Offset:         int64(seq - c.holes.start[dir]), Len: length})
			}
		}
		return
	}
	if n > 0 {
		lastSeq, last := seqs[(n-1)%overlapMemory], &w.segs[dir][(n-1)%overlapMemory]
		if int32(end-(lastSeq+uint32(last.len))) <= 0 && int32(seq-lastSeq) < 0 {
			return // an older range, no longer remembered
		}
	}
	seqs[n%overlapMemory] = seq
	w.segs[dir][n%overlapMemory] = sentSegment{len: int32(length), hash: hashPayload(t.seed, payload), frame: f.Frame, ns: unixNano(f.Time)}
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
