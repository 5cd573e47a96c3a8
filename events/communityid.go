package events

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
)

// IP protocol numbers for CommunityID.
const (
	ProtoTCP  = 6
	ProtoUDP  = 17
	ProtoSCTP = 132
)

// CommunityID returns the Community ID v1 of a flow of a port-based
// protocol (TCP, UDP, SCTP) between a and b, as Zeek, Suricata and Arkime
// write it ("1:" and the base64 of a SHA-1), so that events join their
// records of the same flow. The flow is the same whichever endpoint is
// given first. seed is the Community ID seed (0 unless a site chose
// another). Spec: github.com/corelight/community-id-spec.
func CommunityID(seed uint16, proto uint8, a, b netip.AddrPort) string {
	ipA, ipB := a.Addr().Unmap(), b.Addr().Unmap()
	// The endpoint with the smaller address (then port) goes first.
	if c := ipA.Compare(ipB); c > 0 || c == 0 && a.Port() > b.Port() {
		a, b = b, a
		ipA, ipB = ipB, ipA
	}
	var buf bytes.Buffer
	binary.Write(&buf, binary.BigEndian, seed)
	buf.Write(ipA.AsSlice())
	buf.Write(ipB.AsSlice())
	buf.WriteByte(proto)
	buf.WriteByte(0)
	binary.Write(&buf, binary.BigEndian, a.Port())
	binary.Write(&buf, binary.BigEndian, b.Port())
	sum := sha1.Sum(buf.Bytes())
	return "1:" + base64.StdEncoding.EncodeToString(sum[:])
}
