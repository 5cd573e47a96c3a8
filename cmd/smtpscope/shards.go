package main

import (
	"sync"
	"time"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/report"
)

// Sharded analysis (--workers N): the reading goroutine decodes and
// numbers each frame (reassembly.Sharder) and hands it, copied, to the
// worker that owns its connection; each worker runs its own Tracker and
// SMTP decoders; one collector adds the connections to the report as the
// workers retire them. The report does not depend on the order they come
// in, so the output is the same as with one worker.

const (
	// batchFrames and batchBytes bound a batch of frames for one worker:
	// large enough that channel operations are rare per frame, small
	// enough that the batches in flight stay a few megabytes.
	batchFrames = 512
	batchBytes  = 512 << 10
	// batchesInFlight is how many batches a worker may have queued.
	batchesInFlight = 4
)

// shardItem is a frame for a worker, or a tick (tell the Tracker the
// capture time) when tick is set.
type shardItem struct {
	frame capture.Frame
	num   reassembly.Number
	tick  bool
}

// shardBatch is a run of items with their frames' bytes copied back to
// back into buf, whose capacity never grows (the items point into it).
type shardBatch struct {
	items []shardItem
	buf   []byte
}

func newShardBatch() *shardBatch {
	return &shardBatch{items: make([]shardItem, 0, batchFrames), buf: make([]byte, 0, batchBytes)}
}

// add copies the frame into the batch; it reports false when the batch
// has no room left for it.
func (b *shardBatch) add(f *capture.Frame, n reassembly.Number) bool {
	if len(b.items) == cap(b.items) {
		return false
	}
	it := shardItem{frame: *f, num: n}
	switch {
	case len(f.Data) > cap(b.buf):
		// Larger than any batch: a copy of its own (rare: snaplen > 512 KB).
		if len(b.items) > 0 {
			return false
		}
		it.frame.Data = append([]byte(nil), f.Data...)
	case len(b.buf)+len(f.Data) > cap(b.buf):
		return false
	default:
		start := len(b.buf)
		b.buf = append(b.buf, f.Data...)
		it.frame.Data = b.buf[start:len(b.buf):len(b.buf)]
	}
	b.items = append(b.items, it)
	return true
}

func (b *shardBatch) addTick(at time.Time) bool {
	if len(b.items) == cap(b.items) {
		return false
	}
	b.items = append(b.items, shardItem{frame: capture.Frame{Time: at}, tick: true})
	return true
}

func (b *shardBatch) reset() {
	clear(b.items)
	b.items, b.buf = b.items[:0], b.buf[:0]
}

// shardWorker is one worker: its Tracker, its queue and its free batches.
type shardWorker struct {
	tr      *reassembly.Tracker
	queue   chan *shardBatch
	free    chan *shardBatch
	current *shardBatch
}

// retired is a connection a worker retired, on its way to the collector.
type retired struct {
	facts report.Facts
	ref   connRef
}

// shardedRun runs one source over n workers.
type shardedRun struct {
	sharder *reassembly.Sharder
	workers []*shardWorker
	out     chan retired
	wg      sync.WaitGroup
}

func newShardedRun(n int, opts pipelineOptions, facts func(*reassembly.Conn) report.Facts) *shardedRun {
	r := &shardedRun{sharder: reassembly.NewSharder(n), out: make(chan retired, 256)}
	for range n {
		w := &shardWorker{queue: make(chan *shardBatch, batchesInFlight), free: make(chan *shardBatch, batchesInFlight+1)}
		for range batchesInFlight + 1 {
			w.free <- newShardBatch()
		}
		w.current = <-w.free
		w.tr = reassembly.NewTracker(reassembly.Options{
			ServerPorts: opts.serverPorts,
			NewHandler:  newSMTPHandler,
			Retire: func(c *reassembly.Conn) {
				fc := facts(c)
				r.out <- retired{facts: fc, ref: refOf(c, fc.Input)}
			},
		})
		r.workers = append(r.workers, w)
		r.wg.Add(1)
		go r.work(w)
	}
	return r
}

// work runs a worker until its queue is closed, then closes its Tracker.
func (r *shardedRun) work(w *shardWorker) {
	defer r.wg.Done()
	for b := range w.queue {
		for i := range b.items {
			it := &b.items[i]
			if it.tick {
				w.tr.Tick(it.frame.Time)
				continue
			}
			// The Sharder decoded the frame already: no error is left.
			w.tr.AddNumbered(&it.frame, it.num)
		}
		b.reset()
		w.free <- b
	}
	w.tr.Close()
}

// add hands one frame to its worker (and a tick to every worker when the
// Sharder asks for one).
func (r *shardedRun) add(f *capture.Frame) error {
	shard, n, ok, tick, err := r.sharder.Shard(f)
	if ok {
		w := r.workers[shard]
		for !w.current.add(f, n) {
			r.send(w)
		}
	}
	if tick {
		for _, w := range r.workers {
			for !w.current.addTick(f.Time) {
				r.send(w)
			}
		}
	}
	return err
}

func (r *shardedRun) send(w *shardWorker) {
	w.queue <- w.current
	w.current = <-w.free
}

// close flushes the batches and waits for the workers; the collector
// channel closes when they are done.
func (r *shardedRun) close() {
	for _, w := range r.workers {
		if len(w.current.items) > 0 {
			r.send(w)
		}
		close(w.queue)
	}
	r.wg.Wait()
	close(r.out)
}

// stats adds up the Sharder's and the Trackers' counters.
func (r *shardedRun) stats() reassembly.Stats {
	st := r.sharder.Stats()
	for _, w := range r.workers {
		ws := w.tr.Stats()
		st.Expired += ws.Expired
		st.AckedHoles += ws.AckedHoles
		st.Recovered += ws.Recovered
	}
	return st
}
