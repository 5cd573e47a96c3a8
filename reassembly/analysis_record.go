package reassembly

import (
	"math"
	"math/bits"
	"slices"
	"time"
)

// Sizes of the Analyzer's fixed buffers: they bound its memory.
const (
	// rttOutstanding is how many unacknowledged data segments per side the
	// RTT sampler remembers; older ones are forgotten unsampled. A power
	// of two of at most 16 (the sampler's ring and its 16-bit retransmitted
	// set; TestRTTSamplerBounds).
	rttOutstanding = 16
	// rttReservoir is how many RTT samples per side are kept for the
	// median (a uniform reservoir sample, Vitter's algorithm R).
	rttReservoir = 64
	// retransMemory is how many recent retransmissions per side are kept
	// to be matched with the peer's D-SACK blocks.
	retransMemory = 16
	// numFlags is the number of tcp.analysis flags the Analyzer counts.
	numFlags = 14
)

// recorder accumulates, in fixed-size fields, the facts Health reports.
// What most connections never need (flag evidence, idle gaps, resets,
// retransmissions to match with D-SACKs) sits behind pointers set on first
// use, so that a Conn stays small and the per-packet fields share few cache
// lines (issue #8: with thousands of connections a 7.9 KB Conn missed the
// cache).
type recorder struct {
	packets     int
	first, last Mark
	lastNs      int64 // last.Time on the Analyzer's clock (see nanos)

	flags *flagEvidence // nil until a segment carries a flag
	gaps  *idleGaps     // nil until the first idle gap

	hs         Handshake
	synISN     uint32
	synDir     int // sender of the first SYN, valid when hs.SYN.Frame != 0
	synackISN  uint32
	newISNSYNs int // SYNs with another ISN: a new connection the flow table did not split

	sides [2]sideRecord

	linuxZWP   int
	synRetrans int // retransmission flags on SYN segments
	// lastData is the time of the last segment with payload, valid with
	// lastDataKnown (a segment stamped with the zero time.Time leaves it
	// unknown).
	lastData      int64
	lastDataKnown bool

	rng uint64 // xorshift state for the RTT reservoirs
}

// flagEvidence counts the segments that carried each flag, with the first
// frames of each.
type flagEvidence struct {
	counts [numFlags]int
	frames [numFlags][MaxEvidenceFrames]int
}

// idleGaps lists the idle gaps of a connection.
type idleGaps struct {
	list      [MaxEvidenceFrames]Gap
	count     int
	longest   Gap
	longestNs int64 // longest's duration
}

// sideRecord is what the recorder keeps of one side's segments.
type sideRecord struct {
	// recent are the side's last segments, to tell a frame captured twice
	// (duplicates, dupRetrans: see Side.Duplicates), and recentKeys their
	// sequence and acknowledgement numbers (sigKey), looked through first.
	recentKeys             [duplicateMemory]uint64
	recent                 [duplicateMemory]segmentSig
	nRecent                uint
	duplicates, dupRetrans int
	segments, dataSegments int
	bytes                  int64
	largest                int
	truncated              int
	truncatedBytes         int64
	fin                    Mark
	resets                 *[MaxEvidenceFrames]Reset // nil until the first RST
	resetCount             int
	ttlSeen                bool
	ttlMin, ttlMax         uint8

	// Outstanding data, for DataInFlight on resets.
	dataSent bool
	dataEnd  uint32 // end of the highest data byte sent
	ackSeen  bool
	ackValue uint32 // highest ack this side sent (ACK flag set)

	// Recent retransmissions, to match the peer's D-SACK blocks (nil
	// until the first).
	retrans  *[retransMemory]seqRange
	retransN int // total added; the ring holds the last retransMemory
	dsacked  int

	// Zero-window stretches this side advertised.
	inZeroWindow bool
	zeroSince    int64 // on the Analyzer's clock
	zeroTotal    time.Duration
	zeroLongest  time.Duration
	cov          coverage
	// rtt is made with the side's first data segment: most of a SYN
	// flood's connections never need one.
	rtt *rttSampler
}

