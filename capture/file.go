package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// readBuffer is the size of the buffer in front of every input. pcapgo
// reuses a bufio.Reader of at least 4096 bytes instead of adding its own.
const readBuffer = 64 << 10

// expectedFormats ends the error for input that matches no format.
const expectedFormats = "want pcap (a1b2c3d4 or a1b23c4d, either byte order), pcapng (0a0d0d0a), Network Monitor (GMBU, RTSS), gzip (1f8b) or zstd (28b52ffd)"

// frameReader is one format's reader as File drives it.
type frameReader interface {
	// read returns the next frame, without Input. It returns io.EOF
	// after the last frame, and an error wrapping ErrTruncated or
	// io.ErrUnexpectedEOF when the input ends inside a record. (It
	// returns the Frame rather than filling one: a pointer passed through
	// an interface call escapes, which would cost an allocation a frame.)
	read() (Frame, error)
}

// File reads the frames of one capture file. It implements [Source].
// A File is not safe for concurrent use.
type File struct {
	info   Info
	frames frameReader
	netmon *NetmonReader // nil unless the input is a Network Monitor file
	closer io.Closer     // the file OpenFile opened
	// decompressor is a zstd decoder to release on Close.
	decompressor io.Closer
	last         int   // Number of the last frame returned
	err          error // io.EOF or the error that ended the input
}

