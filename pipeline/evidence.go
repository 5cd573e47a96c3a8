package pipeline

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/tlskeys"
)

// ErrEvidenceStdin is returned when --evidence is asked of standard input,
// which cannot be read a second time.
var ErrEvidenceStdin = errors.New(`--evidence needs capture files: standard input ("-") cannot be read a second time`)

// ErrEvidenceRedact is returned when evidence is asked of a redacted run:
// the packets carry the addresses, host names and message bodies the
// report hides, and rewriting them all (TCP payloads included) is not
// something an evidence file could be trusted for.
var ErrEvidenceRedact = errors.New("--evidence with --redact: the packets carry the addresses, names and message bodies --redact hides; run the evidence without --redact and keep it private")

// DefaultEvidenceOpenFiles is how many evidence files are open at once
// unless EvidenceOptions.MaxOpen says otherwise: far below the usual
// open-file limits (1,024 on Linux), so a capture with thousands of
// failing connections costs more passes over the input, never an
// "too many open files".
const DefaultEvidenceOpenFiles = 64

// EvidenceOptions are the settings of WriteEvidence. Dir is required; the
// zero value of every other field is useful.
type EvidenceOptions struct {
	// Dir is the directory the files go to; it is created if missing.
	Dir string
	// Application names the program in each file's section header.
	Application string
	// MaxOpen bounds the evidence files open at once (0:
	// DefaultEvidenceOpenFiles). Connections whose frame ranges overlap
	// more than this are cut in further passes over the input.
	MaxOpen int
	// MaxBytes, if positive, bounds the evidence files in Dir (those named
	// stream-*.pcapng, from earlier runs too): each time a file is
	// complete, the oldest are deleted until the rest fit.
	MaxBytes int64
	// Keys, if set, are written into each file of a TLS connection whose
	// client random it holds secrets for, as a pcapng Decryption Secrets
	// Block before the packets (--evidence-keys), so that Wireshark
	// decrypts the file on its own. Nil: no key material is written.
	Keys *tlskeys.KeyLog
}

// EvidenceResult says what WriteEvidence did.
type EvidenceResult struct {
	// Written are the paths of the files written, in the order they were
	// completed (some may since have been deleted under MaxBytes).
	Written []string
	// WithKeys counts the files written with a Decryption Secrets Block.
	WithKeys int
	// Deleted are the paths deleted to stay within MaxBytes.
	Deleted []string
}

// EvidenceError is the failure of one evidence file (or of all the files
// of one input, when Path is the input's name); the others are written.
type EvidenceError struct {
	Path string
	Err  error
}

func (e *EvidenceError) Error() string {
	if msg := e.Err.Error(); strings.Contains(msg, e.Path) { // an *fs.PathError names it already
		return msg
	}
	return e.Path + ": " + e.Err.Error()
}
func (e *EvidenceError) Unwrap() error { return e.Err }

// evidenceConn is one failing connection to cut out of its input: its
// real endpoints (never the redacted ones of the report) and frame range.
// Its file is open only from its first frame to its last.
type evidenceConn struct {
	stream         int
	input          int
	client, server netip.AddrPort
	first, last    int
	keys           []byte // NSS key log lines for its Decryption Secrets Block
	path           string
	section        pcapgo.NgSectionInfo

	file    *os.File
	w       *pcapgo.NgWriter
	ifaces  map[layers.LinkType]int
	packets int
	err     error // the file failed: no more frames are written
	done    bool
}

