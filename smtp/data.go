package smtp

import (
	"bytes"
)

// The message body: the DATA end-of-data detector, and the header scanner
// that picks the Message-ID out of a body (DATA or BDAT) without keeping
// anything else of it. BDAT chunks need no detector: their length is in
// the command (RFC 3030 §2), so the Decoder just counts bytes.

// dotState is where the end-of-data detector stands in the body of a DATA
// command. It follows the states of net/textproto's dotReader, with two
// changes: only <CRLF>.<CRLF> ends the body (RFC 5321 §4.1.1.4, §2.3.8),
// and dot lines that a lenient server might take for the end instead (a
// bare LF before or after the dot) are counted, because a server and a
// monitor that disagree on where a message ends are the substance of SMTP
// smuggling.
type dotState int

const (
	// dotLineStart: at the start of a line, after a CRLF (or at the very
	// start of the body, after the CRLF of the DATA command line).
	dotLineStart dotState = iota
	// dotLineStartLF: at the start of a "line" that followed a bare LF.
	dotLineStartLF
	// dotDot: a "." began the line.
	dotDot
	// dotDotCR: ".\r" began the line; a "\n" now ends the body.
	dotDotCR
	// dotLooseDot: a "." began a line that followed a bare LF.
	dotLooseDot
	// dotLooseDotCR: "\n.\r" has been seen.
	dotLooseDotCR
	// dotData: inside a line.
	dotData
	// dotCR: inside a line, just after a "\r".
	dotCR
)

// dotReader finds the end of a DATA body across any split into Data calls.
type dotReader struct {
	state dotState
	// loose counts dot lines with a bare LF (see dotState).
	loose int
}

// reset prepares for a new body, which starts at the beginning of a line.
func (r *dotReader) reset() { *r = dotReader{} }

// lost records that bytes of the body went missing: the next byte may be
// anywhere in a line.
func (r *dotReader) lost() { r.state = dotData }

// scan consumes body bytes from p. It returns how many it consumed and
// whether they ended with the end-of-data line, whose "\n" is then p[n-1].
// The bytes after it are not the body's.
func (r *dotReader) scan(p []byte) (n int, end bool) {
	i := 0
	for i < len(p) {
		c := p[i]
		switch r.state {
		case dotData:
			// The fast path: only a dot that begins a line can end the body
			// or make a loose dot line, so skip to the next dot. Where the
			// line breaks passed over leave the state depends only on the
			// bytes just before the dot, or at the end of p.
			j := bytes.IndexByte(p[i:], '.')
			if j < 0 {
				r.state = stateAfter(p, i)
				return len(p), false
			}
			k := i + j
			if j > 0 && p[k-1] == '\n' {
				r.state = stateAfter(p[:k], i) // a line start; the dot is read next
				i = k
				continue
			}
			i = k + 1 // a dot inside a line is data
			continue
		case dotCR:
			if c == '\n' {
				r.state = dotLineStart
				i++
				continue
			}
			r.state = dotData // a lone CR is data; c is read again as data
			continue
		case dotLineStart, dotLineStartLF:
			switch {
			case c == '.' && r.state == dotLineStart:
				r.state = dotDot
			case c == '.':
				r.state = dotLooseDot
			case c == '\r':
				r.state = dotCR
			case c == '\n':
				r.state = dotLineStartLF
			default:
				r.state = dotData
				continue
			}
		case dotDot:
			switch c {
			case '\r':
				r.state = dotDotCR
			case '\n':
				r.loose++ // "\r\n.\n"
				r.state = dotLineStartLF
			default:
				r.state = dotData // a dot-stuffed line (RFC 5321 §4.5.2)
				continue
			}
		case dotDotCR:
			if c == '\n' {
				r.state = dotLineStart
				return i + 1, true
			}
			r.state = dotData // ".\r" then not LF: data, c read again
			continue
		case dotLooseDot:
			switch c {
			case '\r':
				r.state = dotLooseDotCR
			case '\n':
				r.loose++ // "\n.\n"
				r.state = dotLineStartLF
			default:
				r.state = dotData
				continue
			}
		case dotLooseDotCR:
			if c == '\n' {
				r.loose++ // "\n.\r\n"
				r.state = dotLineStart
				i++
				continue
			}
			r.state = dotData
			continue
		}
		i++
	}
	return len(p), false
}

