package pipeline

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/report"
)

// Bounds of what LiveEvidence holds.
const (
	// LiveEvidenceHead and LiveEvidenceTail are how many of a
	// connection's first and last frames are held: the handshake, the
	// greeting and the envelope, and the end of the message, the
	// end-of-data, its reply or the silence and the close. Frames between
	// them are left out of the evidence file, which says how many.
	LiveEvidenceHead = 64
	LiveEvidenceTail = 192
	// DefaultLiveEvidenceBytes bounds the packet bytes held for all open
	// connections together (LiveEvidence's maxHeld when zero): beyond
	// it, the connection holding the most gives up its tail frames so far.
	DefaultLiveEvidenceBytes = 16 << 20
)

// LiveEvidence writes the evidence file of each failing connection of a
// live run: a live capture cannot be read a second time, so it holds the
// first and last frames of every open connection (Frame, given every
// frame as the analysis numbers it) and, when the report adds a
// connection (Connection, from report.Builder.OnAdd), writes
// Dir/stream-<N>-<start>.pcapng if it failed and lets its frames go. The
// start time (UTC) in the name keeps files of different runs apart, as
// tcp.stream numbers start again with each run. Memory is bounded by the
// open connections, LiveEvidenceHead + LiveEvidenceTail frames each, and
// by maxHeld in all; EvidenceOptions.MaxBytes bounds the directory.
// With EvidenceOptions.Keys (--evidence-keys), the file of a failing TLS
// connection carries the keys the key log holds for its session, as a
// Decryption Secrets Block (Retiring tells them); without it, no key
// material is written. Not safe for concurrent use: the live run's
// analysis goroutine calls it.
type LiveEvidence struct {
	opts    EvidenceOptions
	origin  string
	maxHeld int64
	ends    *reassembly.Endpoints
	conns   map[[2]netip.AddrPort]*heldConn
	held    int64
	budget  *evidenceBudget
	res     EvidenceResult
	errs    []error
	failed  int
}

// maxLiveEvidenceErrors bounds the errors LiveEvidence keeps; the others
// are counted.
const maxLiveEvidenceErrors = 10

// heldConn is what is held of one connection's frames.
type heldConn struct {
	head   []capture.Frame
	tail   []capture.Frame // a ring of LiveEvidenceTail once full
	next   int             // the oldest frame of a full ring
	elided int             // frames between head and tail not held
	// elidedFrom and elidedTo are the first and last frame numbers left
	// out so far.
	elidedFrom, elidedTo int
	bytes                int64
	// keys are the key log lines of the connection that starts at frame
	// keysFirst (Retiring), nil without --evidence-keys.
	keys      []byte
	keysFirst int
}

// Retiring tells the TLS session of a connection about to be added to the
// report (its ClientRandom): with EvidenceOptions.Keys, its file, if it
// failed, carries the keys the key log holds for it. Call it before the
// report's Add, which calls Connection.
func (e *LiveEvidence) Retiring(ref ConnRef) {
	if e.opts.Keys == nil {
		return
	}
	h := e.conns[flowKey(ref.Client, ref.Server)]
	if h == nil {
		return
	}
	h.keys, h.keysFirst = connKeys(e.opts.Keys, ref), ref.FirstFrame
}

// NewLiveEvidence returns a LiveEvidence writing to opts.Dir (created if
// missing), for a capture described by origin (e.g. "live capture on
// eth0"); maxHeld bounds the bytes held (zero: DefaultLiveEvidenceBytes).
func NewLiveEvidence(opts EvidenceOptions, origin string, maxHeld int64) (*LiveEvidence, error) {
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	budget, err := newEvidenceBudget(opts.Dir, opts.MaxBytes)
	if err != nil {
		return nil, err
	}
	if maxHeld <= 0 {
		maxHeld = DefaultLiveEvidenceBytes
	}
	return &LiveEvidence{opts: opts, origin: origin, maxHeld: maxHeld, ends: reassembly.NewEndpoints(),
		conns: map[[2]netip.AddrPort]*heldConn{}, budget: budget}, nil
}

// flowKey is the key of a connection's frames in either direction.
func flowKey(a, b netip.AddrPort) [2]netip.AddrPort {
	a, b = unmap(a), unmap(b)
	if a.Compare(b) > 0 {
		a, b = b, a
	}
	return [2]netip.AddrPort{a, b}
}

// Frame holds a copy of fr for its connection.
func (e *LiveEvidence) Frame(fr *capture.Frame) {
	a, b, ok := e.ends.Of(fr)
	if !ok {
		return
	}
	key := flowKey(a, b)
	h := e.conns[key]
	if h == nil {
		h = &heldConn{}
		e.conns[key] = h
	}
	cp := *fr
	cp.Data = slices.Clone(fr.Data)
	size := int64(len(cp.Data))
	switch {
	case len(h.head) < LiveEvidenceHead:
		h.head = append(h.head, cp)
	case len(h.tail) < LiveEvidenceTail:
		h.tail = append(h.tail, cp)
	default:
		old := &h.tail[h.next]
		h.elide(old.Number)
		size -= int64(len(old.Data))
		*old = cp
		h.next = (h.next + 1) % len(h.tail)
	}
	h.bytes += size
	e.held += size
	if e.held > e.maxHeld {
		e.shed()
	}
}

