package reassembly

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTrackerEvicts checks the connection cap: which connection a new one
// evicts (half-open first, oldest first; then the one due soonest on the
// idle heap), what is retired and what only counted.
func TestTrackerEvicts(t *testing.T) {
	// synOnly is a SYN and its SYN-ACK from client port p at ms.
	synOnly := func(p uint16, ms int) []seg {
		at := time.Duration(ms) * time.Millisecond
		return []seg{{seq: cISN, flags: "S", clientPort: p, after: at},
			{fromServer: true, seq: sISN, ack: cISN + 1, flags: "SA", clientPort: p, after: at}}
	}
	// session is a handshake and a banner from client port p at ms.
	session := func(p uint16, ms int) []seg {
		at := time.Duration(ms) * time.Millisecond
		return []seg{{seq: cISN, flags: "S", clientPort: p, after: at},
			{fromServer: true, seq: sISN, ack: cISN + 1, flags: "SA", clientPort: p, after: at},
			{seq: cISN + 1, ack: sISN + 1, flags: "A", clientPort: p, after: at},
			{fromServer: true, seq: sISN + 1, ack: cISN + 1, flags: "PA", payload: "220 hi\r\n", clientPort: p, after: at}}
	}
	// ack is a client ACK on port p's session at ms: it makes the session
	// the most recently active.
	ack := func(p uint16, ms int) []seg {
		return []seg{{seq: cISN + 1, ack: sISN + 9, flags: "A", clientPort: p, after: time.Duration(ms) * time.Millisecond}}
	}
	server := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, 25}), 25).String()
	cases := []struct {
		name string
		max  int
		segs []seg
		// retired lists the client ports of the retired connections, in
		// order, with "!" for an evicted one; open the ports still followed.
		retired, open      []string
		halfOpen, idle     int
		wantEvictedStreams int
	}{{
		name:     "a SYN flood evicts its oldest half-open connections and lists none",
		max:      3,
		segs:     join(synOnly(1, 0), synOnly(2, 1), synOnly(3, 2), synOnly(4, 3), synOnly(5, 4)),
		retired:  nil,
		open:     []string{"3", "4", "5"},
		halfOpen: 2,
	}, {
		name:     "half-open connections go before an established one, however old it is",
		max:      3,
		segs:     join(session(1, 0), synOnly(2, 1), synOnly(3, 2), synOnly(4, 3)),
		open:     []string{"1", "3", "4"},
		halfOpen: 1,
	}, {
		name:    "without half-open ones, the least recently active goes, retired and marked",
		max:     2,
		segs:    join(session(1, 0), session(2, 1), ack(1, 2), session(3, 3)),
		retired: []string{"2!"},
		open:    []string{"1", "3"},
		idle:    1,
	}, {
		name: "no eviction below the cap",
		max:  3,
		segs: join(session(1, 0), synOnly(2, 1), synOnly(3, 2)),
		open: []string{"1", "2", "3"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var retired []string
			var ended int
			tr := NewTracker(Options{MaxConnections: tc.max,
				NewHandler: func(*Conn) Handler { return endCounter{&ended} },
				Retire: func(c *Conn) {
					s := fmt.Sprint(c.Client.Port() - 40000)
					if c.Evicted {
						s += "!"
					}
					retired = append(retired, s)
				}})
			for i, s := range tc.segs {
				s.clientPort += 40000
				if err := tr.Add(frameOf(t, i+1, s)); err != nil {
					t.Fatal(err)
				}
			}
			var open []string
			for _, c := range tr.Conns() {
				open = append(open, fmt.Sprint(c.Client.Port()-40000))
			}
			slices.Sort(open)
			if !slices.Equal(retired, tc.retired) || !slices.Equal(open, tc.open) {
				t.Errorf("retired %v, open %v; want %v, %v", retired, open, tc.retired, tc.open)
			}
			st := tr.Stats()
			var want []Eviction
			if tc.halfOpen+tc.idle > 0 {
				want = []Eviction{{Server: netip.MustParseAddrPort(server), HalfOpen: tc.halfOpen, Idle: tc.idle}}
			}
			if !slices.Equal(st.Evictions, want) || st.Evicted != tc.halfOpen+tc.idle {
				t.Errorf("Stats: Evicted %d, Evictions %v; want %d, %v", st.Evicted, st.Evictions, tc.halfOpen+tc.idle, want)
			}
			if ended != tc.halfOpen+tc.idle {
				t.Errorf("%d handlers ended before Close, want the %d evicted", ended, tc.halfOpen+tc.idle)
			}
		})
	}
}

// endCounter is a Handler that counts End calls.
type endCounter struct{ n *int }

func (endCounter) Data(Direction, []byte, Marker)     {}
func (endCounter) Gap(Direction, int, Mark)           {}
func (endCounter) Control(EventKind, Direction, Mark) {}
func (e endCounter) End(Mark)                         { *e.n++ }