// seqRange is a run of sequence space [start, end), with whether a D-SACK
// already covered it.
type seqRange struct {
	start, end uint32
	dsacked    bool
}

// retransmitted remembers a retransmitted data segment.
func (s *sideRecord) retransmitted(seq, end uint32) {
	if s.retrans == nil {
		s.retrans = new([retransMemory]seqRange)
	}
	s.retrans[s.retransN%retransMemory] = seqRange{start: seq, end: end}
	s.retransN++
}

// dsack takes the peer's SACK blocks: a first block at or below the
// cumulative ACK, or inside the second block, is a D-SACK (RFC 2883 §4)
// reporting data received twice; each remembered retransmission it covers
// was needless.
func (s *sideRecord) dsack(ack uint32, blocks [][2]uint32) {
	if len(blocks) == 0 {
		return
	}
	b := blocks[0]
	isDSACK := seqLE(b[1], ack) ||
		(len(blocks) > 1 && seqLE(blocks[1][0], b[0]) && seqLE(b[1], blocks[1][1]))
	if !isDSACK {
		return
	}
	for i := 0; i < min(s.retransN, retransMemory); i++ {
		r := &s.retrans[i]
		if !r.dsacked && seqLT(r.start, b[1]) && seqLT(b[0], r.end) {
			r.dsacked = true
			s.dsacked++
		}
	}
}

// rttSampler matches this side's data segments with the peer's ACKs. It
// is allocated for each side that sends data and touched by each of its
// segments and each ACK, so it is kept small: the outstanding segments in
// parallel arrays, and the reservoir in 32-bit nanoseconds (up to 4.29 s)
// until a longer sample comes.
type rttSampler struct {
	// ends and times are the outstanding data segments' ends and times
	// (on the Analyzer's clock), oldest first from head, n of them;
	// retrans has bit i set when slot i's bytes were retransmitted.
	ends    [rttOutstanding]uint32
	times   [rttOutstanding]int64
	retrans uint16
	head, n uint8

	samples  int
	min, max time.Duration
	// res is the reservoir while every sample fits in 32 bits of
	// nanoseconds; wide replaces it from the first sample that does not.
	res  [rttReservoir]uint32
	wide *[rttReservoir]time.Duration
}

// rttSlot is the ring index of the i-th outstanding segment.
func (r *rttSampler) rttSlot(i int) int { return (int(r.head) + i) & (rttOutstanding - 1) }

// sent notes a data segment [seq, end) this side sent.
func (r *rttSampler) sent(seq, end uint32, t int64, retrans bool) {
	if retrans {
		// Karn's rule: an ACK of retransmitted data says nothing of the RTT.
		for i := 0; i < int(r.n); i++ {
			if j := r.rttSlot(i); seqGT(r.ends[j], seq) {
				r.retrans |= 1 << j
			}
		}
		return
	}
	if r.n > 0 && !seqGT(end, r.ends[r.rttSlot(int(r.n)-1)]) {
		return
	}
	if r.n == rttOutstanding {
		r.head = uint8(r.rttSlot(1))
		r.n--
	}
	j := r.rttSlot(int(r.n))
	r.ends[j], r.times[j] = end, t
	r.retrans &^= 1 << j
	r.n++
}

// acked takes the peer's ACK: a segment whose end it matches exactly gives
// a sample, and every segment it covers is dropped.
func (r *rttSampler) acked(ack uint32, t int64, rng *uint64) {
	for r.n > 0 {
		j := int(r.head)
		if seqGT(r.ends[j], ack) {
			return
		}
		if r.ends[j] == ack && r.retrans&(1<<j) == 0 {
			r.add(since(t, r.times[j]), rng)
		}
		r.head = uint8(r.rttSlot(1))
		r.n--
	}
}

