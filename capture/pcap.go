package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// pcapMaxFrame is the longest record the pre-2.4 reader accepts: libpcap's
// MAXIMUM_SNAPLEN, the same bound pcapgo applies.
const pcapMaxFrame = 262144

// pcapFileHeader is the size of a pcap file header.
const pcapFileHeader = 24

// pcapFrames reads frames from a pcap file.
type pcapFrames struct {
	r interface {
		ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	linkType layers.LinkType
	pos      *position
	number   int
}

// openPcap reads the pcap file header from br and returns its reader and
// format name. Version 2.4 files go to pcapgo.Reader; older 2.x layouts,
// which pcapgo refuses, to legacyPcapReader.
func openPcap(pos *position) (*pcapFrames, string, error) {
	br := pos.br
	h, err := br.Peek(pcapFileHeader)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil, "", fmt.Errorf("pcap file header needs %d bytes, input has %d: %w", pcapFileHeader, len(h), ErrTruncated)
	}
	if err != nil {
		return nil, "", fmt.Errorf("pcap file header: %w", err)
	}
	var order binary.ByteOrder = binary.LittleEndian
	if h[0] == 0xa1 {
		order = binary.BigEndian
	}
	format := "pcap"
	nanos := order.Uint32(h[0:4]) == 0xa1b23c4d
	if nanos {
		format = "pcap-ns"
	}
	major, minor := order.Uint16(h[4:6]), order.Uint16(h[6:8])
	switch {
	case major == 2 && minor == 4:
		r, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, "", fmt.Errorf("pcap file header: %w", err)
		}
		return &pcapFrames{r: r, linkType: r.LinkType(), pos: pos}, format, nil
	case major == 2 && minor < 4:
		r := &legacyPcapReader{
			r:        br,
			order:    order,
			nanos:    nanos,
			minor:    minor,
			linkType: layers.LinkType(order.Uint32(h[20:24])),
		}
		if _, err := br.Discard(pcapFileHeader); err != nil {
			return nil, "", err
		}
		return &pcapFrames{r: r, linkType: r.linkType, pos: pos}, format, nil
	}
	return nil, "", fmt.Errorf("pcap version %d.%d unsupported (want 2.0 to 2.4)", major, minor)
}

// read returns the next frame.
func (p *pcapFrames) read() (Frame, error) {
	start := p.pos.offset()
	data, ci, err := p.r.ZeroCopyReadPacketData()
	if err != nil {
		// pcapgo reports io.EOF when a record header is followed by no
		// data at all: the end of the input, but not between records.
		if err == io.EOF && p.pos.offset() != start {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, err
	}
	p.number++
	return Frame{
		Number:   p.number,
		Time:     ci.Timestamp,
		LinkType: p.linkType,
		Data:     data[:len(data):len(data)],
		Length:   ci.Length,
	}, nil
}

// legacyPcapReader reads the records of pcap files of versions 2.0 to 2.3,
// which pcapgo.Reader refuses. Before 2.3 a record header holds the
// original length before the captured length, the reverse of 2.4; in 2.3
// both orders occur, and the two are swapped back when the captured length
// is the larger, as libpcap's sf-pcap.c and Wireshark's libpcap.c do.
type legacyPcapReader struct {
	r        io.Reader
	order    binary.ByteOrder
	nanos    bool
	minor    uint16
	linkType layers.LinkType
	hdr      [16]byte
	buf      []byte
}

// ZeroCopyReadPacketData returns the next packet; data is valid until the
// next call. It returns io.EOF at the end of the input, and
// io.ErrUnexpectedEOF when the input ends inside a record.
func (r *legacyPcapReader) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	var ci gopacket.CaptureInfo
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		return nil, ci, err
	}
	sec := int64(r.order.Uint32(r.hdr[0:4]))
	frac := int64(r.order.Uint32(r.hdr[4:8]))
	if !r.nanos {
		frac *= 1000
	}
	incl, orig := r.order.Uint32(r.hdr[8:12]), r.order.Uint32(r.hdr[12:16])
	if r.minor < 3 || incl > orig {
		incl, orig = orig, incl
	}
	if incl > pcapMaxFrame {
		return nil, ci, fmt.Errorf("captured length %d exceeds the maximum of %d", incl, pcapMaxFrame)
	}
	ci.Timestamp = time.Unix(sec, frac).UTC()
	ci.CaptureLength = int(incl)
	ci.Length = int(min(orig, 1<<31-1))
	if cap(r.buf) < int(incl) {
		r.buf = make([]byte, incl, max(incl, 2048))
	}
	data := r.buf[:incl]
	if _, err := io.ReadFull(r.r, data); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, ci, err
	}
	return data, ci, nil
}

// position reads an input through a bufio.Reader and tracks how far into
// it the reader's user has got: the bytes pulled from the source minus
// those still buffered.
type position struct {
	src    io.Reader
	pulled int64
	br     *bufio.Reader
}

// newPosition returns a position reading src through a new buffer.
func newPosition(src io.Reader) *position {
	p := &position{src: src}
	p.br = bufio.NewReaderSize(p, readBuffer)
	return p
}

// Read counts the bytes bufio pulls from the source.
func (p *position) Read(b []byte) (int, error) {
	n, err := p.src.Read(b)
	p.pulled += int64(n)
	return n, err
}

// offset returns how many bytes the reader's user has consumed.
func (p *position) offset() int64 {
	return p.pulled - int64(p.br.Buffered())
}
