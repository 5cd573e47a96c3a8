package wiring

import (
	"testing"
)

// TestSMTPFilter checks the default BPF filter of a live run, built from
// the SMTP ports and the implicit TLS ones that are not among them.
func TestSMTPFilter(t *testing.T) {
	tests := []struct {
		ports, tlsPorts []uint16
		want            string
	}{
		{[]uint16{25}, nil, "tcp and (port 25)"},
		{[]uint16{25, 465, 587, 2525, 10025}, []uint16{465}, "tcp and (port 25 or port 465 or port 587 or port 2525 or port 10025)"},
		{[]uint16{25, 587}, []uint16{465, 587, 10465}, "tcp and (port 25 or port 587 or port 465 or port 10465)"},
	}
	for _, tt := range tests {
		if got := SMTPFilter(withPorts(tt.ports, tt.tlsPorts)); got != tt.want {
			t.Errorf("SMTPFilter(withPorts(%v, %v)) = %q, want %q", tt.ports, tt.tlsPorts, got, tt.want)
		}
	}
}
