package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/pipeline"
	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/report"
	"github.com/smtpscope/smtpscope/wiring"
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
	// maxConns and maxBufferedMiB are reassembly's memory caps, as
	// analyze has them.
	maxConns, maxBufferedMiB int

	// evidence and evidenceMaxBytes: the failing connections' packets,
	// written as they end (pipeline.LiveEvidence).
	evidence         string
	evidenceMaxBytes byteSize
	// evidenceKeys and tlsKeyLog: TLS keys, followed as the files grow.
	evidenceKeys bool
	tlsKeyLog    []string
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
	fs.BoolVar(&f.evidenceKeys, "evidence-keys", false, "put the TLS keys of each failing connection (from --tls-keylog) into its --evidence file, as a Decryption Secrets Block Wireshark reads")
	fs.StringArrayVar(&f.tlsKeyLog, "tls-keylog", nil, "decrypt TLS sessions with the NSS key log `FILE` (SSLKEYLOGFILE format; repeatable), read as its writer appends to it: a session whose keys come after its first records waits for them a moment")
	fs.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics on `ADDR` (host:port) at /metrics")
	fs.IntVar(&f.maxConns, "max-connections", reassembly.DefaultMaxConnections, "follow at most `N` connections at once; beyond, half-open (SYN-only) ones are evicted first, then the least recently active, and the report counts them (0: no cap)")
	fs.IntVar(&f.maxBufferedMiB, "max-buffered", reassembly.DefaultMaxBufferedBytes>>20, "hold at most `MIB` mebibytes of out-of-order data waiting for a missing segment; beyond, the hole is a capture gap")
	fs.StringVar(&f.user, "user", "nobody", "started as root, run as `USER` once the interface and the output files are open (\"\": stay root)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, liveUsage, wiring.LiveListFailed, wiring.LiveListHealthy, fs.FlagUsages())
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
	tlsPorts, err := withPorts(tlsPortsFlag, pipeline.DefaultTLSPorts, f.tlsPorts)
	if err != nil {
		return fail("%s", err)
	}
	maxConns := f.maxConns
	if maxConns == 0 {
		maxConns = -1 // no cap
	}

	return exitStatus(wiring.Live(wiring.LiveOptions{
		Capture: capture.LiveOptions{Interface: f.iface, Filter: f.filter, Snaplen: f.snaplen, Promisc: f.promisc,
			BufferSize: f.bufferMiB << 20},
		Duration: f.duration, Format: f.format, Output: f.output, Color: f.color,
		Events: f.events, Metrics: f.metrics, Write: f.write, User: f.user, UserSet: fs.Changed("user"),
		Evidence:     pipeline.EvidenceOptions{Dir: f.evidence, Application: "smtpscope " + version, MaxBytes: int64(f.evidenceMaxBytes)},
		EvidenceKeys: f.evidenceKeys, TLSKeyLogs: f.tlsKeyLog,
		Version: version,
		Config: wiring.LiveConfig{Ports: ports, TLSPorts: tlsPorts, EODTimeout: f.eodTimeout, ConnectTimeout: f.connectTimeout,
			IdleTimeout: f.idleTimeout, MaxConnections: maxConns, MaxBufferedBytes: f.maxBufferedMiB << 20, Interval: f.interval, Report: report.Options{SlowReply: f.slowReply, Redact: f.redact}},
	}, stdout, stderr))
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
	if f.evidenceKeys && (f.evidence == "" || len(f.tlsKeyLog) == 0) {
		return nil, errors.New("--evidence-keys needs --evidence DIR and --tls-keylog FILE")
	}
	if f.maxConns < 0 {
		return nil, fmt.Errorf("--max-connections %d: want 0 (no cap) or more", f.maxConns)
	}
	if f.maxBufferedMiB < 1 || f.maxBufferedMiB > 1<<20 {
		return nil, fmt.Errorf("--max-buffered %d: want 1 to 1048576 MiB", f.maxBufferedMiB)
	}
	if f.bufferMiB <= 0 || f.bufferMiB > maxBufferMiB {
		return nil, fmt.Errorf("--buffer-size must be between 1 and %d MiB, not %d", maxBufferMiB, f.bufferMiB)
	}
	if f.events == "-" && (f.output == "" || f.output == "-") {
		return nil, errors.New("--events - needs --output FILE: standard output carries the events")
	}
	return withPorts("smtp-ports", pipeline.DefaultServerPorts, f.smtpPorts)
}
