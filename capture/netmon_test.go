package capture

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// nmRecord is one record of a synthesized Network Monitor file.
type nmRecord struct {
	offset   uint64 // TimeOffset: µs (2.x) or ms (1.x) since the start
	orig     uint32 // original length; 0 means len(data)
	data     []byte
	media    uint16 // trailer media type (2.1 and later)
	process  uint32 // trailer process table index (2.2 and later)
	filetime uint64 // trailer UTC time (2.3 and later)
}

// nmFile describes a synthesized Network Monitor file; build lays it out
// as REFERENCE §3 describes.
type nmFile struct {
	major, minor byte
	mac          uint16    // header media type
	start        [8]uint16 // SYSTEMTIME
	headerSize   int       // where the first record goes; 0 means 128
	records      []nmRecord
	processes    []byte // the process table, from its version field on
	processCount uint32
	order        []int // frame table order of the records; nil means in order
}

// nmStart is the start time the synthesized files use:
// 2024-05-17 10:20:30.250, a Friday.
var nmStart = [8]uint16{2024, 5, 5, 17, 10, 20, 30, 250}

// nmStartTime is nmStart read as UTC.
var nmStartTime = time.Date(2024, 5, 17, 10, 20, 30, 250e6, time.UTC)

// build returns the file's bytes.
func (n nmFile) build() []byte {
	le := binary.LittleEndian
	size := n.headerSize
	if size == 0 {
		size = 128
	}
	b := make([]byte, size)
	copy(b, "GMBU")
	if n.major == 1 {
		copy(b, "RTSS")
	}
	b[4], b[5] = n.minor, n.major
	le.PutUint16(b[6:], n.mac)
	for i, v := range n.start {
		le.PutUint16(b[8+2*i:], v)
	}
	var offsets []uint32
	for _, r := range n.records {
		offsets = append(offsets, uint32(len(b)))
		orig := r.orig
		if orig == 0 {
			orig = uint32(len(r.data))
		}
		if n.major == 1 {
			b = le.AppendUint32(b, uint32(r.offset))
			b = le.AppendUint16(b, uint16(orig))
			b = le.AppendUint16(b, uint16(len(r.data)))
		} else {
			b = le.AppendUint64(b, r.offset)
			b = le.AppendUint32(b, orig)
			b = le.AppendUint32(b, uint32(len(r.data)))
		}
		b = append(b, r.data...)
		if n.major == 2 && n.minor >= 1 {
			b = le.AppendUint16(b, r.media)
		}
		if n.major == 2 && n.minor >= 2 {
			b = le.AppendUint32(b, r.process)
		}
		if n.major == 2 && n.minor >= 3 {
			b = le.AppendUint64(b, r.filetime)
			b = append(b, 0) // time zone index
		}
	}
	if n.processes != nil {
		le.PutUint32(b[48:], uint32(len(b)))
		le.PutUint32(b[52:], n.processCount)
		b = append(b, n.processes...)
	}
	order := n.order
	if order == nil {
		for i := range offsets {
			order = append(order, i)
		}
	}
	le.PutUint32(b[24:], uint32(len(b)))
	le.PutUint32(b[28:], uint32(4*len(order)))
	for _, i := range order {
		b = le.AppendUint32(b, offsets[i])
	}
	return b
}

// nmProcess returns one process table entry.
func nmProcess(path string, icon []byte, pid uint32, local, remote netip.Addr, lport, rport uint16) []byte {
	le := binary.LittleEndian
	var p []byte
	var utf []byte
	for _, c := range path + "\x00" {
		utf = le.AppendUint16(utf, uint16(c))
	}
	p = le.AppendUint32(p, uint32(len(utf)))
	p = append(p, utf...)
	p = le.AppendUint32(p, uint32(len(icon)))
	p = append(p, icon...)
	p = le.AppendUint32(p, pid)
	p = le.AppendUint16(p, lport)
	p = le.AppendUint16(p, 0)
	p = le.AppendUint16(p, rport)
	p = le.AppendUint16(p, 0)
	addr := func(a netip.Addr) []byte {
		var b [16]byte
		if a.Is4() {
			a4 := a.As4()
			copy(b[:], a4[:])
		} else {
			b = a.As16()
		}
		return b[:]
	}
	if local.Is6() {
		p = le.AppendUint32(p, 1)
	} else {
		p = le.AppendUint32(p, 0)
	}
	p = append(p, addr(local)...)
	return append(p, addr(remote)...)
}

// filetimeOf returns t as a Windows FILETIME.
func filetimeOf(t time.Time) uint64 {
	return uint64(t.UnixNano()/100) + filetimeUnixEpoch
}

