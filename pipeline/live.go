package pipeline

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/report"
	"github.com/smtpscope/smtpscope/smtp"
	"github.com/smtpscope/smtpscope/tlskeys"
	"github.com/smtpscope/smtpscope/tlsrecord"
)

// SweepEvery is the capture time between two passes of the timed
// incident rules (end-of-data and connect timeouts) over the open
// connections of a live run.
const SweepEvery = 200 * time.Millisecond

// LiveSource is what a live run reads: a capture.Live, or any source of
// frames whose Next may time out (capture.ErrTimeout) on a quiet link.
type LiveSource interface {
	Next() (capture.Frame, error)
	Info() capture.Info
}

// LiveOptions are the settings of a live run besides those of any run.
type LiveOptions struct {
	Options
	// EODTimeout and ConnectTimeout are the timed incident rules (see
	// report.IncidentRules; zero: never).
	EODTimeout, ConnectTimeout time.Duration
	// Incident, if set, is told each incident once, as it is seen.
	Incident func(*report.Incident)
	// Interval is the capture time between two calls of Progress (zero:
	// never).
	Interval time.Duration
	// Progress, if set, is given the run's counts every Interval.
	Progress func(*Progress)
	// Clock gives the time when no packet brings one, on a read timeout
	// (nil: time.Now).
	Clock func() time.Time
	// OpenChanged, if set, is told the number of connections not retired
	// yet each time it changes (for a gauge).
	OpenChanged func(open int)
	// Frame, if set, is given each frame before it is analysed (to write
	// it out, or count its bytes); an error ends the run. Frames are
	// numbered in the order they are analysed, so that a file written
	// here numbers them as the report does even when the ring dropped
	// some.
	Frame func(*capture.Frame) error
	// RingFrames and RingBytes bound the frames read from the source and
	// not analysed yet (zero: DefaultRingFrames, DefaultRingBytes).
	RingFrames, RingBytes int
	// RingWait makes a full ring wait for the analysis instead of
	// dropping frames: for a source replayed from a file, never for an
	// interface, whose kernel buffer would overflow instead.
	RingWait bool
	// Dropped, if set, is told of each loss the capture reports as the
	// analysis reaches it (for a counter).
	Dropped func(Drops)
	// Retiring, if set, is told each connection about to be added to the
	// report (before Connection is): LiveEvidence.Retiring.
	Retiring func(ConnRef)
	// PollTLSKeys, if set, adds to the KeyLog it is given what was
	// appended to the key log files it follows since its last call
	// (tlskeys.Follower.PollInto) and returns how many secrets that gave.
	// A goroutine of the run's own calls it every tlsKeyPollEvery, never
	// the analysis, and the run calls it once more after the capture
	// ended; what it gave is merged into TLSKeys on the analysis
	// goroutine. With it, a TLS session whose secrets are not in TLSKeys
	// yet waits for them (TLSKeyWait).
	PollTLSKeys func(*tlskeys.KeyLog) int
}

// Bounds of a live run's TLS session's wait for secrets that its followed
// key log does not hold yet (LiveOptions.PollTLSKeys, smtp.KeyWait): a
// peer writes a session's key log lines as it makes the session, and the
// file is read some time after. The session's records are held and
// decrypted when the secrets come; beyond a bound it stays inferred, and
// its decryption says so.
const (
	tlsKeyWaitRecords = 64
	tlsKeyWaitBytes   = 256 << 10
	tlsKeyWaitTime    = 3 * time.Second
)

// tlsKeyPollEvery is how often a live run reads its followed key logs
// (wall clock), on a goroutine of its own (keyReader); the analysis takes
// what they gave on every packet and read timeout, and whenever a session
// waits for its secrets.
const tlsKeyPollEvery = 10 * time.Millisecond

