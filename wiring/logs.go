package wiring

import (
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/smtpscope/smtpscope/mtalog"
	"github.com/smtpscope/smtpscope/report"
)

// Logs are the settings of --log and --log-tz.
type Logs struct {
	// Patterns name the MTA logs (globs).
	Patterns []string
	// TZ is the time zone of log time stamps that carry none.
	TZ string
}

// joinLogs reads the MTA logs named by the --log patterns (globs) and
// joins them to the report's connections. A log that cannot be read is
// one line on stderr and an entry in the report; the report is still
// made. It fails only on a bad pattern or time zone.
func joinLogs(rep *report.Report, f Logs, stderr io.Writer) error {
	if len(f.Patterns) == 0 {
		return nil
	}
	loc := time.UTC
	if f.TZ != "" {
		var err error
		if loc, err = time.LoadLocation(f.TZ); err != nil {
			return fmt.Errorf("--log-tz %q: %w", f.TZ, err)
		}
	}
	// Year-less syslog times take the year that puts them just before the
	// capture's end.
	var ref time.Time
	for _, in := range rep.Inputs {
		if in.End.After(ref) {
			ref = in.End
		}
	}
	var names []string
	for _, p := range f.Patterns {
		m, err := filepath.Glob(p)
		if err != nil {
			return fmt.Errorf("--log %q: %w", p, err)
		}
		if len(m) == 0 {
			m = []string{p} // let the open fail with the file's own error
		}
		names = append(names, m...)
	}
	var logs []*mtalog.Log
	var failed []report.LogInput
	for _, n := range names {
		l, err := mtalog.ReadFile(n, mtalog.Options{Location: loc, Reference: ref})
		if err != nil {
			fmt.Fprintf(stderr, "smtpscope: --log: %s\n", OneLine(err))
			failed = append(failed, report.LogInput{Name: n, Error: OneLine(err)})
			continue
		}
		logs = append(logs, l)
	}
	rep.JoinLogs(logs, report.LogOptions{Failed: failed})
	return nil
}