// WriteEvidence writes Dir/stream-<N>.pcapng for every failing connection
// (failed, from Files), holding only that connection's packets. It reads
// the inputs a second time, numbering frames as the analysis did (merged
// order with merge), and keeps each packet's link type, timestamp and
// original length. With several inputs analysed separately, stream
// numbers repeat, so the files are named stream-<input>-<N>.pcapng.
//
// A file is open only while the input is between its connection's first
// and last frame, and at most opts.MaxOpen at once. A file that cannot be
// written is removed and its error joined to err (an *EvidenceError per
// file); the other files are still written. The result lists what was
// written and deleted.
func WriteEvidence(names []string, merge bool, failed []ConnRef, opts EvidenceOptions) (EvidenceResult, error) {
	var res EvidenceResult
	conns := evidenceConns(failed, names, merge, opts)
	if len(conns) == 0 {
		return res, nil
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return res, err
	}
	budget, err := newEvidenceBudget(opts.Dir, opts.MaxBytes)
	if err != nil {
		return res, err
	}
	maxOpen := cmp.Or(opts.MaxOpen, DefaultEvidenceOpenFiles)
	var errs []error
	finish := func(c *evidenceConn) {
		if c.done {
			return
		}
		c.done = true
		if err := c.close(); err != nil {
			errs = append(errs, &EvidenceError{Path: c.path, Err: err})
			return
		}
		res.Written = append(res.Written, c.path)
		if len(c.keys) > 0 {
			res.WithKeys++
		}
		res.Deleted = append(res.Deleted, budget.add(c.path)...)
	}
	separate := !merge || len(names) < 2
	for input := range names {
		var want []*evidenceConn
		for _, c := range conns {
			if c.input == input {
				want = append(want, c)
			}
		}
		inNames, label := names[input:input+1], names[input]
		if !separate {
			inNames, label = names, strings.Join(names, ", ")
		}
		for pass := range evidencePasses(want, maxOpen) {
			if err := cutEvidence(inNames, !separate, pass, finish); err != nil {
				errs = append(errs, &EvidenceError{Path: label, Err: err})
				for _, c := range pass {
					if !c.done {
						c.fail(err)
						c.done = true
					}
				}
				break
			}
		}
		if !separate {
			break
		}
	}
	return res, errors.Join(errs...)
}

// evidenceConns turns the failing connections into files to write, one
// per tcp.stream (a stream resumed after it was retired is reported twice
// but is one stream to Wireshark: its file spans both).
func evidenceConns(failed []ConnRef, names []string, merge bool, opts EvidenceOptions) []*evidenceConn {
	separate := !merge || len(names) < 2
	byStream := map[[2]int]*evidenceConn{}
	var conns []*evidenceConn
	for _, f := range failed {
		key := [2]int{f.Input, f.Stream}
		if c := byStream[key]; c != nil {
			c.first, c.last = min(c.first, f.FirstFrame), max(c.last, f.LastFrame)
			if c.keys == nil {
				c.keys = connKeys(opts.Keys, f)
			}
			continue
		}
		name := fmt.Sprintf("stream-%d.pcapng", f.Stream)
		if separate && len(names) > 1 {
			name = fmt.Sprintf("stream-%d-%d.pcapng", f.Input, f.Stream)
		}
		c := &evidenceConn{stream: f.Stream, input: f.Input,
			client: unmap(f.Client), server: unmap(f.Server),
			first: f.FirstFrame, last: f.LastFrame, keys: connKeys(opts.Keys, f),
			path: filepath.Join(opts.Dir, name), ifaces: map[layers.LinkType]int{}}
		byStream[key] = c
		conns = append(conns, c)
	}
	for _, c := range conns {
		origin := ""
		if c.input < len(names) {
			origin = names[c.input]
		}
		if !separate {
			origin = fmt.Sprintf("mergecap -w merged.pcapng %v", names)
		}
		keys := ""
		if len(c.keys) > 0 {
			keys = " Its TLS keys are in the Decryption Secrets Block before the packets (--evidence-keys)."
		}
		c.section = pcapgo.NgSectionInfo{
			Application: opts.Application,
			Comment: fmt.Sprintf("smtpscope evidence: tcp.stream %d (%s -> %s), frames %d-%d of %s. Frame numbers here differ from the original: each packet's comment gives its original frame number, the one the report cites.%s",
				c.stream, c.client, c.server, c.first, c.last, origin, keys),
		}
	}
	return conns
}

// connKeys returns the key log lines of a connection's TLS session, nil
// without keys or TLS.
func connKeys(keys *tlskeys.KeyLog, f ConnRef) []byte {
	if keys == nil || f.ClientRandom == (tlskeys.Random{}) {
		return nil
	}
	return keys.AppendLines(nil, f.ClientRandom)
}

// evidencePasses splits one input's connections into passes over the
// input, in each of which no more than maxOpen connections' frame ranges
// overlap (greedy interval partitioning, in order of first frame): a
// connection that would be one too many waits for a later pass. Most
// captures need one pass.
func evidencePasses(conns []*evidenceConn, maxOpen int) func(yield func([]*evidenceConn) bool) {
	return func(yield func([]*evidenceConn) bool) {
		rest := slices.Clone(conns)
		slices.SortStableFunc(rest, func(a, b *evidenceConn) int { return cmp.Compare(a.first, b.first) })
		for len(rest) > 0 {
			var pass, later []*evidenceConn
			var open []int // last frames of the pass's connections open at the current first frame
			for _, c := range rest {
				open = slices.DeleteFunc(open, func(last int) bool { return last < c.first })
				if len(open) >= maxOpen {
					later = append(later, c)
					continue
				}
				open = append(open, c.last)
				pass = append(pass, c)
			}
			if !yield(pass) {
				return
			}
			rest = later
		}
	}
}

