package events

import (
	"testing"
	"time"
)

func TestWaitSpan(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{{380 * time.Microsecond, "0.38 ms"}, {19 * time.Millisecond, "19 ms"}, {2100 * time.Millisecond, "2.1 s"}}
	for _, tt := range tests {
		if got := waitSpan(tt.in); got != tt.want {
			t.Errorf("waitSpan(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
