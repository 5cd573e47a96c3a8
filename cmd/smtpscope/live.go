package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/spf13/pflag"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/report"
	"github.com/smtpscope/smtpscope/smtp"
)

// Timing of the live loop.
const (
	// liveReadTimeout bounds how long one read from the interface waits:
	// it is the longest delay before a signal, the end of --duration or a
	// quiet link's timeouts are noticed.
	liveReadTimeout = 100 * time.Millisecond
	// liveSweepEvery is the capture time between two passes of the timed
	// incident rules (--eod-timeout, --connect-timeout) over the open
	// connections.
	liveSweepEvery = 200 * time.Millisecond
)

// Bounds on what the final report lists, so that memory stays bounded on
// a long run. Connections that end beyond them are counted in the totals,
// not listed, and the report says how many.
const (
	// liveListFailed is how many ended connections with a failure are
	// kept whole for the final report.
	liveListFailed = 1000
	// liveListHealthy is how many ended connections without a failure are
	// kept whole for the final report.
	liveListHealthy = 200
)

// Defaults of the live flags.
const (
	defaultEODTimeout = 10 * time.Second
	// defaultConnectTimeout: Linux sends a SYN at 0 s, 1 s and 3 s (initial
	// RTO 1 s, RFC 6298 §2), so 3 s without a SYN+ACK is two lost tries.
	defaultConnectTimeout = 3 * time.Second
	defaultInterval       = time.Minute
	defaultLiveSnaplen    = 262144
)

// errDurationReached is the cause of the end of a run that lasted --duration.
var errDurationReached = errors.New("duration reached")

const liveUsage = `Usage: smtpscope live [flags]

Captures SMTP traffic from a network interface and analyses it as it
happens (needs root or CAP_NET_RAW, and a build with cgo and libpcap).

Standard error carries the event stream: a start line, each incident once
(per mail transaction, or per connection for refused and unanswered ones),
a summary every --interval, and a stop line. With --format json these are
JSON objects, one per line, with "type" start, incident, summary or stop.
An incident line reads

  TIME INCIDENT KIND stream N CLIENT → SERVER frame F [message M]: WHAT

with N Wireshark's tcp.stream, F the frame to look at (numbered as in the
--write file) and M the mail transaction's number in the connection.
Standard output (or -o FILE) gets the full report when the capture ends:
--duration reached, SIGINT or SIGTERM. It is the report "smtpscope analyze"
writes, in the same formats; connections that ended beyond the first %d
failed and %d healthy ones are counted in its totals but not listed.

Incidents (besides eod-timeout, the kinds are the report's causes):
  eod-timeout        end-of-data still unanswered after --eod-timeout (the
                     report tells whether it stayed so or was answered late)
  eod-no-reply       the client gave up waiting for the end-of-data reply
                     (QUIT, FIN or RST), or the server closed the connection
  reset-by-server    a reset in the message body or while end-of-data waited
  reset-by-client    a reset in the message body
  closed-by-server   the server closed the connection in the message body
  aborted-by-client  the client closed the connection in the message body
  rejected/deferred  a 5xx/4xx after end-of-data, to MAIL or DATA, to every
                     recipient, or in the greeting
  connect-refused    a SYN to an SMTP port answered by RST
  connect-timeout    a SYN to an SMTP port unanswered for --connect-timeout
  capture-incomplete an end-of-data unanswered, but the capture lost part of
                     the connection: the reply may be in the gap

Exit status: 0 nothing failed; 1 at least one failed mail transaction or
broken connection; 2 could not capture (after a failure part-way, the
report of what was captured is still written).

Flags:
%s`

// liveFlags are the flags of "smtpscope live".
type liveFlags struct {
	iface          string
	filter         string
	snaplen        int
	promisc        bool
	duration       time.Duration
	interval       time.Duration
	eodTimeout     time.Duration
	connectTimeout time.Duration
	idleTimeout    time.Duration
	write          string
	format         string
	output         string
	smtpPorts      []uint
	slowReply      time.Duration
	redact         bool
	color          string
}

