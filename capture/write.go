package capture

import (
	"fmt"
	"io"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// WriterOptions describe the interface a Writer's packets were captured
// on, for the pcapng interface block, and the program writing them.
type WriterOptions struct {
	Interface, Filter string
	Snaplen           int
	Application       string
}

// Writer writes frames to a pcapng file as they are captured (smtpscope
// live --write), numbered in the file as they were when analysed. The
// section and interface blocks are written once the link type is known:
// from SetLinkType, or the first frame.
type Writer struct {
	out  io.WriteCloser
	name string
	opts WriterOptions
	w    *pcapgo.NgWriter
	err  error
}

// NewWriter returns a Writer to out, which Close closes; name is used in
// errors.
func NewWriter(out io.WriteCloser, name string, opts WriterOptions) *Writer {
	return &Writer{out: out, name: name, opts: opts}
}

// SetLinkType writes the file's header for frames of link type lt, if not
// done yet.
func (p *Writer) SetLinkType(lt layers.LinkType) {
	if p.w != nil || p.err != nil {
		return
	}
	intf := pcapgo.DefaultNgInterface
	intf.Name, intf.Filter, intf.LinkType, intf.SnapLength = p.opts.Interface, p.opts.Filter, lt, uint32(p.opts.Snaplen)
	opts := pcapgo.DefaultNgWriterOptions
	opts.SectionInfo.Application = p.opts.Application
	p.w, p.err = pcapgo.NewNgWriterInterface(p.out, intf, opts)
}

// Write appends a frame.
func (p *Writer) Write(fr *Frame) error {
	p.SetLinkType(fr.LinkType)
	if p.err == nil {
		ci := gopacket.CaptureInfo{Timestamp: fr.Time, CaptureLength: len(fr.Data), Length: max(fr.Length, len(fr.Data))}
		p.err = p.w.WritePacket(ci, fr.Data)
	}
	if p.err != nil {
		return fmt.Errorf("%s: %w", p.name, p.err)
	}
	return nil
}

// Flush writes what is buffered, so that a file cut short by a crash
// still holds everything up to here.
func (p *Writer) Flush() {
	if p.w != nil && p.err == nil {
		p.err = p.w.Flush()
	}
}

// Close completes and closes the file. Without any frame or link type,
// the interface block says Ethernet: with no packet, nothing depends on it.
func (p *Writer) Close() error {
	p.SetLinkType(layers.LinkTypeEthernet)
	p.Flush()
	if err := p.out.Close(); err != nil && p.err == nil {
		p.err = err
	}
	if p.err != nil {
		return fmt.Errorf("%s: %w", p.name, p.err)
	}
	return nil
}
