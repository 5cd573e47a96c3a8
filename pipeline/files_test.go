package pipeline

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestInputTimes checks that an input's Start and End are its earliest
// and latest frame times whatever order the frames come in (captures
// merged by hand, clocks stepped back).
func TestInputTimes(t *testing.T) {
	t0 := time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	for _, tt := range []struct {
		name  string
		times []float64
		start float64
		end   float64
	}{
		{"in order", []float64{1, 2, 3}, 1, 3},
		{"one frame", []float64{2}, 2, 2},
		{"reversed", []float64{3, 2, 1}, 1, 3},
		{"earliest in the middle", []float64{2, 1, 3}, 1, 3},
		{"latest first, earliest last", []float64{3, 1.5, 2, 1}, 1, 3},
		{"equal times", []float64{2, 2, 2}, 2, 2},
		{"stepped back then on", []float64{5, 6, 4, 7, 3}, 3, 7},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := pcapgo.NewWriter(&buf)
			if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
				t.Fatal(err)
			}
			frame := make([]byte, 60) // not IP: an other frame
			for _, s := range tt.times {
				if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: at(s), CaptureLength: len(frame), Length: len(frame)}, frame); err != nil {
					t.Fatal(err)
				}
			}
			rep, _, err := Files(context.Background(), []string{"-"}, &buf, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer rep.Close()
			in := rep.Inputs[0]
			if !in.Start.Equal(at(tt.start)) || !in.End.Equal(at(tt.end)) {
				t.Errorf("times %v: Start, End = %v, %v; want %v, %v", tt.times, in.Start, in.End, at(tt.start), at(tt.end))
			}
		})
	}
}
