// Command smtpscope analyses packet captures of SMTP traffic: it
// reassembles TCP, decodes SMTP, and reports which layer failed and why.
//
// Usage:
//
//	smtpscope analyze [flags] FILE...   analyse capture files ("-" = stdin)
//	smtpscope live [flags]              capture and analyse an interface live
//	smtpscope version
//	smtpscope help
//
// Exit status: 0 analysed, nothing failed; 1 analysed, at least one failed
// mail transaction or broken connection; 2 could not analyse, or an
// --evidence file could not be written (after the report is written).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/spf13/pflag"

	"github.com/smtpscope/smtpscope/pipeline"
	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/report"
	"github.com/smtpscope/smtpscope/wiring"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit statuses.
const (
	exitOK       = 0
	exitFindings = 1
	exitError    = 2
)

const usage = `smtpscope — SMTP incident analysis from packet captures

Usage:
  smtpscope analyze [flags] FILE...   analyse capture files (pcap, pcapng, Network Monitor .cap,
                                      optionally gzip'd; "-" reads standard input)
  smtpscope live [flags]              capture from an interface; incidents as they happen and the
                                      summaries on standard error, the report on exit on standard output
  smtpscope version                   print the version
  smtpscope help                      print this help

Exit status: 0 analysed and nothing failed; 1 analysed and at least one failed mail
transaction or broken connection; 2 could not analyse, or an --evidence file could not
be written (the report is written all the same).

Run "smtpscope analyze --help" for the analyze flags.
`

func main() {
	wiring.LimitMemory()
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError
	}
	switch args[0] {
	case "analyze", "analyse":
		return runAnalyze(args[1:], stdin, stdout, stderr)
	case "live":
		return runLive(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "smtpscope %s\n", version)
		return exitOK
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "smtpscope: unknown command %q (try \"smtpscope help\")\n", args[0])
	return exitError
}

// tlsPortsFlag is the flag naming more ports of implicit TLS (analyze and
// live).
const (
	tlsPortsFlag  = "tls-ports"
	tlsPortsUsage = "extra server `PORTS` of implicit TLS, read as TLS from the first byte and as SMTP (465 always is; as tshark's -d tcp.port==PORT,tls)"
)

// analyzeFlags are the flags of "smtpscope analyze".
type analyzeFlags struct {
	format    string
	output    string
	smtpPorts []uint
	tlsPorts  []uint
	redact    bool
	color     string
	merge     bool
	slowReply time.Duration
	evidence  string
	// evidenceMaxBytes bounds the evidence directory; evidenceKeys writes
	// the failing TLS connections' keys into their evidence files.
	evidenceMaxBytes byteSize
	evidenceKeys     bool

	workers   int
	hubs      []string
	logs      wiring.Logs
	events    string
	all       bool
	tlsKeyLog []string
	// maxConns and maxBufferedMiB are reassembly's memory caps.
	maxConns, maxBufferedMiB int
	// cpuProfile names a file for a Go CPU profile of the run (hidden:
	// for performance reports, see make bench).
	cpuProfile string
}