// Progress is a live run's counts at one moment.
type Progress struct {
	Time    time.Time
	Elapsed time.Duration
	Packets int
	// Open counts connections not retired yet, Ended those retired (in
	// the report).
	Open, Ended int
	// Delivered and Failed count mail transactions, ended or not;
	// Awaiting those whose end-of-data waits for its reply.
	Delivered, Failed, Awaiting int
	Incidents                   int
	// Dropped counts the packets lost before analysis so far.
	Dropped Drops
}

// LiveResult is the end of a live run.
type LiveResult struct {
	// Inputs describes the interface (one input), for report.Builder.Finish.
	Inputs []report.Input
	// Err is what cut the capture short, nil when ctx ended or the source
	// closed.
	Err error
	// Reason says why the run stopped, in a few words.
	Reason string
	// Packets, Incidents and the capture times of the first and last
	// packet.
	Packets, Incidents int
	Start, End         time.Time
	// Dropped counts the packets lost before analysis, DroppedConns the
	// connections open while they were (each capture-incomplete).
	Dropped      Drops
	DroppedConns int
}

// Live runs the pipeline over a live source until ctx ends or the source
// closes or fails. It is Run for a source without end: connections are
// retired and added to b as they end (so b's list bounds, report.Options
// ListFailed and ListHealthy, keep memory bounded), capture time advances
// on read timeouts (buffered data is flushed and idle connections end on
// a quiet link), and the incident rules of report run on each open
// connection as its bytes arrive and on a sweep every SweepEvery. The
// caller finishes b with the result's Inputs.
//
// The source is read by a goroutine of its own that never waits on the
// analysis: frames reach the analysis through a bounded ring, and a frame
// that finds it full is dropped. Those drops, and the source's own
// (DropStatser), are counted; every connection open while packets were
// lost is capture-incomplete in the report and in its incidents
// (report.Facts.Dropped). Capture time advances with the frames and with
// the source's read timeouts, which reach the analysis in order with the
// frames: a timeout proves that no packet before it is still waiting in
// a buffer, which a wall-clock tick of the analysis would not.
func Live(ctx context.Context, src LiveSource, b *report.Builder, opts LiveOptions) LiveResult {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	opts.RingFrames = cmp.Or(opts.RingFrames, DefaultRingFrames)
	opts.RingBytes = cmp.Or(opts.RingBytes, DefaultRingBytes)
	r := &liveRun{opts: opts, b: b, ports: opts.ports(),
		rules: report.IncidentRules{Options: opts.Report, EODTimeout: opts.EODTimeout, ConnectTimeout: opts.ConnectTimeout}}
	r.tr = reassembly.NewTracker(reassembly.Options{
		ServerPorts:      r.ports,
		IdleTimeout:      opts.IdleTimeout,
		MaxConnections:   opts.MaxConnections,
		MaxBufferedBytes: opts.MaxBufferedBytes,
		NewHandler:       r.newConn,
		Retire:           r.retire,
	})
	if opts.PollTLSKeys != nil && opts.TLSKeys != nil {
		r.keyReader = startKeyReader(opts.PollTLSKeys, tlsKeyPollEvery)
	}
	res := LiveResult{Err: r.read(ctx, src)}
	// The capture has ended and its last drop counts are told.
	r.release(true)
	if r.keyReader != nil {
		// The sessions still waiting for their keys look a last time as
		// their connections end (r.tr.Close).
		for _, got := range r.keyReader.close() {
			r.opts.TLSKeys.Merge(followedKeyLogs, got)
		}
	}
	res.Reason = "capture failed"
	if res.Err == nil {
		res.Reason = "source closed"
		if cause := context.Cause(ctx); cause != nil {
			res.Reason = cause.Error()
		}
	}
	r.tr.Close()
	info := src.Info()
	in := report.Input{Name: info.Name, Format: info.Format, Packets: r.packets, Start: r.start, End: r.end}
	if in.Format == "" {
		in.Format = "live"
	}
	stageCounters(&in, r.tr.Stats(), r.linkErr)
	if d := r.dropped; d.Total() > 0 || r.droppedConns > 0 || r.stats {
		in.Dropped = &report.Dropped{Kernel: d.Kernel, Interface: d.Interface, Ring: d.Ring, Connections: r.droppedConns}
	}
	if d := r.dropped; d.Total() > 0 {
		n := func(v int) string { return report.Thousands(int64(v)) }
		in.Warnings = append(in.Warnings, fmt.Sprintf("the capture lost %s packets before analysis (kernel %s, interface %s, smtpscope's ring %s); the %s connections open meanwhile are capture-incomplete",
			n(d.Total()), n(d.Kernel), n(d.Interface), n(d.Ring), n(r.droppedConns)))
	}
	if res.Err != nil {
		in.Warnings = append(in.Warnings, fmt.Sprintf("the capture stopped early: %v", res.Err))
	}
	res.Inputs = []report.Input{in}
	res.Packets, res.Incidents, res.Start, res.End = r.packets, r.incidents, r.start, r.end
	res.Dropped, res.DroppedConns = r.dropped, r.droppedConns
	return res
}

