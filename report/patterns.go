package report

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Pattern is a correlation across connections that an engineer would
// otherwise work out by hand.
type Pattern struct {
	// Kind is "size", "server" or "time"; across inputs analysed each on
	// its own, "input" or "input-size".
	Kind    string `json:"kind"`
	Summary string `json:"summary"`
	// Threshold is, for "size", the boundary in bytes: every failed
	// message is at least this big.
	Threshold int64 `json:"threshold,omitempty"`
	// Server is, for "server", the one server every failure went to.
	Server string `json:"server,omitempty"`
	// Since is, for "time", when the failures began.
	Since time.Time `json:"since,omitzero"`
	// Input is, for "input" and "input-size", the input (file name) every
	// failure is in.
	Input string `json:"input,omitempty"`
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

// inputAgg is what the patterns across inputs need of one input: its
// totals, and its messages as a hub of the comparison (fleet.go).
type inputAgg struct {
	totals Totals
	hub    *hubAgg
}

// inputOf returns the aggregate of input i, made on first use.
func (a *aggregate) inputOf(i int) *inputAgg {
	in := a.perInput[i]
	if in == nil {
		in = &inputAgg{hub: newHubAgg("")}
		a.perInput[i] = in
	}
	return in
}

// add counts one connection of the input, as aggregate.add counts it for
// the whole report.
func (in *inputAgg) add(c *Connection) {
	t := &in.totals
	t.Connections++
	if c.SMTP == nil {
		return
	}
	t.SMTPConnections++
	for _, tx := range c.SMTP.Transactions {
		if tx.RefusedAttempt {
			t.RefusedAttempts++
			continue
		}
		// Counted as report.Messages counts them for analyze --hub.
		in.hub.add(HubMessage{Server: c.Server, Size: tx.Size, Outcome: tx.Outcome, Cause: tx.Diagnosis.Cause, ConnCause: c.Diagnosis.Cause})
		if tx.Outcome == outcomeWithdrawn {
			t.Withdrawn++
			continue
		}
		t.Transactions++
		switch fateOf(tx.Outcome) {
		case fateDelivered:
			t.Delivered++
		case fateFailed:
			t.Failed++
		}
	}
}

// inputPatterns finds what sets inputs analysed each on its own (one
// capture per mail hub, say) apart, with the cross-hub comparison's rule
// (hubPattern): "input" when only some inputs fail messages while the
// others deliver theirs, "input-size" when those fail only messages in a
// size band they never delivered and the others delivered such messages.
// Input names the failing inputs (", "-separated).
func (a *aggregate) inputPatterns(inputs []Input) []Pattern {
	aggs := make([]*hubAgg, len(inputs))
	for i := range inputs {
		aggs[i] = a.inputOf(i).hub
		aggs[i].sum.Name = inputName(inputs[i])
	}
	p := hubPattern(aggs, "input")
	if p == nil {
		return nil
	}
	kind := "input"
	if p.Kind == "hub-size" {
		kind = "input-size"
	}
	return []Pattern{{Kind: kind, Input: strings.Join(p.Failing, ", "), Threshold: p.Threshold, Summary: p.Summary}}
}

// inputName is how patterns name an input: its file name without the
// directories.
func inputName(in Input) string {
	return filepath.Base(in.Name)
}
