package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
	"unicode/utf16"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Layout of a Network Monitor capture file (REFERENCE §3: Microsoft's
// CAPTUREFILE_HEADER_VALUES and the NetMon 3 "Capture File Format" help;
// Wireshark's wiretap/netmon.c is the de-facto specification). All integers
// are little-endian.
const (
	// netmonHeaderFields is how much of the file header carries fields:
	// magic, version, media type, start time and the table offsets up to
	// NetworkInfoLength.
	netmonHeaderFields = 64
	// netmonPaddedHeader is the header size Wireshark's writer (and
	// NetMon 2) use: the fields, then zeros up to 128 bytes.
	netmonPaddedHeader = 128
	// netmonShortHeader is the header size of files written by NetMon 3,
	// whose fields end with ConversationStats at byte 72.
	netmonShortHeader = 72
	// netmonMaxFrame is the longest frame accepted, Wireshark's
	// WTAP_MAX_PACKET_SIZE_STANDARD; longer ones mean a damaged record.
	netmonMaxFrame = 262144
	// netmonMaxPath caps a process table path, as Wireshark does: 32767
	// UTF-16 units plus a NUL.
	netmonMaxPath = 65536
	// netmonProcessMin is the size of a process table entry with an empty
	// path and no icon.
	netmonProcessMin = 4 + 4 + 4 + 2 + 2 + 2 + 2 + 4 + 16 + 16
	// netmonMaxFileSize is the largest file a 32-bit frame table can index.
	netmonMaxFileSize = 1 << 32
)

// filetimeUnixEpoch is 1970-01-01 in FILETIME units (100 ns since 1601-01-01
// UTC).
const filetimeUnixEpoch = 116444736000000000

// The per-frame UTC timestamps of version 2.3 are used when they fall in
// this window; outside it they are taken for garbage and the header start
// time plus the record's offset is used instead (REFERENCE §3: NetMon 3.4
// may leave them unset).
var (
	netmonPlausibleFrom  = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	netmonPlausibleUntil = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Process is one entry of a Network Monitor process table (version 2.2 and
// later): the program that owned a connection when NetMon captured it.
type Process struct {
	// PID is the Windows process ID.
	PID int
	// Path is the program's path, e.g. `C:\Program Files\...\EdgeTransport.exe`.
	Path string
	// LocalAddr and RemoteAddr are the connection's addresses; IPv4
	// addresses are returned as such, not as IPv4-mapped IPv6.
	LocalAddr, RemoteAddr netip.Addr
	// LocalPort and RemotePort are the connection's ports.
	LocalPort, RemotePort uint16
}

// netmonMediaKind says what a record's media type makes of it.
type netmonMediaKind int

const (
	// netmonPacket is a captured frame.
	netmonPacket netmonMediaKind = iota
	// netmonListedMetadata is a metadata record (NetEvent, NetworkInfoEx,
	// filter string) that Wireshark lists as a frame of its own, so it
	// takes a frame number although no packet is returned for it.
	netmonListedMetadata
	// netmonHiddenMetadata is a metadata record that Wireshark drops
	// (payload header, NetworkInfo, DNS cache): it takes no frame number.
	netmonHiddenMetadata
)

// netmonMedia maps a Network Monitor media type (the file header's MacType
// before version 2.1, the per-frame trailer's MediaType from 2.1 on) to a
// pcap link type, following the table in REFERENCE §3 and Wireshark's
// netmon_encap. Types without a pcap equivalent are refused rather than
// guessed at.
func netmonMedia(media uint16) (layers.LinkType, netmonMediaKind, error) {
	switch {
	case media <= 1:
		// 0 appears in NetMon 3.4 VPN captures, with Ethernet headers.
		return layers.LinkTypeEthernet, netmonPacket, nil
	case media == 2:
		return layers.LinkTypeTokenRing, netmonPacket, nil
	case media == 3:
		// NetMon's FDDI addresses are bit-swapped, as on the systems
		// where pcap's DLT_FDDI is too.
		return layers.LinkTypeFDDI, netmonPacket, nil
	case media >= 7 && media <= 9:
		// Tunnel, wireless WAN and raw IP interfaces: an IPv4 or IPv6
		// header, told apart by its version nibble.
		return layers.LinkTypeRaw, netmonPacket, nil
	case media == 0xE080:
		// "WiFi message": plain 802.11 frames.
		return layers.LinkTypeIEEE802_11, netmonPacket, nil
	case media >= 0xE081 && media <= 0xE08A:
		return 0, 0, fmt.Errorf("Network Monitor media type %#04x (a Message Analyzer export) unsupported", media)
	case media&0xF000 == 0xE000:
		// A pcap file converted by NetMon: the low bits are its LINKTYPE.
		return layers.LinkType(media & 0x0FFF), netmonPacket, nil
	case media == 0xFFE0, media == 0xFFFB, media == 0xFFFF:
		return 0, netmonListedMetadata, nil
	case media >= 0xFFFC && media <= 0xFFFE:
		return 0, netmonHiddenMetadata, nil
	}
	what := ""
	switch media {
	case 4:
		what = " (NDIS WAN/ATM)"
	case 5:
		what = " (IEEE 1394)"
	case 6:
		what = " (802.11 with a NetMon radio header)"
	case 10:
		what = " (NDIS wireless WAN)"
	case 11:
		what = " (IrDA)"
	}
	return 0, 0, fmt.Errorf("Network Monitor media type %d%s unsupported", media, what)
}

// NetmonReader reads Microsoft Network Monitor capture files, versions 1.x
// ("RTSS") and 2.0 to 2.3 ("GMBU"). It has the method set of
// pcapgo.Reader, so it plugs into gopacket.PacketSource.
//
// Records are found through the file's frame table, in table order. When
// the frame table lies beyond the end of the file, as when the capture was
// cut short, records are instead walked one after the other from the end
// of the header (byte 72 for NetMon 3 files, 128 for those padded with
// zeros), as the writers lay them out; the last read then returns an error
// wrapping [ErrTruncated]. Wireshark reads no frame of such a file.
//
// Time stamps: version 2.3 records carry a UTC time, which is used when it
// lies between 1990 and 2100. Otherwise a frame's time is the header's
// start time plus the record's offset. That start time is a SYSTEMTIME in
// the capturing machine's local time with no zone; it is read as UTC.
// (Wireshark reads it in its own local zone; in UTC the two agree.)
//
// Metadata records (media types 0xFFxx) are skipped and counted by
// [NetmonReader.Skipped]. Media types with no pcap link type (ATM, IEEE
// 1394, NetMon's 802.11 radio header, Message Analyzer exports) give an
// error naming the frame; the reader is then positioned at the next one,
// except in a file without its frame table, which ends there.
type NetmonReader struct {
	r io.ReaderAt
	// limit is where records must end: the file size, or in sequential
	// mode the start of a partly present frame table.
	limit int64
	major uint8
	minor uint8
	// linkType is the header's media type; per frame from version 2.1.
	linkType layers.LinkType
	start    time.Time
	// frames is the frame table: each entry the file offset of a record.
	frames []uint32
	// sequential is set when the frame table is lost and records are
	// walked from the end of the header; pos is then the next record's
	// offset.
	sequential bool
	pos        int64
	next       int // index of the next frame-table entry (or record)
	// stuck ends a sequential walk: after a bad record there is no
	// telling where the next one starts.
	stuck      error
	number     int // Wireshark frame number of the last record read
	skipped    int
	processes  []Process
	processErr error
	// process is the process table entry the last record's trailer
	// names (version 2.2 and later), nil if none or out of range.
	process *Process
	hdr     [16]byte
	trailer [15]byte
	buf     []byte
	ancil   [1]interface{}
}

// NewNetmonReader reads the header and frame table of the Network Monitor
// file r of size bytes. The process table (version 2.2 and later) is read
// too; a damaged one does not stop the frames being read, and
// [NetmonReader.Processes] reports it.
func NewNetmonReader(r io.ReaderAt, size int64) (*NetmonReader, error) {
	if size < netmonHeaderFields {
		return nil, fmt.Errorf("Network Monitor header needs %d bytes, file has %d: %w", netmonHeaderFields, size, ErrTruncated)
	}
	if size > netmonMaxFileSize {
		return nil, fmt.Errorf("Network Monitor file of %d bytes is larger than its 32-bit offsets can index", size)
	}
	h := make([]byte, min(size, netmonPaddedHeader))
	if err := readAtFull(r, h, 0); err != nil {
		return nil, fmt.Errorf("Network Monitor header: %w", err)
	}
	magic := string(h[0:4])
	if magic != "GMBU" && magic != "RTSS" {
		return nil, fmt.Errorf("Network Monitor magic %q, want \"GMBU\" or \"RTSS\": %w", magic, ErrNotCapture)
	}
	nr := &NetmonReader{r: r, limit: size, minor: h[4], major: h[5]}
	if nr.major != 1 && nr.major != 2 {
		return nil, fmt.Errorf("Network Monitor version %d.%d unsupported (want 1.x or 2.x)", nr.major, nr.minor)
	}
	le := binary.LittleEndian
	if !nr.perFrameMedia() {
		lt, kind, err := netmonMedia(le.Uint16(h[6:8]))
		if err == nil && kind != netmonPacket {
			err = fmt.Errorf("Network Monitor file media type %#04x is a metadata type", le.Uint16(h[6:8]))
		}
		if err != nil {
			return nil, err
		}
		nr.linkType = lt
	} else {
		// NetMon 3 writes 1 (Ethernet) here "for backwards
		// compatibility"; the real type is in each frame's trailer.
		nr.linkType = layers.LinkTypeEthernet
	}
	st := func(i int) int { return int(le.Uint16(h[8+2*i:])) }
	// SYSTEMTIME: year, month, day of week, day, hour, minute, second, ms.
	nr.start = time.Date(st(0), time.Month(st(1)), st(3), st(4), st(5), st(6), st(7)*int(time.Millisecond), time.UTC)

	tableOff := int64(le.Uint32(h[24:28]))
	tableLen := int64(le.Uint32(h[28:32]))
	if tableLen%4 != 0 {
		return nil, fmt.Errorf("Network Monitor frame table length %d is not a multiple of 4", tableLen)
	}
	if tableLen == 0 {
		return nil, errors.New("Network Monitor frame table is empty")
	}
	if tableOff+tableLen <= size {
		table := make([]byte, tableLen)
		if err := readAtFull(r, table, tableOff); err != nil {
			return nil, fmt.Errorf("Network Monitor frame table: %w", err)
		}
		nr.frames = make([]uint32, tableLen/4)
		for i := range nr.frames {
			nr.frames[i] = le.Uint32(table[4*i:])
		}
	} else {
		// The file was cut before or inside its frame table.
		nr.sequential = true
		nr.pos = firstRecordOffset(h)
		if tableOff >= nr.pos && tableOff < size {
			nr.limit = tableOff
		}
	}

	if nr.major == 2 && nr.minor >= 2 {
		procOff := int64(le.Uint32(h[48:52]))
		procCount := int64(le.Uint32(h[52:56]))
		if procOff != 0 && procCount != 0 {
			nr.processes, nr.processErr = readNetmonProcesses(r, size, procOff, procCount)
		}
	}
	return nr, nil
}

// firstRecordOffset says where the first record starts in a file without
// its frame table. Wireshark's writer and NetMon 2 pad the header with
// zeros to 128 bytes; NetMon 3 starts the first record right after the
// header's fields, at byte 72, and a record header is never all zeros
// (its lengths are not). header holds up to the first 128 bytes.
func firstRecordOffset(header []byte) int64 {
	if len(header) <= netmonShortHeader {
		return netmonShortHeader
	}
	for _, b := range header[netmonShortHeader:] {
		if b != 0 {
			return netmonShortHeader
		}
	}
	return netmonPaddedHeader
}

// perFrameMedia reports whether records carry their own media type in a
// trailer (version 2.1 and later).
func (r *NetmonReader) perFrameMedia() bool {
	return r.major == 2 && r.minor >= 1
}

// trailerSize is the length of the trailer after each frame's data.
func (r *NetmonReader) trailerSize() int {
	switch {
	case r.major != 2 || r.minor == 0:
		return 0
	case r.minor == 1:
		return 2 // media type
	case r.minor == 2:
		return 6 // + process table index
	default:
		return 15 // + UTC FILETIME + time zone index
	}
}

// Version returns the file format version, e.g. 2, 3 for NetMon 2.3.
func (r *NetmonReader) Version() (major, minor int) {
	return int(r.major), int(r.minor)
}

// LinkType returns the link type named by the file header. From version
// 2.1 on each frame has its own, which ReadPacketData and
// ZeroCopyReadPacketData put in ci.AncillaryData[0] (a layers.LinkType), as
// pcapgo.NgReader does with WantMixedLinkType; they do so for every version.
func (r *NetmonReader) LinkType() layers.LinkType {
	return r.linkType
}

// FrameNumber returns the number Wireshark gives the frame last returned
// (or last failed on): metadata records that Wireshark lists count, those
// it drops do not.
func (r *NetmonReader) FrameNumber() int {
	return r.number
}

// Skipped returns how many metadata records were skipped so far.
func (r *NetmonReader) Skipped() int {
	return r.skipped
}

// FrameProcess returns the process table entry that the last returned
// frame's trailer names (Network Monitor 2.2 and later): the program that
// sent or received it, which NetMon records per frame. It is nil for older
// versions and for an index outside the table.
func (r *NetmonReader) FrameProcess() *Process {
	return r.process
}

// Processes returns the file's process table (version 2.2 and later; nil
// before), with the error met while reading it, if any.
func (r *NetmonReader) Processes() ([]Process, error) {
	return r.processes, r.processErr
}

// ReadPacketData returns the next frame in a newly allocated buffer.
func (r *NetmonReader) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := r.ZeroCopyReadPacketData()
	if err != nil {
		return nil, ci, err
	}
	ci.AncillaryData = []interface{}{r.ancil[0]}
	return append([]byte(nil), data...), ci, nil
}

// ZeroCopyReadPacketData returns the next frame. The data and
// ci.AncillaryData are owned by the reader and valid until the next call.
// It returns io.EOF after the last frame.
func (r *NetmonReader) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, lt, err := r.readPacket()
	if err != nil {
		return nil, ci, err
	}
	r.ancil[0] = lt
	ci.AncillaryData = r.ancil[:]
	return data, ci, nil
}

// readPacket returns the next record that holds a packet, skipping
// metadata records.
func (r *NetmonReader) readPacket() ([]byte, gopacket.CaptureInfo, layers.LinkType, error) {
	for {
		data, ci, lt, kind, err := r.readRecord()
		if err != nil || kind == netmonPacket {
			return data, ci, lt, err
		}
		r.skipped++
	}
}

// readRecord reads the next record of any kind.
func (r *NetmonReader) readRecord() (data []byte, ci gopacket.CaptureInfo, lt layers.LinkType, kind netmonMediaKind, err error) {
	var off int64
	if r.sequential {
		if r.stuck != nil {
			return nil, ci, 0, 0, r.stuck
		}
		if r.pos >= r.limit {
			return nil, ci, 0, 0, fmt.Errorf("Network Monitor file ends after record %d, without its frame table: %w", r.next, ErrTruncated)
		}
		off = r.pos
	} else {
		if r.next >= len(r.frames) {
			return nil, ci, 0, 0, io.EOF
		}
		off = int64(r.frames[r.next])
	}
	r.next++
	// The frame number this record will have if Wireshark lists it.
	number := r.number + 1
	fail := func(err error) (data []byte, ci gopacket.CaptureInfo, lt layers.LinkType, kind netmonMediaKind, _ error) {
		r.number = number
		err = fmt.Errorf("Network Monitor record %d at offset %#x: %w", r.next, off, err)
		if r.sequential {
			r.stuck = err
		}
		return nil, ci, 0, 0, err
	}

	hdrLen := 16
	if r.major == 1 {
		hdrLen = 8
	}
	if err := r.within(off, int64(hdrLen)); err != nil {
		return fail(err)
	}
	if err := readAtFull(r.r, r.hdr[:hdrLen], off); err != nil {
		return fail(err)
	}
	le := binary.LittleEndian
	var orig, incl int
	var delta time.Duration
	if r.major == 1 {
		delta = time.Duration(le.Uint32(r.hdr[0:4])) * time.Millisecond
		orig = int(le.Uint16(r.hdr[4:6]))
		incl = int(le.Uint16(r.hdr[6:8]))
	} else {
		// Microsecond offset from the start; Wireshark multiplies the
		// unsigned value by 10 and reads the product as signed
		// 100-ns units, so frames may precede the start time.
		delta = time.Duration(int64(le.Uint64(r.hdr[0:8])*10) * 100)
		orig = int(le.Uint32(r.hdr[8:12]))
		incl64 := le.Uint32(r.hdr[12:16])
		if incl64 > netmonMaxFrame {
			return fail(fmt.Errorf("frame length %d exceeds the maximum of %d", incl64, netmonMaxFrame))
		}
		incl = int(incl64)
		if orig < 0 { // a uint32 above 2^31 on a 32-bit platform
			orig = incl
		}
	}
	trl := r.trailerSize()
	dataOff := off + int64(hdrLen)
	if err := r.within(dataOff, int64(incl+trl)); err != nil {
		return fail(err)
	}
	if cap(r.buf) < incl {
		r.buf = make([]byte, incl, max(incl, 2048))
	}
	data = r.buf[:incl:incl]
	if err := readAtFull(r.r, data, dataOff); err != nil {
		return fail(err)
	}
	trailer := r.trailer[:trl]
	if err := readAtFull(r.r, trailer, dataOff+int64(incl)); err != nil {
		return fail(err)
	}
	if r.sequential {
		r.pos = dataOff + int64(incl+trl)
	}

	lt, kind = r.linkType, netmonPacket
	if r.perFrameMedia() {
		var err error
		lt, kind, err = netmonMedia(le.Uint16(trailer[0:2]))
		if err != nil {
			return fail(err)
		}
	}
	if kind != netmonHiddenMetadata {
		r.number = number
	}
	ci.Timestamp = r.trailerFields(trailer, r.start.Add(delta))
	ci.CaptureLength = incl
	ci.Length = orig
	return data, ci, lt, kind, nil
}

// trailerFields reads a record trailer's process table index (2.2 and
// later) into r.process, and returns its UTC time stamp (2.3 and later)
// when plausible, else at (start plus offset).
func (r *NetmonReader) trailerFields(trailer []byte, at time.Time) time.Time {
	le := binary.LittleEndian
	r.process = nil
	if r.major == 2 && r.minor >= 2 {
		if i := le.Uint32(trailer[2:6]); uint64(i) < uint64(len(r.processes)) {
			r.process = &r.processes[i]
		}
	}
	if r.major == 2 && r.minor >= 3 {
		if t, ok := filetime(le.Uint64(trailer[6:14])); ok {
			return t
		}
	}
	return at
}

// within checks that n bytes at off lie inside the records' area. Past a
// cut the error wraps ErrTruncated; past the end of a file that still has
// its frame table, the record is damaged.
func (r *NetmonReader) within(off, n int64) error {
	if off >= 0 && n >= 0 && off+n <= r.limit {
		return nil
	}
	if r.sequential {
		return fmt.Errorf("record of %d bytes runs past the end of the data: %w", n, ErrTruncated)
	}
	return fmt.Errorf("%d bytes at offset %#x run past the end of the file (%d bytes)", n, off, r.limit)
}

// filetime converts a Windows FILETIME to a time, reporting whether it is
// plausible for a capture.
func filetime(ft uint64) (time.Time, bool) {
	if ft == 0 {
		return time.Time{}, false
	}
	d := int64(ft - filetimeUnixEpoch) // wraps for times before 1970, as intended
	if ft < filetimeUnixEpoch {
		return time.Time{}, false
	}
	t := time.Unix(d/1e7, d%1e7*100).UTC()
	if t.Before(netmonPlausibleFrom) || !t.Before(netmonPlausibleUntil) {
		return time.Time{}, false
	}
	return t, true
}

// readNetmonProcesses reads count process table entries at off (REFERENCE
// §3): a u16 version, then per entry a UTF-16LE path, an icon, the PID, the
// ports and the addresses.
func readNetmonProcesses(r io.ReaderAt, size, off, count int64) ([]Process, error) {
	t := tableReader{r: r, off: off, end: size}
	t.bytes(2) // table version, unused
	if t.err == nil && count > (size-t.off)/netmonProcessMin {
		return nil, fmt.Errorf("Network Monitor process table: %d entries cannot fit in the %d bytes after offset %#x", count, size-t.off, t.off)
	}
	le := binary.LittleEndian
	var procs []Process
	for i := int64(0); i < count && t.err == nil; i++ {
		pathSize := int64(le.Uint32(t.bytes(4)))
		if pathSize > netmonMaxPath {
			return procs, fmt.Errorf("Network Monitor process table entry %d: path of %d bytes exceeds %d", i+1, pathSize, netmonMaxPath)
		}
		path := utf16String(t.bytes(pathSize))
		iconSize := int64(le.Uint32(t.bytes(4)))
		t.skip(iconSize)
		fixed := t.bytes(4 + 2 + 2 + 2 + 2 + 4 + 16 + 16)
		if t.err != nil {
			break
		}
		p := Process{
			PID:        int(le.Uint32(fixed[0:4])),
			Path:       path,
			LocalPort:  le.Uint16(fixed[4:6]),
			RemotePort: le.Uint16(fixed[8:10]),
		}
		addrs := fixed[16:48]
		if le.Uint32(fixed[12:16]) != 0 {
			p.LocalAddr = netip.AddrFrom16([16]byte(addrs[0:16]))
			p.RemoteAddr = netip.AddrFrom16([16]byte(addrs[16:32]))
		} else {
			p.LocalAddr = netip.AddrFrom4([4]byte(addrs[0:4]))
			p.RemoteAddr = netip.AddrFrom4([4]byte(addrs[16:20]))
		}
		procs = append(procs, p)
	}
	if t.err != nil {
		return procs, fmt.Errorf("Network Monitor process table entry %d: %w", len(procs)+1, t.err)
	}
	return procs, nil
}

// tableReader reads consecutive fields of a table, bounds-checked against
// the file size. After the first error every read returns zeros and the
// error stays in err.
type tableReader struct {
	r        io.ReaderAt
	off, end int64
	err      error
	zero     [48]byte
}

// bytes returns the next n bytes (zeros after an error).
func (t *tableReader) bytes(n int64) []byte {
	if t.err == nil && (n < 0 || t.off+n > t.end) {
		t.err = fmt.Errorf("%d bytes at offset %#x run past the end of the file (%d bytes)", n, t.off, t.end)
	}
	if t.err != nil {
		if n >= 0 && n <= int64(len(t.zero)) {
			return t.zero[:n]
		}
		return nil
	}
	b := make([]byte, n)
	if err := readAtFull(t.r, b, t.off); err != nil {
		t.err = err
		return t.zero[:min(n, int64(len(t.zero)))]
	}
	t.off += n
	return b
}

// skip moves past n bytes.
func (t *tableReader) skip(n int64) {
	if t.err == nil && (n < 0 || t.off+n > t.end) {
		t.err = fmt.Errorf("%d bytes at offset %#x run past the end of the file (%d bytes)", n, t.off, t.end)
	}
	if t.err == nil {
		t.off += n
	}
}

// utf16String decodes a UTF-16LE string that ends at its first NUL or at
// the end of b.
func utf16String(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// readAtFull fills b from r at off. A short read means the file is shorter
// than its tables say, which wraps ErrTruncated.
func readAtFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("read %d of %d bytes at offset %#x: %w", n, len(b), off, ErrTruncated)
	}
	return err
}