// TestTrackerEvictedFloodStaysSmall feeds a SYN flood far beyond the cap
// and checks that what the Tracker keeps (connections, the half-open
// queue, the flow table) stays near the cap, and that the 4-tuples of
// the evicted are forgotten.
func TestTrackerEvictedFloodStaysSmall(t *testing.T) {
	const max, flood = 50, 2000
	tr := NewTracker(Options{MaxConnections: max, Retire: func(*Conn) {},
		NewHandler: func(*Conn) Handler { return &eventLog{} }})
	n := 0
	for i := range flood {
		p := uint16(1024 + i)
		for _, s := range []seg{{seq: cISN, flags: "S", clientPort: p}, {fromServer: true, seq: sISN, ack: cISN + 1, flags: "SA", clientPort: p}} {
			n++
			s.after = time.Duration(i) * time.Millisecond
			if err := tr.Add(frameOf(t, n, s)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := len(tr.Conns()); got != max {
		t.Errorf("%d connections followed, want %d", got, max)
	}
	if got := len(tr.num.flows); got > max {
		t.Errorf("flow table holds %d 4-tuples, want at most %d", got, max)
	}
	if got := len(tr.halfOpenQ) - tr.halfOpenHead; got > 2*max+64 {
		t.Errorf("half-open queue holds %d, want at most %d", got, 2*max+64)
	}
	if st := tr.Stats(); st.Evicted != flood-max || len(st.Evictions) != 1 || st.Evictions[0].HalfOpen != flood-max {
		t.Errorf("Stats: %d evicted %v, want %d half-open", st.Evicted, st.Evictions, flood-max)
	}
}

// TestMergeEvictions checks that several Trackers' counts add up per
// server, most first, with the servers beyond the bound last.
func TestMergeEvictions(t *testing.T) {
	ap := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 25)
	}
	var a, b []Eviction
	for i := range maxEvictionServers {
		a = append(a, Eviction{Server: ap(i), HalfOpen: 1})
	}
	b = append(b, Eviction{Server: ap(3), Idle: 5}, Eviction{Server: ap(200), HalfOpen: 2}, Eviction{HalfOpen: 4})
	got := MergeEvictions(a, b)
	if len(got) != maxEvictionServers+1 {
		t.Fatalf("MergeEvictions gave %d entries, want %d", len(got), maxEvictionServers+1)
	}
	if got[0] != (Eviction{Server: ap(3), HalfOpen: 1, Idle: 5}) {
		t.Errorf("first = %v, want 192.0.2.3:25 with 1 half-open and 5 idle", got[0])
	}
	if last := got[len(got)-1]; last != (Eviction{HalfOpen: 6}) {
		t.Errorf("last = %v, want the other servers' 6 half-open", last)
	}
	var s strings.Builder
	for _, e := range got {
		fmt.Fprint(&s, e.Total(), " ")
	}
	if s.String() != "6 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 6 " {
		t.Errorf("totals %s", s.String())
	}
}

// TestTrackerForgetsOldRetiredTuples: the flow table keeps the 4-tuples
// of retired connections for their stream numbers, but at most
// retiredMemory times MaxConnections of them, so that a long capture of
// short connections does not grow it; a recent one still resumes its
// stream number.
func TestTrackerForgetsOldRetiredTuples(t *testing.T) {
	const max, conns = 2, 40
	retired := 0
	tr := NewTracker(Options{MaxConnections: max, Retire: func(*Conn) { retired++ }})
	n := 0
	add := func(s seg) {
		n++
		if err := tr.Add(frameOf(t, n, s)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range conns {
		p := uint16(41000 + i)
		at := time.Duration(i) * 10 * time.Second
		for _, s := range join(handshake, []seg{
			{seq: cISN + 1, ack: sISN + 1, flags: "FA"},
			{fromServer: true, seq: sISN + 1, ack: cISN + 2, flags: "FA"},
			{seq: cISN + 2, ack: sISN + 2, flags: "A"}}) {
			s.clientPort, s.after = p, at
			add(s)
		}
	}
	if got, limit := len(tr.num.flows), retiredMemory*max+max; got > limit {
		t.Errorf("flow table holds %d 4-tuples after %d connections, want at most %d", got, conns, limit)
	}
	// The last connection retires once capture time passes its linger; a
	// late ACK on the one before it resumes that one's stream number.
	add(seg{seq: cISN + 2, ack: sISN + 2, flags: "A", clientPort: 41000 + conns - 2, after: time.Duration(conns) * 10 * time.Second})
	c := tr.Conns()[len(tr.Conns())-1]
	if !c.Resumed || c.Stream != conns-2 {
		t.Errorf("late packet: stream %d resumed %v, want stream %d resumed", c.Stream, c.Resumed, conns-2)
	}
}
