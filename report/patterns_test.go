package report

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPatterns(t *testing.T) {
	conn := func(server string, start float64, txs ...Transaction) Connection {
		return Connection{Server: server, Start: t0.Add(time.Duration(start * float64(time.Second))), SMTP: &SMTP{Transactions: txs}}
	}
	tx := func(size int64, outcome string) Transaction { return Transaction{Size: size, Outcome: outcome} }
	tests := []struct {
		name  string
		conns []Connection
		want  []string // kinds
		words []string
	}{
		{"big messages fail, small ones pass", []Connection{
			conn("10.0.0.25:25", 0, tx(2000, "delivered"), tx(1<<20, "no-reply")),
			conn("10.0.0.25:25", 5, tx(5000, "delivered")),
			conn("10.0.0.25:25", 9, tx(3<<20, "aborted")),
		}, []string{"size"}, []string{"≥ 1,048,576 bytes", "≤ 5,000 bytes"}},
		{"failures at one server that also delivers", []Connection{
			conn("10.0.0.25:25", 0, tx(2000, "no-reply")),
			conn("10.0.0.26:25", 1, tx(9000, "delivered")),
			conn("10.0.0.25:25", 2, tx(100, "delivered")),
		}, []string{"server"}, []string{"also delivered 1"}},
		{"only towards one server, others fine", []Connection{
			conn("10.0.0.26:25", 0, tx(9000, "delivered")),
			conn("10.0.0.25:25", 1, tx(2000, "rejected")),
		}, []string{"server", "time"}, []string{"1 of 1 failed messages went to 10.0.0.25:25"}},
		{"nothing failed", []Connection{conn("a:25", 0, tx(1, "delivered"))}, nil, nil},
		{"nothing delivered", []Connection{conn("a:25", 0, tx(1, "no-reply"))}, nil, nil},
		{"a failure without a body says nothing about size", []Connection{
			conn("a:25", 0, tx(0, "rejected"), tx(10, "delivered")),
		}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The patterns do not depend on the order connections come in.
			got := patternsOf(tt.conns)
			rev := slices.Clone(tt.conns)
			slices.Reverse(rev)
			if back := patternsOf(rev); !reflect.DeepEqual(back, got) {
				t.Errorf("in reverse order: %v, want %v", back, got)
			}
			var kinds []string
			var text []string
			for _, p := range got {
				kinds = append(kinds, p.Kind)
				text = append(text, p.Summary)
			}
			if strings.Join(kinds, ",") != strings.Join(tt.want, ",") {
				t.Errorf("patterns %v, want %v (%q)", kinds, tt.want, text)
			}
			for _, w := range tt.words {
				if !strings.Contains(strings.Join(text, "\n"), w) {
					t.Errorf("%q lacks %q", text, w)
				}
			}
		})
	}
}

func patternsOf(conns []Connection) []Pattern {
	a := newAggregate()
	for i := range conns {
		a.add(&conns[i])
	}
	return a.patterns()
}
