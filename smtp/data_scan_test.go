package smtp

import (
	"math/rand/v2"
	"testing"
)

// stepDot is the end-of-data detector one byte at a time, without the
// fast path of dotReader.scan: the model scan must agree with. It returns
// whether c ended the body.
func stepDot(r *dotReader, c byte) bool {
	for {
		switch r.state {
		case dotData:
			switch c {
			case '\r':
				r.state = dotCR
			case '\n':
				r.state = dotLineStartLF
			}
			return false
		case dotCR:
			if c == '\n' {
				r.state = dotLineStart
				return false
			}
			r.state = dotData
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
			return false
		case dotDot:
			switch c {
			case '\r':
				r.state = dotDotCR
			case '\n':
				r.loose++
				r.state = dotLineStartLF
			default:
				r.state = dotData
				continue
			}
			return false
		case dotDotCR:
			if c == '\n' {
				r.state = dotLineStart
				return true
			}
			r.state = dotData
			continue
		case dotLooseDot:
			switch c {
			case '\r':
				r.state = dotLooseDotCR
			case '\n':
				r.loose++
				r.state = dotLineStartLF
			default:
				r.state = dotData
				continue
			}
			return false
		case dotLooseDotCR:
			if c == '\n' {
				r.loose++
				r.state = dotLineStart
				return false
			}
			r.state = dotData
			continue
		}
	}
}

// TestDotReaderModel checks scan against stepDot on random bodies made of
// the bytes that matter (dot, CR, LF) and others, cut at random points,
// starting in every state.
func TestDotReaderModel(t *testing.T) {
	const alphabet = "..\r\r\n\nab"
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		body := make([]byte, rng.IntN(40))
		for i := range body {
			body[i] = alphabet[rng.IntN(len(alphabet))]
		}
		start := dotState(rng.IntN(int(dotCR) + 1))
		got, want := dotReader{state: start}, dotReader{state: start}
		for p := body; len(p) > 0; {
			piece := p[:1+rng.IntN(len(p))]
			n, end := got.scan(piece)
			wantN, wantEnd := len(piece), false
			for i, c := range piece {
				if stepDot(&want, c) {
					wantN, wantEnd = i+1, true
					break
				}
			}
			if n != wantN || end != wantEnd || got != want {
				t.Fatalf("body %q from state %d: scan(%q) = %d, %v, reader %+v; want %d, %v, reader %+v",
					body, start, piece, n, end, got, wantN, wantEnd, want)
			}
			p = p[n:]
			if end {
				got, want = dotReader{}, dotReader{}
			}
		}
	}
}
