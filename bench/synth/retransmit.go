package synth

import (
	"math"
	"time"
)

// flightSeg is one body segment of a flight as first sent: its sequence
// number, its payload in the session's arena and its capture time.
type flightSeg struct {
	seq    uint32
	off, n int
	t      time.Duration
}

// maxRTO is the largest retransmission timeout a stack backs off to
// (Linux's TCP_RTO_MAX).
const maxRTO = 120 * time.Second

// probeTimeout is the tail-loss probe timeout, PTO = 2·SRTT with a floor
// of 10 ms (RFC 8985 §7.2), never later than the RTO it precedes.
func probeTimeout(rtt, rto time.Duration) time.Duration {
	return min(max(2*rtt, 10*time.Millisecond), rto)
}

// resend queues a retransmission of seg at t and counts it.
func (s *session) resend(t time.Duration, seg flightSeg) {
	s.frames = append(s.frames, frame{t: t, fromClient: true, flags: flagACK | flagPSH, seq: seg.seq,
		ack: s.s.nxt, window: s.c.window, off: int32(seg.off), n: int32(seg.n)})
	s.exp.L4.Retransmissions++
}

// resendLost plays the client's retransmissions of dead, the segments of
// a flight none of which ever reaches the server, in the session's Shape,
// from last, the flight's last transmission: at most tries timeouts, and
// none at or after until. It returns the time of the last timeout that
// fired and how many did (the next backs off from there).
func (s *session) resendLost(dead []flightSeg, last, rto time.Duration, tries int, until time.Duration) (time.Duration, int) {
	t := last
	if s.plan.shape == ShapeTailLossProbe {
		// The probe resends the flight's last segment; the RTO is armed
		// again from it.
		pto := probeTimeout(s.client.rtt, rto)
		if t+pto >= until {
			return t, 0
		}
		t += pto
		s.resend(t, dead[len(dead)-1])
	}
	fired := 0
	for fired < tries {
		next := t + min(rto<<fired, maxRTO)
		if next >= until {
			break
		}
		t = next
		s.resend(t, dead[0])
		if fired == 0 && s.plan.shape == ShapeFlightThenFirst {
			for i, seg := range dead[1:] {
				s.resend(t+time.Duration(i+1)*s.client.serialize, seg)
			}
		}
		fired++
	}
	return t, fired
}

// serverACK queues a pure ACK from the server of everything up to sAck.
func (s *session) serverACK(t time.Duration) {
	s.frames = append(s.frames, frame{t: t, flags: flagACK, seq: s.s.nxt, ack: s.sAck, window: s.s.window})
	s.maybeLoseACK()
}

// lossRTO repairs segs[k], lost before the capture point with too few
// segments after it for three duplicate ACKs: on the RTO, or in the
// tail-loss-probe shape by a probe of the flight's last segment whose
// duplicate ACK is the third, which makes the client fast-retransmit the
// hole (the purpose of the probe, RFC 8985 §7). Either way the server's
// ACK then covers the whole flight.
func (s *session) lossRTO(segs []flightSeg, k int, last, rto time.Duration) {
	t := last + rto
	if s.plan.shape == ShapeTailLossProbe {
		probe := last + probeTimeout(s.client.rtt, rto)
		tail := segs[len(segs)-1]
		s.resend(probe, tail)
		s.serverACK(probe + ackDelay)
		// The probe repeats a segment the server holds: a D-SACK block,
		// inside the SACK block of what came after the hole (RFC 2883 §4.2).
		s.dsackLast([2]uint32{tail.seq, tail.seq + uint32(tail.n)}, [2]uint32{segs[k+1].seq, tail.seq + uint32(tail.n)})
		t = probe + ackDelay + s.client.rtt + s.think()
	}
	s.cwnd = 2
	s.resend(t, segs[k])
	tail := segs[len(segs)-1]
	s.sAck = tail.seq + uint32(tail.n)
	s.serverACK(t + ackDelay)
	s.nextFlight = t + ackDelay + s.client.rtt + s.think()
}

