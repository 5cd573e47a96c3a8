package reassembly

import (
	"net/netip"

	"github.com/smtpscope/smtpscope/capture"
)

// Endpoints reads the TCP source and destination of frames with the
// Tracker's own decoder (the same link types, the same rules for what is
// TCP over IP), for a caller that picks a connection's frames out of a
// capture again, as evidence cutting does. The zero value is not usable;
// call NewEndpoints.
type Endpoints struct {
	dec *decoder
}

// NewEndpoints returns an Endpoints reader.
func NewEndpoints() *Endpoints { return &Endpoints{dec: newDecoder()} }

// Of returns frame f's TCP source and destination; ok is false for a
// frame the Tracker does not analyse as TCP (another protocol, an IP
// fragment, a damaged header, an unsupported link type).
func (e *Endpoints) Of(f *capture.Frame) (src, dst netip.AddrPort, ok bool) {
	if src, dst, ok = headerAddrs(f.LinkType, f.Data); ok {
		return src, dst, true
	}
	p, isTCP, _ := e.dec.decode(f.LinkType, f.Data)
	if !isTCP {
		return src, dst, false
	}
	return p.src, p.dst, true
}
