package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/bench/synth"
	"github.com/smtpscope/smtpscope/wiring"
)

// TestGeneratedCapturesCheck runs smtpscope's analysis on generated
// captures and checks every session against the generator's expectations,
// as make bench does at scale: every fault in every retransmission shape,
// STARTTLS sessions inferred from their records, mixed clear and TLS, and
// every frame captured twice. Zero mismatches.
func TestGeneratedCapturesCheck(t *testing.T) {
	tests := []struct {
		name string
		opts synth.Options
	}{
		{"every fault and shape", synth.Options{Seed: 3, Sessions: 240, Problems: 1, Concurrency: 40, MaxMessageSize: 8 << 10}},
		{"TLS, every TCP fault, stalls after end-of-data", synth.Options{Seed: 4, Sessions: 80, Problems: 0.3, Concurrency: 20, TLS: 1}},
		{"half TLS, every fault in clear", synth.Options{Seed: 5, Sessions: 120, Problems: 0.6, Concurrency: 30, TLS: 0.5, MaxMessageSize: 8 << 10}},
		{"BDAT: chunks, refusals after a chunk and after LAST, silence after LAST", synth.Options{Seed: 7, Sessions: 160, Problems: 0.5, Concurrency: 30, MaxMessageSize: 24 << 10, BDAT: 0.7}},
		{"capture loss in both directions, DATA and BDAT", synth.Options{Seed: 8, Sessions: 300, Problems: 0.5, Concurrency: 40, MaxMessageSize: 16 << 10, BDAT: 0.3, CaptureLoss: 1}},
		{"capture loss with network faults", synth.Options{Seed: 10, Sessions: 200, Problems: 1, Concurrency: 40, MaxMessageSize: 16 << 10, BDAT: 0.3, SACK: 0.3, FaultCaptureLoss: 1}},
		{"a pipelined command or a BDAT line lost, BDAT (DATA: bench/testdata/known/pipelined-mail-lost)", synth.Options{Seed: 11, Sessions: 200, Problems: 0.5, Concurrency: 40, MaxMessageSize: 16 << 10, BDAT: 1, CommandLoss: 1}},
		{"BDAT: a refused chunk with the later ones pipelined behind it", synth.Options{Seed: 12, Sessions: 160, Problems: 0.8, Concurrency: 30, MaxMessageSize: 32 << 10, BDAT: 1, PipelinedChunkRefusal: 1, CaptureLoss: 0.2}},
		{"SACK and D-SACK on every fault and shape", synth.Options{Seed: 9, Sessions: 240, Problems: 1, Concurrency: 40, MaxMessageSize: 8 << 10, SACK: 1}},
		{"every frame twice", synth.Options{Seed: 6, Sessions: 80, Problems: 0.6, Concurrency: 20, MaxMessageSize: 8 << 10, Duplicate: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var capture, expect bytes.Buffer
			w := pcapgo.NewWriter(&capture)
			if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
				t.Fatal(err)
			}
			st, err := synth.New(tt.opts).Run(w, &expect)
			if err != nil {
				t.Fatal(err)
			}
			var report, stderr bytes.Buffer
			o := wiring.AnalyzeOptions{Files: []string{"-"}, Stdin: &capture, Format: "json", Color: "never"}
			wiring.Analyze(context.Background(), o, &report, &stderr)
			res, err := Check(&report, &expect)
			if err != nil {
				t.Fatalf("check: %v (stderr: %s)", err, stderr.String())
			}
			if res.Sessions != st.Sessions || res.Messages != st.Messages {
				t.Errorf("checked %d sessions, %d messages; generated %d, %d", res.Sessions, res.Messages, st.Sessions, st.Messages)
			}
			t.Logf("%d sessions, %d messages, %d frames checked", res.Sessions, res.Messages, st.Frames)
			errs := 0
			for _, m := range res.Mismatches {
				if errs++; errs <= 20 {
					t.Error(m)
				}
			}
			if errs > 20 {
				t.Errorf("... and %d more", errs-20)
			}
		})
	}
}

// TestTestdataCaptures checks smtpscope on the captures kept in testdata/
// against their expectations: regressions of issues the generated captures
// found (README.md there says how each was made). Zero mismatches.
func TestTestdataCaptures(t *testing.T) {
	names, err := filepath.Glob(filepath.Join("testdata", "*.pcap"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no testdata captures (%v)", err)
	}
	for _, name := range names {
		t.Run(filepath.Base(name), func(t *testing.T) {
			expect, err := os.ReadFile(strings.TrimSuffix(name, ".pcap") + ".expect.jsonl")
			if err != nil {
				t.Fatal(err)
			}
			var report, stderr bytes.Buffer
			o := wiring.AnalyzeOptions{Files: []string{name}, Format: "json", Color: "never"}
			wiring.Analyze(context.Background(), o, &report, &stderr)
			res, err := Check(&report, bytes.NewReader(expect))
			if err != nil {
				t.Fatalf("check: %v (stderr: %s)", err, stderr.String())
			}
			if res.Sessions == 0 {
				t.Fatal("no session checked")
			}
			for _, m := range res.Mismatches {
				t.Error(m)
			}
		})
	}
}
