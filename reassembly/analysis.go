package reassembly

// Analyzer runs Wireshark's TCP analysis over the segments of one
// connection, once per packet in file order.
type Analyzer struct {
	next   [2]uint32 // next expected sequence number per direction
	seen   [2]bool
	health Health
}

// Observe analyses one segment and returns the tcp.analysis flags it earns.
func (a *Analyzer) Observe(s *Segment) Flag {
	var f Flag
	d := s.Dir
	if s.RST {
		a.health.Resets++
	}
	if s.Window == 0 && !s.SYN && !s.FIN && !s.RST {
		f |= FlagZeroWindow
		a.health.ZeroWindows++
	}
	end := s.Seq + uint32(s.Len)
	if s.SYN || s.FIN {
		end++
	}
	if a.seen[d] && (s.Len > 0 || s.SYN || s.FIN) && int32(a.next[d]-s.Seq) > 0 {
		f |= FlagRetransmission
		a.health.Retransmissions++
	}
	if !a.seen[d] || int32(end-a.next[d]) > 0 {
		a.next[d] = end
		a.seen[d] = true
	}
	return f
}

// Health returns the connection's L4 summary so far.
func (a *Analyzer) Health() Health {
	h := a.health
	switch {
	case h.Retransmissions > 0 || h.ZeroWindows > 0:
		h.Verdict = Degraded
	}
	return h
}
