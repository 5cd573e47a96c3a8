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

// sized is one mail transaction that sent a body, for the correlations.
type sized struct {
	size   int64
	failed bool
	server string
	at     time.Time
}

// patterns finds correlations between failed and delivered messages:
// failures only above a size, only towards one server, only after a time.
// Each needs at least one failure and one delivery to contrast.
func patterns(r *Report) []Pattern {
	var txs []sized
	for i := range r.Connections {
		c := &r.Connections[i]
		if c.SMTP == nil {
			continue
		}
		for _, tx := range c.SMTP.Transactions {
			switch tx.Outcome {
			case "delivered":
				txs = append(txs, sized{tx.Size, false, c.Server, c.Start})
			case outcomeNoReply, outcomeAborted, outcomeRejected, outcomeDeferred:
				txs = append(txs, sized{tx.Size, true, c.Server, c.Start})
			}
		}
	}
	var failedN, deliveredN int
	var minFailed, maxDelivered int64 = -1, -1
	var firstFailed, lastDelivered time.Time
	failServers := map[string]bool{}
	for _, t := range txs {
		if t.failed {
			failedN++
			failServers[t.server] = true
			if t.size > 0 && (minFailed < 0 || t.size < minFailed) {
				minFailed = t.size
			}
			if firstFailed.IsZero() || t.at.Before(firstFailed) {
				firstFailed = t.at
			}
			continue
		}
		deliveredN++
		if t.size > maxDelivered {
			maxDelivered = t.size
		}
		if t.at.After(lastDelivered) {
			lastDelivered = t.at
		}
	}
	if failedN == 0 || deliveredN == 0 {
		return nil
	}
	var out []Pattern
	// Size: only when every failed message carried a body.
	allSized := true
	for _, t := range txs {
		if t.failed && t.size <= 0 {
			allSized = false
		}
	}
	if allSized && minFailed > maxDelivered {
		out = append(out, Pattern{Kind: "size", Threshold: minFailed,
			Summary: fmt.Sprintf("every failed message is ≥ %s bytes; every delivered one ≤ %s bytes: the failure depends on message size (look for size limits, or for large segments lost on the path)",
				thousands(minFailed), thousands(maxDelivered))})
	}
	if len(failServers) == 1 {
		var server string
		for s := range failServers {
			server = s
		}
		others, same := 0, 0
		for _, t := range txs {
			switch {
			case t.failed:
			case t.server != server:
				others++
			default:
				same++
			}
		}
		if others > 0 {
			also := ""
			if same > 0 {
				also = fmt.Sprintf(" (that server also delivered %d)", same)
			}
			out = append(out, Pattern{Kind: "server", Server: server,
				Summary: fmt.Sprintf("all %d failures went to %s%s, while %d messages to other servers were delivered", failedN, server, also, others)})
		}
	}
	if firstFailed.After(lastDelivered) {
		out = append(out, Pattern{Kind: "time", Since: firstFailed,
			Summary: fmt.Sprintf("every message delivered before %s failed from then on (first failing connection at %s)",
				lastDelivered.UTC().Format(time.RFC3339), firstFailed.UTC().Format(time.RFC3339))})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}