// runLive is "smtpscope live": it returns the exit status.
func runLive(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("live", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var f liveFlags
	fs.StringVarP(&f.iface, "interface", "i", "any", "capture on `IFACE` (\"any\": every interface, where libpcap supports it, as on Linux)")
	fs.StringVar(&f.filter, "filter", "", "BPF `FILTER` in tcpdump syntax (default: TCP to or from the SMTP ports, --smtp-ports included)")
	fs.IntVar(&f.snaplen, "snaplen", defaultLiveSnaplen, "keep the first `BYTES` of each packet")
	fs.BoolVar(&f.promisc, "promisc", false, "put the interface in promiscuous mode")
	fs.DurationVar(&f.duration, "duration", 0, "stop after `DURATION` (0: run until SIGINT or SIGTERM)")
	fs.DurationVar(&f.interval, "interval", defaultInterval, "write a summary line every `DURATION` (0: never)")
	fs.DurationVar(&f.eodTimeout, "eod-timeout", defaultEODTimeout, "report an end-of-data unanswered for `DURATION`")
	fs.DurationVar(&f.connectTimeout, "connect-timeout", defaultConnectTimeout, "report a SYN to an SMTP port unanswered for `DURATION`")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", reassembly.DefaultIdleTimeout, "end a connection idle for `DURATION` and summarise it")
	fs.StringVarP(&f.write, "write", "w", "", "also write the captured packets to `FILE` (pcapng)")
	fs.StringVar(&f.format, "format", "text", "report and event format: text or json")
	fs.StringVarP(&f.output, "output", "o", "", "write the report to `FILE` instead of standard output")
	fs.UintSliceVar(&f.smtpPorts, "smtp-ports", nil, "extra server `PORTS` to treat as SMTP (25, 465, 587, 2525 always are)")
	fs.DurationVar(&f.slowReply, "slow-reply", report.DefaultSlowReply, "report delivered messages whose end-of-data reply took at least `DURATION`")
	fs.BoolVar(&f.redact, "redact", false, "replace mail addresses and HELO names with stable tokens in the report")
	fs.StringVar(&f.color, "color", "auto", "colour the text report: auto, always or never (NO_COLOR is honoured)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, liveUsage, liveListFailed, liveListHealthy, fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "smtpscope live: %v (see \"smtpscope live --help\")\n", err)
		return exitError
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "smtpscope live: "+format+"\n", a...)
		return exitError
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q (capture files go to \"smtpscope analyze\")", fs.Arg(0))
	}
	switch f.format {
	case "text", "json":
	default:
		return fail("unknown --format %q (want text or json)", f.format)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
		zero bool // zero allowed
	}{
		{"duration", f.duration, true}, {"interval", f.interval, true}, {"eod-timeout", f.eodTimeout, false},
		{"connect-timeout", f.connectTimeout, false}, {"idle-timeout", f.idleTimeout, false},
		{"slow-reply", f.slowReply, false},
	} {
		if d.v < 0 || d.v == 0 && !d.zero {
			return fail("--%s must be positive, not %s", d.name, d.v)
		}
	}
	if f.snaplen <= 0 {
		return fail("--snaplen must be positive, not %d", f.snaplen)
	}
	ports := []uint16{25, 465, 587, 2525}
	for _, p := range f.smtpPorts {
		if p == 0 || p > 65535 {
			return fail("--smtp-ports: %d is not a TCP port", p)
		}
		if !slices.Contains(ports, uint16(p)) {
			ports = append(ports, uint16(p))
		}
	}
	if f.filter == "" {
		f.filter = smtpFilter(ports)
	}

	// The capture opens first: when it cannot (no permission, no cgo), no
	// file of the user's has been truncated. The outputs open next, so
	// that a wrong path fails now rather than after hours of capture.
	src, err := capture.OpenLive(capture.LiveOptions{
		Interface: f.iface, Filter: f.filter, Snaplen: f.snaplen, Promisc: f.promisc, Timeout: liveReadTimeout,
	})
	if err != nil {
		return fail("%s", oneLine(err))
	}
	defer src.Close()
	out := stdout
	var reportFile *os.File
	if f.output != "" && f.output != "-" {
		file, err := os.Create(f.output)
		if err != nil {
			return fail("%s", oneLine(err))
		}
		reportFile, out = file, file
		defer reportFile.Close()
	}
	var packetFile *os.File
	if f.write != "" {
		file, err := os.Create(f.write)
		if err != nil {
			return fail("%s", oneLine(err))
		}
		packetFile = file
		defer packetFile.Close()
	}

	cfg := liveConfig{
		ports: ports, eodTimeout: f.eodTimeout, connectTimeout: f.connectTimeout, idleTimeout: f.idleTimeout,
		interval: f.interval, report: report.Options{SlowReply: f.slowReply, Redact: f.redact},
		events: newEventWriter(stderr, f.format), clock: time.Now,
	}
	if packetFile != nil {
		cfg.packets = &packetSink{file: packetFile, name: f.write, iface: f.iface, filter: f.filter, snaplen: f.snaplen}
	}

	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, f.duration, errDurationReached)
		defer cancel()
	}
	cfg.events.start(time.Now(), f.iface, f.filter, f.snaplen, f.write)
	res := runLiveLoop(ctx, src, cfg)
	// From here a second SIGINT ends the process the default way.
	stopSignals()

	switch f.format {
	case "json":
		err = res.report.WriteJSON(out)
	default:
		err = res.report.WriteText(out, textOptions(f.color, out))
	}
	if reportFile != nil {
		if cerr := reportFile.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fail("%s", oneLine(err))
	}
	if res.err != nil {
		fmt.Fprintf(stderr, "smtpscope live: %s\n", oneLine(res.err))
		return exitError
	}
	if res.report.Failed() {
		return exitFindings
	}
	return exitOK
}