func (r *rttSampler) add(d time.Duration, rng *uint64) {
	if d < 0 {
		return
	}
	if r.samples == 0 || d < r.min {
		r.min = d
	}
	if d > r.max {
		r.max = d
	}
	if d > math.MaxUint32 && r.wide == nil {
		r.wide = new([rttReservoir]time.Duration)
		for i := range min(r.samples, rttReservoir) {
			r.wide[i] = time.Duration(r.res[i])
		}
	}
	j := r.samples
	if r.samples >= rttReservoir {
		j = int(nextRand(rng) % uint64(r.samples+1))
	}
	if j < rttReservoir {
		if r.wide != nil {
			r.wide[j] = d
		} else {
			r.res[j] = uint32(d)
		}
	}
	r.samples++
}

func (r *rttSampler) stats() RTTStats {
	if r == nil || r.samples == 0 {
		return RTTStats{}
	}
	n := min(r.samples, rttReservoir)
	s := make([]time.Duration, n)
	for i := range s {
		if r.wide != nil {
			s[i] = r.wide[i]
		} else {
			s[i] = time.Duration(r.res[i])
		}
	}
	slices.Sort(s)
	return RTTStats{Samples: r.samples, Min: r.min, Median: s[n/2], Max: r.max}
}

// nextRand is a xorshift64 step: deterministic, so reports are
// reproducible.
func nextRand(s *uint64) uint64 {
	if *s == 0 {
		*s = 0x9e3779b97f4a7c15
	}
	x := *s
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*s = x
	return x
}

// record adds one analysed segment, sent at now (on the Analyzer's clock)
// by side d with flags f, to the facts.
func (r *recorder) record(a *Analyzer, s *Segment, now int64, d int, f Flag) {
	mark := Mark{Frame: s.Frame, Time: s.Time}
	if r.packets == 0 {
		r.first = mark
		r.hs.MidStream = !s.SYN
		r.hs.WindowScale = [2]int{-1, -1}
	} else if gap := since(now, r.lastNs); gap > a.idleThreshold() {
		r.idle(Gap{From: r.last, To: mark}, gap)
	}
	r.packets++
	r.last, r.lastNs = mark, now

	if f != 0 {
		r.flagged(f, s.Frame)
	}

	side, peer := &r.sides[d&1], &r.sides[(1-d)&1]
	// A copy of a frame (captured twice) is no retry of the handshake.
	dup := side.duplicate(s, now, f)
	if (!dup || !s.SYN) && r.hs.changedBy(s) {
		r.handshake(s, d, mark)
	}

	if f&FlagKeepAlive != 0 && a.flow[1-d].window == 0 {
		r.linuxZWP++
	}
	if s.Len > 0 || s.SYN || s.FIN {
		end := s.Seq + uint32(max(s.Len, 0))
		if s.SYN || s.FIN {
			end++
		}
		side.cov.seen(s.Seq, end)
	}
	side.segments++
	if s.Len > 0 || f&FlagRetransmission != 0 {
		side.sent(s, now, f) // nothing to note of a pure ACK
	}
	if s.SYN && f&FlagRetransmission != 0 && !dup {
		r.synRetrans++
	}
	if len(s.SACKBlocks) > 0 {
		peer.dsack(s.Ack, s.SACKBlocks)
	}
	if s.Len > 0 {
		r.lastData, r.lastDataKnown = now, !s.Time.IsZero()
	}
	if s.ACK {
		r.acked(side, peer, s.Ack, now)
	}
	side.header(s, now)
	if s.RST {
		r.reset(side, peer, s, now, mark)
	} else if side.resetCount > 0 {
		// A host whose stack sent a RST sends nothing more on the
		// connection: this side's RSTs so far came from someone else.
		for i := range min(side.resetCount, MaxEvidenceFrames) {
			side.resets[i].SenderContinued = true
		}
	}
}