// Test frames: an Ethernet header, a raw IPv4 header and a raw IPv6 one.
var (
	ethFrame  = []byte{0, 0x15, 0x5d, 1, 2, 3, 0, 0x15, 0x5d, 4, 5, 6, 0x08, 0x00}
	ipv4Frame = []byte{0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
	ipv6Frame = []byte{0x60, 0, 0, 0, 0, 0, 6, 64}
)

// nmLiteral23 is a complete NetMon 2.3 file written out byte by byte: one
// Ethernet frame, a NetEvent metadata record and a frame in the "converted
// pcap" media type 0xE000|101 (raw IP). The test checks that build makes
// the same bytes.
const nmLiteral23 = `
47 4d 42 55  03 02  01 00                     GMBU, version 2.3, MacType 1
e8 07 05 00 05 00 11 00 0a 00 14 00 1e 00 fa 00   SYSTEMTIME 2024-05-(Fri)17 10:20:30.250
f3 00 00 00  0c 00 00 00                      frame table at 0xf3, 12 bytes
00 00 00 00  00 00 00 00                      user data
00 00 00 00  00 00 00 00                      comments
00 00 00 00  00 00 00 00                      process table
00 00 00 00  00 00 00 00                      network info
00 00 00 00  00 00 00 00                      conversation stats
00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00   padding to 128
00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
00 00 00 00 00 00 00 00
                                              record 1 at 0x80:
e8 03 00 00 00 00 00 00                       TimeOffset 1000 µs
0e 00 00 00  0e 00 00 00                      FrameLengthWire 14, FrameLength 14
00 15 5d 01 02 03 00 15 5d 04 05 06 08 00     Ethernet header
01 00  07 00 00 00                            media 1, process index 7
80 41 89 d8 43 a8 da 01  00                   FILETIME 2024-05-17 10:20:31 UTC, zone index 0
                                              record 2 at 0xad:
d0 07 00 00 00 00 00 00  00 00 00 00 00 00 00 00   TimeOffset 2000 µs, no data
e0 ff  00 00 00 00                            media 0xffe0 (NetEvent)
00 00 00 00 00 00 00 00  00                   no FILETIME
                                              record 3 at 0xcc:
b8 0b 00 00 00 00 00 00                       TimeOffset 3000 µs
00 04 00 00  08 00 00 00                      FrameLengthWire 1024, FrameLength 8
60 00 00 00 00 00 06 40                       IPv6 header (cut by the snaplen)
65 e0  00 00 00 00                            media 0xe065: LINKTYPE_RAW
00 00 00 00 00 00 00 00  00                   no FILETIME
80 00 00 00  ad 00 00 00  cc 00 00 00         frame table
`

// hexLiteral turns a commented hex dump into bytes: on each line, the
// pairs of hex digits before the first run of two spaces between words.
func hexLiteral(t *testing.T, s string) []byte {
	t.Helper()
	var out []byte
	for _, line := range strings.Split(s, "\n") {
		for _, field := range strings.Fields(line) {
			if len(field) != 2 {
				break
			}
			b, err := hex.DecodeString(field)
			if err != nil {
				break
			}
			out = append(out, b...)
		}
	}
	return out
}

// TestNetmonLiteral checks the literal 2.3 file, and that nmFile.build
// lays out the same bytes, which the other synthesized tests rely on.
func TestNetmonLiteral(t *testing.T) {
	lit := hexLiteral(t, nmLiteral23)
	built := nmFile{major: 2, minor: 3, mac: 1, start: nmStart, records: []nmRecord{
		{offset: 1000, data: ethFrame, media: 1, process: 7, filetime: filetimeOf(nmStartTime.Add(750 * time.Millisecond))},
		{offset: 2000, media: 0xFFE0},
		{offset: 3000, orig: 1024, data: ipv6Frame, media: 0xE065},
	}}.build()
	if !bytes.Equal(lit, built) {
		t.Fatalf("build() differs from the literal:\n%s\nwant\n%s", hex.Dump(built), hex.Dump(lit))
	}
	f, err := openBytes("literal.cap", lit)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(f)
	if err != io.EOF {
		t.Fatalf("Next = %v, want io.EOF", err)
	}
	want := []Frame{
		{Number: 1, Time: time.Date(2024, 5, 17, 10, 20, 31, 0, time.UTC), LinkType: layers.LinkTypeEthernet, Data: ethFrame, Length: 14},
		{Number: 3, Time: nmStartTime.Add(3 * time.Millisecond), LinkType: layers.LinkTypeRaw, Data: ipv6Frame, Length: 1024},
	}
	checkFrames(t, got, want)
	if info := f.Info(); info.Skipped != 1 || info.Packets != 2 || info.Format != "netmon2" {
		t.Errorf("Info() = %+v, want 2 packets, 1 skipped, netmon2", info)
	}
}

// checkFrames compares frames field by field.
func checkFrames(t *testing.T, got []frameCopy, want []Frame) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d frames, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		g, w := got[i].Frame, want[i]
		if g.Number != w.Number || g.Input != w.Input || !g.Time.Equal(w.Time) || g.LinkType != w.LinkType || g.Length != w.Length || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("frame %d = {No. %d, input %d, %s, %v, len %d, % x}, want {No. %d, input %d, %s, %v, len %d, % x}", i+1,
				g.Number, g.Input, g.Time.Format(time.RFC3339Nano), g.LinkType, g.Length, g.Data,
				w.Number, w.Input, w.Time.Format(time.RFC3339Nano), w.LinkType, w.Length, w.Data)
		}
	}
}