// smtpFilter is the default BPF filter: TCP to or from any SMTP port.
func smtpFilter(ports []uint16) string {
	terms := make([]string, len(ports))
	for i, p := range ports {
		terms[i] = fmt.Sprintf("port %d", p)
	}
	return "tcp and (" + strings.Join(terms, " or ") + ")"
}

// liveSource is what the live loop reads: a capture.Live, or in tests
// any source of frames that may time out.
type liveSource interface {
	Next() (capture.Frame, error)
	Info() capture.Info
}

// linkTyper is a source that tells its link type before the first frame,
// as pcapgo.Reader and pcap.Handle do. The pcapng file is then complete
// even when no packet was captured.
type linkTyper interface {
	LinkType() layers.LinkType
}

// liveConfig is what the live loop needs besides its source.
type liveConfig struct {
	// ports are the SMTP server ports.
	ports []uint16
	// eodTimeout, connectTimeout: the timed incident rules.
	eodTimeout, connectTimeout time.Duration
	// idleTimeout ends (and summarises) an idle connection.
	idleTimeout time.Duration
	// interval between summaries (0: none).
	interval time.Duration
	report   report.Options
	events   *eventWriter
	// packets receives every frame, nil for none.
	packets *packetSink
	// clock gives the time when no packet brings one: on a read timeout.
	clock func() time.Time
	// listFailed and listHealthy bound the ended connections the report
	// lists (zero: liveListFailed, liveListHealthy).
	listFailed, listHealthy int
}

// liveResult is the end of a run: the report, and the error that cut the
// capture short, if any.
type liveResult struct {
	report *report.Report
	err    error
}

// forgetter is a tracker that can drop an ended connection, so that a long
// run does not keep every connection it ever saw.
type forgetter interface {
	Forget(c *reassembly.Conn)
}

// liveRun is the state of one live capture: the pipeline of "analyze" fed
// frame by frame, the incident rules, and the connections kept for the
// final report.
type liveRun struct {
	cfg   liveConfig
	rules incidentRules
	tr    *reassembly.Tracker

	// open lists the connections not ended yet, in stream order (ended
	// ones are removed at the next sweep).
	open []*liveConn
	// kept are the ended connections the report lists.
	kept                 []*liveConn
	keptFailed, keptOK   int
	ended                report.Totals // over every ended connection
	unlisted             report.Totals // over the ended ones not kept
	unlistedConns        int
	unlistedFailedConns  int
	forget               []*reassembly.Conn
	packets, incidents   int
	start, end           time.Time // capture times of the first and last frame
	lastSweep, lastBrief time.Time
	linkErr              error
	buf                  []incident
}

// liveConn is one connection's handler: the SMTP decoder, wrapped so that
// the incident rules run as its bytes and control events arrive.
type liveConn struct {
	run   *liveRun
	conn  *reassembly.Conn
	dec   *smtp.Decoder
	watch connWatch
	// facts are set when the connection ended: what the report keeps.
	facts *report.Facts
}

