package wiring

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

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/events"
	"github.com/smtpscope/smtpscope/metrics"
	"github.com/smtpscope/smtpscope/pipeline"
	"github.com/smtpscope/smtpscope/report"
	"github.com/smtpscope/smtpscope/tlskeys"
)

// Bounds on what the final report of a live run lists, so that memory
// stays bounded on a long run. Connections that end beyond them are
// counted in the totals, not listed, and the report says how many.
const (
	// LiveListFailed is how many ended connections with a failure are
	// kept whole for the final report.
	LiveListFailed = 1000
	// LiveListHealthy is how many ended connections without a failure
	// are kept whole for the final report.
	LiveListHealthy = 200
)

// LiveReadTimeout bounds how long one read from the interface waits
// (LiveOptions.Capture.Timeout when that is zero): it is the longest
// delay before a signal, the end of the duration or a quiet link's
// timeouts are noticed.
const LiveReadTimeout = 100 * time.Millisecond

// ErrDurationReached is the cause of the end of a run that lasted
// LiveOptions.Duration.
var ErrDurationReached = errors.New("duration reached")

// LiveOptions are the settings of one "smtpscope live" run, checked by
// the command.
type LiveOptions struct {
	// Capture opens the interface; an empty Filter is SMTPFilter of the
	// SMTP and implicit TLS ports, a zero Timeout LiveReadTimeout.
	Capture capture.LiveOptions
	// Duration ends the run (0: at SIGINT or SIGTERM only).
	Duration time.Duration
	// Format (text or json), Output and Color: the report and the event
	// lines.
	Format, Output, Color string
	// Events (--events), Metrics (--metrics ADDR) and Write (--write
	// FILE): "" for none.
	Events, Metrics, Write string
	// User is who the run becomes once the capture and the outputs are
	// open; UserSet says the user asked for it (then failing is an error).
	User    string
	UserSet bool
	// Evidence.Dir, when set, receives the failing connections' packets;
	// with EvidenceKeys, those of a TLS connection with its keys.
	Evidence     pipeline.EvidenceOptions
	EvidenceKeys bool
	// TLSKeyLogs name the --tls-keylog files, followed as they grow.
	TLSKeyLogs []string
	// Version is the program's version, for the metrics and the files'
	// writer application.
	Version string
	// Config are the live loop's settings; Live fills in its sinks.
	Config LiveConfig
}

// Live runs "smtpscope live": it opens the capture first (when it
// cannot, no file of the user's has been truncated), then the outputs,
// so that a wrong path fails now rather than after hours of capture;
// becomes LiveOptions.User; runs the live loop until the duration, SIGINT
// or SIGTERM; and writes the report. What goes wrong is told on stderr,
// one line.
func Live(o LiveOptions, stdout, stderr io.Writer) Outcome {
	fail := func(format string, a ...any) Outcome {
		fmt.Fprintf(stderr, "smtpscope live: "+format+"\n", a...)
		return Failed
	}
	o.Config.Ports = withPorts(o.Config.Ports, o.Config.TLSPorts)
	if o.Capture.Filter == "" {
		o.Capture.Filter = SMTPFilter(o.Config.Ports)
	}
	o.Capture.Timeout = cmp.Or(o.Capture.Timeout, LiveReadTimeout)
	src, err := capture.OpenLive(o.Capture)
	if err != nil {
		return fail("%s", OneLine(err))
	}
	defer src.Close()
	outs, err := o.openOutputs(stdout, src)
	defer outs.close()
	if err != nil {
		return fail("%s", OneLine(err))
	}
	cfg := o.Config
	cfg.Sink, cfg.Metrics = outs.sink, outs.metrics
	keyLogs, err := followKeyLogs(o.TLSKeyLogs, stderr)
	if err != nil {
		return fail("%s", OneLine(err))
	}
	defer keyLogs.close()
	if keyLogs != nil {
		cfg.TLSKeys, cfg.PollTLSKeys = keyLogs.keys, keyLogs.poll
		if o.EvidenceKeys {
			o.Evidence.Keys = keyLogs.keys
		}
	}
	if cfg.Evidence, err = o.openEvidence(); err != nil {
		return fail("%s", OneLine(err))
	}
	if err := dropPrivileges(o.User); err != nil {
		if o.UserSet {
			return fail("--user %s: %s", o.User, OneLine(err))
		}
		fmt.Fprintf(stderr, "smtpscope live: still running as root: %s\n", OneLine(err))
	}
	if o.Evidence.Dir != "" {
		// Files are made as connections fail, maybe hours later: find out
		// now whether the user the run became may make them.
		probe, err := os.CreateTemp(o.Evidence.Dir, ".smtpscope-write-test-*")
		if err != nil {
			return fail("--evidence: %s is not writable by the user this run became (--user %q): %s", o.Evidence.Dir, o.User, OneLine(err))
		}
		probe.Close()
		os.Remove(probe.Name())
	}
	cfg.Events, cfg.Clock = events.NewConsole(stderr, o.Format), time.Now
	if outs.packets != nil {
		c := o.Capture
		cfg.Packets = capture.NewWriter(outs.packets, o.Write, capture.WriterOptions{Interface: c.Interface, Filter: c.Filter,
			Snaplen: c.Snaplen, Application: "smtpscope " + o.Version})
	}

	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.Duration, ErrDurationReached)
		defer cancel()
	}
	cfg.Events.Start(time.Now(), o.Capture.Interface, o.Capture.Filter, o.Capture.Snaplen, o.Write)
	rep, runErr := RunLive(ctx, src, cfg)
	// From here a second SIGINT ends the process the default way.
	stopSignals()

	err = WriteReport(rep, "", o.Format, o.Color, false, outs.out)
	if outs.report != nil {
		if cerr := outs.report.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fail("%s", OneLine(err))
	}
	if runErr != nil {
		return fail("%s", OneLine(runErr))
	}
	if cfg.Evidence != nil && !liveEvidenceWritten(cfg.Evidence, stderr) {
		return Failed
	}
	if cfg.Evidence != nil && o.EvidenceKeys {
		res, _ := cfg.Evidence.Result()
		fmt.Fprintf(stderr, "smtpscope live: --evidence-keys: %d of %d evidence files carry TLS keys\n", res.WithKeys, len(res.Written))
	}
	if rep.Failed() {
		return Findings
	}
	return Clean
}