// OpenFile opens the capture file at path, or standard input if path is
// "-". The caller must Close the File.
func OpenFile(path string) (*File, error) {
	if path == "-" {
		return Open("-", os.Stdin)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	f, err := Open(path, fh)
	if err != nil {
		fh.Close()
		return nil, err
	}
	f.closer = fh
	return f, nil
}

// Open reads the start of r to recognise its format and returns a File
// that reads frames from it. name is used in errors and in Info.
//
// A Network Monitor file is located through a frame table at its end: if
// r is an io.ReaderAt and io.Seeker (such as an *os.File on a regular
// file) it is read in place, otherwise it is read into memory first.
func Open(name string, r io.Reader) (*File, error) {
	pos := newPosition(r)
	// Decompress reads through pos.br itself (bufio hands back a reader
	// that is already large enough), so nothing is buffered twice and an
	// uncompressed input is still read from pos as given.
	d, err := Decompress(name, pos.br)
	if err != nil {
		return nil, err
	}
	if d.Compression == "" {
		return open(name, r, pos, true)
	}
	f, err := open(name, d, newPosition(d), false)
	if err != nil {
		d.Close()
		if d.Compression == "zstd" {
			err = fmt.Errorf("%w (in zstd-compressed data)", err)
		}
		return nil, err
	}
	f.info.Format += "+" + d.Compression
	if d.zr != nil {
		f.decompressor = d.zr.IOReadCloser()
	}
	return f, nil
}

// isZstd reports whether b starts with the zstd frame magic number
// (RFC 8878 §3.1.1).
func isZstd(b []byte) bool {
	return len(b) >= 4 && string(b[:4]) == "\x28\xb5\x2f\xfd"
}

// open recognises the (decompressed) input behind pos. direct says that
// r is the input as the caller gave it, not a decompressor.
func open(name string, r io.Reader, pos *position, direct bool) (*File, error) {
	f := &File{info: Info{Name: name}}
	magic, err := pos.br.Peek(4)
	if err != nil && err != io.EOF {
		if err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("input ends before its first 4 bytes: %w", ErrTruncated)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	switch {
	case len(magic) == 0:
		return nil, fmt.Errorf("%s: empty file: %w", name, ErrNotCapture)
	case len(magic) < 4:
		if isMagicPrefix(magic) {
			return nil, fmt.Errorf("%s: %d-byte file holds only part of a file header: %w", name, len(magic), ErrTruncated)
		}
		return nil, fmt.Errorf("%s: %w: starts with %x, %s", name, ErrNotCapture, magic, expectedFormats)
	}
	switch string(magic) {
	case "\xa1\xb2\xc3\xd4", "\xd4\xc3\xb2\xa1", "\xa1\xb2\x3c\x4d", "\x4d\x3c\xb2\xa1":
		p, format, err := openPcap(pos)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		f.frames, f.info.Format = p, format
	case "\x0a\x0d\x0d\x0a":
		p, err := openPcapng(pos.br)
		switch {
		case errors.Is(err, io.EOF):
			// pcapgo skipped sections of versions other than 1.0
			// up to the end of the input.
			return nil, fmt.Errorf("%s: pcapng file has no section of version 1.0", name)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("%s: %w (%v)", name, ErrTruncated, err)
		case err != nil:
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		f.frames, f.info.Format = p, "pcapng"
	case "GMBU", "RTSS":
		ra, size, tailErr := netmonInput(r, pos, direct)
		if tailErr != nil && size == 0 {
			return nil, fmt.Errorf("%s: %w", name, tailErr)
		}
		nr, err := NewNetmonReader(ra, size)
		if err != nil {
			if tailErr != nil && !errors.Is(err, ErrTruncated) {
				err = fmt.Errorf("%w (input ended: %v)", err, tailErr)
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		f.frames, f.netmon = &netmonFrames{r: nr, tailErr: tailErr}, nr
		f.info.Format = fmt.Sprintf("netmon%d", nr.major)
	default:
		if isGzip(magic) || isZstd(magic) {
			return nil, fmt.Errorf("%s: %w: compressed twice (gzip inside gzip, or zstd)", name, ErrNotCapture)
		}
		return nil, fmt.Errorf("%s: %w: starts with %x (%q), %s", name, ErrNotCapture, magic, magic, expectedFormats)
	}
	return f, nil
}

// isGzip reports whether b starts with the gzip magic number.
func isGzip(b []byte) bool {
	return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b
}

// isMagicPrefix reports whether b, shorter than a magic number, begins one.
func isMagicPrefix(b []byte) bool {
	for _, m := range []string{"\xa1\xb2\xc3\xd4", "\xd4\xc3\xb2\xa1", "\xa1\xb2\x3c\x4d", "\x4d\x3c\xb2\xa1", "\x0a\x0d\x0d\x0a", "GMBU", "RTSS", "\x1f\x8b"} {
		if bytes.HasPrefix([]byte(m), b) {
			return true
		}
	}
	return false
}

// netmonInput makes a Network Monitor input readable at any offset. A
// seekable input is read in place; anything else is read into memory
// (NetMon's 32-bit offsets cap a file at 4 GiB). tailErr is the error that
// ended reading, with the bytes read so far still usable: a cut-off gzip
// stream wraps ErrTruncated.
func netmonInput(r io.Reader, pos *position, direct bool) (ra io.ReaderAt, size int64, tailErr error) {
	if rs, ok := r.(interface {
		io.ReaderAt
		io.Seeker
	}); ok && direct {
		if cur, err := rs.Seek(0, io.SeekCurrent); err == nil {
			// Where the input started: bufio has read ahead of it.
			base := cur - pos.pulled
			if end, err := rs.Seek(0, io.SeekEnd); err == nil && base >= 0 && end >= base {
				return io.NewSectionReader(rs, base, end-base), end - base, nil
			}
		}
	}
	data, err := io.ReadAll(io.LimitReader(pos.br, netmonMaxFileSize+1))
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("input ends early: %w", ErrTruncated)
	}
	return bytes.NewReader(data), int64(len(data)), err
}

// netmonFrames reads frames from a Network Monitor file.
type netmonFrames struct {
	r *NetmonReader
	// tailErr, if set, ended reading the input into memory; it is
	// reported after the last frame instead of io.EOF.
	tailErr error
}

// read returns the next frame.
func (n *netmonFrames) read() (Frame, error) {
	data, ci, lt, err := n.r.readPacket()
	if err != nil {
		if err == io.EOF && n.tailErr != nil {
			return Frame{}, n.tailErr
		}
		return Frame{}, err
	}
	return Frame{
		Number:   n.r.number,
		Time:     ci.Timestamp,
		LinkType: lt,
		Data:     data,
		Length:   ci.Length,
		Process:  n.r.process,
	}, nil
}

// Next returns the next frame. Its Data is valid until the following call.
// Next returns io.EOF after the last frame; an error wrapping ErrTruncated
// when the input ends inside a record; any other error when the input is
// damaged. After an error, Next returns the same error again.
func (f *File) Next() (Frame, error) {
	if f.err != nil {
		return Frame{}, f.err
	}
	fr, err := f.frames.read()
	if err != nil {
		f.err = f.failure(err)
		return Frame{}, f.err
	}
	f.info.Packets++
	f.last = fr.Number
	return fr, nil
}

// failure turns the error that ended the input into Next's error.
func (f *File) failure(err error) error {
	where := "in the first record"
	if f.last > 0 {
		where = fmt.Sprintf("after frame %d", f.last)
	}
	switch {
	case err == io.EOF:
		return io.EOF
	case errors.Is(err, ErrTruncated):
		f.info.Truncated = true
		return fmt.Errorf("%s: %s: %w", f.info.Name, where, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		f.info.Truncated = true
		return fmt.Errorf("%s: input ends inside the record %s: %w", f.info.Name, where, ErrTruncated)
	}
	return fmt.Errorf("%s: %s: %w", f.info.Name, where, err)
}

// Info describes the input and how much of it was read.
func (f *File) Info() Info {
	info := f.info
	if f.netmon != nil {
		info.Skipped = f.netmon.Skipped()
	}
	return info
}

// Processes returns the process table of a Network Monitor 2.2 or later
// file, with the error met reading it; nil for other inputs.
func (f *File) Processes() ([]Process, error) {
	if f.netmon == nil {
		return nil, nil
	}
	return f.netmon.Processes()
}

// TLSKeyLog returns the TLS key log lines (NSS key log format) of the
// pcapng Decryption Secrets Blocks read so far, in file order, each block's
// ending with a newline; nil for other formats or when there were none.
// `editcap --inject-secrets tls,KEYS` writes such a block. Blocks are seen
// as the reading reaches them, a little ahead of the frames: keys placed
// before the packets they decrypt are known when those packets are
// returned. The bytes are key material: never print them.
func (f *File) TLSKeyLog() []byte {
	if p, ok := f.frames.(*pcapngFrames); ok {
		return p.secrets.keyLog
	}
	return nil
}

// MayHoldSecrets reports whether the file's format can carry Decryption
// Secrets Blocks (pcapng): for any other format TLSKeyLog is nil to the
// end, and a reader of frames need not look at it per frame.
func (f *File) MayHoldSecrets() bool {
	_, ok := f.frames.(*pcapngFrames)
	return ok
}

// SecretsBlocks counts the TLS Decryption Secrets Blocks read so far, and
// those not kept: other secrets types (SSH, WireGuard), damaged blocks, or
// key logs past MaxSecrets.
func (f *File) SecretsBlocks() (kept, dropped int) {
	if p, ok := f.frames.(*pcapngFrames); ok {
		return p.secrets.blocks, p.secrets.dropped
	}
	return 0, 0
}

// Close closes the file that OpenFile opened; it does not close a reader
// given to Open, nor standard input. Next returns an error afterwards.
func (f *File) Close() error {
	if f.err == nil || f.err == io.EOF {
		f.err = fmt.Errorf("%s: %w", f.info.Name, os.ErrClosed)
	}
	if f.decompressor != nil {
		f.decompressor.Close()
		f.decompressor = nil
	}
	if f.closer == nil {
		return nil
	}
	c := f.closer
	f.closer = nil
	return c.Close()
}