// stateAfter is the state in which the detector, in state dotData at
// p[from], leaves p when no line from p[from] on begins with a dot: set by
// the last byte (and, for a LF, the one before it if it is p's from
// p[from] on), as in net/textproto's dotReader.
func stateAfter(p []byte, from int) dotState {
	n := len(p)
	switch {
	case n <= from:
		return dotData
	case p[n-1] == '\r':
		return dotCR
	case p[n-1] != '\n':
		return dotData
	case n-2 >= from && p[n-2] == '\r':
		return dotLineStart
	}
	return dotLineStartLF
}

// headerState is where the Message-ID scanner stands in a message's header
// section (RFC 5322 §2.2, §3.6.4).
type headerState int

const (
	// headerLine: reading header lines.
	headerLine headerState = iota
	// headerDone: the header section ended (empty line, a line that is not
	// a header field, or maxHeaderBytes), or the Message-ID was found.
	headerDone
)

const (
	// maxHeaderBytes bounds how far into a body the scanner looks for the
	// Message-ID; beyond it the anomaly "headers-too-long" is raised.
	maxHeaderBytes = 64 << 10
	// maxHeaderLine bounds the part of one header line kept while it is
	// read (RFC 5322 §2.1.1 limits lines to 998 characters).
	maxHeaderLine = 998
	// maxMessageID bounds the Message-ID kept.
	maxMessageID = 256
)

// headerField says which field the previous header line began, so that a
// folded line (RFC 5322 §2.2.3) can be attributed.
type headerField int

const (
	fieldOther headerField = iota
	fieldMessageID
)

// headerScanner extracts the Message-ID from the start of a body. It holds
// at most one header line at a time and keeps nothing but the ID.
type headerScanner struct {
	state headerState
	line  []byte
	// dropped counts bytes of the current line beyond maxHeaderLine.
	dropped int
	seen    int
	field   headerField
	// messageID is the value found.
	messageID string
	// tooLong is the anomaly to raise, set once when maxHeaderBytes is hit.
	tooLong bool
}

// reset prepares for a new body, keeping the line buffer's memory.
func (h *headerScanner) reset() {
	*h = headerScanner{line: h.line[:0]}
}

// feed passes body bytes, as they appear on the wire, to the scanner.
func (h *headerScanner) feed(p []byte) {
	if room := maxHeaderBytes - h.seen; len(p) > room {
		p = p[:room]
	}
	for len(p) > 0 && h.state == headerLine {
		j := bytes.IndexByte(p, '\n')
		if j < 0 {
			h.keep(p)
			h.seen += len(p)
			break
		}
		h.keep(p[:j])
		h.seen += j + 1
		p = p[j+1:]
		h.endLine()
		h.line, h.dropped = h.line[:0], 0
	}
	if h.state == headerLine && h.seen >= maxHeaderBytes {
		h.state, h.tooLong = headerDone, true
	}
}

func (h *headerScanner) keep(b []byte) {
	room := maxHeaderLine - len(h.line)
	if len(b) > room {
		h.dropped += len(b) - room
		b = b[:room]
	}
	h.line = append(h.line, b...)
}

// endLine handles one complete header line.
func (h *headerScanner) endLine() {
	line := bytes.TrimSuffix(h.line, []byte("\r"))
	switch {
	case len(line) == 0:
		h.state = headerDone // the empty line before the body (RFC 5322 §2.1)
	case line[0] == ' ' || line[0] == '\t':
		if h.field == fieldMessageID && h.messageID == "" {
			h.setMessageID(line)
		}
	case bytes.IndexByte(line, ':') < 0:
		h.state = headerDone // not a header field: the message has no header section
	default:
		h.field = fieldOther
		if v, ok := cutPrefixFold(line, "Message-ID:"); ok {
			h.field = fieldMessageID
			h.setMessageID(v)
		}
	}
}

func (h *headerScanner) setMessageID(v []byte) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return // folded: the value is on the next line
	}
	if len(v) > maxMessageID {
		v = v[:maxMessageID]
	}
	h.messageID = string(v)
	h.state = headerDone
}
