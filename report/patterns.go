package report

import (
	"fmt"
	"sort"
	"time"
)

// Pattern is a correlation across connections that an engineer would
// otherwise work out by hand.
type Pattern struct {
	// Kind is "size", "server" or "time".
	Kind    string `json:"kind"`
	Summary string `json:"summary"`
	// Threshold is, for "size", the boundary in bytes: every failed
	// message is at least this big.
	Threshold int64 `json:"threshold,omitempty"`
	// Server is, for "server", the one server every failure went to.
	Server string `json:"server,omitempty"`
	// Since is, for "time", when the failures began.
	Since time.Time `json:"since,omitzero"`
}

// patterns finds correlations between failed and delivered messages:
// failures only above a size, only towards one server, only after a time.
// Each needs at least one failure and one delivery to contrast, is drawn
// only from outcomes the capture proves (an unknown outcome is neither
// failed nor delivered), and states its support: how many of the failed
// and of the delivered messages it holds for.
func (a *aggregate) patterns() []Pattern {
	if a.failedN == 0 || a.deliveredN == 0 {
		return nil
	}
	var out []Pattern
	// Size: only when every failed message carried a body.
	if a.allFailedSized && a.minFailed > a.maxDelivered {
		out = append(out, Pattern{Kind: "size", Threshold: a.minFailed,
			Summary: fmt.Sprintf("%d of %d failed messages ≥ %s bytes, %d of %d delivered ≤ %s bytes: the failure depends on message size (look for size limits, or for large segments lost on the path)",
				a.failedN, a.failedN, Thousands(a.minFailed), a.deliveredN, a.deliveredN, Thousands(a.maxDelivered))})
	}
	if len(a.failServers) == 1 {
		var server string
		for s := range a.failServers {
			server = s
		}
		same := a.deliveredTo[server]
		if others := a.deliveredN - same; others > 0 {
			also := ""
			if same > 0 {
				also = fmt.Sprintf(" (that server also delivered %d)", same)
			}
			out = append(out, Pattern{Kind: "server", Server: server,
				Summary: fmt.Sprintf("%d of %d failed messages went to %s%s, while %d of %d delivered went to other servers", a.failedN, a.failedN, server, also, others, a.deliveredN)})
		}
	}
	if a.firstFailed.After(a.lastDelivered) {
		out = append(out, Pattern{Kind: "time", Since: a.firstFailed,
			Summary: fmt.Sprintf("%d of %d delivered messages before %s, %d of %d failed from then on (first failing connection at %s)",
				a.deliveredN, a.deliveredN, a.lastDelivered.UTC().Format(time.RFC3339), a.failedN, a.failedN, a.firstFailed.UTC().Format(time.RFC3339))})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}
