package reassembly

import (
	"strings"
	"testing"
	"time"
)

// TestConflictAnyByte: a retransmission of a full-sized segment that
// differs from the original in a single byte, wherever it lies, is a
// Conflict; an identical one is not. The segment's whole payload is
// compared, not a sample of it.
func TestConflictAnyByte(t *testing.T) {
	const size = 1448
	body := strings.Repeat("0123456789abcdef", size/16+1)[:size]
	changed := func(i int) string {
		b := []byte(body)
		b[i] ^= 0x20
		return string(b)
	}
	cases := []struct {
		name   string
		resend string
		want   int
	}{
		{"identical", body, 0},
		{"first byte", changed(0), 1},
		{"byte 129 (past the first 128)", changed(129), 1},
		{"middle byte", changed(size / 2), 1},
		{"last byte", changed(size - 1), 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			segs := join(handshake, []seg{
				{seq: cISN + 1, ack: sISN + 1, flags: "A", payload: body},
				{seq: cISN + 1, ack: sISN + 1, flags: "A", payload: tc.resend, after: 300 * time.Millisecond},
			})
			tr, _ := runSegs(t, segs)
			c := tr.Conns()[0]
			if c.ConflictCount != tc.want {
				t.Errorf("ConflictCount = %d, want %d (%+v)", c.ConflictCount, tc.want, c.Conflicts)
			}
			if tc.want > 0 && (len(c.Conflicts) != 1 || c.Conflicts[0].Len != size || c.Conflicts[0].Original.Frame != 4) {
				t.Errorf("Conflicts = %+v, want one of %d bytes whose original is frame 4", c.Conflicts, size)
			}
		})
	}
}