// acked notes an ACK that side sent at now: the peer's bytes it covers,
// side's highest ACK so far, and the peer's round trips it ends.
func (r *recorder) acked(side, peer *sideRecord, ack uint32, now int64) {
	// Most ACKs repeat the last one (the data sender's, while the peer
	// sends nothing): they move neither the coverage nor a round trip.
	if !peer.cov.started || seqGT(ack, peer.cov.base) {
		peer.cov.acked(ack)
	}
	if !side.ackSeen || seqGT(ack, side.ackValue) {
		side.ackValue = ack
	}
	side.ackSeen = true
	if rtt := peer.rtt; rtt != nil && rtt.n > 0 && !seqGT(rtt.ends[rtt.head], ack) {
		rtt.acked(ack, now, &r.rng)
	}
}

// sent notes what segment s carried of this side's data: payload, its
// retransmission, and what the snaplen cut of it.
func (side *sideRecord) sent(s *Segment, now int64, f Flag) {
	if s.Len > 0 {
		side.dataSegments++
		side.bytes += int64(s.Len)
		side.largest = max(side.largest, s.Len)
		end := s.Seq + uint32(s.Len)
		if !side.dataSent || seqGT(end, side.dataEnd) {
			side.dataEnd = end
		}
		side.dataSent = true
		if side.rtt == nil {
			side.rtt = new(rttSampler)
		}
		side.rtt.sent(s.Seq, end, now, f&FlagRetransmission != 0)
	}
	if f&FlagRetransmission != 0 && !s.SYN {
		end := s.Seq + uint32(max(s.Len, 0))
		if s.FIN {
			end++
		}
		side.retransmitted(s.Seq, end)
	}
	if captured := max(s.CapturedLen, 0); captured < s.Len {
		side.truncated++
		side.truncatedBytes += int64(s.Len - captured)
	}
}

// header notes the IP and TCP header facts of one of this side's
// segments: its TTL, its receive window and its FIN.
func (side *sideRecord) header(s *Segment, now int64) {
	if !s.RST {
		if !side.ttlSeen || s.TTL < side.ttlMin {
			side.ttlMin = s.TTL
		}
		if !side.ttlSeen || s.TTL > side.ttlMax {
			side.ttlMax = s.TTL
		}
		side.ttlSeen = true
	}
	if !s.SYN && !s.FIN && !s.RST {
		switch {
		case s.Window == 0 && !side.inZeroWindow:
			side.inZeroWindow, side.zeroSince = true, now
		case s.Window != 0 && side.inZeroWindow:
			side.closeZeroWindow(now)
		}
	}
	if s.FIN && side.fin.Frame == 0 {
		side.fin = Mark{Frame: s.Frame, Time: s.Time}
	}
}

// reset records a RST this side sent.
func (r *recorder) reset(side, peer *sideRecord, s *Segment, now int64, mark Mark) {
	rst := Reset{
		Mark:         mark,
		TTL:          s.TTL,
		AfterFIN:     side.fin.Frame != 0,
		PeerFIN:      peer.fin.Frame != 0,
		DataInFlight: side.outstanding(peer) || peer.outstanding(side),
	}
	if r.lastDataKnown {
		rst.SinceData = since(now, r.lastData)
	}
	if side.resets == nil {
		side.resets = new([MaxEvidenceFrames]Reset)
	}
	if side.resetCount < MaxEvidenceFrames {
		side.resets[side.resetCount] = rst
	}
	side.resetCount++
}

// outstanding tells whether data this side sent is not yet acknowledged by
// the peer.
func (s *sideRecord) outstanding(peer *sideRecord) bool {
	return s.dataSent && (!peer.ackSeen || seqGT(s.dataEnd, peer.ackValue))
}

func (s *sideRecord) closeZeroWindow(now int64) {
	d := since(now, s.zeroSince)
	s.zeroTotal += d
	s.zeroLongest = max(s.zeroLongest, d)
	s.inZeroWindow = false
}