// TestNetmonSynthesized reads synthesized files of every version: record
// headers, trailers, media types, metadata records and time stamps.
func TestNetmonSynthesized(t *testing.T) {
	at := func(d time.Duration) time.Time { return nmStartTime.Add(d) }
	tests := []struct {
		name    string
		file    nmFile
		want    []Frame
		skipped int
	}{
		{
			name: "1.1: millisecond offsets, header media type",
			file: nmFile{major: 1, minor: 1, mac: 1, start: nmStart, records: []nmRecord{
				{offset: 0, data: ethFrame},
				{offset: 1500, orig: 1514, data: ethFrame},
			}},
			want: []Frame{
				{Number: 1, Time: at(0), LinkType: layers.LinkTypeEthernet, Data: ethFrame, Length: 14},
				{Number: 2, Time: at(1500 * time.Millisecond), LinkType: layers.LinkTypeEthernet, Data: ethFrame, Length: 1514},
			},
		},
		{
			name: "2.0: microsecond offsets, raw IP from the header",
			file: nmFile{major: 2, minor: 0, mac: 9, start: nmStart, records: []nmRecord{
				{offset: 1, data: ipv4Frame},
				{offset: 86_400_000_001, data: ipv6Frame},
			}},
			want: []Frame{
				{Number: 1, Time: at(time.Microsecond), LinkType: layers.LinkTypeRaw, Data: ipv4Frame, Length: 20},
				{Number: 2, Time: at(24*time.Hour + time.Microsecond), LinkType: layers.LinkTypeRaw, Data: ipv6Frame, Length: 8},
			},
		},
		{
			name: "2.0: an offset that reads as negative precedes the start",
			file: nmFile{major: 2, minor: 0, mac: 1, start: nmStart, records: []nmRecord{
				{offset: 0xFFFFFFFFFFFFFFFF, data: ethFrame},
			}},
			want: []Frame{{Number: 1, Time: at(-time.Microsecond), LinkType: layers.LinkTypeEthernet, Data: ethFrame, Length: 14}},
		},
		{
			name: "2.1: per-frame media types",
			file: nmFile{major: 2, minor: 1, mac: 1, start: nmStart, records: []nmRecord{
				{offset: 10, data: ethFrame, media: 0},
				{offset: 20, data: ethFrame, media: 1},
				{offset: 30, data: ethFrame, media: 2},
				{offset: 40, data: ethFrame, media: 3},
				{offset: 50, data: ipv4Frame, media: 7},
				{offset: 60, data: ipv4Frame, media: 8},
				{offset: 70, data: ipv6Frame, media: 9},
				{offset: 80, data: ethFrame, media: 0xE080},
				{offset: 90, data: ethFrame, media: 0xE000 | 113},
				{offset: 100, data: ethFrame, media: 0xE000 | 284},
			}},
			want: []Frame{
				{Number: 1, Time: at(10 * time.Microsecond), LinkType: layers.LinkTypeEthernet, Data: ethFrame, Length: 14},
				{Number: 2, Time: at(20 * time.Microsecond), LinkType: layers.LinkTypeEthernet, Data: ethFrame, Length: 14},
				{Number: 3, Time: at(30 * time.Microsecond), LinkType: layers.LinkTypeTokenRing, Data: ethFrame, Length: 14},
				{Number: 4, Time: at(40 * time.Microsecond), LinkType: layers.LinkTypeFDDI, Data: ethFrame, Length: 14},
				{Number: 5, Time: at(50 * time.Microsecond), LinkType: layers.LinkTypeRaw, Data: ipv4Frame, Length: 20},
				{Number: 6, Time: at(60 * time.Microsecond), LinkType: layers.LinkTypeRaw, Data: ipv4Frame, Length: 20},
				{Number: 7, Time: at(70 * time.Microsecond), LinkType: layers.LinkTypeRaw, Data: ipv6Frame, Length: 8},
				{Number: 8, Time: at(80 * time.Microsecond), LinkType: layers.LinkTypeIEEE802_11, Data: ethFrame, Length: 14},
				{Number: 9, Time: at(90 * time.Microsecond), LinkType: layers.LinkTypeLinuxSLL, Data: ethFrame, Length: 14},
				{Number: 10, Time: at(100 * time.Microsecond), LinkType: layers.LinkType(284), Data: ethFrame, Length: 14},
			},
		},
		{
			name: "2.2: process index in the trailer",
			file: nmFile{major: 2, minor: 2, mac: 1, start: nmStart, records: []nmRecord{
				{offset: 5, data: ethFrame, media: 1, process: 0xFFFFFFFF},
			}},
			want: []Frame{{Number: 1, Time: at(5 * time.Microsecond), LinkType: layers.LinkTypeEthernet, Data: ethFrame, Length: 14}},
		},
		{
			name: "2.3: FILETIME when plausible, else start plus offset",
			file: nmFile{major: 2, minor: 3, mac: 1, start: nmStart, records: []nmRecord{
				{offset: 5, data: ethFrame, media: 1, filetime: filetimeOf(time.Date(2024, 5, 17, 3, 20, 30, 123456700, time.UTC))},
				{offset: 6, data: ethFrame, media: 1, filetime: 0},
				{offset: 7, data: ethFrame, media: 1, filetime: 1}, // 1601
				{offset: 8, data: ethFrame, media: 1, filetime: filetimeOf(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))},
				{offset: 9, data: ethFrame, media: 1, filetime: filetimeOf(time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC))},
			}},
			want: []Frame{
				{Number: 1, Time: time.Date(2024, 5, 17, 3, 20, 30, 123456700, time.UTC), LinkType: layers.LinkTypeEthernet, Data: ethFrame, Length: 14},
				{Number: 2, Time: at(6 * time.Microsecond), LinkType: layers.LinkTypeEthernet, Data: ethFrame, Length: 14},
				{Number: 3, Time: at(7 * time.Microsecond), LinkType: layers.LinkTypeEthernet, Data: ethFrame, Length: 14},
				{Number: 4, Time: at(8 * time.Microsecond), LinkType: layers.LinkTypeEthernet, Data: ethFrame, Length: 14},
				{Number: 5, Time: time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC), LinkType: layers.LinkTypeEthernet, Data: ethFrame, Length: 14},
			},
		},
		{
			// Wireshark lists NetEvent, NetworkInfoEx and filter records
			// as frames, and drops payload headers, NetworkInfo and DNS
			// cache records: frame numbers must follow.
			name: "metadata records keep Wireshark's frame numbers",
			file: nmFile{major: 2, minor: 3, mac: 1, start: nmStart, records: []nmRecord{
				{offset: 1, data: ethFrame, media: 1},
				{offset: 2, data: []byte("event"), media: 0xFFE0},
				{offset: 3, data: ethFrame, media: 1},
				{offset: 4, data: []byte("payload header"), media: 0xFFFC},
				{offset: 5, data: []byte("adapters"), media: 0xFFFB},
				{offset: 6, data: []byte("adapters"), media: 0xFFFD},
				{offset: 7, data: []byte("dns"), media: 0xFFFE},
				{offset: 8, data: ethFrame, media: 1},
				{offset: 9, data: []byte("tcp port 25"), media: 0xFFFF},
				{offset: 10, data: ethFrame, media: 1},
			}},
			want: []Frame{
				{Number: 1, Time: at(1 * time.Microsecond), LinkType: layers.LinkTypeEthernet, Data: ethFrame, Length: 14},
				{Number: 3, Time: at(3 * time.Microsecond), LinkType: layers.LinkTypeEthernet, Data: ethFrame, Length: 14},
				{Number: 5, Time: at(8 * time.Microsecond), LinkType: layers.LinkTypeEthernet, Data: ethFrame, Length: 14},
				{Number: 7, Time: at(10 * time.Microsecond), LinkType: layers.LinkTypeEthernet, Data: ethFrame, Length: 14},
			},
			skipped: 6,
		},
		{
			name: "frame table order, not file order",
			file: nmFile{major: 2, minor: 0, mac: 1, start: nmStart, order: []int{2, 0, 1}, records: []nmRecord{
				{offset: 1, data: ethFrame[:1]},
				{offset: 2, data: ethFrame[:2]},
				{offset: 3, data: ethFrame[:3]},
			}},
			want: []Frame{
				{Number: 1, Time: at(3 * time.Microsecond), LinkType: layers.LinkTypeEthernet, Data: ethFrame[:3], Length: 3},
				{Number: 2, Time: at(1 * time.Microsecond), LinkType: layers.LinkTypeEthernet, Data: ethFrame[:1], Length: 1},
				{Number: 3, Time: at(2 * time.Microsecond), LinkType: layers.LinkTypeEthernet, Data: ethFrame[:2], Length: 2},
			},
		},
		{
			name: "NetMon 3 header of 72 bytes",
			file: nmFile{major: 2, minor: 3, mac: 1, start: nmStart, headerSize: 72, records: []nmRecord{
				{offset: 1, data: ethFrame, media: 1},
			}},
			want: []Frame{{Number: 1, Time: at(time.Microsecond), LinkType: layers.LinkTypeEthernet, Data: ethFrame, Length: 14}},
		},
		{
			name: "empty frames",
			file: nmFile{major: 2, minor: 1, mac: 1, start: nmStart, records: []nmRecord{
				{offset: 1, media: 1},
			}},
			want: []Frame{{Number: 1, Time: at(time.Microsecond), LinkType: layers.LinkTypeEthernet, Data: []byte{}, Length: 0}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.file.build()
			for _, stream := range []bool{false, true} {
				var r io.Reader = bytes.NewReader(data)
				if stream {
					r = streamOnly{r}
				}
				f, err := Open("synth.cap", r)
				if err != nil {
					t.Fatal(err)
				}
				got, err := readAll(f)
				if err != io.EOF {
					t.Errorf("after %d frames: %v, want io.EOF", len(got), err)
				}
				checkFrames(t, got, tt.want)
				if s := f.Info().Skipped; s != tt.skipped {
					t.Errorf("Info().Skipped = %d, want %d", s, tt.skipped)
				}
			}
		})
	}
}

