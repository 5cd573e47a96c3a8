package smtp

import "bytes"

// lineBuffer splits one direction's bytes into lines (RFC 5321 §2.3.8:
// lines end with CRLF; a bare LF is accepted as most servers do, and the
// Decoder notes it). A line that ends inside the Data call it began in is
// returned without copying; only a line split over calls is buffered, and
// never more than the line length limit of it.
type lineBuffer struct {
	buf []byte
	// dropped counts the bytes of the current line beyond the limit.
	dropped int
	// told is set once the anomaly of the current line's length was
	// raised, before its end (a line without end is still one).
	told bool
}

// next looks for the end of the current line in p. If p holds it, next
// returns the line (without its LF, at most max bytes of it), the bytes of
// p consumed through the LF, and true; the line is valid until reset or the
// next call. Otherwise next keeps what fits of p, consumes all of it and
// returns false.
func (b *lineBuffer) next(p []byte, max int) (line []byte, n int, ok bool) {
	j := bytes.IndexByte(p, '\n')
	if j < 0 {
		b.keep(p, max)
		return nil, len(p), false
	}
	if len(b.buf) == 0 && b.dropped == 0 {
		if j > max {
			b.dropped = j - max
			return p[:max], j + 1, true
		}
		return p[:j], j + 1, true
	}
	b.keep(p[:j], max)
	return b.buf, j + 1, true
}

func (b *lineBuffer) keep(p []byte, max int) {
	room := max - len(b.buf)
	if room < 0 {
		room = 0
	}
	if len(p) > room {
		b.dropped += len(p) - room
		p = p[:room]
	}
	b.buf = append(b.buf, p...)
}

// pending reports whether a line has begun and not ended.
func (b *lineBuffer) pending() bool { return len(b.buf) > 0 || b.dropped > 0 }

// reset forgets the current line, keeping the buffer's memory.
func (b *lineBuffer) reset() {
	b.buf, b.dropped, b.told = b.buf[:0], 0, false
}

// release forgets the current line and its memory.
func (b *lineBuffer) release() { *b = lineBuffer{} }

// trimCR removes the CR of a CRLF line ending and reports whether the line
// ended with a bare LF instead.
func trimCR(line []byte) ([]byte, bool) {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		return line[:n-1], false
	}
	return line, true
}