var _ reassembly.Handler = (*liveConn)(nil)

func (lc *liveConn) Data(dir reassembly.Direction, data []byte, at reassembly.Marker) {
	lc.dec.Data(dir, data, at)
	if dir == reassembly.ServerToClient {
		lc.watch.established = true
	}
	lc.run.check(lc, at.Mark(len(data)-1).Time, false)
}

func (lc *liveConn) Gap(dir reassembly.Direction, n int, at reassembly.Mark) {
	lc.dec.Gap(dir, n, at)
}

func (lc *liveConn) Control(kind reassembly.EventKind, dir reassembly.Direction, at reassembly.Mark) {
	lc.dec.Control(kind, dir, at)
	lc.run.check(lc, at.Time, kind == reassembly.EventRST)
}

func (lc *liveConn) End(at reassembly.Mark) {
	lc.dec.End(at)
	lc.run.settle(lc)
}

// runLiveLoop reads src until ctx ends or the source fails, then returns
// the report. Incidents, summaries and the stop line go to cfg.events.
func runLiveLoop(ctx context.Context, src liveSource, cfg liveConfig) liveResult {
	if cfg.listFailed <= 0 {
		cfg.listFailed = liveListFailed
	}
	if cfg.listHealthy <= 0 {
		cfg.listHealthy = liveListHealthy
	}
	r := &liveRun{cfg: cfg, rules: incidentRules{eodTimeout: cfg.eodTimeout, connectTimeout: cfg.connectTimeout}}
	r.tr = reassembly.NewTracker(reassembly.Options{
		ServerPorts: cfg.ports,
		IdleTimeout: cfg.idleTimeout,
		NewHandler:  r.newConn,
	})
	if p := cfg.packets; p != nil {
		if lt, ok := src.(linkTyper); ok {
			p.open(lt.LinkType())
		}
	}
	stopErr := r.read(ctx, src)
	why := "capture failed"
	if stopErr == nil {
		why = "source closed"
		if cause := context.Cause(ctx); cause != nil {
			why = cause.Error()
		}
	}
	r.tr.Close()
	r.forgetEnded()
	var warnings []string
	if p := cfg.packets; p != nil {
		if err := p.close(); err != nil && stopErr == nil {
			stopErr = err
		}
	}
	if stopErr != nil {
		warnings = append(warnings, fmt.Sprintf("the capture stopped early: %v", oneLine(stopErr)))
	}
	rep := r.buildReport(src.Info(), warnings)
	cfg.events.stop(cfg.clock(), why, r.end.Sub(r.start), r.packets, r.incidents, &rep.Totals)
	return liveResult{report: rep, err: stopErr}
}

// read is the capture loop. It returns nil when ctx ends or the source is
// closed, and the error that stopped it otherwise.
func (r *liveRun) read(ctx context.Context, src liveSource) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		default:
		}
		fr, err := src.Next()
		switch {
		case err == nil:
			if err := r.frame(&fr); err != nil {
				return err
			}
		case errors.Is(err, capture.ErrTimeout):
			r.tick(r.cfg.clock().UTC())
		case errors.Is(err, io.EOF):
			return nil
		default:
			return err
		}
	}
}

// frame takes one captured packet through the pipeline.
func (r *liveRun) frame(fr *capture.Frame) error {
	r.packets++
	if r.start.IsZero() || fr.Time.Before(r.start) {
		r.start = fr.Time
	}
	if fr.Time.After(r.end) {
		r.end = fr.Time
	}
	if p := r.cfg.packets; p != nil {
		if err := p.write(fr); err != nil {
			return err
		}
	}
	// The timed rules run before the packet: until it came, this is how
	// long the connections had been waiting.
	if fr.Time.Sub(r.lastSweep) >= liveSweepEvery {
		r.sweep(fr.Time)
	}
	if err := r.tr.Add(fr); err != nil && r.linkErr == nil {
		r.linkErr = err
	}
	r.forgetEnded()
	r.maybeSummary(fr.Time)
	return nil
}

// tick advances capture time on a quiet link: buffered data is flushed,
// idle connections end, and the timed rules run.
func (r *liveRun) tick(now time.Time) {
	r.tr.Tick(now)
	r.forgetEnded()
	if now.Sub(r.lastSweep) >= liveSweepEvery {
		r.sweep(now)
	}
	r.maybeSummary(now)
}