// TestNetmonReaderMethodSet reads a NetMon file through gopacket's
// PacketSource, as any pcapgo reader can be.
func TestNetmonReaderMethodSet(t *testing.T) {
	var _ gopacket.ZeroCopyPacketDataSource = (*NetmonReader)(nil)
	var _ gopacket.PacketDataSource = (*NetmonReader)(nil)
	data := readTestdata(t, "smtp-multi-addr.netmon20.cap")
	r, err := NewNetmonReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if major, minor := r.Version(); major != 2 || minor != 0 {
		t.Errorf("Version() = %d.%d, want 2.0", major, minor)
	}
	src := gopacket.NewPacketSource(r, r.LinkType())
	n := 0
	for p := range src.Packets() {
		if p.Layer(layers.LayerTypeTCP) == nil {
			t.Errorf("packet %d: no TCP layer", n+1)
		}
		if lt, ok := p.Metadata().AncillaryData[0].(layers.LinkType); !ok || lt != layers.LinkTypeEthernet {
			t.Errorf("packet %d: AncillaryData = %v, want the link type", n+1, p.Metadata().AncillaryData)
		}
		n++
	}
	if n != 21 || r.FrameNumber() != 21 {
		t.Errorf("PacketSource read %d packets, FrameNumber() = %d, want 21", n, r.FrameNumber())
	}
}

