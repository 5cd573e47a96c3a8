package pipeline

import (
	"math"
	"sync"
	"time"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/report"
)

// Sharded analysis (--workers N): the reading goroutine picks each
// frame's worker by its connection (reassembly.Sharder, which reads the
// addresses and ports without decoding common frames) and hands it,
// copied, to that worker; each worker runs its own Tracker (decoding,
// numbering its streams, TCP analysis, SMTP decoders); one collector turns
// the workers' stream numbers into the capture's (reassembly.StreamNumbers)
// and adds the connections to the report as the workers retire them. The
// report does not depend on the order they come in, so the output is the
// same as with one worker.

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
	tick  bool
}

// shardBatch is a run of items with their frames' bytes copied back to
// back into buf, whose capacity never grows (the items point into it).
// reached is the number of the last frame read when it was sent: once the
// worker is through the batch, it has handled all its frames up to there.
type shardBatch struct {
	items   []shardItem
	buf     []byte
	reached int
}

func newShardBatch() *shardBatch {
	return &shardBatch{items: make([]shardItem, 0, batchFrames), buf: make([]byte, 0, batchBytes)}
}

// add copies the frame into the batch; it reports false when the batch
// has no room left for it.
func (b *shardBatch) add(f *capture.Frame) bool {
	if len(b.items) == cap(b.items) {
		return false
	}
	it := shardItem{frame: *f}
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

// shardWorker is one worker: its Tracker, its queue and its free batches,
// and the first link-layer error it met.
type shardWorker struct {
	index    int
	tr       *reassembly.Tracker
	queue    chan *shardBatch
	free     chan *shardBatch
	current  *shardBatch
	errFrame int
	err      error
}

// shardNews is what a worker tells the collector, in the worker's order:
// a stream started (start), a connection retired (retired), or the worker
// is through all its frames up to reached.
type shardNews struct {
	worker  int
	start   int // first frame of a new stream (0: none)
	retired *retiredConn
	reached int // 0: none
}

// retiredConn is a connection a worker retired, with its report facts
// (built by the worker); its stream number is still the worker's own.
type retiredConn struct {
	facts report.Facts
	conn  *reassembly.Conn
}

// shardedRun runs one source over n workers.
type shardedRun struct {
	sharder *reassembly.Sharder
	workers []*shardWorker
	news    chan shardNews
	wg      sync.WaitGroup
	// read is the number of the last frame read.
	read int
}

func newShardedRun(n int, opts Options, facts func(*reassembly.Conn) report.Facts) *shardedRun {
	r := &shardedRun{sharder: reassembly.NewSharder(n), news: make(chan shardNews, 1024)}
	for i := range n {
		w := &shardWorker{index: i, queue: make(chan *shardBatch, batchesInFlight), free: make(chan *shardBatch, batchesInFlight+1)}
		for range batchesInFlight + 1 {
			w.free <- newShardBatch()
		}
		w.current = <-w.free
		w.tr = reassembly.NewTracker(reassembly.Options{
			ServerPorts:      opts.ports(),
			IdleTimeout:      opts.IdleTimeout,
			MaxConnections:   share(opts.MaxConnections, reassembly.DefaultMaxConnections, n),
			MaxBufferedBytes: share(opts.MaxBufferedBytes, reassembly.DefaultMaxBufferedBytes, n),
			NewHandler:       smtpHandler(opts.TLSKeys, opts.tlsPorts()),
			NewStream:        func(c *reassembly.Conn) { r.news <- shardNews{worker: i, start: c.FirstFrame} },
			Retire: func(c *reassembly.Conn) {
				r.news <- shardNews{worker: i, retired: &retiredConn{facts: facts(c), conn: c}}
			},
		})
		r.workers = append(r.workers, w)
		r.wg.Add(1)
		go r.work(w)
	}
	return r
}

// share is one of n workers' part of a cap (zero: def; negative: none).
func share(cap, def, n int) int {
	switch {
	case cap < 0:
		return cap
	case cap == 0:
		cap = def
	}
	return max(cap/n, 1)
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
			if err := w.tr.Add(&it.frame); err != nil && w.err == nil {
				w.errFrame, w.err = it.frame.Number, err
			}
		}
		reached := b.reached
		b.reset()
		w.free <- b
		r.news <- shardNews{worker: w.index, reached: reached}
	}
	w.tr.Close()
	r.news <- shardNews{worker: w.index, reached: math.MaxInt}
}

// add hands one frame to its worker, and a tick to every worker when the
// Sharder asks for one (sending every worker what it has, so that none
// lags far behind in capture time).
func (r *shardedRun) add(f *capture.Frame) {
	r.read = f.Number
	shard, tick := r.sharder.Shard(f)
	w := r.workers[shard]
	for !w.current.add(f) {
		r.send(w)
	}
	if tick {
		for _, w := range r.workers {
			for !w.current.addTick(f.Time) {
				r.send(w)
			}
			r.send(w)
		}
	}
}

func (r *shardedRun) send(w *shardWorker) {
	w.current.reached = r.read
	w.queue <- w.current
	w.current = <-w.free
}

// close flushes the batches and waits for the workers; the news channel
// closes when they are done.
func (r *shardedRun) close() {
	for _, w := range r.workers {
		if len(w.current.items) > 0 {
			r.send(w)
		}
		close(w.queue)
	}
	r.wg.Wait()
	close(r.news)
}

// collect numbers the retired connections as one Tracker would and hands
// them to add, until the workers are done.
func (r *shardedRun) collect(add func(*report.Facts)) {
	numbers := reassembly.NewStreamNumbers(len(r.workers))
	var waiting []shardNews
	for news := range r.news {
		switch {
		case news.start > 0:
			numbers.Start(news.worker, news.start)
			continue
		case news.retired != nil:
			waiting = append(waiting, news)
		default:
			numbers.Reached(news.worker, news.reached)
		}
		kept := waiting[:0]
		for _, n := range waiting {
			global, ok := numbers.Number(n.worker, n.retired.conn.Stream)
			if !ok {
				kept = append(kept, n)
				continue
			}
			n.retired.conn.Stream = global
			add(&n.retired.facts)
		}
		clear(waiting[len(kept):])
		waiting = kept
	}
}

// result adds up the workers' counters and returns the link-layer error
// of the earliest frame.
func (r *shardedRun) result() (reassembly.Stats, error) {
	var st reassembly.Stats
	var err error
	var evictions [][]reassembly.Eviction
	errFrame := 0
	for _, w := range r.workers {
		ws := w.tr.Stats()
		st.Frames += ws.Frames
		st.TCPFrames += ws.TCPFrames
		st.OtherFrames += ws.OtherFrames
		st.UnsupportedLink += ws.UnsupportedLink
		st.Expired += ws.Expired
		st.Evicted += ws.Evicted
		evictions = append(evictions, ws.Evictions)
		st.AckedHoles += ws.AckedHoles
		st.Recovered += ws.Recovered
		if w.err != nil && (err == nil || w.errFrame < errFrame) {
			err, errFrame = w.err, w.errFrame
		}
	}
	st.Evictions = reassembly.MergeEvictions(evictions...)
	return st, err
}
