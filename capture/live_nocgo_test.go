//go:build !cgo

package capture

import "testing"

// TestOpenLiveWithoutCgo checks the message a CGO_ENABLED=0 build gives.
func TestOpenLiveWithoutCgo(t *testing.T) {
	l, err := OpenLive(LiveOptions{Interface: "lo"})
	want := "live capture needs a build with cgo and libpcap (this binary was built with CGO_ENABLED=0)"
	if l != nil || err == nil || err.Error() != want {
		t.Errorf("OpenLive = %v, %v; want nil, %q", l, err, want)
	}
}