// liveRun is the state of one live run.
type liveRun struct {
	opts  LiveOptions
	b     *report.Builder
	ports []uint16
	rules report.IncidentRules
	tr    *reassembly.Tracker
	// open lists the connections not retired yet, in stream order
	// (retired ones are dropped at the next sweep).
	open                    []*liveConn
	openN                   int
	packets, incidents      int
	start, end              time.Time
	lastSweep, lastProgress time.Time
	linkErr                 error
	buf                     []report.Incident
	// dropped counts the losses told so far; lossUntil is the latest
	// capture time they reach: a connection that starts no later may
	// have lost its first packets. droppedConns counts the connections
	// marked. stats says the source counts its own drops.
	dropped      Drops
	lossUntil    time.Time
	droppedConns int
	stats        bool
	// keyReader reads the followed key logs, nil without; keysGrew says
	// they gave secrets that the sessions waiting for theirs have not
	// looked at yet.
	keyReader *keyReader
	keysGrew  bool
	// statsAt is the capture time up to which the source's drop counters
	// have been read and their losses told; held are the incidents seen
	// after it, told once the counters were read after them (see hold).
	statsAt time.Time
	held    []heldIncident
	// facts is where a connection's facts are made for the rules.
	facts report.Facts
	// certs keeps the TLS certificates read, each parsed once a run.
	certs tlsrecord.CertificateCache
}

// heldIncident is an incident waiting for the drop counters to be read
// after at, its connection's last frame or the sweep that raised it.
type heldIncident struct {
	in report.Incident
	lc *liveConn
	at time.Time
}

// liveConn is one connection's handler: the SMTP decoder, wrapped so that
// the incident rules run as its bytes and control events arrive.
type liveConn struct {
	run  *liveRun
	conn *reassembly.Conn
	// dec is made at the connection's first bytes, gap or control event
	// (see decoder): a SYN flood's connections, which have none, cost no
	// decoder. sess is its session; end is where the connection ended.
	dec   *smtp.Decoder
	sess  *smtp.Session
	end   reassembly.Mark
	watch report.IncidentWatch
	// smtpPort: the server port is an SMTP port; droppedKernel and
	// droppedRing: packets were lost while the connection was open (see
	// report.Facts).
	smtpPort, droppedKernel, droppedRing bool
	ended, retired                       bool
}

// facts fills f with what the incident rules know of the connection so
// far, and returns it: the facts are made for each look (their L4 health
// is the rules' to ask), so that an open connection costs little more
// than its decoder.
func (lc *liveConn) facts(f *report.Facts) *report.Facts {
	*f = report.Facts{Conn: lc.conn, Session: lc.sess, SMTPPort: lc.smtpPort,
		DroppedKernel: lc.droppedKernel, DroppedRing: lc.droppedRing}
	return f
}

// decoder returns the connection's SMTP decoder, made on first use.
func (lc *liveConn) decoder() *smtp.Decoder {
	if lc.dec == nil {
		lc.dec = smtp.NewDecoder(lc.run.decoderOptions(lc.conn))
		lc.sess = lc.dec.Session()
	}
	return lc.dec
}