// flagged counts the flags set in f and keeps the frame as their evidence.
// Most segments carry no flag: the caller skips it for those.
func (r *recorder) flagged(f Flag, frame int) {
	if r.flags == nil {
		r.flags = new(flagEvidence)
	}
	e := r.flags
	for m := uint32(f) & (1<<numFlags - 1); m != 0; m &= m - 1 {
		i := bits.TrailingZeros32(m)
		if e.counts[i] < MaxEvidenceFrames {
			e.frames[i][e.counts[i]] = frame
		}
		e.counts[i]++
	}
}

// idle notes a gap longer than the idle threshold.
func (r *recorder) idle(g Gap, d time.Duration) {
	if r.gaps == nil {
		r.gaps = new(idleGaps)
	}
	e := r.gaps
	if e.count < MaxEvidenceFrames {
		e.list[e.count] = g
	}
	e.count++
	if d > time.Duration(e.longestNs) {
		e.longest, e.longestNs = g, int64(d)
	}
}

// changedBy tells whether s may change the handshake: a SYN, a RST, or
// an ACK while the ACK after the SYN+ACK is still to come. Every other
// segment (most of them) leaves it as it is (see recorder.handshake).
func (hs *Handshake) changedBy(s *Segment) bool {
	return s.SYN || s.RST || s.ACK && hs.SYNACK.Frame != 0 && hs.ACK.Frame == 0
}

// handshake follows the SYN, SYN+ACK and first ACK.
func (r *recorder) handshake(s *Segment, d int, mark Mark) {
	hs := &r.hs
	if s.SYN {
		if s.MSS > 0 {
			hs.MSS[d] = s.MSS
		}
		if s.WindowScale >= 0 {
			hs.WindowScale[d] = s.WindowScale
		}
		hs.SACKPermitted[d] = hs.SACKPermitted[d] || s.SACKPermitted
	}
	switch {
	case s.SYN && !s.ACK:
		switch {
		case hs.SYN.Frame == 0:
			hs.SYN, hs.LastSYN, r.synISN, r.synDir = mark, mark, s.Seq, d
		case s.Seq == r.synISN:
			hs.SYNRetries++
			hs.LastSYN = mark
		default:
			r.newISNSYNs++
		}
	case s.SYN && s.ACK:
		switch {
		case hs.SYNACK.Frame == 0:
			hs.SYNACK, r.synackISN = mark, s.Seq
		case s.Seq == r.synackISN:
			hs.SYNACKRetries++
		}
	case s.RST:
		if hs.SYN.Frame != 0 && hs.SYNACK.Frame == 0 && hs.RefusedBy.Frame == 0 && d != r.synDir {
			hs.RefusedBy = mark
		}
	case s.ACK:
		if hs.SYNACK.Frame != 0 && hs.ACK.Frame == 0 && (hs.SYN.Frame == 0 || d == r.synDir) {
			hs.ACK = mark
		}
	}
}

func (a *Analyzer) idleThreshold() time.Duration {
	if a.IdleThreshold > 0 {
		return a.IdleThreshold
	}
	return DefaultIdleThreshold
}

// InitialRTT returns Wireshark's tcp.analysis.initial_rtt so far (zero
// while unknown).
func (a *Analyzer) InitialRTT() time.Duration { return a.initialRTT }

