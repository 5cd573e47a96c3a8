package reassembly

import (
	"container/heap"
	"math"
	"time"

	gpr "github.com/gopacket/gopacket/reassembly"
)

// The Tracker's clock and its idle heap: capture time, the periodic flush
// of data that waited too long for a missing segment, and the min-heap
// that finds the connections due to idle out or retire.

// flushEvery is the capture-time interval between flushes.
const flushEvery = time.Second

// Tick tells the tracker that capture time has reached now even though no
// packet arrived (live capture on a quiet link): buffered data that waited
// too long is pushed out and idle connections end. Capture time is wall
// clock time: a monotonic clock reading in now is not used.
func (t *Tracker) Tick(now time.Time) {
	now = now.Round(0)
	if now.After(t.now) {
		t.now, t.nowNS = now, unixNano(now)
	}
	t.maybeFlush()
}

// maybeFlush pushes out data that waited too long for a missing segment
// and ends idle connections, both by capture time.
func (t *Tracker) maybeFlush() {
	if t.nowNS < t.nextFlushNS || t.nowNS == t.nextFlushNS && saturated(t.nowNS) && t.now.Before(t.nextFlush) {
		return
	}
	t.nextFlush = t.now.Add(flushEvery)
	t.nextFlushNS = unixNano(t.nextFlush)
	t.flush(t.now.Add(-t.opts.GapWait), t.now.Add(-t.opts.IdleTimeout))
	// An idle connection's handler is ended (and frees its buffers), but
	// the 4-tuple keeps its stream number: Wireshark never expires a
	// tcp.stream, and later packets still count in its L4 analysis. Only
	// the connections whose key is before the cut are looked at: those
	// whose last packet is later are queued again under its time.
	for len(t.idle) > 0 && t.idle[0].idleKey.Before(t.now) {
		c := t.idle[0]
		switch due := c.due(&t.opts); {
		case c.ended: // cut short by a reassembly fault
			heap.Pop(&t.idle)
			if t.opts.Retire != nil {
				t.retire(c)
			}
		case due.Before(t.now):
			if c.closed.IsZero() {
				t.stats.Expired++
			}
			t.end(c)
			if t.opts.Retire != nil {
				t.retire(c)
			}
		default:
			c.idleKey = due
			heap.Fix(&t.idle, 0)
		}
	}
}

func (t *Tracker) flush(older, closeOlder time.Time) {
	defer func() {
		if r := recover(); r != nil {
			t.stats.Recovered++
		}
	}()
	t.assembler.FlushWithOptions(gpr.FlushOptions{T: older, TC: closeOlder})
}

// unixToInternal is the number of seconds from year 1, from which package
// time counts, to 1970.
const unixToInternal = 62135596800

// unixNano returns t as t.UnixNano does, but saturated, outside the years
// 1678 to 2262, at math.MinInt64 or math.MaxInt64 (which no time inside
// gives): the zero Time is one of those. So a time before or equal to
// another is never greater by unixNano, and times that compare differently
// by unixNano compare the same way as Times; only two saturated values can
// hide an order, which the callers then ask of the Times.
func unixNano(t time.Time) int64 {
	// The seconds from year 1 order Times; t.Unix wraps round far from
	// 1970, and adding back the offset undoes the wrap.
	sec := t.Unix() + unixToInternal
	switch {
	case sec < math.MinInt64/1_000_000_000+unixToInternal:
		return math.MinInt64
	case sec > math.MaxInt64/1_000_000_000-1+unixToInternal:
		return math.MaxInt64
	}
	return (sec-unixToInternal)*1e9 + int64(t.Nanosecond())
}

// saturated reports whether unixNano saturated to give ns.
func saturated(ns int64) bool { return ns == math.MinInt64 || ns == math.MaxInt64 }

// idleQueue is a min-heap of connections on their idleKey, for
// container/heap: finding the idle connections costs their number, not
// that of every connection.
type idleQueue []*Conn

func (q idleQueue) Len() int           { return len(q) }
func (q idleQueue) Less(i, j int) bool { return q[i].idleKey.Before(q[j].idleKey) }
func (q idleQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].idleIndex, q[j].idleIndex = i, j
}

func (q *idleQueue) Push(x any) {
	c := x.(*Conn)
	c.idleIndex = len(*q)
	*q = append(*q, c)
}

func (q *idleQueue) Pop() any {
	old := *q
	c := old[len(old)-1]
	old[len(old)-1] = nil
	c.idleIndex = -1
	*q = old[:len(old)-1]
	return c
}
