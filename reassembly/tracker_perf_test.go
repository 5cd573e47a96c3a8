package reassembly

import (
	"math"
	"testing"
	"time"
)

// TestUnixNanoOrder checks that unixNano never reverses the order of two
// Times, is exact where it does not saturate, and saturates only outside
// int64 nanoseconds.
func TestUnixNanoOrder(t *testing.T) {
	times := []time.Time{
		{},
		time.Time{}.Add(flushEvery),
		time.Unix(math.MinInt64, 0),
		time.Unix(math.MaxInt64, 0),
		time.Unix(math.MaxInt64, 999_999_999),
		time.Unix(0, math.MinInt64),
		time.Unix(0, math.MinInt64).Add(-1),
		time.Unix(0, math.MinInt64).Add(1),
		time.Unix(0, math.MaxInt64),
		time.Unix(0, math.MaxInt64).Add(1),
		time.Unix(0, math.MaxInt64).Add(-1),
		time.Unix(-9223372036, 0),
		time.Unix(-9223372037, 999_999_999),
		time.Unix(9223372035, 999_999_999),
		time.Unix(9223372036, 0),
		time.Unix(0, 0),
		time.Unix(0, -1),
		time.Unix(1_700_000_000, 123),
		time.Unix(1_700_000_000, 124),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Hour),
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Now(),
	}
	for _, a := range times {
		na := unixNano(a)
		inRange := !a.Before(time.Unix(0, math.MinInt64)) && !a.After(time.Unix(0, math.MaxInt64))
		if inRange && !saturated(na) && na != a.UnixNano() {
			t.Errorf("unixNano(%v) = %d, want %d", a, na, a.UnixNano())
		}
		if saturated(na) && a.After(time.Unix(-9223372036, 0)) && a.Before(time.Unix(9223372036, 0)) {
			t.Errorf("unixNano(%v) = %d, saturated inside the range", a, na)
		}
		for _, b := range times {
			nb := unixNano(b)
			if a.Before(b) && na > nb || a.Equal(b) && na != nb {
				t.Errorf("unixNano(%v) = %d, unixNano(%v) = %d: order reversed", a, na, b, nb)
			}
		}
	}
}

// TestNumberingForgetClearsLast checks that the one-entry cache in front of
// the flow table forgets a 4-tuple with the table.
func TestNumberingForgetClearsLast(t *testing.T) {
	n := newNumbering()
	k := flowKey{lo: endpoint{port: 1}, hi: endpoint{port: 2}}
	f, fresh := n.flow(k)
	if !fresh {
		t.Fatalf("flow(k) first: fresh = false, want true")
	}
	if g, fresh := n.flow(k); g != f || fresh {
		t.Errorf("flow(k) again = %p, %v, want %p, false", g, fresh, f)
	}
	n.forget(k)
	if g, fresh := n.flow(k); g == f || !fresh {
		t.Errorf("flow(k) after forget = %p, %v, want a new entry", g, fresh)
	}
	other := flowKey{lo: endpoint{port: 3}, hi: endpoint{port: 4}}
	g, _ := n.flow(k)
	n.flow(other)
	n.forget(other)
	if h, fresh := n.flow(k); h != g || fresh {
		t.Errorf("flow(k) after forgetting another = %p, %v, want %p, false", h, fresh, g)
	}
}