// TestNetmonProcesses reads the process table of a 2.2 file.
func TestNetmonProcesses(t *testing.T) {
	v4l, v4r := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("198.51.100.25")
	v6l, v6r := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::25")
	table := []byte{1, 0} // table version
	table = append(table, nmProcess(`C:\Program Files\Microsoft\Exchange Server\V15\Bin\EdgeTransport.exe`, []byte{1, 2, 3}, 1234, v4l, v4r, 49152, 25)...)
	table = append(table, nmProcess("svchost.exe", nil, 4, v6l, v6r, 587, 50000)...)
	file := nmFile{major: 2, minor: 2, mac: 1, start: nmStart, records: []nmRecord{{offset: 1, data: ethFrame, media: 1, process: 0}},
		processes: table, processCount: 2}
	want := []Process{
		{PID: 1234, Path: `C:\Program Files\Microsoft\Exchange Server\V15\Bin\EdgeTransport.exe`, LocalAddr: v4l, RemoteAddr: v4r, LocalPort: 49152, RemotePort: 25},
		{PID: 4, Path: "svchost.exe", LocalAddr: v6l, RemoteAddr: v6r, LocalPort: 587, RemotePort: 50000},
	}
	f, err := openBytes("procs.cap", file.build())
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Processes()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("Processes() = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("process %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if frames, err := readAll(f); len(frames) != 1 || err != io.EOF {
		t.Errorf("%d frames then %v", len(frames), err)
	}

	// Damaged tables are reported by Processes; the frames still read.
	damaged := []struct {
		name  string
		table []byte
		count uint32
		text  string
	}{
		{"count too large", table, 1000, "1000 entries cannot fit"},
		{"entry cut", table[:len(table)-10], 2, "entry 2"},
		{"path too long", append(binary.LittleEndian.AppendUint32([]byte{1, 0}, 65538), make([]byte, 100)...), 1, "path of 65538 bytes exceeds 65536"},
		{"icon past the end", append(binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32([]byte{1, 0}, 0), 0xFFFFFFF0), make([]byte, 60)...), 1, "run past the end"},
	}
	for _, tt := range damaged {
		t.Run(tt.name, func(t *testing.T) {
			file.processes, file.processCount = tt.table, tt.count
			f, err := openBytes("procs.cap", file.build())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Processes(); err == nil || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("Processes() error = %v, want one containing %q", err, tt.text)
			}
			if frames, err := readAll(f); len(frames) != 1 || err != io.EOF {
				t.Errorf("%d frames then %v, want 1 then io.EOF", len(frames), err)
			}
		})
	}
}