// withPorts adds to ports those of more it does not hold.
func withPorts(ports, more []uint16) []uint16 {
	for _, p := range more {
		if !slices.Contains(ports, p) {
			ports = append(slices.Clip(ports), p)
		}
	}
	return ports
}

// SMTPFilter is the default BPF filter of a live capture: TCP to or from
// any of the SMTP ports.
func SMTPFilter(ports []uint16) string {
	terms := make([]string, len(ports))
	for i, p := range ports {
		terms[i] = fmt.Sprintf("port %d", p)
	}
	return "tcp and (" + strings.Join(terms, " or ") + ")"
}

// openEvidence opens --evidence, nil when not asked for. A directory it
// makes (as root) goes to the user the run becomes, who writes in it.
func (o *LiveOptions) openEvidence() (*pipeline.LiveEvidence, error) {
	if o.Evidence.Dir == "" {
		return nil, nil
	}
	_, statErr := os.Stat(o.Evidence.Dir)
	evidence, err := pipeline.NewLiveEvidence(o.Evidence, "live capture on "+o.Capture.Interface, 0)
	if err != nil {
		return nil, fmt.Errorf("--evidence: %w", err)
	}
	if os.IsNotExist(statErr) {
		if err := giveTo(o.Evidence.Dir, o.User); err != nil {
			return nil, fmt.Errorf("--evidence: %w", err)
		}
	}
	return evidence, nil
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
func (o *LiveOptions) openOutputs(stdout io.Writer, src *capture.Live) (*liveOutputs, error) {
	outs := &liveOutputs{out: stdout}
	if o.Output != "" && o.Output != "-" {
		file, err := os.Create(o.Output)
		if err != nil {
			return outs, err
		}
		outs.report, outs.out = file, file
		outs.closers = append(outs.closers, func() { file.Close() })
	}
	sink, closeEvents, err := events.Open(o.Events, stdout, false)
	if err != nil {
		return outs, fmt.Errorf("--events: %w", err)
	}
	outs.sink = sink
	outs.closers = append(outs.closers, func() { closeEvents() })
	if o.Metrics != "" {
		outs.metrics = metrics.New(metrics.Options{Version: o.Version, Dropped: func() (int, int) {
			st, err := src.Stats()
			if err != nil {
				return 0, 0
			}
			return st.Dropped, st.IfDropped
		}})
		stop, err := outs.metrics.Serve(o.Metrics)
		if err != nil {
			return outs, fmt.Errorf("--metrics: %w", err)
		}
		outs.closers = append(outs.closers, stop)
	}
	if o.Write != "" {
		file, err := os.Create(o.Write)
		if err != nil {
			return outs, err
		}
		outs.packets = file
		outs.closers = append(outs.closers, func() { file.Close() })
	}
	return outs, nil
}

// close closes what openOutputs opened, last first.
func (o *liveOutputs) close() {
	for i := len(o.closers) - 1; i >= 0; i-- {
		o.closers[i]()
	}
}

// LiveConfig is what the live loop needs besides its source.
type LiveConfig struct {
	// Ports are the SMTP server ports, and TLSPorts those of implicit TLS
	// among them.
	Ports, TLSPorts []uint16
	// EODTimeout, ConnectTimeout: the timed incident rules.
	EODTimeout, ConnectTimeout time.Duration
	// IdleTimeout ends (and summarises) an idle connection.
	IdleTimeout time.Duration
	// MaxConnections and MaxBufferedBytes are reassembly's memory caps
	// (zero: its defaults; MaxConnections negative: no cap).
	MaxConnections, MaxBufferedBytes int
	// Interval between summaries (0: none).
	Interval time.Duration
	Report   report.Options
	Events   *events.Console
	// Sink receives the --events lines, nil for none.
	Sink *events.Writer
	// Metrics counts for --metrics, nil for none.
	Metrics *metrics.Metrics
	// Packets receives every frame, nil for none.
	Packets *capture.Writer
	// Evidence holds every frame and writes the failing connections'
	// files as they end, nil for none.
	Evidence *pipeline.LiveEvidence
	// Clock gives the time when no packet brings one: on a read timeout.
	Clock func() time.Time
	// ListFailed and ListHealthy bound the ended connections the report
	// lists (zero: LiveListFailed, LiveListHealthy).
	ListFailed, ListHealthy int
	// TLSKeys decrypts the TLS sessions it has secrets for, nil for none;
	// PollTLSKeys, if set, reads what its files gained since, on a
	// goroutine of the run's own (pipeline.LiveOptions.PollTLSKeys).
	TLSKeys     *tlskeys.KeyLog
	PollTLSKeys func(*tlskeys.KeyLog) int
}

// RunLive wires a live run: the pipeline over src, its incidents,
// summaries and stop line to cfg.Events, its connections and incidents
// to the --events file (and the corrections of the report's Finish) and
// the metrics, its frames to cfg.Packets. It
// returns the report, and the error that cut the capture short, if any.
func RunLive(ctx context.Context, src pipeline.LiveSource, cfg LiveConfig) (*report.Report, error) {
	rules := cfg.Report
	rules.ListFailed, rules.ListHealthy = cmp.Or(cfg.ListFailed, LiveListFailed), cmp.Or(cfg.ListHealthy, LiveListHealthy)
	opts := pipeline.LiveOptions{
		Options: pipeline.Options{ServerPorts: cfg.Ports, TLSPorts: cfg.TLSPorts, IdleTimeout: cfg.IdleTimeout, Report: rules,
			MaxConnections: cfg.MaxConnections, MaxBufferedBytes: cfg.MaxBufferedBytes, TLSKeys: cfg.TLSKeys},
		PollTLSKeys: cfg.PollTLSKeys,
		EODTimeout:  cfg.EODTimeout, ConnectTimeout: cfg.ConnectTimeout,
		Interval: cfg.Interval, Progress: cfg.Events.Summary, Clock: cfg.Clock,
		Incident: func(in *report.Incident) {
			cfg.Events.Incident(in)
			if cfg.Sink != nil {
				cfg.Sink.Incident(in)
			}
			if cfg.Metrics != nil {
				cfg.Metrics.Incident(in)
			}
		},
	}
	opts.Connection = func(c *report.Connection) {
		if cfg.Evidence != nil {
			cfg.Evidence.Connection(c)
		}
		if cfg.Sink != nil {
			cfg.Sink.Connection(c)
		}
		if cfg.Metrics != nil {
			cfg.Metrics.Connection(c)
		}
	}
	if cfg.Sink != nil {
		opts.Revision = cfg.Sink.Correction
	}
	if m := cfg.Metrics; m != nil {
		opts.OpenChanged = m.SetOpen
		opts.Dropped = func(d pipeline.Drops) { m.AddRingDropped(d.Ring) }
		opts.Frame = func(fr *capture.Frame) error { m.AddBytes(len(fr.Data)); return nil }
	}
	if e := cfg.Evidence; e != nil {
		opts.Retiring = e.Retiring
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
	rep, res, err := pipeline.LiveReport(ctx, src, cfg.Packets, opts)
	cfg.Events.Stop(cfg.Clock(), res.Reason, res.End.Sub(res.Start), res.Packets, res.Dropped.Total(), res.Incidents, &rep.Totals)
	return rep, err
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
		fmt.Fprintf(stderr, "smtpscope live: --evidence: %s\n", OneLine(err))
	}
	return false
}