// session returns what the decoder learned, nil before it was made
// (none of the connection's bytes came yet). Once the connection has
// ended it is the final session: a decoder made then has seen nothing
// but the end.
func (lc *liveConn) session() *smtp.Session {
	if lc.dec == nil && lc.ended {
		lc.decoder().End(lc.end)
	}
	if lc.dec == nil {
		return nil
	}
	return lc.dec.Session()
}

// lost marks the connection as open while packets were lost.
func (lc *liveConn) lost(l *loss) {
	if !lc.droppedKernel && !lc.droppedRing {
		lc.run.droppedConns++
	}
	lc.droppedKernel = lc.droppedKernel || l.Kernel+l.Interface > 0
	lc.droppedRing = lc.droppedRing || l.Ring > 0
}

var _ reassembly.Handler = (*liveConn)(nil)

func (lc *liveConn) Data(dir reassembly.Direction, data []byte, at reassembly.Marker) {
	lc.decoder().Data(dir, data, at)
	// What decides an incident is the server's (a reply) or a close; the
	// client's bytes (most of them a message body) wait for the next
	// sweep, at most SweepEvery later.
	if dir == reassembly.ServerToClient {
		lc.run.check(lc, at.Mark(len(data)-1).Time, false)
	}
}

func (lc *liveConn) Gap(dir reassembly.Direction, n int, at reassembly.Mark) {
	lc.decoder().Gap(dir, n, at)
}

func (lc *liveConn) Control(kind reassembly.EventKind, dir reassembly.Direction, at reassembly.Mark) {
	lc.decoder().Control(kind, dir, at)
	// A reset may refuse the connection: a rule that reads the L4 health.
	lc.run.check(lc, at.Time, kind == reassembly.EventRST)
}

func (lc *liveConn) End(at reassembly.Mark) {
	lc.end, lc.ended = at, true
	if lc.dec != nil {
		lc.dec.End(at)
	}
}

// read runs the capture goroutine and analyses what it hands over. It
// returns nil when ctx ends or the source is closed, and the error that
// stopped the capture (or Frame's) otherwise. When ctx ends, what was
// already captured is analysed before it returns.
func (r *liveRun) read(ctx context.Context, src LiveSource) error {
	l := newCaptureLoop(src, &r.opts)
	r.stats = l.stats != nil
	go l.run(ctx)
	done := ctx.Done()
	for {
		select {
		case batch, ok := <-l.ring:
			if !ok {
				return l.err
			}
			for i := range batch {
				if err := r.item(l, &batch[i]); err != nil {
					// The capture goroutine ends after its current read;
					// nothing touches the source once read returns.
					l.stop.Store(true)
					for range l.ring {
					}
					return err
				}
			}
		case <-done:
			l.stop.Store(true)
			done = nil
		}
	}
}

// item takes what the capture goroutine handed over: first what it lost
// before, then the frame or the tick.
func (r *liveRun) item(l *captureLoop, it *ringItem) error {
	if !it.lost.empty() {
		r.lost(&it.lost)
	}
	if it.polled.After(r.statsAt) {
		r.statsAt = it.polled
	}
	defer r.release(false)
	if !it.hasFrame {
		if !it.tick.IsZero() {
			r.tick(it.tick)
		}
		return nil
	}
	l.bytes.Add(-int64(len(it.frame.Data)))
	it.frame.Number = r.packets + 1
	if r.opts.Frame != nil {
		if err := r.opts.Frame(&it.frame); err != nil {
			return err
		}
	}
	r.frame(&it.frame)
	return nil
}

// lost counts a loss and marks the connections open: any may have lost
// packets in it.
func (r *liveRun) lost(l *loss) {
	r.dropped.Kernel += l.Kernel
	r.dropped.Interface += l.Interface
	r.dropped.Ring += l.Ring
	if l.to.After(r.lossUntil) {
		r.lossUntil = l.to
	}
	for _, lc := range r.open {
		if !lc.retired {
			lc.lost(l)
		}
	}
	if r.opts.Dropped != nil {
		r.opts.Dropped(l.Drops)
	}
}

