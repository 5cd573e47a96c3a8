package wiring

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/smtpscope/smtpscope/events"
	"github.com/smtpscope/smtpscope/pipeline"
	"github.com/smtpscope/smtpscope/tlskeys"
)

// AnalyzeOptions are the settings of one "smtpscope analyze" run over
// capture files, checked by the command.
type AnalyzeOptions struct {
	// Files are the capture files ("-": Stdin).
	Files []string
	Stdin io.Reader
	// Pipeline are the run's settings; Analyze adds the TLS keys, the
	// events and progress callbacks and Report.JoinLogs.
	Pipeline pipeline.Options
	// Format, Output, Color and All say how and where the report is
	// written (see WriteReport).
	Format, Output, Color string
	All                   bool
	// Events names the --events file ("": none, "-": Stdout).
	Events string
	// Logs are the MTA logs to join.
	Logs Logs
	// TLSKeyLogs name the --tls-keylog files.
	TLSKeyLogs []string
	// Evidence.Dir, when set, receives the failing connections' packets;
	// EvidenceKeys puts their TLS keys in; EvidenceMaxBytesFlag is
	// --evidence-max-bytes as the messages write it.
	Evidence             pipeline.EvidenceOptions
	EvidenceKeys         bool
	EvidenceMaxBytesFlag string
	// CPUProfile names a file for a Go CPU profile of the run ("": none).
	CPUProfile string
}

// maxEvidenceErrors is how many evidence files' errors are told one per
// line; the rest are counted.
const maxEvidenceErrors = 10

// Analyze analyses the capture files, writes the --events lines as the
// connections end, joins the MTA logs, writes the report and then the
// evidence files. What goes wrong is told on stderr, one line. With
// several workers it raises the memory limit LimitMemory set.
func Analyze(ctx context.Context, o AnalyzeOptions, stdout, stderr io.Writer) Outcome {
	roomForWorkers(o.Pipeline.Workers)
	if o.CPUProfile != "" {
		stop, err := startCPUProfile(o.CPUProfile)
		if err != nil {
			fmt.Fprintf(stderr, "smtpscope: --cpuprofile: %s\n", OneLine(err))
			return Failed
		}
		defer stop()
	}
	keys, warnings, err := readKeyLogs(o.TLSKeyLogs)
	if err != nil {
		fmt.Fprintf(stderr, "smtpscope analyze: %s\n", OneLine(err))
		return Failed
	}
	if o.EvidenceKeys && keys == nil {
		keys = tlskeys.NewKeyLog() // for the keys of the capture's Decryption Secrets Blocks
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "smtpscope: warning: %s\n", w)
	}
	opts := o.Pipeline
	opts.TLSKeys = keys
	opts.Report.JoinLogs = len(o.Logs.Patterns) > 0
	ev, closeEvents, err := events.Open(o.Events, stdout, true)
	if err != nil {
		fmt.Fprintf(stderr, "smtpscope: --events: %s\n", OneLine(err))
		return Failed
	}
	if ev != nil {
		opts.Connection, opts.Revision = ev.Connection, ev.Correction
	}
	prog := pipeline.NewReadProgress(stderr, pipeline.InputSize(o.Files))
	if prog != nil {
		opts.Read = prog.Add
	}
	rep, failed, err := pipeline.Files(ctx, o.Files, o.Stdin, opts)
	prog.Done()
	if cerr := closeEvents(); err == nil && cerr != nil {
		err = fmt.Errorf("--events: %w", cerr)
	}
	if err != nil {
		if rep != nil {
			rep.Close()
		}
		fmt.Fprintf(stderr, "smtpscope: %s\n", OneLine(err))
		return Failed
	}
	defer rep.Close()
	if err := joinLogs(rep, o.Logs, stderr); err != nil {
		fmt.Fprintf(stderr, "smtpscope: %s\n", OneLine(err))
		return Failed
	}
	if err := WriteReport(rep, o.Output, o.Format, o.Color, o.All, stdout); err != nil {
		fmt.Fprintf(stderr, "smtpscope: %s\n", OneLine(err))
		return Failed
	}
	if o.Evidence.Dir != "" && !writeEvidence(&o, failed, keys, stderr) {
		return Failed
	}
	if rep.Failed() {
		return Findings
	}
	return Clean
}

// writeEvidence cuts the failing connections out of the inputs into
// --evidence DIR and tells on stderr what could not be written (one line
// per file), what --evidence-max-bytes deleted and how many files carry
// keys; it returns false if a file could not be written.
func writeEvidence(o *AnalyzeOptions, failed []pipeline.ConnRef, keys *tlskeys.KeyLog, stderr io.Writer) bool {
	opts := o.Evidence
	if o.EvidenceKeys {
		opts.Keys = keys
	}
	res, err := pipeline.WriteEvidence(o.Files, o.Pipeline.Merge, failed, opts)
	if n := len(res.Deleted); n > 0 {
		fmt.Fprintf(stderr, "smtpscope: --evidence: %d older files deleted to keep %s within --evidence-max-bytes %s\n",
			n, opts.Dir, o.EvidenceMaxBytesFlag)
	}
	if o.EvidenceKeys {
		fmt.Fprintf(stderr, "smtpscope: --evidence-keys: %d of %d evidence files carry TLS keys\n", res.WithKeys, len(res.Written))
	}
	if err == nil {
		return true
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for i, e := range errs {
		if i == maxEvidenceErrors {
			fmt.Fprintf(stderr, "smtpscope: --evidence: %d more files not written\n", len(errs)-i)
			break
		}
		fmt.Fprintf(stderr, "smtpscope: --evidence: %s\n", OneLine(e))
	}
	return false
}

// readKeyLogs reads the --tls-keylog files into one key log; nil when none
// is named. Bad lines are skipped and told in warnings (file and line,
// never the line's secret).
func readKeyLogs(names []string) (*tlskeys.KeyLog, []string, error) {
	if len(names) == 0 {
		return nil, nil, nil
	}
	k := tlskeys.NewKeyLog()
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			return nil, nil, fmt.Errorf("--tls-keylog: %w", err)
		}
		err = k.Read(name, f)
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("--tls-keylog: %w", err)
		}
	}
	return k, keyLogWarnings(k), nil
}

// keyLogWarnings tells a key log's bad lines.
func keyLogWarnings(k *tlskeys.KeyLog) []string {
	if k.BadLines() == 0 {
		return nil
	}
	w := fmt.Sprintf("TLS key log: %d bad lines skipped", k.BadLines())
	if p := k.Problems(); len(p) > 0 {
		w += fmt.Sprintf(" (first: %s)", p[0])
	}
	return []string{w}
}