// blackhole plays a path-MTU black hole on a flight of full-size
// segments that never reach the server: the client retransmits them in
// its Shape with backoff until the server, which saw nothing of the body,
// times out and closes; the client's kernel ACKs that FIN (its own FIN
// waits behind the unsent body). Nothing of the server's after the first
// retransmission but that FIN shows the path from the server still works.
//
// A Windows-like client may give up first, after its five retransmissions
// (TcpMaxDataRetransmissions), with a RST: then nothing of the server's
// follows the first retransmission, and the capture cannot tell the black
// hole from a dead path or host: a correct analysis says packet-loss.
func (s *session) blackhole(m *messagePlan, segs []flightSeg, last, rto time.Duration) {
	closeAt := last + 30*time.Second + time.Duration(s.r.IntN(90))*time.Second
	if s.plan.shape == ShapeFirstOnly && s.r.IntN(2) == 0 {
		t, fired := s.resendLost(segs, last, rto, 5, closeAt)
		s.clientSend(t+min(rto<<fired, maxRTO), flagRST|flagACK, nil)
		s.exp.L4.Resets++
		s.finishBroken(m, "aborted", "packet-loss")
		return
	}
	s.resendLost(segs, last, rto, math.MaxInt, closeAt)
	s.add(closeAt, false, flagFIN|flagACK, s.s.nxt, s.sAck, s.s.window, nil)
	s.s.nxt++
	s.add(closeAt+s.client.rtt, true, flagACK, s.c.nxt, s.s.nxt, s.c.window, nil)
	s.finishBroken(m, "aborted", "pmtu-blackhole")
}

// spurious plays the loss of the server's ACKs of a flight past the
// capture point: the client's RTO (or its tail-loss probe) resends a
// segment the capture saw acknowledged, the server answers with a
// duplicate ACK that tells the client it had everything, and the next
// flight follows.
func (s *session) spurious(segs []flightSeg, last, rto time.Duration) {
	t, seg := last+rto, segs[0]
	if s.plan.shape == ShapeTailLossProbe {
		t, seg = last+probeTimeout(s.client.rtt, rto), segs[len(segs)-1]
	}
	s.resend(t, seg)
	s.serverACK(t + ackDelay)
	s.dsackLast([2]uint32{seg.seq, seg.seq + uint32(seg.n)}) // below the ACK: a duplicate (RFC 2883 §4.1)
	s.nextFlight = t + ackDelay + s.client.rtt + s.think()
}

// duplicate captures one or two of the flight's data frames and one of
// the server's ACKs twice, each copy right behind its original.
func (s *session) duplicate() {
	var data, acks []int
	for i, f := range s.frames {
		switch {
		case f.fromClient && f.n > 0:
			data = append(data, i)
		case !f.fromClient && f.n == 0 && f.flags == flagACK:
			acks = append(acks, i)
		}
	}
	if len(data) == 0 {
		return
	}
	first := s.r.IntN(len(data))
	pick := []int{data[first]}
	if len(data) > 1 && s.r.IntN(2) == 0 {
		pick = append(pick, data[(first+len(data)/2)%len(data)])
	}
	if len(acks) > 0 {
		pick = append(pick, acks[s.r.IntN(len(acks))])
	}
	for _, i := range pick {
		f := s.frames[i]
		f.copy = true
		s.frames = append(s.frames, f)
		if f.n > 0 {
			s.exp.L4.Retransmissions++ // Wireshark flags a data copy as a retransmission
		}
	}
}

// sackLast puts SACK blocks on the frame just queued, a server ACK, when
// the session negotiated SACK (RFC 2018 §4: a receiver holding data above
// a hole reports it).
func (s *session) sackLast(blocks ...[2]uint32) {
	if !s.plan.sack {
		return
	}
	f := &s.frames[len(s.frames)-1]
	f.nsack = uint8(copy(f.sack[:], blocks))
	s.exp.SACKs++
}

// dsackLast puts a D-SACK block, dup (data the server received twice),
// first on the frame just queued, then the SACK blocks more (RFC 2883).
func (s *session) dsackLast(dup [2]uint32, more ...[2]uint32) {
	if !s.plan.sack {
		return
	}
	s.sackLast(append([][2]uint32{dup}, more...)...)
	s.exp.DSACKs++
}
