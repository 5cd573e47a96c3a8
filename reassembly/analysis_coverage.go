package reassembly

// coverageRanges is how many separate runs of captured sequence space above
// the peer's ACK a side's coverage keeps. Past it the two closest runs are
// merged, which can only undercount capture loss.
const coverageRanges = 8

// coverage follows which of one side's sequence numbers the capture held,
// to count the bytes the peer acknowledged that never appeared in it:
// capture loss, as opposed to network loss, where the capture holds the
// original and its retransmission. Unlike Wireshark's ack_lost_segment it
// is not fooled by retransmissions cut at other boundaries.
type coverage struct {
	started bool
	base    uint32 // everything before it is accounted for
	runs    [coverageRanges]seqRange
	n       int
	unseen  int64
}

// seen notes sequence space [start, end) the capture held.
func (c *coverage) seen(start, end uint32) {
	if !c.started {
		c.started, c.base = true, start
	}
	if seqLT(start, c.base) {
		start = c.base
	}
	if !seqLT(start, end) {
		return
	}
	// In-order data extends the one run above the ACK, or starts it: the
	// steady case, done without the general insert and merge (which give
	// the same).
	switch {
	case c.n == 0:
		c.runs[0], c.n = seqRange{start: start, end: end}, 1
		return
	case c.n == 1 && seqLT(c.runs[0].start, start) && !seqLT(c.runs[0].end, start):
		if seqLT(c.runs[0].end, end) {
			c.runs[0].end = end
		}
		return
	}
	// Insert in order, then merge overlapping or touching runs.
	i := 0
	for i < c.n && seqLT(c.runs[i].start, start) {
		i++
	}
	if c.n == coverageRanges {
		c.mergeClosest()
		if i > c.n {
			i = c.n
		}
	}
	copy(c.runs[i+1:c.n+1], c.runs[i:c.n])
	c.runs[i] = seqRange{start: start, end: end}
	c.n++
	c.merge()
}

// merge joins runs that overlap or touch; runs are sorted by start.
func (c *coverage) merge() {
	out := 0
	for i := 0; i < c.n; i++ {
		r := c.runs[i]
		if out > 0 && !seqLT(c.runs[out-1].end, r.start) {
			if seqLT(c.runs[out-1].end, r.end) {
				c.runs[out-1].end = r.end
			}
			continue
		}
		c.runs[out] = r
		out++
	}
	c.n = out
}

// mergeClosest frees a slot by joining the two runs with the smallest gap.
func (c *coverage) mergeClosest() {
	best, gap := 0, uint32(1<<32-1)
	for i := 0; i+1 < c.n; i++ {
		if g := c.runs[i+1].start - c.runs[i].end; g < gap {
			best, gap = i, g
		}
	}
	c.runs[best].end = c.runs[best+1].end
	copy(c.runs[best+1:c.n-1], c.runs[best+2:c.n])
	c.n--
}

// acked takes the peer's cumulative ACK: bytes up to it that no run covers
// were never captured.
func (c *coverage) acked(ack uint32) {
	if !c.started {
		c.started, c.base = true, ack
		return
	}
	if !seqGT(ack, c.base) || ack-c.base > 1<<30 {
		return // old, or implausibly far: not a statement about our data
	}
	missing := int64(ack - c.base)
	kept := 0
	for i := 0; i < c.n; i++ {
		r := c.runs[i]
		if !seqLT(r.start, ack) { // wholly beyond the ACK
			c.runs[kept] = r
			kept++
			continue
		}
		end := r.end
		if seqGT(end, ack) {
			end = ack
			c.runs[kept] = seqRange{start: ack, end: r.end}
			kept++
		}
		missing -= int64(end - r.start)
	}
	c.n = kept
	c.base = ack
	if missing > 0 {
		c.unseen += missing
	}
}
