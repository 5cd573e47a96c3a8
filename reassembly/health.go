package reassembly

import "time"

// Verdict is the L4 judgement of one connection.
type Verdict int

const (
	// Healthy: the handshake (if captured) completed and nothing in the
	// segments points to loss, stalls or aborts.
	Healthy Verdict = iota
	// Degraded: the connection worked but the network or a receiver
	// struggled (retransmissions, long zero windows).
	Degraded
	// Broken: the connection failed at L4 (refused, timed out, reset).
	Broken
)

// String returns "healthy", "degraded" or "broken".
func (v Verdict) String() string {
	switch v {
	case Degraded:
		return "degraded"
	case Broken:
		return "broken"
	}
	return "healthy"
}

// Event is a segment worth showing as evidence: a flagged or control segment.
type Event struct {
	Frame int
	Time  time.Time
	Dir   Direction
	Flags Flag
}

// Health is the L4 summary of one connection, from the Analyzer.
type Health struct {
	// Retransmissions counts frames Wireshark marks
	// tcp.analysis.retransmission (including fast and spurious ones).
	Retransmissions int
	// Resets counts frames with RST set.
	Resets int
	// ZeroWindows counts frames marked tcp.analysis.zero_window.
	ZeroWindows int
	// Verdict and the plain-words reasons behind it.
	Verdict Verdict
	Reasons []string
}