// TestNetmonDamaged checks that damaged headers, tables and records give
// errors, and which of them are truncation.
func TestNetmonDamaged(t *testing.T) {
	le := binary.LittleEndian
	good := nmFile{major: 2, minor: 1, mac: 1, start: nmStart, records: []nmRecord{
		{offset: 1, data: ethFrame, media: 1},
		{offset: 2, data: ethFrame, media: 1},
	}}
	goodBytes := good.build()
	patch := func(b []byte, off int, v uint32) []byte {
		b = bytes.Clone(b)
		le.PutUint32(b[off:], v)
		return b
	}
	with := func(f nmFile, change func(*nmFile)) []byte {
		change(&f)
		return f.build()
	}
	tableOff := int(le.Uint32(goodBytes[24:]))
	tests := []struct {
		name      string
		input     []byte
		openErr   string // Open fails with this, or
		frames    int    // Next yields this many frames, then
		nextErr   string // this error
		truncated bool   // which wraps ErrTruncated
	}{
		{name: "version 3.0", input: append([]byte("GMBU\x00\x03"), goodBytes[6:]...), openErr: "Network Monitor version 3.0 unsupported"},
		{name: "version 0.9", input: append([]byte("RTSS\x09\x00"), goodBytes[6:]...), openErr: "version 0.9 unsupported"},
		{name: "frame table length not a multiple of 4", input: patch(goodBytes, 28, 7), openErr: "frame table length 7 is not a multiple of 4"},
		{name: "empty frame table", input: patch(goodBytes, 28, 0), openErr: "frame table is empty"},
		{name: "2.0 with NetMon's 802.11 media type", input: with(good, func(f *nmFile) { f.minor, f.mac = 0, 6 }), openErr: "media type 6 (802.11 with a NetMon radio header) unsupported"},
		{name: "2.0 with ATM", input: with(good, func(f *nmFile) { f.minor, f.mac = 0, 4 }), openErr: "media type 4 (NDIS WAN/ATM) unsupported"},
		{name: "2.0 with a metadata media type", input: with(good, func(f *nmFile) { f.minor, f.mac = 0, 0xFFFF }), openErr: "is a metadata type"},
		{name: "record offset past the end", input: patch(goodBytes, tableOff+4, 0xFFFFFF00), frames: 1, nextErr: "run past the end of the file"},
		{name: "record header straddles the end", input: patch(goodBytes, tableOff+4, uint32(len(goodBytes)-8)), frames: 1, nextErr: "16 bytes at offset"},
		{name: "frame length past the end", input: patch(goodBytes, 128+12, 100000), nextErr: "run past the end of the file"},
		{name: "frame longer than 262144", input: patch(goodBytes, 128+12, 262145), nextErr: "frame length 262145 exceeds the maximum of 262144"},
		{name: "unknown media type", input: with(good, func(f *nmFile) { f.records[1].media = 0x1234 }), frames: 1, nextErr: "media type 4660 unsupported"},
		{name: "IEEE 1394", input: with(good, func(f *nmFile) { f.records[0].media = 5 }), nextErr: "(IEEE 1394) unsupported"},
		{name: "WFP capture", input: with(good, func(f *nmFile) { f.records[0].media = 0xE083 }), nextErr: "media type 0xe083 (a Message Analyzer export) unsupported"},
		{name: "unknown metadata type", input: with(good, func(f *nmFile) { f.records[0].media = 0xFFF0 }), nextErr: "media type 65520 unsupported"},
		{name: "cut inside the frame table", input: goodBytes[:len(goodBytes)-2], frames: 2, nextErr: "without its frame table", truncated: true},
		{name: "cut inside record 2", input: goodBytes[:128+32+10], frames: 1, nextErr: "runs past the end of the data", truncated: true},
		{name: "cut before any record", input: goodBytes[:100], nextErr: "without its frame table", truncated: true},
		{name: "header cut", input: goodBytes[:63], openErr: "header needs 64 bytes, file has 63"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := openBytes("damaged.cap", tt.input)
			if tt.openErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.openErr) {
					t.Fatalf("Open = %v, want an error containing %q", err, tt.openErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(f)
			if len(got) != tt.frames || err == nil || err == io.EOF || !strings.Contains(err.Error(), tt.nextErr) {
				t.Fatalf("%d frames then %v, want %d frames then an error containing %q", len(got), err, tt.frames, tt.nextErr)
			}
			if errors.Is(err, ErrTruncated) != tt.truncated || f.Info().Truncated != tt.truncated {
				t.Errorf("error %v: truncated = %v, Info().Truncated = %v, want %v", err, errors.Is(err, ErrTruncated), f.Info().Truncated, tt.truncated)
			}
		})
	}
}

