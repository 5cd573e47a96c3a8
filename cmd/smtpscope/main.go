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
// mail transaction or broken connection; 2 could not analyse.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/smtpscope/smtpscope/report"
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
transaction or broken connection; 2 could not analyse.

Run "smtpscope analyze --help" for the analyze flags.
`

// softMemoryLimit is the memory the Go runtime is asked to stay within
// unless GOMEMLIMIT says otherwise. It is soft: the runtime collects
// garbage more often as the heap nears it, and goes beyond it only when
// the analysis really holds more (very many connections open at once).
// Without it the heap grows to twice what is live before each collection.
// Each worker beyond the first holds its own open connections and frame
// batches, and gets workerMemory more.
const (
	softMemoryLimit = 48 << 20
	workerMemory    = 16 << 20
)

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(softMemoryLimit)
	}
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

// analyzeFlags are the flags of "smtpscope analyze".
type analyzeFlags struct {
	format    string
	output    string
	smtpPorts []uint
	redact    bool
	color     string
	merge     bool
	slowReply time.Duration
	evidence  string
	workers   int
	logs      logFlags
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
	fs.BoolVar(&f.redact, "redact", false, "replace mail, IP addresses and host names (in fields and in reply texts) with stable tokens; ports and codes stay")
	fs.BoolVar(&f.merge, "merge", false, "analyse several files as one timeline (frames numbered as mergecap numbers them); default: each on its own")
	fs.DurationVar(&f.slowReply, "slow-reply", report.DefaultSlowReply, "report delivered messages whose end-of-data reply took at least this long")
	fs.StringVar(&f.evidence, "evidence", "", "write each failing connection's packets to `DIR`/stream-N.pcapng (packet comments give the original frame numbers)")
	fs.IntVar(&f.workers, "workers", 1, "analyse connections on `N` cores (sharded by connection; the report is the same for any N)")
	fs.StringArrayVar(&f.logs.patterns, "log", nil, "join the MTA log `FILE` (Exchange SMTP protocol log, Postfix, Exim; gzip/zstd too; a glob; repeatable) to the connections")
	fs.StringVar(&f.logs.tz, "log-tz", "UTC", "time `ZONE` of log time stamps that carry none (classic syslog), e.g. Europe/Berlin")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the analysis to `FILE`")
	fs.MarkHidden("cpuprofile")
	fs.StringVar(&f.color, "color", "auto", "colour the text report: auto, always or never (NO_COLOR is honoured)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: smtpscope analyze [flags] FILE...\n\nFlags:\n%s", fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		return exitError
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "smtpscope analyze: no capture file given (use - for standard input)")
		return exitError
	}
	switch f.format {
	case "text", "json", "markdown", "html":
	default:
		fmt.Fprintf(stderr, "smtpscope analyze: unknown --format %q (want text, json, markdown or html)\n", f.format)
		return exitError
	}
	if f.evidence != "" && slices.Contains(fs.Args(), "-") {
		fmt.Fprintf(stderr, "smtpscope analyze: %s\n", errEvidenceStdin)
		return exitError
	}
	if f.workers < 1 || f.workers > 256 {
		fmt.Fprintf(stderr, "smtpscope analyze: --workers %d: want 1 to 256\n", f.workers)
		return exitError
	}
	ports := []uint16{25, 465, 587, 2525}
	for _, p := range f.smtpPorts {
		if p == 0 || p > 65535 {
			fmt.Fprintf(stderr, "smtpscope analyze: --smtp-ports: %d is not a TCP port\n", p)
			return exitError
		}
		ports = append(ports, uint16(p))
	}
	if f.workers > 1 && debug.SetMemoryLimit(-1) == softMemoryLimit {
		// Set by main (not by GOMEMLIMIT): room for the other workers.
		debug.SetMemoryLimit(softMemoryLimit + int64(f.workers-1)*workerMemory)
	}
	if f.cpuProfile != "" {
		stop, err := startCPUProfile(f.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "smtpscope: --cpuprofile: %s\n", oneLine(err))
			return exitError
		}
		defer stop()
	}
	rep, failed, err := analyzeFiles(fs.Args(), stdin, pipelineOptions{serverPorts: ports, redact: f.redact, merge: f.merge,
		workers: f.workers, rules: report.Options{SlowReply: f.slowReply, JoinLogs: len(f.logs.patterns) > 0}})
	if err != nil {
		fmt.Fprintf(stderr, "smtpscope: %s\n", oneLine(err))
		return exitError
	}
	defer rep.Close()
	if err := joinLogs(rep, f.logs, stderr); err != nil {
		fmt.Fprintf(stderr, "smtpscope: %s\n", oneLine(err))
		return exitError
	}
	if f.evidence != "" {
		if err := writeEvidence(f.evidence, fs.Args(), f.merge, failed); err != nil {
			fmt.Fprintf(stderr, "smtpscope: --evidence: %s\n", oneLine(err))
			return exitError
		}
	}
	out := stdout
	var file *os.File
	if f.output != "" && f.output != "-" {
		file, err = os.Create(f.output)
		if err != nil {
			fmt.Fprintf(stderr, "smtpscope: %s\n", oneLine(err))
			return exitError
		}
		out = file
	}
	switch f.format {
	case "json":
		err = rep.WriteJSON(out)
	case "markdown":
		err = rep.WriteMarkdown(out)
	case "html":
		err = rep.WriteHTML(out)
	default:
		err = rep.WriteText(out, textOptions(f.color, out))
	}
	if file != nil {
		if cerr := file.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "smtpscope: %s\n", oneLine(err))
		return exitError
	}
	if rep.Failed() {
		return exitFindings
	}
	return exitOK
}

// startCPUProfile starts a CPU profile into the named file and returns
// the function that stops it.
func startCPUProfile(name string) (stop func(), err error) {
	file, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(file); err != nil {
		file.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		file.Close()
	}, nil
}

// oneLine keeps an error message on one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
