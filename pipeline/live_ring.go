package pipeline

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/smtpscope/smtpscope/capture"
)

// The capture side of a live run: a goroutine that reads the source and
// never waits on the analysis. Frames go to the analysis through a ring
// bounded in frames and bytes; a frame that finds it full is dropped and
// counted, as the kernel drops a packet that finds its buffer full. What
// the source itself lost (libpcap's pcap_stats) is polled on the way.
// Every loss reaches the analysis in order, with the capture times it
// spans, so that the connections it may have hit are told apart.

// Bounds of the ring between capture and analysis (LiveOptions.RingFrames
// and RingBytes when zero). 8 MiB beside the kernel's 32 MiB buffer
// (capture.DefaultBufferSize) keeps a live run near its 48 MiB budget.
const (
	DefaultRingFrames = 8192
	DefaultRingBytes  = 8 << 20
)

// statsEvery is the capture time between two polls of the source's drop
// counters while frames keep coming (a read timeout polls them too).
const statsEvery = 100 * time.Millisecond

// DropStatser is a live source that counts the packets it lost before
// they were read (capture.Live: libpcap's pcap_stats).
type DropStatser interface {
	Stats() (capture.LiveStats, error)
}

// Drops counts the packets a live run lost before analysis.
type Drops struct {
	// Kernel and Interface are the source's counts (libpcap: the kernel
	// found its buffer full; the interface or its driver dropped them).
	// libpcap counts what its kernel filter kept, before it discards the
	// second copy a loopback shows of each packet: on "lo" they count
	// each lost packet twice.
	Kernel, Interface int
	// Ring counts frames read from the source but dropped because the
	// analysis was too far behind (the ring was full).
	Ring int
}

// Total is every packet lost.
func (d Drops) Total() int { return d.Kernel + d.Interface + d.Ring }

// loss is what the capture lost since the previous item: how many, and
// the capture times they fell between.
type loss struct {
	Drops
	from, to time.Time
}

func (l *loss) empty() bool { return l.Total() == 0 }

// add widens l to cover o.
func (l *loss) add(o loss) {
	if o.empty() {
		return
	}
	if l.empty() || o.from.Before(l.from) {
		l.from = o.from
	}
	if l.empty() || o.to.After(l.to) {
		l.to = o.to
	}
	l.Kernel += o.Kernel
	l.Interface += o.Interface
	l.Ring += o.Ring
}

// ringItem is what the capture hands the analysis: a frame, or a tick
// (the clock's time on a read timeout), with what was lost before it.
type ringItem struct {
	frame    capture.Frame
	hasFrame bool
	tick     time.Time
	lost     loss
	// polled is the capture time at which the source's drop counters
	// were last read before the item was handed over: every kernel drop
	// before it is in lost or in an earlier item's.
	polled time.Time
}

// ringBatch is how many items the capture goroutine hands over at once
// while the analysis is busy: one hand-over per item cost a goroutine
// switch per packet. An analysis that waits gets each item at once.
const ringBatch = 64

// captureLoop reads a source into a ring. Its fields are the capture
// goroutine's, except ring, bytes and stop.
type captureLoop struct {
	src   LiveSource
	stats DropStatser
	clock func() time.Time
	// wait makes a full ring wait for room instead of dropping: for a
	// replay, never for an interface.
	wait bool
	// ring carries batches of items; batch is the one being filled, and
	// counts in the ring's bound (RingFrames, in whole batches).
	ring  chan []ringItem
	batch []ringItem
	// bytes is the frame data in the ring and the batch; maxBytes its
	// bound.
	bytes    atomic.Int64
	maxBytes int64
	// stop asks the loop to end after the current read.
	stop atomic.Bool
	// err is what ended the capture (nil: closed or stopped); it is set
	// before ring is closed.
	err error
	// pending is lost and not told yet; seen the source's counts so far;
	// polled when they were last read.
	pending loss
	seen    capture.LiveStats
	polled  time.Time
}

func newCaptureLoop(src LiveSource, opts *LiveOptions) *captureLoop {
	l := &captureLoop{src: src, clock: opts.Clock, wait: opts.RingWait,
		ring:     make(chan []ringItem, max(opts.RingFrames/ringBatch, 1)),
		maxBytes: int64(opts.RingBytes)}
	l.stats, _ = src.(DropStatser)
	if l.stats != nil {
		// Packets lost before the run started are not its own.
		if st, err := l.stats.Stats(); err == nil {
			l.seen = st
		}
	}
	return l
}

