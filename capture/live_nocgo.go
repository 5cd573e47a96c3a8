//go:build !cgo

package capture

import (
	"errors"

	"github.com/gopacket/gopacket/layers"
)

// errNoLiveCapture is what OpenLive returns in a build without cgo.
var errNoLiveCapture = errors.New("live capture needs a build with cgo and libpcap (this binary was built with CGO_ENABLED=0)")

// Live would capture from a network interface; this binary was built
// without cgo, so OpenLive always fails.
type Live struct{}

// OpenLive reports that live capture is not available in this build.
func OpenLive(opts LiveOptions) (*Live, error) {
	return nil, errNoLiveCapture
}

// Next reports that live capture is not available in this build.
func (l *Live) Next() (Frame, error) {
	return Frame{}, errNoLiveCapture
}

// LinkType is not known in this build: no capture was opened.
func (l *Live) LinkType() layers.LinkType { return layers.LinkTypeNull }

// LiveStats are the capture's packet counters (see the cgo build).
type LiveStats struct{ Received, Dropped, IfDropped int }

// Stats is not available in this build.
func (l *Live) Stats() (LiveStats, error) { return LiveStats{}, errNoLiveCapture }

// Info describes nothing: no capture was opened.
func (l *Live) Info() Info {
	return Info{Format: "live"}
}

// Close does nothing.
func (l *Live) Close() error {
	return nil
}
