package tlsrecord

import "github.com/smtpscope/smtpscope/reassembly"

// Bounds on what a peer can make this package buffer.
const (
	// maxCiphertext is the longest record fragment: 2^14 + 2048 in TLS 1.2
	// (RFC 5246 §6.2.3), more than TLS 1.3's 2^14 + 256 (RFC 8446 §5.2).
	maxCiphertext = 1<<14 + 2048
	// maxResync bounds the bytes kept while looking for two chained record
	// headers after a gap: the longest record and the next header fit.
	maxResync = 2 * (Overhead + maxCiphertext)
)

// frameState is how a direction's next bytes are read.
type frameState int

const (
	// frameHeader: reading a record header (hdr holds nhdr bytes of it).
	frameHeader frameState = iota
	// frameBody: reading a fragment; need bytes remain.
	frameBody
	// frameLost: a gap took a record boundary; bytes are kept in lost until
	// two chained headers show where records begin.
	frameLost
	// frameDead: the direction's first bytes were not TLS; all is ignored.
	frameDead
)

// stream frames one direction's bytes into records.
type stream struct {
	dir   reassembly.Direction
	state frameState

	hdr  [Overhead]byte
	nhdr int
	rec  Record
	need int
	// body holds the fragment when it is wanted (clear handshake, alert
	// or change_cipher_spec, or an Options.Record callback).
	keep bool
	body []byte

	// lost holds bytes after a lost boundary, with the Mark of each chunk;
	// searched from searchFrom.
	lost       []byte
	lostMarks  []chunkMark
	searchFrom int
	// atGap is set when lost begins right after a gap (not after bytes
	// that were no record header).
	atGap bool

	// records counts the records completed, and bytes their sizes.
	records int
	bytes   int64
	// seen is true once a record header was read in this direction, and
	// version is the legacy version of the last one (resync looks for it).
	seen    bool
	version [2]byte
	// ccs is true after this side's ChangeCipherSpec.
	ccs bool
	// met remembers which conditions were raised, to raise each once.
	met map[Condition]bool

	hs handshakeReader
	// alert holds the first byte of an alert split over records.
	alert []byte
}

// chunkMark is the Mark of the first and last byte of a chunk of lost.
type chunkMark struct {
	off         int
	first, last reassembly.Mark
}

// validHeader reports whether h (at least Overhead bytes) may be a record
// header: a known content type, major version 3, and a length within the
// bound (RFC 8446 §5.1). ok is false with tooLong true for a length past
// maxCiphertext.
func validHeader(h []byte) (ok, tooLong bool) {
	t := ContentType(h[0])
	if t < TypeChangeCipherSpec || t > TypeHeartbeat || h[1] != 3 || h[2] > 4 {
		return false, false
	}
	n := int(h[3])<<8 | int(h[4])
	if n > maxCiphertext {
		return false, true
	}
	return n > 0 || t == TypeApplicationData, false
}