// cutEvidence reads the named files (merged when merge) once and hands
// every frame of a connection of pass to its file, opening each file at
// its connection's first frame and calling finish on it after its last.
// It stops reading after the pass's last frame. The error is the input's
// (it cannot be opened or read); a file's own errors stay on the file.
func cutEvidence(names []string, merge bool, pass []*evidenceConn, finish func(*evidenceConn)) error {
	src, closeSrc, err := openEvidenceInputs(names, merge)
	if err != nil {
		return err
	}
	defer closeSrc()
	end := 0
	for _, c := range pass {
		end = max(end, c.last)
	}
	ends := reassembly.NewEndpoints()
	var active []*evidenceConn
	next := 0 // pass is in order of first frame; pass[next:] have not begun
	n := 0
	for {
		fr, err := src.Next()
		if err != nil {
			// As in the analysis: an input that breaks off part-way was
			// analysed up to the break.
			if n == 0 && !errors.Is(err, io.EOF) && !errors.Is(err, capture.ErrTruncated) {
				return err
			}
			break
		}
		n++
		if merge {
			fr.Number = n
		}
		for next < len(pass) && pass[next].first <= fr.Number {
			active = append(active, pass[next])
			next++
		}
		active = slices.DeleteFunc(active, func(c *evidenceConn) bool {
			if c.last < fr.Number {
				finish(c)
				return true
			}
			return false
		})
		writeFrame(ends, &fr, active, names[min(fr.Input, len(names)-1)])
		if fr.Number >= end {
			break
		}
	}
	for _, c := range pass {
		finish(c)
	}
	return nil
}

// openEvidenceInputs opens the named files, merged into one source when
// merge; close closes them.
func openEvidenceInputs(names []string, merge bool) (src capture.Source, close func(), err error) {
	var files []*capture.File
	close = func() {
		for _, f := range files {
			f.Close()
		}
	}
	srcs := make([]capture.Source, 0, len(names))
	for _, name := range names {
		if name == "-" {
			close()
			return nil, nil, ErrEvidenceStdin
		}
		f, err := capture.OpenFile(name)
		if err != nil {
			close()
			return nil, nil, err
		}
		files = append(files, f)
		srcs = append(srcs, f)
	}
	if merge {
		return capture.Merge(srcs...), close, nil
	}
	return srcs[0], close, nil
}

// writeFrame hands fr to the file of the active connection it belongs to.
func writeFrame(ends *reassembly.Endpoints, fr *capture.Frame, active []*evidenceConn, origin string) {
	if len(active) == 0 {
		return
	}
	a, b, ok := ends.Of(fr)
	if !ok {
		return
	}
	for _, c := range active {
		if c.err == nil && ((a == c.client && b == c.server) || (a == c.server && b == c.client)) {
			if err := c.write(fr, origin); err != nil {
				c.fail(err)
			}
		}
	}
}

// evidenceInterface describes the interface block of one link type.
func evidenceInterface(lt layers.LinkType) pcapgo.NgInterface {
	return pcapgo.NgInterface{Name: lt.String(), LinkType: lt, TimestampResolution: 9}
}

// start creates the file and writes the section header, the first
// interface block and, with keys, the Decryption Secrets Block.
func (c *evidenceConn) start(lt layers.LinkType) error {
	f, err := os.Create(c.path)
	if err != nil {
		return err
	}
	c.file = f
	w, err := pcapgo.NewNgWriterInterface(c.file, evidenceInterface(lt), pcapgo.NgWriterOptions{SectionInfo: c.section})
	if err != nil {
		return err
	}
	c.w = w
	c.ifaces[lt] = 0
	if len(c.keys) > 0 {
		// pcapgo writes no Decryption Secrets Block: flush what it holds
		// and put the block between its blocks, where the specification
		// lets it stand (before the packets it decrypts).
		if err := w.Flush(); err != nil {
			return err
		}
		if _, err := c.file.Write(secretsBlock(c.keys)); err != nil {
			return err
		}
	}
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
	if err := c.w.WritePacketWithOptions(ci, fr.Data, pcapgo.NgPacketOptions{
		Comments: []string{fmt.Sprintf("frame %d of %s", fr.Number, origin)}}); err != nil {
		return err
	}
	c.packets++
	return nil
}

