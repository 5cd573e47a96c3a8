package report

import "testing"

func TestPreambleWords(t *testing.T) {
	tests := []struct {
		p    Preamble
		want string
	}{
		{Preamble{Kind: "http-connect", Target: "mx.example.com:25", Status: 200}, "HTTP CONNECT mx.example.com:25, proxy 200"},
		{Preamble{Kind: "http-connect", Target: "mx.example.com:25"}, "HTTP CONNECT mx.example.com:25"},
		{Preamble{Kind: "proxy-v2", Source: "192.0.2.1:4000", Destination: "198.51.100.2:25"}, "PROXY v2 192.0.2.1:4000 → 198.51.100.2:25"},
		{Preamble{Kind: "proxy-v1"}, "PROXY v1"},
	}
	for _, tc := range tests {
		if got := preambleWords(&tc.p); got != tc.want {
			t.Errorf("preambleWords(%+v) = %q, want %q", tc.p, got, tc.want)
		}
	}
}
