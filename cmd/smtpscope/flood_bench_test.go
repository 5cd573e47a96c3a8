//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/bench/synth"
)

// floodBudget is the peak RSS a flood may cost smtpscope (issue 14: the
// default caps must hold a flood within it).
const floodBudget = 128 << 20

// BenchmarkFlood measures the peak resident memory of `smtpscope analyze`
// (a child process, as users run it, with the default caps) on the floods
// of issue 14: 200,000 SYN-only connections and 50,000 sessions idle after
// EHLO, each within 100 s of capture time. It reports peak-RSS-MiB and the
// evictions, and fails when the peak exceeds floodBudget or the report
// does not count the evictions. Run it with
//
//	go test -run '^$' -bench Flood -benchtime 1x ./cmd/smtpscope/
func BenchmarkFlood(b *testing.B) {
	gotool, err := exec.LookPath("go")
	if err != nil {
		b.Skip("needs the go tool to build smtpscope")
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "smtpscope")
	if out, err := exec.Command(gotool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	for _, fl := range []struct {
		kind        synth.Flood
		connections int
	}{{synth.FloodSYN, 200_000}, {synth.FloodIdleEHLO, 50_000}} {
		b.Run(fl.kind.String(), func(b *testing.B) {
			capFile := filepath.Join(dir, fl.kind.String()+".pcap")
			writeFlood(b, capFile, synth.FloodOptions{Kind: fl.kind, Connections: fl.connections})
			var peak int64
			var evicted int
			for b.Loop() {
				cmd := exec.Command(bin, "analyze", "--format", "json", capFile)
				cmd.Env = append(os.Environ(), "GOMEMLIMIT=") // the program's own soft limit
				var out bytes.Buffer
				cmd.Stdout = &out
				if err := cmd.Run(); err != nil {
					if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
						b.Fatalf("smtpscope analyze %s: %v", capFile, err)
					}
				}
				ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
				if !ok {
					b.Skip("no rusage on this system")
				}
				peak = max(peak, ru.Maxrss<<10) // Linux reports KiB
				var rep struct {
					Inputs []struct {
						Reassembly struct {
							Evicted int `json:"evicted"`
						} `json:"reassembly"`
						Warnings []string `json:"warnings"`
					} `json:"inputs"`
				}
				if err := json.Unmarshal(out.Bytes(), &rep); err != nil || len(rep.Inputs) != 1 {
					b.Fatalf("report: %v", err)
				}
				evicted = rep.Inputs[0].Reassembly.Evicted
				if evicted == 0 || len(rep.Inputs[0].Warnings) == 0 {
					b.Errorf("%s flood: the report counts no eviction (warnings %q)", fl.kind, rep.Inputs[0].Warnings)
				}
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
			b.ReportMetric(float64(evicted), "evicted")
			if peak > floodBudget {
				b.Errorf("%s flood of %d connections: peak RSS %d MiB, budget %d MiB", fl.kind, fl.connections, peak>>20, floodBudget>>20)
			}
		})
	}
}

// writeFlood writes a flood capture to name as pcap.
func writeFlood(b *testing.B, name string, o synth.FloodOptions) {
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		b.Fatal(err)
	}
	if _, err := synth.WriteFlood(w, o); err != nil {
		b.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
}
