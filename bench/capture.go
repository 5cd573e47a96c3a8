package bench

import (
	"bytes"
	"sync"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/bench/synth"
)

// SharedCapture is the synthetic capture the per-packet benchmarks share
// (here and in cmd/smtpscope): 24 MiB of pcap, seed 1, the generator's
// default 5% of faulty sessions, made once per process in memory.
var SharedCapture = sync.OnceValues(func() ([]byte, synth.Stats) {
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return nil, synth.Stats{}
	}
	st, err := synth.New(synth.Options{Seed: 1, Size: 24 << 20}).Run(w, nil)
	if err != nil {
		return nil, synth.Stats{}
	}
	return buf.Bytes(), st
})