func (r *liveRun) newConn(c *reassembly.Conn) reassembly.Handler {
	lc := &liveConn{run: r, conn: c, dec: smtp.NewDecoder(smtp.Options{})}
	lc.watch.smtpPort = slices.Contains(r.cfg.ports, c.Server.Port())
	r.open = append(r.open, lc)
	return lc
}

// check runs the event rules on one connection after a delivery.
func (r *liveRun) check(lc *liveConn, now time.Time, reset bool) {
	r.buf = r.rules.check(r.buf[:0], &lc.watch, lc.conn, lc.dec.Session(), now, reset, false)
	r.tell(r.buf)
}

// sweep runs the timed rules over the open connections and drops the
// ended ones from the open list.
func (r *liveRun) sweep(now time.Time) {
	r.lastSweep = now
	open := r.open[:0]
	for _, lc := range r.open {
		if lc.facts != nil {
			continue
		}
		open = append(open, lc)
		r.buf = r.rules.check(r.buf[:0], &lc.watch, lc.conn, lc.dec.Session(), now, false, true)
		r.tell(r.buf)
	}
	clear(r.open[len(open):])
	r.open = open
}

func (r *liveRun) tell(incidents []incident) {
	for i := range incidents {
		r.incidents++
		r.cfg.events.incident(&incidents[i])
	}
}

// settle summarises a connection that ended: it is kept whole for the
// report while the list has room, else only counted.
func (r *liveRun) settle(lc *liveConn) {
	c := lc.conn
	fc := report.Facts{Conn: c, Health: c.Health(), Session: lc.dec.Session(), SMTPPort: lc.watch.smtpPort}
	one := report.Build(nil, []report.Facts{fc}, r.cfg.report)
	failed := one.Failed()
	addTotals(&r.ended, &one.Totals)
	lc.facts = &fc
	switch {
	case failed && r.keptFailed < r.cfg.listFailed:
		r.keptFailed++
		r.kept = append(r.kept, lc)
	case !failed && r.keptOK < r.cfg.listHealthy:
		r.keptOK++
		r.kept = append(r.kept, lc)
	default:
		addTotals(&r.unlisted, &one.Totals)
		r.unlistedConns++
		if failed {
			r.unlistedFailedConns++
		}
		// Only the counts remain: let the session go.
		lc.dec, lc.facts.Session = nil, nil
		c.Handler = nil
		r.forget = append(r.forget, c)
	}
}

// forgetEnded lets the tracker drop the connections that ended and are
// not listed, if it can (see forgetter).
func (r *liveRun) forgetEnded() {
	if f, ok := any(r.tr).(forgetter); ok {
		for _, c := range r.forget {
			f.Forget(c)
		}
	}
	clear(r.forget)
	r.forget = r.forget[:0]
}

// maybeSummary writes the summary line when --interval has passed.
func (r *liveRun) maybeSummary(now time.Time) {
	if r.cfg.interval <= 0 {
		return
	}
	if r.lastBrief.IsZero() {
		r.lastBrief = now
		return
	}
	if now.Sub(r.lastBrief) < r.cfg.interval {
		return
	}
	r.lastBrief = now
	s := liveSummary{Time: now, Elapsed: now.Sub(r.start), Packets: r.packets, Ended: r.ended.Connections,
		Delivered: r.ended.Delivered, Failed: r.ended.Failed, Incidents: r.incidents}
	for _, lc := range r.open {
		if lc.facts != nil {
			continue
		}
		s.Open++
		for _, tx := range lc.dec.Session().Transactions {
			switch {
			case tx.EndOfDataFrame == 0:
			case tx.Reply == nil:
				s.Awaiting++
			case tx.Reply.Code < 300:
				s.Delivered++
			case tx.Reply.Code >= 400:
				s.Failed++
			}
		}
	}
	r.cfg.events.summary(&s)
	if p := r.cfg.packets; p != nil {
		// A file cut short by a crash still holds everything up to here.
		p.flush()
	}
}