func runAnalyze(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("analyze", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var f analyzeFlags
	fs.StringVar(&f.format, "format", "text", "report format: text, json, markdown (for a ticket) or html (one self-contained page)")
	fs.StringVarP(&f.output, "output", "o", "", "write the report to `FILE` instead of standard output")
	fs.UintSliceVar(&f.smtpPorts, "smtp-ports", nil, "extra server `PORTS` to treat as SMTP (25, 465, 587, 2525 always are)")
	fs.UintSliceVar(&f.tlsPorts, tlsPortsFlag, nil, tlsPortsUsage)
	fs.BoolVar(&f.redact, "redact", false, "replace mail, IP addresses and host names (in fields and in reply texts) with stable tokens; ports and codes stay")
	fs.BoolVar(&f.merge, "merge", false, "analyse several files as one timeline (frames numbered as mergecap numbers them); default: each on its own")
	fs.DurationVar(&f.slowReply, "slow-reply", report.DefaultSlowReply, "report delivered messages whose end-of-data reply took at least this long")
	fs.StringVar(&f.evidence, "evidence", "", "write each failing connection's packets to `DIR`/stream-N.pcapng (packet comments give the original frame numbers; not with --redact: packets hold what it hides)")
	fs.Var(&f.evidenceMaxBytes, "evidence-max-bytes", "keep the --evidence directory's stream-*.pcapng files within `SIZE` (e.g. 1G, 500M), deleting the oldest first")
	fs.BoolVar(&f.evidenceKeys, "evidence-keys", false, "put the TLS keys of each failing connection (from --tls-keylog and the capture's Decryption Secrets Blocks) into its --evidence file, as a Decryption Secrets Block Wireshark reads")
	fs.IntVar(&f.workers, "workers", 1, "analyse connections on `N` cores (sharded by connection; the report is the same for any N)")
	fs.StringArrayVar(&f.tlsKeyLog, "tls-keylog", nil, "decrypt TLS sessions with the NSS key log `FILE` (SSLKEYLOGFILE format; repeatable); keys in the capture's Decryption Secrets Blocks are used too")
	fs.StringArrayVar(&f.logs.Patterns, "log", nil, "join the MTA log `FILE` (Exchange SMTP protocol log, Postfix, Exim; gzip/zstd too; a glob; repeatable) to the connections")
	fs.StringVar(&f.logs.TZ, "log-tz", "UTC", "time `ZONE` of log time stamps that carry none (classic syslog), e.g. Europe/Berlin")
	fs.StringVar(&f.events, "events", "", "also write one JSON line per connection to `FILE` (\"-\": standard output, with --output FILE); see events.Schema")
	fs.IntVar(&f.maxConns, "max-connections", reassembly.DefaultMaxConnections, "follow at most `N` connections at once; beyond, half-open (SYN-only) ones are evicted first, then the least recently active, and the report counts them (0: no cap)")
	fs.IntVar(&f.maxBufferedMiB, "max-buffered", reassembly.DefaultMaxBufferedBytes>>20, "hold at most `MIB` mebibytes of out-of-order data waiting for a missing segment; beyond, the hole is a capture gap")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the analysis to `FILE`")
	fs.MarkHidden("cpuprofile")
	fs.BoolVar(&f.all, "all", false, "list every connection in text, markdown and html: each failing group in full and the healthy ones (default: a few per cause, healthy ones counted)")
	fs.StringArrayVar(&f.hubs, "hub", nil, "compare mail hubs: `NAME=FILE[,FILE...]` (one hub's captures, or its event files from --events; repeatable): the cross-hub findings, then one report per hub")
	fs.StringVar(&f.color, "color", "auto", "colour the text report: auto, always or never (NO_COLOR is honoured)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: smtpscope analyze [flags] FILE...\n       smtpscope analyze [flags] --hub NAME=FILE[,FILE...] --hub ...\n\nFlags:\n%s", fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		return exitError
	}
	if len(f.hubs) > 0 {
		return runHubs(&f, fs.Args(), stdout, stderr)
	}
	ports, err := f.check(fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "smtpscope analyze: %s\n", err)
		return exitError
	}
	tlsPorts, err := withPorts(tlsPortsFlag, pipeline.DefaultTLSPorts, f.tlsPorts)
	if err != nil {
		fmt.Fprintf(stderr, "smtpscope analyze: %s\n", err)
		return exitError
	}
	maxConns := f.maxConns
	if maxConns == 0 {
		maxConns = -1 // no cap
	}
	out := wiring.Analyze(context.Background(), wiring.AnalyzeOptions{
		Files: fs.Args(), Stdin: stdin,
		Pipeline: pipeline.Options{ServerPorts: ports, TLSPorts: tlsPorts, Merge: f.merge,
			MaxConnections: maxConns, MaxBufferedBytes: f.maxBufferedMiB << 20,
			Workers: f.workers, Report: report.Options{SlowReply: f.slowReply, Redact: f.redact}},
		Format: f.format, Output: f.output, Color: f.color, All: f.all, Events: f.events,
		Logs: f.logs, TLSKeyLogs: f.tlsKeyLog,
		Evidence:     pipeline.EvidenceOptions{Dir: f.evidence, Application: "smtpscope " + version, MaxBytes: int64(f.evidenceMaxBytes)},
		EvidenceKeys: f.evidenceKeys, EvidenceMaxBytesFlag: f.evidenceMaxBytes.String(),
		CPUProfile: f.cpuProfile,
	}, stdout, stderr)
	return exitStatus(out)
}

// exitStatus is the exit status of a run's outcome.
func exitStatus(o wiring.Outcome) int {
	switch o {
	case wiring.Clean:
		return exitOK
	case wiring.Findings:
		return exitFindings
	}
	return exitError
}

// check validates the flags against the arguments and returns the SMTP
// server ports.
func (f *analyzeFlags) check(args []string) ([]uint16, error) {
	switch {
	case len(args) == 0:
		return nil, errors.New("no capture file given (use - for standard input)")
	case f.evidence != "" && slices.Contains(args, "-"):
		return nil, pipeline.ErrEvidenceStdin
	case f.evidence != "" && f.redact:
		return nil, pipeline.ErrEvidenceRedact
	case f.evidence == "" && (f.evidenceKeys || f.evidenceMaxBytes != 0):
		return nil, errors.New("--evidence-keys and --evidence-max-bytes need --evidence DIR")
	case f.workers < 1 || f.workers > 256:
		return nil, fmt.Errorf("--workers %d: want 1 to 256", f.workers)
	case f.maxConns < 0:
		return nil, fmt.Errorf("--max-connections %d: want 0 (no cap) or more", f.maxConns)
	case f.maxBufferedMiB < 1 || f.maxBufferedMiB > 1<<20:
		return nil, fmt.Errorf("--max-buffered %d: want 1 to 1048576 MiB", f.maxBufferedMiB)
	}
	if f.events == "-" && (f.output == "" || f.output == "-") {
		return nil, errors.New("--events - needs --output FILE: standard output carries the events")
	}
	switch f.format {
	case "text", "json", "markdown", "html":
	default:
		return nil, fmt.Errorf("unknown --format %q (want text, json, markdown or html)", f.format)
	}
	return withPorts("smtp-ports", pipeline.DefaultServerPorts, f.smtpPorts)
}

// withPorts adds to a copy of ports the extra ones of --flag.
func withPorts(flag string, ports []uint16, extra []uint) ([]uint16, error) {
	ports = slices.Clone(ports)
	for _, p := range extra {
		if p == 0 || p > 65535 {
			return nil, fmt.Errorf("--%s: %d is not a TCP port", flag, p)
		}
		if !slices.Contains(ports, uint16(p)) {
			ports = append(ports, uint16(p))
		}
	}
	return ports, nil
}