// TestNetmonReaderContinuesAfterBadFrame checks that NetmonReader, unlike
// File, moves on to the next frame after an unsupported one.
func TestNetmonReaderContinuesAfterBadFrame(t *testing.T) {
	data := nmFile{major: 2, minor: 1, mac: 1, start: nmStart, records: []nmRecord{
		{offset: 1, data: ethFrame, media: 6},
		{offset: 2, data: ethFrame, media: 1},
	}}.build()
	r, err := NewNetmonReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.ReadPacketData(); err == nil || r.FrameNumber() != 1 {
		t.Fatalf("frame 1: err %v, FrameNumber %d; want an error for frame 1", err, r.FrameNumber())
	}
	if d, _, err := r.ReadPacketData(); err != nil || !bytes.Equal(d, ethFrame) || r.FrameNumber() != 2 {
		t.Fatalf("frame 2: %v, FrameNumber %d", err, r.FrameNumber())
	}
	if _, _, err := r.ReadPacketData(); err != io.EOF {
		t.Fatalf("after frame 2: %v, want io.EOF", err)
	}

	// Without a frame table, nothing says where the record after a bad
	// one starts: the walk ends there, and keeps saying why.
	cut := data[:len(data)-4]
	r, err = NewNetmonReader(bytes.NewReader(cut), int64(len(cut)))
	if err != nil {
		t.Fatal(err)
	}
	_, _, first := r.ReadPacketData()
	_, _, second := r.ReadPacketData()
	if first == nil || second != first {
		t.Fatalf("walk past a bad record: %v, then %v; want the same error twice", first, second)
	}
}

// sharedPool returns the shared capture pool's directory, or skips.
func sharedPool(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SMTPSCOPE_CAPTURES")
	if dir == "" {
		dir = filepath.Join("..", "testdata", "captures")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared capture pool %s not available (set SMTPSCOPE_CAPTURES): %v", dir, err)
	}
	return dir
}

// needTool returns the path of a program, or skips.
func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed: %v", name, err)
	}
	return path
}

