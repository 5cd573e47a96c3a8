package synth

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// lineSet holds the wire lines message bodies are built from, made once
// per Generator from its seed: text lines of varied length (some starting
// with a dot, already dot-stuffed as RFC 5321 §4.5.2 requires) and
// 76-column base64 lines for attachments.
type lineSet struct {
	text   [][]byte
	base64 [][]byte
}

var words = strings.Fields(`the a of to and in for on with by at from as is was are be this that
report meeting invoice quarterly update attached please find regards thanks schedule budget
review draft project customer order delivery shipment account payment reminder notice server
mail relay queue message network latency capture window segment retransmission policy team
Monday Tuesday Wednesday Thursday Friday morning afternoon tomorrow next week agenda minutes`)

const base64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

func newLineSet(r *rand.Rand) *lineSet {
	ls := &lineSet{}
	for i := range 1024 {
		var b strings.Builder
		switch {
		case i%97 == 0:
			// A line that starts with a dot goes out with the dot doubled.
			b.WriteString("..")
		case i%31 == 0:
			b.WriteString("> ")
		}
		target := 8 + r.IntN(68)
		if i%13 == 0 {
			target = 0 // paragraph break
		}
		for b.Len() < target {
			if b.Len() > 0 && !strings.HasSuffix(b.String(), ".") {
				b.WriteByte(' ')
			}
			b.WriteString(words[r.IntN(len(words))])
		}
		s := b.String()
		if len(s) > 76 {
			s = s[:76]
		}
		ls.text = append(ls.text, []byte(s+"\r\n"))
	}
	for range 1024 {
		line := make([]byte, 78)
		for j := range 76 {
			line[j] = base64Alphabet[r.IntN(64)]
		}
		line[76], line[77] = '\r', '\n'
		ls.base64 = append(ls.base64, line)
	}
	return ls
}

// endOfData is the line that ends a message (RFC 5321 §4.1.1.4).
var endOfData = []byte(".\r\n")

// minMessageSize is the smallest message the generator writes: the
// headers need about this much.
const minMessageSize = 700

// attachmentFrom is the message size from which the body is a MIME
// multipart with a base64 attachment rather than plain text.
const attachmentFrom = 48 << 10

// bodyState is where a body writer is in a message.
type bodyState int

const (
	bodyHeaders bodyState = iota // the header block, then the blank line
	bodyLines                    // text or base64 lines from the line set
	bodyTail                     // the closing lines that make the size exact
	bodyEOD                      // the end-of-data line ".\r\n"
	bodyDone                     // everything written
)

// bodyWriter streams one message as the client sends it after the 354
// reply: exactly size bytes of dot-stuffed content, then ".\r\n". It
// keeps no more than one line, so a multi-megabyte message costs nothing
// to hold.
type bodyWriter struct {
	state     bodyState
	lines     *lineSet
	r         *rand.Rand
	remaining int    // content bytes not yet given a line
	total     int    // stream length: content plus the end-of-data line
	written   int    // stream bytes given out by fill
	cur       []byte // the line being written
	off       int    // next byte of cur
	headers   []byte
	multipart bool
	boundary  string
	// chunked streams end with the content: a BDAT message has no
	// end-of-data line.
	chunked bool
}

// reset starts a message of size content bytes with the given headers.
func (w *bodyWriter) reset(ls *lineSet, r *rand.Rand, size int, h messageHeaders) {
	*w = bodyWriter{state: bodyHeaders, lines: ls, r: r, remaining: size, total: size + len(endOfData),
		multipart: size >= attachmentFrom}
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\nMIME-Version: 1.0\r\n",
		h.from, h.to, h.subject, h.date, h.messageID)
	if w.multipart {
		w.boundary = fmt.Sprintf("=_part_%08x", r.Uint32())
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
			w.boundary, w.boundary)
		b.WriteString("Please find the file attached.\r\n\r\n")
		fmt.Fprintf(&b, "--%s\r\nContent-Type: application/octet-stream; name=\"data-%d.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
			w.boundary, r.IntN(100000))
	} else {
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
	}
	w.headers = []byte(b.String())
	w.cur, w.off = w.headers, 0
	w.remaining -= len(w.headers)
}

// messageHeaders are the header values of one message.
// chunk makes the stream a BDAT message's: the content without the
// end-of-data line. Call it right after reset.
func (w *bodyWriter) chunk() {
	w.chunked, w.total = true, w.total-len(endOfData)
}

type messageHeaders struct {
	from, to, subject, date, messageID string
}

// tailLen is how much content is left for the closing lines: the MIME
// close delimiter and a short last line.
func (w *bodyWriter) tailLen() int {
	if w.multipart {
		return len(w.boundary) + 6 + 80
	}
	return 80
}

// next makes cur the next line to write. It is called only when cur is
// used up.
func (w *bodyWriter) next() {
	w.off = 0
	switch w.state {
	case bodyHeaders:
		w.state = bodyLines
		fallthrough
	case bodyLines:
		if w.remaining > w.tailLen()+80 {
			set := w.lines.text
			if w.multipart {
				set = w.lines.base64
			}
			w.cur = set[w.r.IntN(len(set))]
			w.remaining -= len(w.cur)
			return
		}
		w.state = bodyTail
		fallthrough
	case bodyTail:
		if w.remaining > 0 {
			w.cur = w.tailLine()
			w.remaining -= len(w.cur)
			return
		}
		if w.chunked {
			w.state, w.cur = bodyDone, nil
			return
		}
		w.state = bodyEOD
		w.cur = endOfData
	case bodyEOD:
		w.state = bodyDone
		w.cur = nil
	}
}

// tailLine returns a closing line that keeps the content size exact: the
// MIME close delimiter first if any, then lines of filler text. The lines
// loop leaves at least tailLen()+3 bytes, so the delimiter always fits and
// no line is shorter than "x\r\n".
func (w *bodyWriter) tailLine() []byte {
	if w.boundary != "" {
		l := []byte("--" + w.boundary + "--\r\n")
		w.boundary = ""
		return l
	}
	n := w.remaining
	if n > 78 {
		n = 78
		if w.remaining-n < 3 {
			n = w.remaining - 3
		}
	}
	l := make([]byte, n)
	for i := range n - 2 {
		l[i] = 'x'
	}
	l[n-2], l[n-1] = '\r', '\n'
	return l
}

// fill writes the next bytes of the stream into p and returns how many;
// fewer than len(p) only at the end of the stream.
func (w *bodyWriter) fill(p []byte) int {
	n := 0
	for n < len(p) && w.state != bodyDone {
		if w.off == len(w.cur) {
			w.next()
			continue
		}
		c := copy(p[n:], w.cur[w.off:])
		w.off += c
		n += c
	}
	w.written += n
	return n
}

// peek returns the next byte fill would write, without consuming it.
func (w *bodyWriter) peek() byte {
	for w.off == len(w.cur) && w.state != bodyDone {
		w.next()
	}
	if w.state == bodyDone {
		return 0
	}
	return w.cur[w.off]
}

// left is how many stream bytes fill has still to give, end-of-data
// included.
func (w *bodyWriter) left() int { return w.total - w.written }
