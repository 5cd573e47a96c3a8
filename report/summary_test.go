package report

import (
	"math"
	"strings"
	"testing"
)

// TestSummary checks the summary of builderFacts: twelve connections,
// outcomes delivered, rejected, no reply and deferred in turn (stream i
// has outcome i mod 4), streams 1, 4, 7 and 10 to 10.0.0.26:25 and the
// rest to the other server.
func TestSummary(t *testing.T) {
	r := Build(nil, builderFacts(), Options{})
	s := r.Summary
	if s == nil {
		t.Fatal("no summary")
	}
	if s.FailedConnections != 9 {
		t.Errorf("FailedConnections = %d, want 9", s.FailedConnections)
	}
	other := r.Connections[0].Server
	wantCauses := []struct {
		cause          Cause
		n              int
		first, last    int // streams
		example        int
		serverNs       map[string]int
		firstFrameWant int
	}{
		// Equal counts: by name.
		{CauseDeferred, 3, 3, 11, 3, map[string]int{"10.0.0.26:25": 1, other: 2}, 0},
		{CauseEODNoReply, 3, 2, 10, 2, map[string]int{"10.0.0.26:25": 1, other: 2}, 0},
		{CauseRejected, 3, 1, 9, 1, map[string]int{"10.0.0.26:25": 1, other: 2}, 0},
	}
	if len(s.Causes) != len(wantCauses) {
		t.Fatalf("causes = %+v, want %d", s.Causes, len(wantCauses))
	}
	for i, w := range wantCauses {
		c := s.Causes[i]
		if c.Cause != w.cause || c.Connections != w.n || !c.Failed || math.Abs(c.Share-1.0/3) > 1e-9 {
			t.Errorf("cause %d = %s %d failed %v share %v, want %s %d failed, share 1/3", i, c.Cause, c.Connections, c.Failed, c.Share, w.cause, w.n)
		}
		if c.First.Stream != w.first || c.Last.Stream != w.last || c.Example.Stream != w.example {
			t.Errorf("%s: first, last, example streams %d %d %d, want %d %d %d", c.Cause, c.First.Stream, c.Last.Stream, c.Example.Stream, w.first, w.last, w.example)
		}
		if c.Words != causeWords[c.Cause] || c.Layer != LayerL7 {
			t.Errorf("%s: words %q layer %q", c.Cause, c.Words, c.Layer)
		}
		got := map[string]int{}
		for _, sc := range c.Servers {
			got[sc.Server] = sc.Connections
		}
		for srv, n := range w.serverNs {
			if got[srv] != n {
				t.Errorf("%s: %s has %d connections, want %d", c.Cause, srv, got[srv], n)
			}
		}
	}
	if len(s.Servers) != 2 {
		t.Fatalf("servers = %+v, want 2", s.Servers)
	}
	// The other server has 8 connections (6 failed), 10.0.0.26:25 has 4 (3
	// failed): most failures first. Every connection of builderFacts has
	// the same times: a failure is placed at its evidence, the end-of-data
	// (stream 10, at 10.0 s) or the refusal (streams 1 and 7, at 10.1 s);
	// equal times go in report order.
	a, b := s.Servers[0], s.Servers[1]
	if a.Server != other || a.Connections != 8 || a.FailedConnections != 6 || a.Delivered != 2 || a.FailedTransactions != 6 || math.Abs(a.Share-0.75) > 1e-9 {
		t.Errorf("first server = %+v", a)
	}
	if b.Server != "10.0.0.26:25" || b.Connections != 4 || b.FailedConnections != 3 || b.Delivered != 1 || b.Example == nil || b.Example.Stream != 1 ||
		b.FirstFailure == nil || b.LastFailure == nil || b.FirstFailure.Stream != 10 || b.LastFailure.Stream != 7 {
		t.Errorf("second server = %+v (first failure %+v, last %+v)", b, b.FirstFailure, b.LastFailure)
	}
	// End-of-data replies on 10.0.0.26:25: the rejection of stream 1 and
	// the deferral of stream 7 after 100 ms, the delivery of stream 4 after
	// 200 ms; stream 10's end-of-data had none.
	if l := b.EODReply; l == nil || *l != (LatencySummary{Samples: 3, MedianMS: 100, P95MS: 200, MaxMS: 200}) {
		t.Errorf("10.0.0.26:25 end-of-data replies = %+v, want 3 samples, median 100 ms, p95 and max 200 ms", l)
	}
}

// TestLatencies checks the median, p95 and max, exact and past
// maxExactLatencies (within latencyPrecision).
func TestLatencies(t *testing.T) {
	for _, n := range []int{1, 2, 20, 100, maxExactLatencies, 3 * maxExactLatencies} {
		var l latencies
		// 1..n ms, in an order that is not sorted.
		for i := range n {
			l.add(float64((i*7919)%n + 1))
		}
		s := l.summary()
		wantMedian := math.Ceil(0.5 * float64(n))
		wantP95 := math.Ceil(0.95 * float64(n))
		tol := 0.0
		if n > maxExactLatencies {
			tol = latencyPrecision
		}
		if s.Samples != n || s.MaxMS != float64(n) ||
			math.Abs(s.MedianMS-wantMedian) > tol*wantMedian || math.Abs(s.P95MS-wantP95) > tol*wantP95 {
			t.Errorf("n=%d: %+v, want median %v p95 %v max %d (±%v)", n, s, wantMedian, wantP95, n, tol)
		}
	}
	var none latencies
	if none.summary() != nil {
		t.Error("summary of no latencies is not nil")
	}
}

// TestTextGroups checks that the text report groups failing connections
// by cause, caps each group at maxGroupShown unless All, and folds the
// healthy connections into one line unless All.
func TestTextGroups(t *testing.T) {
	facts := append(builderFacts(), builderFacts()...)
	for i := range facts {
		facts[i].Conn.Stream = i // 24 connections: 6 per outcome
	}
	r := Build(nil, facts, Options{})
	text := func(opt TextOptions) string {
		var b strings.Builder
		if err := r.WriteText(&b, opt); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	short, all := text(TextOptions{}), text(TextOptions{All: true})
	for _, tc := range []struct {
		text, want string
		n          int
	}{
		{short, "── FAILED: ", 3},
		{short, "… and 1 more: `--all` or the JSON", 3},
		{short, "✓ 6 healthy connection(s) not listed: `--all` lists them", 1},
		{short, "✗ stream ", 15},
		{short, "✓ stream ", 0},
		{all, "✗ stream ", 18},
		{all, "✓ stream ", 6},
		{all, "more: `--all`", 0},
		{all, "── HEALTHY", 1},
	} {
		if got := strings.Count(tc.text, tc.want); got != tc.n {
			t.Errorf("%q appears %d times, want %d", tc.want, got, tc.n)
		}
	}
	// The groups come most frequent first, equal counts by name, as the
	// summary orders them.
	d, e, rj := strings.Index(short, "── FAILED: deferred"), strings.Index(short, "── FAILED: eod-no-reply"), strings.Index(short, "── FAILED: rejected")
	if !(d > 0 && d < e && e < rj) {
		t.Errorf("groups out of order: deferred at %d, eod-no-reply at %d, rejected at %d", d, e, rj)
	}
	// The summary comes before every connection.
	if s, c := strings.Index(short, "FAILURES BY CAUSE"), strings.Index(short, "✗ stream "); s < 0 || s > c {
		t.Errorf("summary at %d, first connection at %d", s, c)
	}
}
