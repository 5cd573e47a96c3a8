package events

import (
	"net/netip"
	"testing"
)

// TestCommunityID checks the port-based vectors of the Community ID
// spec's baseline (corelight/community-id-spec, baseline/
// baseline_deflt.json and baseline_seed1.json), both directions of each
// flow, and Zeek's own test (1.2.3.4:1122 → 5.6.7.8:3344/tcp).
func TestCommunityID(t *testing.T) {
	tests := []struct {
		seed     uint16
		proto    uint8
		src, dst string
		want     string
	}{
		{0, ProtoTCP, "1.2.3.4:1122", "5.6.7.8:3344", "1:wCb3OG7yAFWelaUydu0D+125CLM="},
		{0, ProtoUDP, "1.2.3.4:1122", "5.6.7.8:3344", "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="},
		{0, ProtoTCP, "[2001:470:e5bf:dead:4957:2174:e82c:4887]:63943", "[2607:f8b0:400c:c03::1a]:25", "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
		{0, ProtoTCP, "128.232.110.120:34855", "66.35.250.204:80", "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
		{0, ProtoUDP, "192.168.1.52:54585", "8.8.8.8:53", "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
		{0, ProtoSCTP, "192.168.170.8:7", "192.168.170.56:7", "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
		{1, ProtoTCP, "[2001:470:e5bf:dead:4957:2174:e82c:4887]:63943", "[2607:f8b0:400c:c03::1a]:25", "1:eJYTW6AOzFLlSUoESovMjnu7rMw="},
		{1, ProtoTCP, "128.232.110.120:34855", "66.35.250.204:80", "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
		{1, ProtoUDP, "192.168.1.52:54585", "8.8.8.8:53", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
		{1, ProtoSCTP, "192.168.170.8:7", "192.168.170.56:7", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="},
		// An IPv4-mapped IPv6 address is the IPv4 flow.
		{0, ProtoTCP, "[::ffff:128.232.110.120]:34855", "66.35.250.204:80", "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
	}
	for _, tt := range tests {
		src, dst := netip.MustParseAddrPort(tt.src), netip.MustParseAddrPort(tt.dst)
		if got := CommunityID(tt.seed, tt.proto, src, dst); got != tt.want {
			t.Errorf("CommunityID(%d, %d, %s, %s) = %s, want %s", tt.seed, tt.proto, src, dst, got, tt.want)
		}
		if got := CommunityID(tt.seed, tt.proto, dst, src); got != tt.want {
			t.Errorf("CommunityID(%d, %d, %s, %s) = %s, want %s (reversed)", tt.seed, tt.proto, dst, src, got, tt.want)
		}
	}
}
