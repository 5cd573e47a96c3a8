package capture

import (
	"bufio"
	"fmt"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// pcapngFrames reads frames from a pcapng file. Interfaces may differ in
// link type: pcapgo then gives each packet's in ci.AncillaryData[0].
type pcapngFrames struct {
	r       *pcapgo.NgReader
	secrets *secretsTap
	number  int
}

// openPcapng reads the first section header from br. Sections of a pcapng
// version other than 1.0 are skipped, as the pcapng specification asks.
//
// Decryption Secrets Blocks are collected on the way by a secretsTap in
// front of pcapgo, which reads them only before a section's first
// interface and does not export them. The tap reads through a buffer as
// large as br's, so that bufio hands whole reads straight through instead
// of copying the input twice.
func openPcapng(br *bufio.Reader) (*pcapngFrames, error) {
	tap := &secretsTap{r: br}
	r, err := pcapgo.NewNgReader(bufio.NewReaderSize(tap, br.Size()), pcapgo.NgReaderOptions{
		WantMixedLinkType:  true,
		SkipUnknownVersion: true,
	})
	if err != nil {
		return nil, fmt.Errorf("pcapng section header: %w", err)
	}
	return &pcapngFrames{r: r, secrets: tap}, nil
}

// read returns the next frame.
func (p *pcapngFrames) read() (Frame, error) {
	data, ci, err := p.r.ZeroCopyReadPacketData()
	if err != nil {
		// pcapgo returns io.EOF only between blocks, and
		// io.ErrUnexpectedEOF inside one.
		return Frame{}, err
	}
	p.number++
	var lt layers.LinkType
	if len(ci.AncillaryData) > 0 {
		lt, _ = ci.AncillaryData[0].(layers.LinkType)
	}
	return Frame{
		Number:   p.number,
		Time:     ci.Timestamp,
		LinkType: lt,
		Data:     data[:len(data):len(data)],
		Length:   ci.Length,
	}, nil
}
