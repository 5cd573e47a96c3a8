package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/bench/synth"
	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/smtp"
)

// pcapOf generates a capture in memory.
func pcapOf(t testing.TB, opts synth.Options, ng bool) ([]byte, synth.Stats) {
	t.Helper()
	var buf bytes.Buffer
	var pw synth.PacketWriter
	flush := func() error { return nil }
	if ng {
		w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
		if err != nil {
			t.Fatal(err)
		}
		pw, flush = w, w.Flush
	} else {
		w := pcapgo.NewWriter(&buf)
		if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
			t.Fatal(err)
		}
		pw = w
	}
	st, err := synth.New(opts).Run(pw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), st
}

// TestFloorCounts checks Floor against an independent count over a
// capture without faults, where every payload byte is sent once and in
// order: lines are counted over each direction's concatenated payload.
func TestFloorCounts(t *testing.T) {
	opts := synth.Options{Seed: 5, Sessions: 25, Problems: -1, Concurrency: 10}
	for _, ng := range []bool{false, true} {
		data, st := pcapOf(t, opts, ng)
		got, err := Floor(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Floor (pcapng %v): %v", ng, err)
		}
		streams := map[string]*bytes.Buffer{}
		var order []string
		var payload int64
		r, err := capture.Open("synth", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for {
			fr, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			p := gopacket.NewPacket(fr.Data, layers.LayerTypeEthernet, gopacket.NoCopy)
			ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
			k := fmt.Sprintf("%s:%d>%s:%d", ip.SrcIP, tcp.SrcPort, ip.DstIP, tcp.DstPort)
			if streams[k] == nil {
				streams[k] = &bytes.Buffer{}
				order = append(order, k)
			}
			streams[k].Write(tcp.Payload)
			payload += int64(len(tcp.Payload))
		}
		var lines int64
		for _, k := range order {
			lines += int64(bytes.Count(streams[k].Bytes(), []byte("\r\n")))
		}
		want := FloorStats{Packets: st.Frames, Bytes: st.Bytes, TCP: st.Frames, Connections: int64(opts.Sessions),
			Reassembled: payload, Lines: lines}
		if got != want {
			t.Errorf("Floor (pcapng %v) = %+v, want %+v", ng, got, want)
		}
	}
}

func TestFloorRejectsGarbage(t *testing.T) {
	for _, in := range []string{"", "abc", "not a capture at all"} {
		if _, err := Floor(bytes.NewReader([]byte(in))); err == nil {
			t.Errorf("Floor(%q) = nil error, want one", in)
		}
	}
}

// benchCapture is SharedCapture, which must not be empty.
func benchCapture() ([]byte, synth.Stats) {
	data, st := SharedCapture()
	if len(data) == 0 {
		panic("bench: the synthetic capture could not be made")
	}
	return data, st
}

// BenchmarkFloor measures the bare loop per capture; ns/pkt is per frame.
func BenchmarkFloor(b *testing.B) {
	data, st := benchCapture()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Floor(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(int64(b.N)*st.Frames), "ns/pkt")
}

// BenchmarkSessions measures the per-packet part of smtpscope's analysis:
// capture, reassembly with TCP analysis and SMTP decoding, without the
// report. The whole analysis, report included, is BenchmarkAnalyze in
// cmd/smtpscope, over the same capture (SharedCapture).
func BenchmarkSessions(b *testing.B) {
	data, st := benchCapture()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := sessions(data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(int64(b.N)*st.Frames), "ns/pkt")
}

// sessions runs a capture through the tracker and SMTP decoders as
// cmd/smtpscope does.
func sessions(data []byte) (*reassembly.Tracker, capture.Info, error) {
	f, err := capture.Open("bench", bytes.NewReader(data))
	if err != nil {
		return nil, capture.Info{}, err
	}
	defer f.Close()
	tr := reassembly.NewTracker(reassembly.Options{
		ServerPorts: []uint16{25, 465, 587, 2525},
		NewHandler:  func(*reassembly.Conn) reassembly.Handler { return smtp.NewDecoder(smtp.Options{}) },
		// Connections leave memory as they end, as in cmd/smtpscope.
		Retire: func(c *reassembly.Conn) { c.Health() },
	})
	for {
		fr, err := f.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, capture.Info{}, err
		}
		if err := tr.Add(&fr); err != nil {
			return nil, capture.Info{}, err
		}
	}
	tr.Close()
	return tr, f.Info(), nil
}
