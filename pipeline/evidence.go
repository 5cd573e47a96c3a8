package pipeline

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/reassembly"
)

// ErrEvidenceStdin is returned when --evidence is asked of standard input,
// which cannot be read a second time.
var ErrEvidenceStdin = errors.New(`--evidence needs capture files: standard input ("-") cannot be read a second time`)

// evidenceConn is one failing connection to cut out of its input: its
// real endpoints (never the redacted ones of the report) and frame range.
type evidenceConn struct {
	stream         int
	input          int
	client, server netip.AddrPort
	first, last    int
	file           *os.File
	section        pcapgo.NgSectionInfo
	w              *pcapgo.NgWriter
	ifaces         map[layers.LinkType]int
}

// WriteEvidence writes DIR/stream-<N>.pcapng for every failing connection
// (failed, from Files), holding only that connection's packets. It reads the inputs a
// second time, numbering frames as the analysis did (merged order with
// merge), and keeps each packet's link type, timestamp and original
// length. With several inputs analysed separately, stream numbers repeat,
// so the files are named stream-<input>-<N>.pcapng. application names
// the program in each file's section header.
func WriteEvidence(dir string, names []string, merge bool, failed []ConnRef, application string) (err error) {
	var conns []*evidenceConn
	for _, f := range failed {
		conns = append(conns, &evidenceConn{stream: f.Stream, input: f.Input,
			client: unmap(f.Client), server: unmap(f.Server),
			first: f.FirstFrame, last: f.LastFrame, ifaces: map[layers.LinkType]int{}})
	}
	if len(conns) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	defer func() {
		for _, c := range conns {
			if c.file == nil {
				continue
			}
			if c.w == nil && err == nil {
				err = c.start(layers.LinkTypeEthernet)
			}
			if c.w != nil {
				if ferr := c.w.Flush(); err == nil {
					err = ferr
				}
			}
			if cerr := c.file.Close(); err == nil {
				err = cerr
			}
		}
	}()
	separate := !merge || len(names) < 2
	for _, c := range conns {
		name := fmt.Sprintf("stream-%d.pcapng", c.stream)
		if separate && len(names) > 1 {
			name = fmt.Sprintf("stream-%d-%d.pcapng", c.input, c.stream)
		}
		origin := names[c.input]
		if !separate {
			origin = fmt.Sprintf("mergecap -w merged.pcapng %v", names)
		}
		if c.file, err = os.Create(filepath.Join(dir, name)); err != nil {
			return err
		}
		c.section = pcapgo.NgSectionInfo{
			Application: application,
			Comment: fmt.Sprintf("smtpscope evidence: tcp.stream %d (%s -> %s), frames %d-%d of %s. Frame numbers here differ from the original: each packet's comment gives its original frame number, the one the report cites.",
				c.stream, c.client, c.server, c.first, c.last, origin),
		}
	}
	if separate {
		for i, name := range names {
			if err := cutEvidence([]string{name}, false, conns, i); err != nil {
				return err
			}
		}
	} else if err := cutEvidence(names, true, conns, 0); err != nil {
		return err
	}
	return nil
}

// cutEvidence reads the named files (merged when merge) and hands every
// frame of a wanted connection of input to its writer.
func cutEvidence(names []string, merge bool, conns []*evidenceConn, input int) error {
	var want []*evidenceConn
	for _, c := range conns {
		if c.input == input {
			want = append(want, c)
		}
	}
	if len(want) == 0 {
		return nil
	}
	srcs := make([]capture.Source, 0, len(names))
	for _, name := range names {
		if name == "-" {
			return ErrEvidenceStdin
		}
		f, err := capture.OpenFile(name)
		if err != nil {
			return err
		}
		defer f.Close()
		srcs = append(srcs, f)
	}
	src := srcs[0]
	if merge {
		src = capture.Merge(srcs...)
	}
	ends := reassembly.NewEndpoints()
	n := 0
	for {
		fr, err := src.Next()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, capture.ErrTruncated) {
				return nil
			}
			return err
		}
		n++
		if merge {
			fr.Number = n
		}
		var a, b netip.AddrPort
		decoded := false
		for _, c := range want {
			if fr.Number < c.first || fr.Number > c.last {
				continue
			}
			if !decoded {
				var ok bool
				if a, b, ok = ends.Of(&fr); !ok {
					break
				}
				decoded = true
			}
			if (a == c.client && b == c.server) || (a == c.server && b == c.client) {
				if err := c.write(&fr, names[min(fr.Input, len(names)-1)]); err != nil {
					return err
				}
			}
		}
	}
}

// evidenceInterface describes the interface block of one link type.
func evidenceInterface(lt layers.LinkType) pcapgo.NgInterface {
	return pcapgo.NgInterface{Name: lt.String(), LinkType: lt, TimestampResolution: 9}
}

// start writes the section header and the first interface block.
func (c *evidenceConn) start(lt layers.LinkType) error {
	w, err := pcapgo.NewNgWriterInterface(c.file, evidenceInterface(lt), pcapgo.NgWriterOptions{SectionInfo: c.section})
	if err != nil {
		return err
	}
	c.w = w
	c.ifaces[lt] = 0
	return nil
}

// write appends one frame, adding an interface block the first time its
// link type appears (a pcapng file may mix link types, as its input may).
func (c *evidenceConn) write(fr *capture.Frame, origin string) error {
	if c.w == nil {
		if err := c.start(fr.LinkType); err != nil {
			return err
		}
	}
	id, ok := c.ifaces[fr.LinkType]
	if !ok {
		var err error
		if id, err = c.w.AddInterface(evidenceInterface(fr.LinkType)); err != nil {
			return err
		}
		c.ifaces[fr.LinkType] = id
	}
	ci := gopacket.CaptureInfo{Timestamp: fr.Time, CaptureLength: len(fr.Data), Length: fr.Length, InterfaceIndex: id}
	return c.w.WritePacketWithOptions(ci, fr.Data, pcapgo.NgPacketOptions{
		Comments: []string{fmt.Sprintf("frame %d of %s", fr.Number, origin)}})
}

func unmap(ap netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) }