// run is the capture goroutine. It closes the ring when the source ends,
// fails, or stop is asked.
func (l *captureLoop) run(ctx context.Context) {
	defer close(l.ring)
	// The context is asked before each read, not only by the analysis: a
	// run stopped before its first packet (an expired --duration, a
	// signal) reads none, whatever the scheduler runs first.
	for !l.stop.Load() && ctx.Err() == nil {
		fr, err := l.src.Next()
		switch {
		case err == nil:
			l.frame(ctx, &fr)
		case errors.Is(err, capture.ErrTimeout):
			now := l.clock().UTC()
			l.poll(now)
			l.add(ctx, ringItem{tick: now})
			l.send(ctx)
		case errors.Is(err, io.EOF):
			l.finish()
			return
		default:
			l.err = err
			l.finish()
			return
		}
	}
	l.finish()
}

// frame copies a frame into the batch (the source's data is valid only
// until its next read), or drops it if the ring is full.
func (l *captureLoop) frame(ctx context.Context, fr *capture.Frame) {
	if fr.Time.Sub(l.polled) >= statsEvery {
		l.poll(fr.Time)
	}
	n := int64(len(fr.Data))
	if !l.wait && l.bytes.Load()+n > l.maxBytes {
		l.dropped(fr)
		return
	}
	it := ringItem{frame: *fr, hasFrame: true}
	it.frame.Data = append([]byte(nil), fr.Data...)
	if !l.add(ctx, it) {
		l.dropped(fr)
		return
	}
	l.bytes.Add(n)
	if len(l.ring) == 0 {
		// The analysis is waiting: no reason to make it wait longer.
		l.send(ctx)
	}
}

// dropped counts a frame the ring had no room for.
func (l *captureLoop) dropped(fr *capture.Frame) {
	l.pending.add(loss{Drops: Drops{Ring: 1}, from: fr.Time, to: fr.Time})
}

// poll reads the source's drop counters; what they gained since the last
// poll was lost between then and now.
func (l *captureLoop) poll(now time.Time) {
	from := l.polled
	l.polled = now
	if l.stats == nil {
		return
	}
	st, err := l.stats.Stats()
	if err != nil {
		return
	}
	k, i := st.Dropped-l.seen.Dropped, st.IfDropped-l.seen.IfDropped
	l.seen = st
	if k <= 0 && i <= 0 {
		return
	}
	if from.IsZero() {
		from = now
	}
	l.pending.add(loss{Drops: Drops{Kernel: max(k, 0), Interface: max(i, 0)}, from: from, to: now})
}

// add puts an item, with the pending loss, in the batch. A full batch is
// sent first; if the ring has no room for it, the item is refused (a
// frame is then dropped) unless the loop waits.
func (l *captureLoop) add(ctx context.Context, it ringItem) bool {
	if len(l.batch) >= ringBatch && !l.send(ctx) {
		return false
	}
	it.lost, l.pending = l.pending, loss{}
	it.polled = l.polled
	l.batch = append(l.batch, it)
	return true
}

// send hands the batch to the analysis, waiting for room only if the
// loop waits; it reports whether the batch went.
func (l *captureLoop) send(ctx context.Context) bool {
	if len(l.batch) == 0 {
		return true
	}
	if l.wait {
		select {
		case l.ring <- l.batch:
		case <-ctx.Done():
			return false
		}
	} else {
		select {
		case l.ring <- l.batch:
		default:
			return false
		}
	}
	l.batch = make([]ringItem, 0, ringBatch)
	return true
}

// finish hands over the batch and the last loss, waiting for room: the
// analysis drains the ring until it is closed.
func (l *captureLoop) finish() {
	l.poll(l.clock().UTC())
	if !l.pending.empty() {
		l.batch = append(l.batch, ringItem{tick: l.polled, lost: l.pending, polled: l.polled})
		l.pending = loss{}
	}
	if len(l.batch) > 0 {
		l.ring <- l.batch
		l.batch = nil
	}
}
