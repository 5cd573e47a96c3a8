package main

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/smtpscope/smtpscope/bench"
	"github.com/smtpscope/smtpscope/pipeline"
)

// BenchmarkAnalyze measures the whole analysis as the analyze command runs
// it — capture, reassembly with TCP analysis, SMTP decoding, the report
// and its JSON — over bench.SharedCapture, the capture of BenchmarkFloor
// and BenchmarkSessions in ./bench: ns/pkt there and here compare.
func BenchmarkAnalyze(b *testing.B) {
	data, st := bench.SharedCapture()
	if len(data) == 0 {
		b.Fatal("no synthetic capture")
	}
	for _, workers := range []int{1, 2} {
		b.Run(map[int]string{1: "workers=1", 2: "workers=2"}[workers], func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				rep, _, err := pipeline.Files(context.Background(), []string{"-"}, bytes.NewReader(data), pipeline.Options{Workers: workers})
				if err != nil {
					b.Fatal(err)
				}
				if err := rep.WriteJSON(io.Discard); err != nil {
					b.Fatal(err)
				}
				rep.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(int64(b.N)*st.Frames), "ns/pkt")
		})
	}
}
