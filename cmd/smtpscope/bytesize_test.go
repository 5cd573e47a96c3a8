package main

import "testing"

func TestByteSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		str  string
	}{
		{"0", 0, "0"},
		{"5000000", 5000000, "5000000"},
		{"512K", 512 << 10, "512K"},
		{"64KiB", 64 << 10, "64K"},
		{"500M", 500 << 20, "500M"},
		{"500mb", 500 << 20, "500M"},
		{"1G", 1 << 30, "1G"},
		{"1.5G", 3 << 29, "1536M"},
		{"2T", 2 << 40, "2048G"},
	} {
		var b byteSize
		if err := b.Set(tt.in); err != nil {
			t.Errorf("Set(%q): %v", tt.in, err)
			continue
		}
		if int64(b) != tt.want || b.String() != tt.str {
			t.Errorf("Set(%q) = %d (%s), want %d (%s)", tt.in, int64(b), b.String(), tt.want, tt.str)
		}
	}
	for _, in := range []string{"", "G", "-1M", "lots", "1X", "1e30G"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("Set(%q) = %d, want an error", in, int64(b))
		}
	}
}