// Health returns the connection's L4 summary so far. It may be called at
// any time; the Analyzer goes on observing afterwards.
func (a *Analyzer) Health() Health {
	r := &a.rec
	h := Health{
		Packets:               r.packets,
		First:                 r.first,
		Last:                  r.last,
		Handshake:             r.hs,
		LinuxZeroWindowProbes: r.linuxZWP,
		SYNRetransmissions:    r.synRetrans,
		IdleThreshold:         a.idleThreshold(),
	}
	if r.packets == 0 {
		h.Handshake.WindowScale = [2]int{-1, -1}
	}
	h.Handshake.InitialRTT = a.initialRTT
	h.Handshake.Scaling = a.scaling()
	h.Handshake.NewISNSYNs = r.newISNSYNs
	if r.hs.SYN.Frame != 0 {
		h.Handshake.Opener = Direction(r.synDir)
	}
	if g := r.gaps; g != nil {
		h.IdleGapCount, h.LongestGap = g.count, g.longest
		h.IdleGaps = slices.Clone(g.list[:min(g.count, MaxEvidenceFrames)])
	}
	if e := r.flags; e != nil {
		for i := 0; i < numFlags; i++ {
			fc := h.flagCount(1 << i)
			fc.Count = e.counts[i]
			if fc.Count > 0 {
				fc.Frames = slices.Clone(e.frames[i][:min(fc.Count, MaxEvidenceFrames)])
			}
		}
	}
	h.Retransmissions = h.Retransmission.Count
	h.ZeroWindows = h.ZeroWindow.Count
	for d := range r.sides {
		sr := &r.sides[d]
		sd := &h.Sides[d]
		*sd = Side{
			Segments:                 sr.segments,
			DataSegments:             sr.dataSegments,
			Bytes:                    sr.bytes,
			LargestSegment:           sr.largest,
			Truncated:                sr.truncated,
			TruncatedBytes:           sr.truncatedBytes,
			FIN:                      sr.fin,
			ResetCount:               sr.resetCount,
			TTLMin:                   sr.ttlMin,
			TTLMax:                   sr.ttlMax,
			ZeroWindowTime:           sr.zeroTotal,
			LongestZeroWindow:        sr.zeroLongest,
			RTT:                      sr.rtt.stats(),
			UnseenBytes:              sr.cov.unseen,
			DSACKed:                  sr.dsacked,
			Duplicates:               sr.duplicates,
			DuplicateRetransmissions: sr.dupRetrans,
		}
		if sr.inZeroWindow {
			open := since(r.lastNs, sr.zeroSince)
			sd.ZeroWindowTime += open
			sd.LongestZeroWindow = max(sd.LongestZeroWindow, open)
		}
		if sr.resetCount > 0 {
			sd.Resets = slices.Clone(sr.resets[:min(sr.resetCount, MaxEvidenceFrames)])
			for i := range sd.Resets {
				rst := &sd.Resets[i]
				rst.OddTTL = sr.ttlSeen && (rst.TTL < sr.ttlMin || rst.TTL > sr.ttlMax)
				rst.Injected = rst.OddTTL || rst.SenderContinued
				rst.Kind = resetKind(rst, r.hs.RefusedBy.Frame)
			}
		}
		h.Resets += sr.resetCount
	}
	h.Handshake.State = handshakeState(&h)
	return h
}

// resetKind is the first ResetKind that applies to rst; refusedBy is the
// frame of the RST that refused the connection (0: none).
func resetKind(rst *Reset, refusedBy int) ResetKind {
	switch {
	case refusedBy != 0 && rst.Frame == refusedBy:
		return ResetRefusal
	case rst.AfterFIN || rst.PeerFIN:
		return ResetClosing
	case rst.OddTTL:
		return ResetOddTTL
	case rst.SenderContinued:
		return ResetSenderContinued
	case rst.DataInFlight:
		return ResetDataInFlight
	case rst.SinceData > 0:
		return ResetAfterData
	}
	return ResetBeforeData
}

// handshakeState tells what became of the handshake from the facts in h.
func handshakeState(h *Health) HandshakeState {
	hs := &h.Handshake
	server := 1 - hs.Opener
	switch {
	case hs.SYN.Frame == 0:
		return HandshakeNotCaptured
	case hs.RefusedBy.Frame != 0:
		return HandshakeRefused
	case hs.SYNACK.Frame != 0:
		return HandshakeAnswered
	case h.Sides[server].Segments > 0:
		return HandshakeSYNACKNotCaptured
	case h.Sides[hs.Opener].DataSegments > 0:
		return HandshakeOpenerOnly
	}
	return HandshakeUnanswered
}

// scaling maps Wireshark's per-direction scale states to a Scaling.
func (a *Analyzer) scaling() Scaling {
	c, s := a.flow[0].winScale, a.flow[1].winScale
	switch {
	case !a.started:
		return ScalingUnknown
	case c >= 0 && s >= 0:
		return ScalingOn
	case c == scaleNone || s == scaleNone:
		return ScalingNone
	}
	return ScalingUnknown
}

