package wiring

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/pipeline"
)

const captures = "../testdata/scenarios/captures/"

// TestAnalyze runs Analyze as the command does, on real lab captures and
// on bad input: the outcome the command turns into its exit status, the
// report where it was asked for, and at most one line per problem on
// stderr.
func TestAnalyze(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		opts    AnalyzeOptions
		want    Outcome
		stdout  []string // substrings of stdout
		stderr  string   // substring of stderr's only line; "" = no stderr
		outFile string   // a report file that must exist afterwards
	}{
		{name: "seed incident", opts: AnalyzeOptions{Files: []string{captures + "relay-stall.pcapng"}},
			want: Findings, stdout: []string{"NO REPLY AFTER END-OF-DATA", "1 of 2 mail transactions failed"}},
		{name: "healthy", opts: AnalyzeOptions{Files: []string{captures + "healthy.pcapng"}},
			want: Clean, stdout: []string{"smtpscope — "}},
		{name: "missing file", opts: AnalyzeOptions{Files: []string{filepath.Join(dir, "nope.pcap")}},
			want: Failed, stderr: "nope.pcap"},
		{name: "not a capture", opts: AnalyzeOptions{Files: []string{"analyze.go"}},
			want: Failed, stderr: "smtpscope: "},
		{name: "output in a missing directory", opts: AnalyzeOptions{Files: []string{captures + "healthy.pcapng"},
			Output: filepath.Join(dir, "no", "such", "report.txt")}, want: Failed, stderr: "report.txt"},
		{name: "missing key log", opts: AnalyzeOptions{Files: []string{captures + "healthy.pcapng"},
			TLSKeyLogs: []string{filepath.Join(dir, "keys.log")}}, want: Failed, stderr: "--tls-keylog"},
		{name: "json to a file", opts: AnalyzeOptions{Files: []string{captures + "relay-stall.pcapng"},
			Format: "json", Output: filepath.Join(dir, "r.json")}, want: Findings, outFile: filepath.Join(dir, "r.json")},
		{name: "events beside the report", opts: AnalyzeOptions{Files: []string{captures + "relay-stall.pcapng"},
			Format: "json", Output: filepath.Join(dir, "r2.json"), Events: "-"}, want: Findings,
			stdout: []string{`"community_id"`}, outFile: filepath.Join(dir, "r2.json")},
		{name: "cpu profile in a missing directory", opts: AnalyzeOptions{Files: []string{captures + "healthy.pcapng"},
			CPUProfile: filepath.Join(dir, "no", "cpu.prof")}, want: Failed, stderr: "--cpuprofile"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Pipeline = pipeline.Options{ServerPorts: []uint16{25, 465, 587, 2525}}
			var stdout, stderr bytes.Buffer
			got := Analyze(context.Background(), tc.opts, &stdout, &stderr)
			if got != tc.want {
				t.Errorf("outcome %d, want %d (stderr %q)", got, tc.want, stderr.String())
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
			switch {
			case tc.stderr == "" && stderr.Len() > 0:
				t.Errorf("stderr %q, want nothing", stderr.String())
			case tc.stderr != "" && (len(lines) != 1 || !strings.Contains(lines[0], tc.stderr)):
				t.Errorf("stderr %q, want one line with %q", stderr.String(), tc.stderr)
			}
			if tc.outFile != "" {
				data, err := os.ReadFile(tc.outFile)
				if err != nil {
					t.Fatal(err)
				}
				var v map[string]any
				if err := json.Unmarshal(data, &v); err != nil {
					t.Errorf("%s is not JSON: %v", tc.outFile, err)
				}
			}
			if tc.opts.Events == "-" {
				sc := bufio.NewScanner(&stdout)
				sc.Buffer(nil, 1<<20)
				for sc.Scan() {
					var v map[string]any
					if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
						t.Errorf("an events line is not JSON: %v", err)
					}
				}
			}
		})
	}
}

// TestCPUProfile: --cpuprofile writes a profile of the run (gzip'd
// protocol buffers, as runtime/pprof writes them) and the run is as
// without it.
func TestCPUProfile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "cpu.prof")
	var stdout, stderr bytes.Buffer
	got := Analyze(context.Background(), AnalyzeOptions{Files: []string{captures + "relay-stall.pcapng"}, CPUProfile: name}, &stdout, &stderr)
	if got != Findings || stderr.Len() > 0 {
		t.Errorf("outcome %d, stderr %q; want %d and nothing", got, stderr.String(), Findings)
	}
	data, err := os.ReadFile(name)
	if err != nil || len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		t.Errorf("profile %q: %d bytes (err %v), want a gzip'd profile", name, len(data), err)
	}
}

// TestRoomForWorkers: several workers raise the limit LimitMemory set,
// never one the user set.
func TestRoomForWorkers(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	for _, tc := range []struct {
		set     int64
		workers int
		want    int64
	}{
		{softMemoryLimit, 1, softMemoryLimit},
		{softMemoryLimit, 3, softMemoryLimit + 2*workerMemory},
		{1 << 30, 4, 1 << 30},
	} {
		debug.SetMemoryLimit(tc.set)
		roomForWorkers(tc.workers)
		if got := debug.SetMemoryLimit(-1); got != tc.want {
			t.Errorf("limit %d, %d workers: %d, want %d", tc.set, tc.workers, got, tc.want)
		}
	}
}

// TestWriteReportFormats: every format the command offers writes to the
// named file, and "" and "-" mean stdout.
func TestWriteReportFormats(t *testing.T) {
	var stdout, stderr bytes.Buffer
	rep, _, err := pipeline.Files(context.Background(), []string{captures + "relay-stall.pcapng"}, nil,
		pipeline.Options{ServerPorts: []uint16{25}})
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	dir := t.TempDir()
	for _, c := range []struct{ format, mark string }{
		{"text", "VERDICT"}, {"json", `"verdict"`}, {"markdown", "# "}, {"html", "<!DOCTYPE html>"},
	} {
		name := filepath.Join(dir, "report."+c.format)
		if err := WriteReport(rep, name, c.format, "never", false, &stdout); err != nil {
			t.Fatalf("%s: %v", c.format, err)
		}
		data, err := os.ReadFile(name)
		if err != nil || !strings.Contains(string(data), c.mark) {
			t.Errorf("%s: file lacks %q (err %v)", c.format, c.mark, err)
		}
		for _, std := range []string{"", "-"} {
			stdout.Reset()
			if err := WriteReport(rep, std, c.format, "never", false, &stdout); err != nil || !strings.Contains(stdout.String(), c.mark) {
				t.Errorf("%s to %q: stdout lacks %q (err %v)", c.format, std, c.mark, err)
			}
		}
	}
	if stderr.Len() > 0 {
		t.Errorf("stderr: %q", stderr.String())
	}
}

// TestOneLine: a multi-line error becomes one line.
func TestOneLine(t *testing.T) {
	if got := OneLine(errString("open x:\n  no such\tfile ")); got != "open x: no such file" {
		t.Errorf("OneLine = %q", got)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
