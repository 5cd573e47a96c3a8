package report

import "testing"

func TestThousands(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1,000"}, {1230123, "1,230,123"}, {-45000, "-45,000"}, {-999, "-999"}}
	for _, tt := range tests {
		if got := Thousands(tt.in); got != tt.want {
			t.Errorf("Thousands(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