// duplicateMemory is how many recent segments per side a copy is looked
// for among: a copy from a second capture point comes within a few frames.
// sideRecord.duplicate looks at exactly four (the assertion below).
const duplicateMemory = 4

var _ = [1]struct{}{}[duplicateMemory-4] // duplicate looks at four slots

// duplicateWindow is how close in time a copy without IPv4 ID or TCP
// timestamp must come (less than it) to count as one: a copy from a
// second capture point comes within microseconds, a retransmission waits
// for a timeout or for the peer's duplicate ACKs.
const duplicateWindow = int64(time.Millisecond)

// segmentSig is what a copy of a segment repeats exactly, but for the
// sequence and acknowledgement numbers (sideRecord.recentKeys).
type segmentSig struct {
	tsval        uint32
	len          int32
	window, ipID uint16
	flags        uint8
	hasTS        bool
	ns           int64
}

// sigKey is a segment's sequence and acknowledgement numbers in one word.
func sigKey(s *Segment) uint64 { return uint64(s.Seq)<<32 | uint64(s.Ack) }

// flagBits packs a segment's TCP flags in one byte.
func flagBits(s *Segment) uint8 {
	var fl uint8
	if s.SYN {
		fl |= 1
	}
	if s.ACK {
		fl |= 2
	}
	if s.FIN {
		fl |= 4
	}
	if s.RST {
		fl |= 8
	}
	if s.PSH {
		fl |= 16
	}
	if s.URG {
		fl |= 32
	}
	if s.ECE {
		fl |= 64
	}
	if s.CWR {
		fl |= 128
	}
	return fl
}

// copies tells whether s, sent at now, whose sequence and acknowledgement
// numbers are those of r, repeats r exactly: a copy of the frame. Without
// an IPv4 ID or a TCP timestamp to tell them apart, only one that comes
// within duplicateWindow counts.
func (r *segmentSig) copies(s *Segment, now int64) bool {
	if r.len != int32(s.Len) || r.tsval != s.TSval || r.window != s.Window || r.ipID != s.IPID || r.hasTS != s.HasTS ||
		r.flags != flagBits(s) {
		return false
	}
	return s.HasTS || s.IPID != 0 || since(now, r.ns) < time.Duration(duplicateWindow)
}

// duplicate counts s, and tells so, if it repeats one of the side's
// recent segments; otherwise s is remembered among them.
func (side *sideRecord) duplicate(s *Segment, now int64, f Flag) bool {
	// Sequence and acknowledgement numbers tell most segments apart: the
	// rest is compared only for those that agree. (A slot not used yet
	// holds 0: copied does not compare it.) The four keys are looked at
	// without a loop, which costs more than the looks.
	key := sigKey(s)
	if k := &side.recentKeys; (k[0] == key || k[1] == key || k[2] == key || k[3] == key) && side.copied(key, s, now) {
		side.duplicates++
		if f&FlagRetransmission != 0 && f&FlagSpuriousRetransmission == 0 {
			side.dupRetrans++
		}
		return true
	}
	// Field by field: a composite literal would be built in a temporary
	// and copied, on every segment.
	i := side.nRecent % duplicateMemory
	side.recentKeys[i] = key
	r := &side.recent[i]
	r.tsval, r.len, r.window, r.ipID = s.TSval, int32(s.Len), s.Window, s.IPID
	r.flags, r.hasTS, r.ns = flagBits(s), s.HasTS, now
	side.nRecent++
	return false
}

// copied tells whether one of the side's recent segments with key
// (sigKey) is copied by s.
func (side *sideRecord) copied(key uint64, s *Segment, now int64) bool {
	for i := range min(side.nRecent, duplicateMemory) {
		if side.recentKeys[i] == key && side.recent[i].copies(s, now) {
			return true
		}
	}
	return false
}