// frame takes one captured packet through the pipeline.
func (r *liveRun) frame(fr *capture.Frame) {
	r.packets++
	if r.start.IsZero() || fr.Time.Before(r.start) {
		r.start = fr.Time
	}
	if fr.Time.After(r.end) {
		r.end = fr.Time
	}
	// The timed rules run before the packet: until it came, this is how
	// long the connections had been waiting.
	if fr.Time.Sub(r.lastSweep) >= SweepEvery {
		r.sweep(fr.Time)
	}
	r.keys(fr.Time)
	if err := r.tr.Add(fr); err != nil && r.linkErr == nil {
		r.linkErr = err
	}
	r.maybeProgress(fr.Time)
}

// followedKeyLogs names the followed key logs in the problems that
// merging what they gave finds (tlskeys.KeyLog.Merge).
const followedKeyLogs = "followed key log"

// refreshKeys adds to TLSKeys what the key log reader handed over, if
// anything: it never waits.
func (r *liveRun) refreshKeys() {
	if r.keyReader == nil {
		return
	}
	if got := r.keyReader.take(); got != nil && r.opts.TLSKeys.Merge(followedKeyLogs, got) > 0 {
		r.keysGrew = true
	}
}

// keys reads the followed key logs and, when they gave secrets, lets the
// sessions waiting for theirs look again, at capture time now.
func (r *liveRun) keys(now time.Time) {
	if r.keyReader == nil {
		return
	}
	r.refreshKeys()
	if !r.keysGrew {
		return
	}
	r.keysGrew = false
	for _, lc := range r.open {
		if !lc.retired && lc.dec != nil && lc.dec.WaitingForTLSKey() {
			lc.dec.RetryTLSKeys(now)
			r.check(lc, now, false)
		}
	}
}

// tick advances capture time on a quiet link: buffered data is flushed,
// idle connections end, and the timed rules run.
func (r *liveRun) tick(now time.Time) {
	r.keys(now)
	r.tr.Tick(now)
	if now.Sub(r.lastSweep) >= SweepEvery {
		r.sweep(now)
	}
	r.maybeProgress(now)
}

// decoderOptions are the SMTP decoder's options for connection c.
func (r *liveRun) decoderOptions(c *reassembly.Conn) smtp.Options {
	so := smtp.Options{ImplicitTLS: slices.Contains(r.opts.tlsPorts(), c.Server.Port()), Certificates: &r.certs}
	if r.opts.TLSKeys != nil {
		// Even when empty yet: a key log read as the capture runs fills.
		so.TLSKeys = r.opts.TLSKeys
		if r.keyReader != nil {
			so.TLSKeyWait = smtp.KeyWait{Records: tlsKeyWaitRecords, Bytes: tlsKeyWaitBytes, Time: tlsKeyWaitTime, Refresh: r.refreshKeys}
		}
	}
	return so
}

func (r *liveRun) newConn(c *reassembly.Conn) reassembly.Handler {
	lc := &liveConn{run: r, conn: c, smtpPort: slices.Contains(r.ports, c.Server.Port())}
	if !r.lossUntil.IsZero() && !c.FirstTime.After(r.lossUntil) {
		// Its first packets may be among those lost.
		lc.lost(&loss{Drops: Drops{Kernel: r.dropped.Kernel + r.dropped.Interface, Ring: r.dropped.Ring}})
	}
	r.open = append(r.open, lc)
	r.opened(1)
	return lc
}