// elide counts frame n as left out.
func (h *heldConn) elide(n int) {
	if h.elided == 0 || n < h.elidedFrom {
		h.elidedFrom = n
	}
	h.elidedTo = max(h.elidedTo, n)
	h.elided++
}

// shed lets the tail frames of the connection holding the most bytes go,
// until the bytes held fit again.
func (e *LiveEvidence) shed() {
	for e.held > e.maxHeld {
		var most *heldConn
		for _, h := range e.conns {
			if len(h.tail) > 0 && (most == nil || h.bytes > most.bytes) {
				most = h
			}
		}
		if most == nil {
			// Only heads are left: the connection holding the most lets
			// everything go (its file, if it fails, will lack them).
			for _, h := range e.conns {
				if len(h.head) > 0 && (most == nil || h.bytes > most.bytes) {
					most = h
				}
			}
			if most == nil {
				return
			}
			for _, f := range most.head {
				most.elide(f.Number)
			}
			e.held -= most.bytes
			most.head, most.bytes = nil, 0
			continue
		}
		for _, f := range most.tail {
			most.elide(f.Number)
			most.bytes -= int64(len(f.Data))
			e.held -= int64(len(f.Data))
		}
		most.tail, most.next = nil, 0
	}
}

// frames returns the frames held, in order.
func (h *heldConn) frames() []capture.Frame {
	out := slices.Clone(h.head)
	out = append(out, h.tail[h.next:]...)
	return append(out, h.tail[:h.next]...)
}

// Connection writes the evidence file of c if it failed, and lets go of
// the frames of its connection up to its last.
func (e *LiveEvidence) Connection(c *report.Connection) {
	client, errC := netip.ParseAddrPort(c.Client)
	server, errS := netip.ParseAddrPort(c.Server)
	if errC != nil || errS != nil {
		return // redacted: refused by the caller
	}
	key := flowKey(client, server)
	h := e.conns[key]
	if h == nil {
		return
	}
	all := h.frames()
	var mine, later []capture.Frame
	for _, f := range all {
		switch {
		case f.Number < c.FirstFrame:
		case f.Number <= c.LastFrame:
			mine = append(mine, f)
		default:
			later = append(later, f)
		}
	}
	if c.Failed() && len(mine) > 0 {
		e.write(c, client, server, mine, h)
	}
	// Frames after its last belong to a connection that reuses the ports.
	e.held -= h.bytes
	delete(e.conns, key)
	if len(later) > 0 {
		n := &heldConn{}
		for _, f := range later {
			n.head = append(n.head, f)
			n.bytes += int64(len(f.Data))
		}
		e.held += n.bytes
		e.conns[key] = n
	}
}

// write writes one failing connection's file.
func (e *LiveEvidence) write(c *report.Connection, client, server netip.AddrPort, frames []capture.Frame, h *heldConn) {
	name := fmt.Sprintf("stream-%d-%s.pcapng", c.Stream, c.Start.UTC().Format("20060102T150405.000000000Z"))
	ec := &evidenceConn{stream: c.Stream, client: unmap(client), server: unmap(server),
		first: c.FirstFrame, last: c.LastFrame, path: filepath.Join(e.opts.Dir, name), ifaces: map[layers.LinkType]int{}}
	keys := ""
	if h.keysFirst == c.FirstFrame && len(h.keys) > 0 {
		ec.keys = h.keys
		keys = " Its TLS keys are in the Decryption Secrets Block before the packets (--evidence-keys)."
	}
	left := ""
	if h.elided > 0 {
		left = fmt.Sprintf(" %d frames between frame %d and frame %d are left out: a live run holds only the first %d and the last %d frames of a connection (and fewer when many connections are open).",
			h.elided, h.elidedFrom, h.elidedTo, LiveEvidenceHead, LiveEvidenceTail)
	}
	ec.section = pcapgo.NgSectionInfo{
		Application: e.opts.Application,
		Comment: fmt.Sprintf("smtpscope evidence: tcp.stream %d (%s -> %s), frames %d-%d of the %s, which began at %s. Each packet's comment gives its frame number in that run, the one the report cites.%s%s",
			c.Stream, ec.client, ec.server, c.FirstFrame, c.LastFrame, e.origin, c.Start.UTC().Format(time.RFC3339Nano), left, keys),
	}
	var err error
	for i := range frames {
		if err = ec.write(&frames[i], e.origin); err != nil {
			ec.fail(err)
			break
		}
	}
	if cerr := ec.close(); err == nil {
		err = cerr
	}
	if err != nil {
		e.failed++
		if len(e.errs) < maxLiveEvidenceErrors {
			e.errs = append(e.errs, &EvidenceError{Path: ec.path, Err: err})
		}
		return
	}
	e.res.Written = append(e.res.Written, ec.path)
	if len(ec.keys) > 0 {
		e.res.WithKeys++
	}
	e.res.Deleted = append(e.res.Deleted, e.budget.add(ec.path)...)
}

// Held returns the packet bytes held now.
func (e *LiveEvidence) Held() int64 { return e.held }

// Result returns the files written and deleted so far, and the errors of
// those that could not be written (the first few, and how many in all).
func (e *LiveEvidence) Result() (EvidenceResult, error) {
	errs := slices.Clone(e.errs)
	if more := e.failed - len(e.errs); more > 0 {
		errs = append(errs, fmt.Errorf("%d more evidence files not written", more))
	}
	return e.res, errors.Join(errs...)
}