// TestNetmonConvertedByEditcap converts every Ethernet capture of the pool
// to NetMon 2.0 and 1.1 with Wireshark's editcap and checks that every
// frame reads back with the same number, bytes, original length and time
// (to the microsecond for 2.0; to the rounded millisecond for 1.1). The
// committed conversion of smtp-multi-addr.pcap is checked the same way
// where the pool or editcap is missing.
func TestNetmonConvertedByEditcap(t *testing.T) {
	type pair struct{ name, original, converted string }
	pairs := []pair{
		{"committed/netmon20", filepath.Join("testdata", "smtp-multi-addr.pcap"), filepath.Join("testdata", "smtp-multi-addr.netmon20.cap")},
		{"committed/netmon11", filepath.Join("testdata", "smtp-multi-addr.pcap"), filepath.Join("testdata", "smtp-multi-addr.netmon11.cap")},
	}
	if editcap, err := exec.LookPath("editcap"); err == nil && os.Getenv("SMTPSCOPE_CAPTURES") != "-" {
		if dir := os.Getenv("SMTPSCOPE_CAPTURES"); dir != "" || fileExists(filepath.Join("..", "testdata", "captures")) {
			if dir == "" {
				dir = filepath.Join("..", "testdata", "captures")
			}
			tmp := t.TempDir()
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				in := filepath.Join(dir, e.Name())
				if !allEthernet(in) {
					continue
				}
				for _, format := range []string{"netmon2", "netmon1"} {
					out := filepath.Join(tmp, e.Name()+"."+format+".cap")
					cmd := exec.Command(editcap, "-F", format, in, out)
					cmd.Env = append(os.Environ(), "TZ=UTC")
					if msg, err := cmd.CombinedOutput(); err != nil {
						t.Logf("editcap -F %s %s: %v: %s", format, e.Name(), err, msg)
						continue
					}
					pairs = append(pairs, pair{e.Name() + "/" + format, in, out})
				}
			}
		}
	}
	converted := 0
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			orig := readFile(t, p.original)
			conv := readFile(t, p.converted)
			if len(orig) != len(conv) {
				t.Fatalf("%d frames, the original has %d", len(conv), len(orig))
			}
			ms := strings.HasSuffix(p.name, "netmon1") || strings.HasSuffix(p.name, "netmon11")
			for i := range orig {
				o, c := orig[i], conv[i]
				want := o.Time.Round(time.Microsecond)
				if ms {
					// The start time keeps its milliseconds; the
					// offsets are rounded to the millisecond and
					// wrap after 2^32 ms (49.7 days) in 1.x's 32 bits.
					start := orig[0].Time.Truncate(time.Millisecond)
					ms := o.Time.Sub(start).Round(time.Millisecond).Milliseconds()
					want = start.Add(time.Duration(uint32(ms)) * time.Millisecond)
				}
				if c.Number != o.Number || !c.Time.Equal(want) || c.Length != o.Length || c.LinkType != layers.LinkTypeEthernet || !bytes.Equal(c.Data, o.Data) {
					t.Errorf("frame %d: converted {No. %d, %s, len %d, %v} differs from the original {No. %d, %s, len %d}",
						i+1, c.Number, c.Time.Format(time.RFC3339Nano), c.Length, c.LinkType, o.Number, want.Format(time.RFC3339Nano), o.Length)
				}
			}
		})
		converted++
	}
	if converted < 4 {
		t.Logf("only %d conversions checked (pool or editcap missing)", converted)
	}
}

// fileExists reports whether path exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// allEthernet reports whether path is a capture whose frames are all
// Ethernet and no longer than NetMon 1.x's 16-bit lengths allow.
func allEthernet(path string) bool {
	f, err := OpenFile(path)
	if err != nil {
		return false
	}
	defer f.Close()
	frames, err := readAll(f)
	if err != io.EOF || len(frames) == 0 || strings.HasPrefix(f.Info().Format, "netmon") {
		return false
	}
	for _, fr := range frames {
		if fr.LinkType != layers.LinkTypeEthernet || fr.Length > 65535 {
			return false
		}
	}
	return true
}

// readFile reads every frame of a capture file, which must end cleanly.
func readFile(t *testing.T, path string) []frameCopy {
	t.Helper()
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	frames, err := readAll(f)
	if err != io.EOF {
		t.Fatalf("%s: %v", path, err)
	}
	return frames
}

// TestNetmonFrameProcess checks that each frame carries the process table
// entry its trailer names (2.2 and later), nil for an index outside the
// table and for versions without the field.
func TestNetmonFrameProcess(t *testing.T) {
	any4 := netip.IPv4Unspecified()
	table := []byte{1, 0}
	table = append(table, nmProcess(`C:\Windows\System32\svchost.exe`, nil, 4, any4, any4, 135, 0)...)
	table = append(table, nmProcess(`C:\Program Files\Microsoft\Exchange Server\V15\Bin\MSExchangeFrontendTransport.exe`, nil, 2345, any4, any4, 25, 0)...)
	records := []nmRecord{
		{offset: 1, data: ethFrame, media: 1, process: 1},
		{offset: 2, data: ethFrame, media: 1, process: 0},
		{offset: 3, data: ethFrame, media: 1, process: 2},          // one past the table
		{offset: 4, data: ethFrame, media: 1, process: 0xFFFFFFFF}, // NetMon's "none"
	}
	tests := []struct {
		name  string
		minor byte
		pids  []int // 0: no process
	}{
		{"2.1 has no process index", 1, []int{0, 0, 0, 0}},
		{"2.2", 2, []int{2345, 4, 0, 0}},
		{"2.3", 3, []int{2345, 4, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := nmFile{major: 2, minor: tt.minor, mac: 1, start: nmStart, records: records}
			if tt.minor >= 2 {
				file.processes, file.processCount = table, 2
			}
			f, err := openBytes("procs.cap", file.build())
			if err != nil {
				t.Fatal(err)
			}
			frames, err := readAll(f)
			if err != io.EOF || len(frames) != len(tt.pids) {
				t.Fatalf("%d frames then %v", len(frames), err)
			}
			for i, fr := range frames {
				got := 0
				if fr.Process != nil {
					got = fr.Process.PID
				}
				if got != tt.pids[i] {
					t.Errorf("frame %d: process PID %d, want %d", i+1, got, tt.pids[i])
				}
			}
		})
	}
}
