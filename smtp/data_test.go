package smtp

import (
	"strings"
	"testing"
)

// TestDotReader checks the end-of-data detector on whole bodies and on
// every split of each body into two and three pieces: the end must be
// found at the same byte whatever the segment boundaries.
func TestDotReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		// end is the offset just after the end-of-data line, -1 if none.
		end   int
		loose int
	}{
		{"plain", "Subject: x\r\n\r\nhello\r\n.\r\n", 24, 0},
		{"dot at the very start", ".\r\n", 3, 0},
		{"CRLF dot CRLF at the very start", "\r\n.\r\n", 5, 0},
		{"dot-stuffed line", "..\r\n.x\r\n...\r\n.\r\n", 16, 0},
		{"dot-stuffed dot line is not the end", "..\r\nmore\r\n", -1, 0},
		{"bytes after the end are not consumed", "a\r\n.\r\nQUIT\r\n", 6, 0},
		{"dot inside a line", "a.\r\n.b\r\n", -1, 0},
		{"lone CR before dot", "a\r.\r\n", -1, 0},
		{"CR CR LF", "a\r\r\n.\r\n", 7, 0},
		{"dot CR not LF", ".\rx\r\n.\r\n", 8, 0},
		{"bare LF dot bare LF", "a\n.\nb\r\n", -1, 1},
		{"bare LF dot CRLF", "a\n.\r\nb\r\n", -1, 1},
		{"CRLF dot bare LF", "a\r\n.\nb\r\n", -1, 1},
		{"bare LF then real end", "a\n.\n\r\n.\r\n", 9, 1},
		{"no end", strings.Repeat("line of text\r\n", 10), -1, 0},
		{"NUL and binary", "\x00\xff\r\n\x00.\r\n.\r\n", 11, 0},
	}
	for _, tc := range tests {
		check := func(pieces []string) {
			t.Helper()
			var r dotReader
			r.reset()
			off, end, gotEnd := 0, -1, false
			for _, p := range pieces {
				if gotEnd {
					break
				}
				n, e := r.scan([]byte(p))
				if e {
					end, gotEnd = off+n, true
				} else if n != len(p) {
					t.Errorf("%s: scan(%q) consumed %d of %d bytes without an end", tc.name, p, n, len(p))
				}
				off += n
			}
			if end != tc.end {
				t.Errorf("%s: pieces %q: end at %d, want %d", tc.name, pieces, end, tc.end)
			}
			if tc.end < 0 && r.loose != tc.loose {
				t.Errorf("%s: pieces %q: %d loose dot lines, want %d", tc.name, pieces, r.loose, tc.loose)
			}
		}
		check([]string{tc.in})
		for i := 0; i <= len(tc.in); i++ {
			check([]string{tc.in[:i], tc.in[i:]})
			for j := i; j <= len(tc.in); j++ {
				check([]string{tc.in[:i], tc.in[i:j], tc.in[j:]})
			}
		}
	}
}

func TestHeaderScanner(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"simple", "From: a\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n", "<1@x>"},
		{"case", "message-id:   <2@x>  \r\n\r\n", "<2@x>"},
		{"folded", "Message-Id:\r\n <3@x>\r\nSubject: s\r\n\r\n", "<3@x>"},
		{"in body only", "Subject: s\r\n\r\nMessage-ID: <4@x>\r\n", ""},
		{"no header section", "just text\r\nMessage-ID: <5@x>\r\n", ""},
		{"bare LF lines", "Subject: s\nMessage-ID: <6@x>\n\n", "<6@x>"},
		{"first wins", "Message-ID: <7@x>\r\nMessage-ID: <8@x>\r\n", "<7@x>"},
		{"too long is cut", "Message-ID: <" + strings.Repeat("a", 300) + ">\r\n", "<" + strings.Repeat("a", maxMessageID-1)},
	}
	for _, tc := range tests {
		for i := 0; i <= len(tc.in); i++ {
			var h headerScanner
			h.reset()
			h.feed([]byte(tc.in[:i]))
			h.feed([]byte(tc.in[i:]))
			if h.messageID != tc.want {
				t.Errorf("%s: split at %d: Message-ID %q, want %q", tc.name, i, h.messageID, tc.want)
				break
			}
		}
	}
	var h headerScanner
	h.reset()
	h.feed([]byte(strings.Repeat("X-Long: "+strings.Repeat("y", 80)+"\r\n", maxHeaderBytes/80+10)))
	if !h.tooLong || h.state != headerDone {
		t.Errorf("a header section over %d bytes: tooLong %v state %d, want true, done", maxHeaderBytes, h.tooLong, h.state)
	}
}