// buildReport makes the final report over the kept connections, with the
// unlisted ones in the totals.
func (r *liveRun) buildReport(info capture.Info, warnings []string) *report.Report {
	in := report.Input{Name: info.Name, Format: info.Format, Packets: r.packets, Start: r.start, End: r.end}
	if in.Format == "" {
		in.Format = "live"
	}
	st := r.tr.Stats()
	if st.UnsupportedLink > 0 {
		in.Warnings = append(in.Warnings, fmt.Sprintf("%d frames skipped: %v", st.UnsupportedLink, r.linkErr))
	}
	if st.Recovered > 0 {
		in.Warnings = append(in.Warnings, fmt.Sprintf("%d reassembly faults recovered; affected connections are cut short", st.Recovered))
	}
	if r.unlistedConns > 0 {
		in.Warnings = append(in.Warnings, fmt.Sprintf(
			"%d ended connections (%d of them failed) are counted in the totals but not listed: live mode lists the first %d failed and %d healthy ones",
			r.unlistedConns, r.unlistedFailedConns, r.cfg.listFailed, r.cfg.listHealthy))
	}
	in.Warnings = append(in.Warnings, warnings...)
	slices.SortFunc(r.kept, func(a, b *liveConn) int { return a.conn.Stream - b.conn.Stream })
	facts := make([]report.Facts, 0, len(r.kept))
	for _, lc := range r.kept {
		fc := *lc.facts
		// Packets of an ended connection still count in its L4 analysis.
		fc.Health = lc.conn.Health()
		facts = append(facts, fc)
	}
	rep := report.Build([]report.Input{in}, facts, r.cfg.report)
	addUnlisted(rep, &r.unlisted)
	return rep
}

// addTotals adds b to a.
func addTotals(a, b *report.Totals) {
	a.Connections += b.Connections
	a.SMTPConnections += b.SMTPConnections
	a.Transactions += b.Transactions
	a.Delivered += b.Delivered
	a.Failed += b.Failed
}

// addUnlisted counts connections the report does not list in its totals
// and, when nothing failed, in its headline (whose counts come from the
// totals). A failure headline counts only listed connections, which hold
// every failure kind that was seen.
func addUnlisted(rep *report.Report, t *report.Totals) {
	if t.Connections == 0 {
		return
	}
	addTotals(&rep.Totals, t)
	if rep.Verdict.Cause == report.CauseOK && rep.Totals.SMTPConnections > 0 {
		rep.Verdict.Summary = fmt.Sprintf("No failure found: %d of %d mail transactions delivered.", rep.Totals.Delivered, rep.Totals.Transactions)
	}
}

// packetSink writes the captured frames to a pcapng file (--write). The
// file was created before the capture; the section and interface blocks
// are written once the link type is known.
type packetSink struct {
	file    *os.File
	name    string
	iface   string
	filter  string
	snaplen int
	w       *pcapgo.NgWriter
	err     error
}

func (p *packetSink) open(lt layers.LinkType) {
	if p.w != nil || p.err != nil {
		return
	}
	intf := pcapgo.DefaultNgInterface
	intf.Name, intf.Filter, intf.LinkType, intf.SnapLength = p.iface, p.filter, lt, uint32(p.snaplen)
	opts := pcapgo.DefaultNgWriterOptions
	opts.SectionInfo.Application = "smtpscope " + version
	p.w, p.err = pcapgo.NewNgWriterInterface(p.file, intf, opts)
}

func (p *packetSink) write(fr *capture.Frame) error {
	p.open(fr.LinkType)
	if p.err == nil {
		ci := gopacket.CaptureInfo{Timestamp: fr.Time, CaptureLength: len(fr.Data), Length: max(fr.Length, len(fr.Data))}
		p.err = p.w.WritePacket(ci, fr.Data)
	}
	if p.err != nil {
		return fmt.Errorf("--write %s: %w", p.name, p.err)
	}
	return nil
}

func (p *packetSink) flush() {
	if p.w != nil && p.err == nil {
		p.err = p.w.Flush()
	}
}

// close completes the file. Without any packet or a link type from the
// source, the interface block says Ethernet: with no packet, nothing
// depends on it.
func (p *packetSink) close() error {
	p.open(layers.LinkTypeEthernet)
	p.flush()
	if err := p.file.Close(); err != nil && p.err == nil {
		p.err = err
	}
	if p.err != nil {
		return fmt.Errorf("--write %s: %w", p.name, p.err)
	}
	return nil
}
