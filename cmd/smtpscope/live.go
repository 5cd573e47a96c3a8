package main

import (
	"cmp"
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

	"github.com/spf13/pflag"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/events"
	"github.com/smtpscope/smtpscope/metrics"
	"github.com/smtpscope/smtpscope/pipeline"
	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/report"
	"github.com/smtpscope/smtpscope/wiring"
)

// Timing of the live loop.
const (
	// liveReadTimeout bounds how long one read from the interface waits:
	// it is the longest delay before a signal, the end of --duration or a
	// quiet link's timeouts are noticed.
	liveReadTimeout = 100 * time.Millisecond
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
	// maxBufferMiB bounds --buffer-size: just under 2 GiB, the most
	// libpcap's buffer size (a C int of bytes) can say.
	maxBufferMiB = 2047
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

Incident kinds: eod-timeout, an end-of-data still unanswered after
--eod-timeout (the report tells whether it stayed so or was answered
late); connect-timeout, a SYN to an SMTP port unanswered for
--connect-timeout; and otherwise the report's own cause for the
transaction or connection (eod-no-reply, rejected, deferred,
reset-by-server, connect-refused, capture-incomplete, ...), decided by the
report's rules as soon as the capture shows it.

Exit status: 0 nothing failed; 1 at least one failed mail transaction or
broken connection; 2 could not capture, or an --evidence file could not
be written (after a failure part-way, the report of what was captured is
still written).

Flags:
%s`

// liveFlags are the flags of "smtpscope live".
type liveFlags struct {
	iface          string
	filter         string
	snaplen        int
	promisc        bool
	bufferMiB      int
	duration       time.Duration
	interval       time.Duration
	eodTimeout     time.Duration
	connectTimeout time.Duration
	idleTimeout    time.Duration
	write          string
	format         string
	output         string
	smtpPorts      []uint
	tlsPorts       []uint
	slowReply      time.Duration
	redact         bool
	color          string
	events         string
	metrics        string
	user           string

	// evidence and evidenceMaxBytes: the failing connections' packets,
	// written as they end (pipeline.LiveEvidence).
	evidence         string
	evidenceMaxBytes byteSize
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
	fs.IntVar(&f.bufferMiB, "buffer-size", capture.DefaultBufferSize>>20, "kernel capture buffer of `MIB` mebibytes: packets that find it full are dropped")
	fs.DurationVar(&f.duration, "duration", 0, "stop after `DURATION` (0: run until SIGINT or SIGTERM)")
	fs.DurationVar(&f.interval, "interval", defaultInterval, "write a summary line every `DURATION` (0: never)")
	fs.DurationVar(&f.eodTimeout, "eod-timeout", defaultEODTimeout, "report an end-of-data unanswered for `DURATION`")
	fs.DurationVar(&f.connectTimeout, "connect-timeout", defaultConnectTimeout, "report a SYN to an SMTP port unanswered for `DURATION`")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", reassembly.DefaultIdleTimeout, "end a connection idle for `DURATION` and summarise it")
	fs.StringVarP(&f.write, "write", "w", "", "also write the captured packets to `FILE` (pcapng)")
	fs.StringVar(&f.format, "format", "text", "report and event format: text or json")
	fs.StringVarP(&f.output, "output", "o", "", "write the report to `FILE` instead of standard output")
	fs.UintSliceVar(&f.smtpPorts, "smtp-ports", nil, "extra server `PORTS` to treat as SMTP (25, 465, 587, 2525 always are)")
	fs.UintSliceVar(&f.tlsPorts, tlsPortsFlag, nil, tlsPortsUsage)
	fs.DurationVar(&f.slowReply, "slow-reply", report.DefaultSlowReply, "report delivered messages whose end-of-data reply took at least `DURATION`")
	fs.BoolVar(&f.redact, "redact", false, "replace mail, IP addresses and host names with stable tokens in the report and in every incident and event line; ports and codes stay")
	fs.StringVar(&f.color, "color", "auto", "colour the text report: auto, always or never (NO_COLOR is honoured)")
	fs.StringVar(&f.events, "events", "", "also append one JSON line per incident and per ended connection to `FILE` (\"-\": standard output, with --output FILE)")
	fs.StringVar(&f.evidence, "evidence", "", "write each failing connection's first and last packets to `DIR`/stream-N-START.pcapng as it ends (not with --redact)")
	fs.Var(&f.evidenceMaxBytes, "evidence-max-bytes", "keep the --evidence directory's stream-*.pcapng files within `SIZE` (e.g. 1G), deleting the oldest first")
	fs.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics on `ADDR` (host:port) at /metrics")
	fs.StringVar(&f.user, "user", "nobody", "started as root, run as `USER` once the interface and the output files are open (\"\": stay root)")
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
	ports, err := f.check(fs.Args())
	if err != nil {
		return fail("%s", err)
	}
	tlsPorts, err := implicitTLSPorts(f.tlsPorts)
	if err != nil {
		return fail("%s", err)
	}
	for _, p := range tlsPorts {
		if !slices.Contains(ports, p) {
			ports = append(ports, p) // SMTP ports too, in the filter as well
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
		BufferSize: f.bufferMiB << 20,
	})
	if err != nil {
		return fail("%s", wiring.OneLine(err))
	}
	defer src.Close()
	outs, err := f.openOutputs(stdout, src)
	defer outs.close()
	if err != nil {
		return fail("%s", wiring.OneLine(err))
	}
	out, reportFile, sink, mx, packetFile := outs.out, outs.report, outs.sink, outs.metrics, outs.packets

	var evidence *pipeline.LiveEvidence
	if f.evidence != "" {
		_, statErr := os.Stat(f.evidence)
		evidence, err = pipeline.NewLiveEvidence(pipeline.EvidenceOptions{Dir: f.evidence, Application: "smtpscope " + version,
			MaxBytes: int64(f.evidenceMaxBytes)}, "live capture on "+f.iface, 0)
		if err != nil {
			return fail("--evidence: %s", wiring.OneLine(err))
		}
		if os.IsNotExist(statErr) {
			// Made here as root: the user the run becomes writes in it.
			if err := giveTo(f.evidence, f.user); err != nil {
				return fail("--evidence: %s", wiring.OneLine(err))
			}
		}
	}

	if err := dropPrivileges(f.user); err != nil {
		if fs.Changed("user") {
			return fail("--user %s: %s", f.user, wiring.OneLine(err))
		}
		fmt.Fprintf(stderr, "smtpscope live: still running as root: %s\n", wiring.OneLine(err))
	}
	if f.evidence != "" {
		// Files are made as connections fail, maybe hours later: find out
		// now whether the user the run became may make them.
		probe, err := os.CreateTemp(f.evidence, ".smtpscope-write-test-*")
		if err != nil {
			return fail("--evidence: %s is not writable by the user this run became (--user %q): %s", f.evidence, f.user, wiring.OneLine(err))
		}
		probe.Close()
		os.Remove(probe.Name())
	}
	cfg := liveConfig{
		ports: ports, tlsPorts: tlsPorts, eodTimeout: f.eodTimeout, connectTimeout: f.connectTimeout, idleTimeout: f.idleTimeout,
		interval: f.interval, report: report.Options{SlowReply: f.slowReply, Redact: f.redact},
		events: events.NewConsole(stderr, f.format), sink: sink, metrics: mx, clock: time.Now,
		evidence: evidence,
	}
	if packetFile != nil {
		cfg.packets = capture.NewWriter(packetFile, f.write, capture.WriterOptions{Interface: f.iface, Filter: f.filter,
			Snaplen: f.snaplen, Application: "smtpscope " + version})
	}

	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, f.duration, errDurationReached)
		defer cancel()
	}
	cfg.events.Start(time.Now(), f.iface, f.filter, f.snaplen, f.write)
	res := runLiveLoop(ctx, src, cfg)
	// From here a second SIGINT ends the process the default way.
	stopSignals()

	err = wiring.WriteReport(res.report, "", f.format, f.color, false, out)
	if reportFile != nil {
		if cerr := reportFile.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fail("%s", wiring.OneLine(err))
	}
	if res.err != nil {
		fmt.Fprintf(stderr, "smtpscope live: %s\n", wiring.OneLine(res.err))
		return exitError
	}
	if evidence != nil && !liveEvidenceWritten(evidence, stderr) {
		return exitError
	}
	if res.report.Failed() {
		return exitFindings
	}
	return exitOK
}

// liveOutputs are what a live run writes to besides standard error.
type liveOutputs struct {
	// out gets the report: report (--output) or standard output.
	out    io.Writer
	report *os.File
	// sink, metrics and packets are --events, --metrics and --write, nil
	// when not asked for.
	sink    *events.Writer
	metrics *metrics.Metrics
	packets *os.File
	closers []func()
}

// openOutputs opens --output, --events, --metrics and --write, before
// the capture starts so that a wrong path fails now rather than after
// hours of capture. Call close even after an error.
func (f *liveFlags) openOutputs(stdout io.Writer, src *capture.Live) (*liveOutputs, error) {
	o := &liveOutputs{out: stdout}
	if f.output != "" && f.output != "-" {
		file, err := os.Create(f.output)
		if err != nil {
			return o, err
		}
		o.report, o.out = file, file
		o.closers = append(o.closers, func() { file.Close() })
	}
	sink, closeEvents, err := events.Open(f.events, stdout, false)
	if err != nil {
		return o, fmt.Errorf("--events: %w", err)
	}
	o.sink = sink
	o.closers = append(o.closers, func() { closeEvents() })
	if f.metrics != "" {
		o.metrics = metrics.New(metrics.Options{Version: version, Dropped: func() (int, int) {
			st, err := src.Stats()
			if err != nil {
				return 0, 0
			}
			return st.Dropped, st.IfDropped
		}})
		stop, err := o.metrics.Serve(f.metrics)
		if err != nil {
			return o, fmt.Errorf("--metrics: %w", err)
		}
		o.closers = append(o.closers, stop)
	}
	if f.write != "" {
		file, err := os.Create(f.write)
		if err != nil {
			return o, err
		}
		o.packets = file
		o.closers = append(o.closers, func() { file.Close() })
	}
	return o, nil
}

// close closes what openOutputs opened, last first.
func (o *liveOutputs) close() {
	for i := len(o.closers) - 1; i >= 0; i-- {
		o.closers[i]()
	}
}

// check validates the flags against the arguments and returns the SMTP
// server ports.
func (f *liveFlags) check(args []string) ([]uint16, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("unexpected argument %q (capture files go to \"smtpscope analyze\")", args[0])
	}
	switch f.format {
	case "text", "json":
	default:
		return nil, fmt.Errorf("unknown --format %q (want text or json)", f.format)
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
			return nil, fmt.Errorf("--%s must be positive, not %s", d.name, d.v)
		}
	}
	if f.snaplen <= 0 {
		return nil, fmt.Errorf("--snaplen must be positive, not %d", f.snaplen)
	}
	if f.evidence != "" && f.redact {
		return nil, pipeline.ErrEvidenceRedact
	}
	if f.evidence == "" && f.evidenceMaxBytes != 0 {
		return nil, errors.New("--evidence-max-bytes needs --evidence DIR")
	}
	if f.bufferMiB <= 0 || f.bufferMiB > maxBufferMiB {
		return nil, fmt.Errorf("--buffer-size must be between 1 and %d MiB, not %d", maxBufferMiB, f.bufferMiB)
	}
	if f.events == "-" && (f.output == "" || f.output == "-") {
		return nil, errors.New("--events - needs --output FILE: standard output carries the events")
	}
	return serverPorts(f.smtpPorts)
}

// smtpFilter is the default BPF filter: TCP to or from any SMTP port.
func smtpFilter(ports []uint16) string {
	terms := make([]string, len(ports))
	for i, p := range ports {
		terms[i] = fmt.Sprintf("port %d", p)
	}
	return "tcp and (" + strings.Join(terms, " or ") + ")"
}

// liveConfig is what the live loop needs besides its source.
type liveConfig struct {
	// ports are the SMTP server ports, and tlsPorts those of implicit TLS
	// among them.
	ports, tlsPorts []uint16
	// eodTimeout, connectTimeout: the timed incident rules.
	eodTimeout, connectTimeout time.Duration
	// idleTimeout ends (and summarises) an idle connection.
	idleTimeout time.Duration
	// interval between summaries (0: none).
	interval time.Duration
	report   report.Options
	events   *events.Console
	// sink receives the --events lines, nil for none.
	sink *events.Writer
	// metrics counts for --metrics, nil for none.
	metrics *metrics.Metrics
	// packets receives every frame, nil for none.
	packets *capture.Writer
	// evidence holds every frame and writes the failing connections'
	// files as they end, nil for none.
	evidence *pipeline.LiveEvidence
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

// runLiveLoop wires a live run: the pipeline over src, its incidents,
// summaries and stop line to cfg.events, its connections and incidents to
// the --events file and the metrics, its frames to cfg.packets.
func runLiveLoop(ctx context.Context, src pipeline.LiveSource, cfg liveConfig) liveResult {
	rules := cfg.report
	rules.ListFailed, rules.ListHealthy = cmp.Or(cfg.listFailed, liveListFailed), cmp.Or(cfg.listHealthy, liveListHealthy)
	opts := pipeline.LiveOptions{
		Options:    pipeline.Options{ServerPorts: cfg.ports, TLSPorts: cfg.tlsPorts, IdleTimeout: cfg.idleTimeout, Report: rules},
		EODTimeout: cfg.eodTimeout, ConnectTimeout: cfg.connectTimeout,
		Interval: cfg.interval, Progress: cfg.events.Summary, Clock: cfg.clock,
		Incident: func(in *report.Incident) {
			cfg.events.Incident(in)
			if cfg.sink != nil {
				cfg.sink.Incident(in)
			}
			if cfg.metrics != nil {
				cfg.metrics.Incident(in)
			}
		},
	}
	opts.Connection = func(c *report.Connection) {
		if cfg.evidence != nil {
			cfg.evidence.Connection(c)
		}
		if cfg.sink != nil {
			cfg.sink.Connection(c)
		}
		if cfg.metrics != nil {
			cfg.metrics.Connection(c)
		}
	}
	if m := cfg.metrics; m != nil {
		opts.OpenChanged = m.SetOpen
		opts.Dropped = func(d pipeline.Drops) { m.AddRingDropped(d.Ring) }
		opts.Frame = func(fr *capture.Frame) error { m.AddBytes(len(fr.Data)); return nil }
	}
	if e := cfg.evidence; e != nil {
		frame := opts.Frame
		opts.Frame = func(fr *capture.Frame) error {
			e.Frame(fr)
			if frame != nil {
				return frame(fr)
			}
			return nil
		}
	}
	// A source replayed in tests waits for the analysis; an interface
	// never does (its frames are dropped and counted instead).
	_, iface := src.(*capture.Live)
	opts.RingWait = !iface
	rep, res, err := pipeline.LiveReport(ctx, src, cfg.packets, opts)
	cfg.events.Stop(cfg.clock(), res.Reason, res.End.Sub(res.Start), res.Packets, res.Dropped.Total(), res.Incidents, &rep.Totals)
	return liveResult{report: rep, err: err}
}

// liveEvidenceWritten tells on stderr, one line each, the evidence files
// the run could not write (the first few, and how many more), and
// returns false if there were any.
func liveEvidenceWritten(e *pipeline.LiveEvidence, stderr io.Writer) bool {
	_, err := e.Result()
	if err == nil {
		return true
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, err := range errs {
		fmt.Fprintf(stderr, "smtpscope live: --evidence: %s\n", wiring.OneLine(err))
	}
	return false
}
