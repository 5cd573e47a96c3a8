package reassembly

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestTrackerRetire checks when Options.Retire gets a connection, which
// stream number it carries, and that Conns keeps only open connections.
func TestTrackerRetire(t *testing.T) {
	closeBoth := []seg{
		{seq: cISN + 1, ack: sISN + 1, flags: "FA", after: time.Second},
		{fromServer: true, seq: sISN + 1, ack: cISN + 2, flags: "FA", after: time.Second},
		{seq: cISN + 2, ack: sISN + 2, flags: "A", after: time.Second},
	}
	// The connection closes at 1 s; after is how long after that.
	const closedAt = time.Second
	after := func(d time.Duration) time.Duration { return closedAt + d }
	linger := DefaultCloseLinger
	other := func(after time.Duration) seg { // a packet on another 4-tuple moves capture time
		return seg{seq: 77, flags: "S", clientPort: 40009, after: after}
	}
	cases := []struct {
		name string
		segs []seg
		// want lists the retirements in order as "stream:first-last" plus
		// " resumed"; open are the streams Conns still lists before Close.
		wantBeforeClose []string
		open            int
	}{
		{
			name:            "closed, then quiet for the linger",
			segs:            join(handshake, closeBoth, []seg{other(after(linger + time.Second))}),
			wantBeforeClose: []string{"0:1-6"},
			open:            1,
		},
		{
			name:            "closed, linger not over",
			segs:            join(handshake, closeBoth, []seg{other(after(linger - time.Second))}),
			wantBeforeClose: nil,
			open:            2,
		},
		{
			name:            "reset retires after the linger",
			segs:            join(handshake, []seg{{seq: cISN + 1, flags: "R", after: time.Second}, other(after(linger + 5*time.Second))}),
			wantBeforeClose: []string{"0:1-4"},
			open:            1,
		},
		{
			name:            "open connection retires after the idle timeout",
			segs:            join(handshake, []seg{other(4 * time.Minute), other(5*time.Minute + 2*time.Second)}),
			wantBeforeClose: []string{"0:1-3"},
			open:            1,
		},
		{
			name: "late packet after retirement resumes the stream number",
			segs: join(handshake, closeBoth, []seg{other(after(linger + time.Second)),
				{seq: cISN + 2, ack: sISN + 2, flags: "A", after: after(linger + 2*time.Second)}}),
			wantBeforeClose: []string{"0:1-6"},
			open:            2, // stream 1 (other) and resumed stream 0
		},
		{
			name: "SYN after retirement is a new stream",
			segs: join(handshake, closeBoth, []seg{other(after(linger + time.Second)),
				{seq: 90000, flags: "S", after: after(linger + 2*time.Second)}}),
			wantBeforeClose: []string{"0:1-6"},
			open:            2,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			tr := NewTracker(Options{
				NewHandler: func(*Conn) Handler { return &eventLog{} },
				Retire: func(c *Conn) {
					s := fmt.Sprintf("%d:%d-%d", c.Stream, c.FirstFrame, c.LastFrame)
					if c.Resumed {
						s += " resumed"
					}
					if log := c.Handler.(*eventLog); len(log.events) == 0 || !strings.HasPrefix(log.events[len(log.events)-1], "end at") {
						t.Errorf("stream %d retired before its handler ended: %v", c.Stream, log.events)
					}
					got = append(got, s)
				},
			})
			for i, s := range tc.segs {
				if err := tr.Add(frameOf(t, i+1, s)); err != nil {
					t.Fatal(err)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.wantBeforeClose) {
				t.Errorf("retired before Close: %v, want %v", got, tc.wantBeforeClose)
			}
			if n := len(tr.Conns()); n != tc.open {
				t.Errorf("Conns() lists %d connections, want %d", n, tc.open)
			}
			before := len(got)
			tr.Close()
			if len(got) != before+tc.open {
				t.Errorf("Close retired %d connections, want %d: %v", len(got)-before, tc.open, got[before:])
			}
			if len(tr.Conns()) != 0 {
				t.Errorf("Conns() after Close lists %d connections, want none", len(tr.Conns()))
			}
			streams := map[string]bool{}
			for _, g := range got[before:] {
				streams[g] = true
			}
			switch tc.name {
			case "late packet after retirement resumes the stream number":
				if !streams["0:8-8 resumed"] {
					t.Errorf("no resumed stream 0 in %v", got)
				}
			case "SYN after retirement is a new stream":
				if !streams["2:8-8"] {
					t.Errorf("no new stream 2 in %v", got)
				}
			}
		})
	}
}

func join(parts ...[]seg) []seg {
	var out []seg
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
