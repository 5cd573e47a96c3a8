package synth

import (
	"encoding/binary"
	"net/netip"
)

// TCP flag bits as they sit in the 14th byte of the TCP header.
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagPSH = 0x08
	flagACK = 0x10
)

// Header sizes without options. Frames are Ethernet II, IPv4 without
// options, TCP; SYN segments carry TCP options, and so do ACKs with SACK
// blocks when SACK was negotiated.
const (
	ethLen     = 14
	ipv4Len    = 20
	tcpLen     = 20
	synOptsLen = 8 // MSS, NOP, window scale
	// sackSynOptsLen: MSS, NOP, NOP, SACK permitted, NOP, window scale,
	// as Linux sends them without timestamps.
	sackSynOptsLen = 12
	// maxSACKBlocks is the most SACK blocks a generated ACK carries (a
	// D-SACK block and one more); each takes 8 bytes after NOP, NOP,
	// kind and length.
	maxSACKBlocks = 2
	// headerRoom is the largest header stack a frame has.
	headerRoom = ethLen + ipv4Len + tcpLen + 4 + 8*maxSACKBlocks
	// ethMinLen is the shortest Ethernet frame on the wire (without FCS):
	// shorter ones are padded with zeros by the sending NIC.
	ethMinLen = 60
)

// segment is one TCP segment to put on the wire. Payload bytes are kept
// elsewhere; assemble receives them separately.
type segment struct {
	srcMAC, dstMAC [6]byte
	src, dst       netip.AddrPort
	ipID           uint16
	ttl            uint8
	seq, ack       uint32
	flags          uint8
	window         uint16
	// mss and wscale are sent as options when flags has SYN, and SACK
	// permitted with them when sackPerm is set (RFC 2018 §2).
	mss      uint16
	wscale   uint8
	sackPerm bool
	// sack are the SACK blocks [left, right) the segment carries (RFC
	// 2018 §3; a first block at or below the ACK, or inside the second,
	// is a D-SACK, RFC 2883): sack[:nsack].
	sack  [maxSACKBlocks][2]uint32
	nsack int
	// padded frames came over the wire and carry the Ethernet padding;
	// frames the capturing host sent itself are captured before it.
	padded bool
}

// assemble writes the Ethernet, IPv4 and TCP headers of s followed by
// payload into buf (which must have room for headerRoom+len(payload)
// bytes, and at least ethMinLen) and returns the frame, zero-padded to
// ethMinLen if s.padded. Both checksums are computed: the IPv4
// header checksum (RFC 791) and the TCP checksum over the pseudo-header,
// header and payload (RFC 9293 §3.1).
func assemble(buf []byte, s *segment, payload []byte) []byte {
	optLen := 0
	switch {
	case s.flags&flagSYN != 0 && s.sackPerm:
		optLen = sackSynOptsLen
	case s.flags&flagSYN != 0:
		optLen = synOptsLen
	case s.nsack > 0:
		optLen = 4 + 8*s.nsack
	}
	tcpHdr := tcpLen + optLen
	n := ethLen + ipv4Len + tcpHdr + len(payload)
	b := buf[:n]

	copy(b[0:6], s.dstMAC[:])
	copy(b[6:12], s.srcMAC[:])
	binary.BigEndian.PutUint16(b[12:14], 0x0800)

	ip := b[ethLen : ethLen+ipv4Len]
	ip[0] = 0x45 // version 4, IHL 5
	ip[1] = 0
	binary.BigEndian.PutUint16(ip[2:4], uint16(ipv4Len+tcpHdr+len(payload)))
	binary.BigEndian.PutUint16(ip[4:6], s.ipID)
	binary.BigEndian.PutUint16(ip[6:8], 0x4000) // DF, offset 0
	ip[8] = s.ttl
	ip[9] = 6 // TCP
	ip[10], ip[11] = 0, 0
	src, dst := s.src.Addr().As4(), s.dst.Addr().As4()
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	binary.BigEndian.PutUint16(ip[10:12], ^fold(sum(0, ip)))

	t := b[ethLen+ipv4Len : ethLen+ipv4Len+tcpHdr]
	binary.BigEndian.PutUint16(t[0:2], s.src.Port())
	binary.BigEndian.PutUint16(t[2:4], s.dst.Port())
	binary.BigEndian.PutUint32(t[4:8], s.seq)
	binary.BigEndian.PutUint32(t[8:12], s.ack)
	t[12] = byte(tcpHdr/4) << 4
	t[13] = s.flags
	binary.BigEndian.PutUint16(t[14:16], s.window)
	t[16], t[17] = 0, 0 // checksum
	t[18], t[19] = 0, 0 // urgent pointer
	o := t[tcpLen:]
	switch {
	case s.flags&flagSYN != 0:
		o[0], o[1] = 2, 4 // MSS
		binary.BigEndian.PutUint16(o[2:4], s.mss)
		if s.sackPerm {
			o[4], o[5], o[6], o[7] = 1, 1, 4, 2 // NOP, NOP, SACK permitted
			o = o[4:]
		}
		o[4] = 1          // NOP
		o[5], o[6] = 3, 3 // window scale
		o[7] = s.wscale
	case s.nsack > 0:
		o[0], o[1], o[2], o[3] = 1, 1, 5, byte(2+8*s.nsack) // NOP, NOP, SACK
		for i, b := range s.sack[:s.nsack] {
			binary.BigEndian.PutUint32(o[4+8*i:], b[0])
			binary.BigEndian.PutUint32(o[8+8*i:], b[1])
		}
	}
	copy(b[ethLen+ipv4Len+tcpHdr:], payload)

	// Pseudo-header: source, destination, zero, protocol, TCP length.
	acc := sum(0, ip[12:20])
	acc += 6 + uint64(tcpHdr+len(payload))
	acc = sum(acc, b[ethLen+ipv4Len:])
	binary.BigEndian.PutUint16(t[16:18], ^fold(acc))
	if s.padded && n < ethMinLen {
		b = buf[:ethMinLen]
		clear(b[n:])
	}
	return b
}

// sum adds b to the one's-complement accumulator acc as big-endian 16-bit
// words (a trailing odd byte is padded with zero, RFC 1071). It reads
// eight bytes at a time; the 64-bit accumulator cannot overflow for any
// frame size.
func sum(acc uint64, b []byte) uint64 {
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		acc += v>>32 + v&0xffffffff
		b = b[8:]
	}
	if len(b) >= 4 {
		acc += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		acc += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	return acc
}

// fold reduces a one's-complement accumulator to 16 bits.
func fold(acc uint64) uint16 {
	for acc > 0xffff {
		acc = acc>>16 + acc&0xffff
	}
	return uint16(acc)
}