// retire adds an ended connection to the report, as Run does.
func (r *liveRun) retire(c *reassembly.Conn) {
	fc := report.Facts{Conn: c, Health: c.Health(), SMTPPort: slices.Contains(r.ports, c.Server.Port()), Session: sessionOf(c)}
	if lc, ok := c.Handler.(*liveConn); ok {
		lc.retired = true
		r.opened(-1)
		fc.DroppedKernel, fc.DroppedRing = lc.droppedKernel, lc.droppedRing
	}
	if r.opts.Retiring != nil {
		r.opts.Retiring(refOf(&fc, 0))
	}
	r.b.Add(&fc)
	// The report has what it needs: let the decoder go.
	c.Handler = nil
}

// opened counts connections opened (+1) and retired (-1).
func (r *liveRun) opened(delta int) {
	r.openN += delta
	if r.opts.OpenChanged != nil {
		r.opts.OpenChanged(r.openN)
	}
}

// check runs the incident rules on one connection at capture time now.
func (r *liveRun) check(lc *liveConn, now time.Time, timed bool) {
	r.buf = r.rules.Incidents(r.buf[:0], &lc.watch, lc.facts(&r.facts), now, timed)
	for i := range r.buf {
		r.hold(lc, &r.buf[i], now)
	}
}

// hold tells an incident seen at capture time at, or holds it until the
// source's drop counters have been read after at: a source that counts
// its drops (libpcap) is asked every statsEvery, so packets lost just
// before at may not be counted yet, and the connection would be
// capture-incomplete once they are. Incidents are told in the order
// they were seen.
func (r *liveRun) hold(lc *liveConn, in *report.Incident, at time.Time) {
	if r.stats && (len(r.held) > 0 || r.statsAt.Before(at)) {
		r.held = append(r.held, heldIncident{in: *in, lc: lc, at: at})
		return
	}
	r.tell(lc, in)
}

// release tells the held incidents whose drop counters have been read
// (all: every one, at the end of the capture).
func (r *liveRun) release(all bool) {
	n := 0
	for ; n < len(r.held); n++ {
		h := &r.held[n]
		if !all && r.statsAt.Before(h.at) {
			break
		}
		r.tell(h.lc, &h.in)
	}
	if n > 0 {
		m := copy(r.held, r.held[n:])
		clear(r.held[m:])
		r.held = r.held[:m]
	}
}

// tell counts an incident and hands it to LiveOptions.Incident, as the
// capture-incomplete one if its connection overlapped a drop.
func (r *liveRun) tell(lc *liveConn, in *report.Incident) {
	in.ApplyDrops(lc.facts(&r.facts))
	r.incidents++
	if r.opts.Incident != nil {
		r.opts.Incident(in)
	}
}

// sweep runs the timed rules over the open connections and drops the
// retired ones from the open list.
func (r *liveRun) sweep(now time.Time) {
	r.lastSweep = now
	open := r.open[:0]
	for _, lc := range r.open {
		if lc.retired {
			continue
		}
		open = append(open, lc)
		// A session waiting for its key past the wait's time goes on
		// without it.
		if lc.dec != nil {
			lc.dec.RetryTLSKeys(now)
		}
		r.check(lc, now, true)
	}
	clear(r.open[len(open):])
	r.open = open
}

// maybeProgress calls Progress when Interval has passed.
func (r *liveRun) maybeProgress(now time.Time) {
	if r.opts.Interval <= 0 || r.opts.Progress == nil {
		return
	}
	if r.lastProgress.IsZero() {
		r.lastProgress = now
		return
	}
	if now.Sub(r.lastProgress) < r.opts.Interval {
		return
	}
	r.lastProgress = now
	t := r.b.Totals()
	p := Progress{Time: now, Elapsed: now.Sub(r.start), Packets: r.packets, Ended: t.Connections,
		Delivered: t.Delivered, Failed: t.Failed, Incidents: r.incidents, Dropped: r.dropped}
	for _, lc := range r.open {
		if lc.retired {
			continue
		}
		p.Open++
		if lc.dec == nil {
			continue
		}
		d, f, a := report.OpenCounts(lc.dec.Session())
		p.Delivered += d
		p.Failed += f
		p.Awaiting += a
	}
	r.opts.Progress(&p)
}
