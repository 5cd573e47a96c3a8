package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/report"
)

// TestSpilledReportIsTheSame checks that a report whose connections went
// to a temporary file (as on a long capture) renders byte for byte like
// the same report held in memory, in every format, on every capture with
// SMTP in testdata, and that the file is gone after Close.
func TestSpilledReportIsTheSame(t *testing.T) {
	files := testCaptures(t)
	render := func(rep *report.Report) string { return renderReport(t, rep, "json", "text", "markdown", "html") }
	tmp := t.TempDir()
	spilled := 0
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			opts := Options{Report: report.Options{Redact: strings.Contains(f, "smtp")}}
			mem, memFailed, memErr := Files(context.Background(), []string{f}, nil, opts)
			opts.Report.MemoryConnections, opts.Report.TempDir = -1, tmp
			disk, diskFailed, err := Files(context.Background(), []string{f}, nil, opts)
			if memErr != nil {
				// Not analysable (an unsupported link type): spilling must
				// not change the error.
				if err == nil || err.Error() != memErr.Error() {
					t.Fatalf("in memory: %v; spilled: %v", memErr, err)
				}
				return
			}
			defer mem.Close()
			if err != nil {
				t.Fatal(err)
			}
			if len(mem.Connections) > 0 {
				spilled++
				if disk.Connections != nil {
					t.Errorf("report with MemoryConnections -1 holds its connections in memory")
				}
			}
			if want, got := render(mem), render(disk); got != want {
				t.Errorf("report differs when the connections are in a file:\n%s", firstDiff(want, got))
			}
			if len(memFailed) != len(diskFailed) {
				t.Errorf("failed connections: %d in memory, %d from the file", len(memFailed), len(diskFailed))
			}
			if err := disk.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("Close left %d file(s) in %s", len(left), tmp)
			}
		})
	}
	if spilled == 0 {
		t.Errorf("no capture had connections to keep in a file")
	}
}
