package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/report"
)

// TestSpilledReportIsTheSame checks that a report whose connections went
// to a temporary file (as on a long capture) renders byte for byte like
// the same report held in memory, in every format, on every capture with
// SMTP in testdata, and that the file is gone after Close.
func TestSpilledReportIsTheSame(t *testing.T) {
	var files []string
	for _, pat := range []string{"testdata/captures/*.pcap*", "testdata/captures/*.cap", "testdata/scenarios/captures/*.pcap*"} {
		m, _ := filepath.Glob(filepath.Join(repoRoot, pat))
		for _, f := range m {
			if !strings.HasSuffix(f, ".json") {
				files = append(files, f)
			}
		}
	}
	sort.Strings(files)
	if len(files) < 20 {
		t.Fatalf("found %d captures; the glob is wrong", len(files))
	}
	render := func(rep *report.Report) map[string]string {
		out := map[string]string{}
		for _, format := range []string{"json", "text", "markdown", "html"} {
			var b bytes.Buffer
			var err error
			switch format {
			case "json":
				err = rep.WriteJSON(&b)
			case "text":
				err = rep.WriteText(&b, report.TextOptions{})
			case "markdown":
				err = rep.WriteMarkdown(&b)
			case "html":
				err = rep.WriteHTML(&b)
			}
			if err != nil {
				t.Fatalf("%s: %v", format, err)
			}
			out[format] = b.String()
		}
		return out
	}
	tmp := t.TempDir()
	spilled := 0
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			opts := pipelineOptions{serverPorts: []uint16{25, 465, 587, 2525}, redact: strings.Contains(f, "smtp")}
			mem, memFailed, err := analyzeFiles([]string{f}, nil, opts)
			if err != nil {
				t.Skipf("not analysed: %v", err)
			}
			defer mem.Close()
			opts.rules.MemoryConnections, opts.rules.TempDir = -1, tmp
			disk, diskFailed, err := analyzeFiles([]string{f}, nil, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(mem.Connections) > 0 {
				spilled++
				if disk.Connections != nil {
					t.Errorf("report with MemoryConnections -1 holds its connections in memory")
				}
			}
			want, got := render(mem), render(disk)
			for format := range want {
				if got[format] != want[format] {
					t.Errorf("%s differs when the connections are in a file:\n%s", format, firstDiff(want[format], got[format]))
				}
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

// firstDiff shows the first differing line of two texts.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n  want %s\n  got  %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("lengths differ: %d vs %d lines", len(al), len(bl))
}