// fail gives the file up: it is closed and removed, and keeps err.
func (c *evidenceConn) fail(err error) {
	c.err = err
	if c.file != nil {
		c.file.Close()
		os.Remove(c.path)
		c.file, c.w = nil, nil
	}
}

// close completes the file; its error is the file's first. A file that
// failed, or whose connection's frames were not found, is removed.
func (c *evidenceConn) close() error {
	if c.err != nil {
		c.fail(c.err)
		return c.err
	}
	if c.w == nil {
		c.err = fmt.Errorf("no packet of tcp.stream %d (%s -> %s) between frames %d and %d: the input changed since the analysis?",
			c.stream, c.client, c.server, c.first, c.last)
		return c.err
	}
	err := c.w.Flush()
	if cerr := c.file.Close(); err == nil {
		err = cerr
	}
	c.file, c.w = nil, nil
	if err != nil {
		c.err = err
		os.Remove(c.path)
	}
	return err
}

// secretsBlock returns a pcapng Decryption Secrets Block holding a TLS key
// log (pcapng specification, draft-ietf-opsawg-pcapng §4.7: type 0x0A,
// secrets type "TLSK", the lines padded to 32 bits), little-endian as
// pcapgo writes every other block. pcapgo has no writer for it.
func secretsBlock(keyLog []byte) []byte {
	const (
		blockType  = 0x0000000A
		tlsKeyLog  = 0x544C534B
		headerSize = 16 // type, total length, secrets type, secrets length
	)
	padded := (len(keyLog) + 3) &^ 3
	total := headerSize + padded + 4
	b := make([]byte, 0, total)
	b = binary.LittleEndian.AppendUint32(b, blockType)
	b = binary.LittleEndian.AppendUint32(b, uint32(total))
	b = binary.LittleEndian.AppendUint32(b, tlsKeyLog)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(keyLog)))
	b = append(b, keyLog...)
	b = append(b, make([]byte, padded-len(keyLog))...)
	return binary.LittleEndian.AppendUint32(b, uint32(total))
}

// evidenceBudget keeps the evidence files of a directory within a size,
// deleting the oldest first (by modification time, then name).
type evidenceBudget struct {
	max   int64
	total int64
	files []evidenceFile // oldest first
}

type evidenceFile struct {
	path string
	size int64
}

// evidencePattern matches the files WriteEvidence writes; no other file
// of the directory is counted or deleted.
const evidencePattern = "stream-*.pcapng"

// newEvidenceBudget reads the evidence files already in dir; max <= 0
// means no bound.
func newEvidenceBudget(dir string, max int64) (*evidenceBudget, error) {
	b := &evidenceBudget{max: max}
	if max <= 0 {
		return b, nil
	}
	paths, err := filepath.Glob(filepath.Join(dir, evidencePattern))
	if err != nil {
		return nil, err
	}
	type aged struct {
		evidenceFile
		mod int64
	}
	var old []aged
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		old = append(old, aged{evidenceFile{p, fi.Size()}, fi.ModTime().UnixNano()})
	}
	slices.SortFunc(old, func(a, b aged) int { return cmp.Or(cmp.Compare(a.mod, b.mod), cmp.Compare(a.path, b.path)) })
	for _, f := range old {
		b.files = append(b.files, f.evidenceFile)
		b.total += f.size
	}
	return b, nil
}

// add counts a completed file (replacing an older file of the same name)
// and deletes the oldest files until the directory fits; it returns the
// paths deleted.
func (b *evidenceBudget) add(path string) []string {
	if b.max <= 0 {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	b.files = slices.DeleteFunc(b.files, func(f evidenceFile) bool {
		if f.path == path {
			b.total -= f.size
			return true
		}
		return false
	})
	b.files = append(b.files, evidenceFile{path, fi.Size()})
	b.total += fi.Size()
	var deleted []string
	for b.total > b.max && len(b.files) > 0 {
		f := b.files[0]
		b.files = b.files[1:]
		b.total -= f.size
		if err := os.Remove(f.path); err == nil || errors.Is(err, fs.ErrNotExist) {
			deleted = append(deleted, f.path)
		}
	}
	return deleted
}

func unmap(ap netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) }
