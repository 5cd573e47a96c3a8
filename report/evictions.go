package report

import "fmt"

// Eviction counts the connections to one server that reassembly stopped
// following to stay within its connection cap (reassembly.Eviction).
type Eviction struct {
	// Server is the connections' server address and port (redacted with
	// Options.Redact); empty for the servers beyond the first 16.
	Server string `json:"server,omitempty"`
	// HalfOpen connections had sent only SYN or SYN-ACK segments: they are
	// counted here and not listed. Idle connections were open and the
	// least recently active: they are listed, marked evicted.
	HalfOpen int `json:"half_open,omitempty"`
	Idle     int `json:"idle,omitempty"`
}

// evictionWarnings redacts the servers of an input's evictions and says
// in its warnings what was evicted, one line per server and kind.
func evictionWarnings(in *Input, red *redactor) {
	if in.Reassembly == nil {
		return
	}
	for i := range in.Reassembly.Evictions {
		e := &in.Reassembly.Evictions[i]
		e.Server = red.addr(e.Server)
		to := "to " + e.Server
		if e.Server == "" {
			to = "to other servers"
		}
		if e.HalfOpen > 0 {
			in.Warnings = append(in.Warnings, fmt.Sprintf(
				"%s SYN-only connections %s evicted under a SYN flood: more connections were open at once than --max-connections allows, so these half-open ones are counted here and not listed",
				Thousands(int64(e.HalfOpen)), to))
		}
		if e.Idle > 0 {
			in.Warnings = append(in.Warnings, fmt.Sprintf(
				"%s idle connections %s evicted: more connections were open at once than --max-connections allows; each is reported up to its last packet before the eviction, marked evicted",
				Thousands(int64(e.Idle)), to))
		}
	}
}
