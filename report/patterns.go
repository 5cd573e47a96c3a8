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
// totals, and the sizes that tell its failures from its deliveries.
type inputAgg struct {
	totals                  Totals
	minFailed, maxDelivered int64 // -1: none
	allFailedSized          bool
}

// inputOf returns the aggregate of input i, made on first use.
func (a *aggregate) inputOf(i int) *inputAgg {
	in := a.perInput[i]
	if in == nil {
		in = &inputAgg{minFailed: -1, maxDelivered: -1, allFailedSized: true}
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
		switch {
		case tx.RefusedAttempt:
			t.RefusedAttempts++
			continue
		case tx.Outcome == outcomeWithdrawn:
			t.Withdrawn++
			continue
		}
		t.Transactions++
		switch tx.Outcome {
		case outcomeDelivered:
			t.Delivered++
			in.maxDelivered = max(in.maxDelivered, tx.Size)
		case outcomeNoReply, outcomeAborted, outcomeRejected, outcomeDeferred:
			t.Failed++
			if tx.Size <= 0 {
				in.allFailedSized = false
			} else if in.minFailed < 0 || tx.Size < in.minFailed {
				in.minFailed = tx.Size
			}
		}
	}
}

// inputPatterns finds correlations across inputs analysed each on its own
// (one capture per mail hub, say): every failed message in one input while
// the others delivered ("input"); and, when in that input every failed
// message is bigger than every delivered one, the others delivering
// messages bigger than any that input delivered ("input-size": the size
// limit or the lossy path is that input's, not the mail's). Like
// patterns, each is drawn only from outcomes the capture proves and
// states its support.
func (a *aggregate) inputPatterns(inputs []Input) []Pattern {
	if a.failedN == 0 {
		return nil
	}
	failing := -1
	for i := range inputs {
		if a.inputOf(i).totals.Failed == 0 {
			continue
		}
		if failing >= 0 {
			return nil // failures in more than one input
		}
		failing = i
	}
	if failing < 0 {
		return nil
	}
	bad := a.inputOf(failing)
	var others []string
	otherDelivered, otherMax := 0, int64(-1)
	var largest []string
	for i := range inputs {
		in := a.inputOf(i)
		if i == failing || in.totals.Delivered == 0 {
			continue
		}
		otherDelivered += in.totals.Delivered
		otherMax = max(otherMax, in.maxDelivered)
		others = append(others, fmt.Sprintf("%s %s", inputName(inputs[i]), Thousands(int64(in.totals.Delivered))))
		largest = append(largest, fmt.Sprintf("%s %s", inputName(inputs[i]), Thousands(in.maxDelivered)))
	}
	if otherDelivered == 0 {
		return nil
	}
	name := inputName(inputs[failing])
	also := ""
	if d := bad.totals.Delivered; d > 0 {
		also = fmt.Sprintf(" (which delivered %s)", Thousands(int64(d)))
	}
	out := []Pattern{{Kind: "input", Input: name,
		Summary: fmt.Sprintf("%s of %s failed messages are in %s%s, while the other inputs delivered %s of their %s (%s): the failure is where %s was captured (its relay, its path), not in the mail",
			Thousands(int64(bad.totals.Failed)), Thousands(int64(a.failedN)), name, also,
			Thousands(int64(otherDelivered)), Thousands(int64(a.totals.Transactions-bad.totals.Transactions)), strings.Join(others, ", "), name)}}
	if bad.allFailedSized && bad.minFailed > bad.maxDelivered && otherMax > bad.maxDelivered {
		delivered := "delivered none"
		if bad.maxDelivered >= 0 {
			delivered = fmt.Sprintf("delivered only messages ≤ %s bytes", Thousands(bad.maxDelivered))
		}
		// The claim goes only as far as the others' deliveries: as big as
		// the smallest failure, or only bigger than anything this input
		// delivered.
		claim := fmt.Sprintf("while the other inputs delivered messages as big (largest: %s bytes): only %s fails messages of that size (look at its relay's size limit or its path's MTU)",
			strings.Join(largest, ", "), name)
		if otherMax < bad.minFailed {
			claim = fmt.Sprintf("while the other inputs delivered bigger messages than any it delivered, though none as big as its smallest failure (largest: %s bytes)",
				strings.Join(largest, ", "))
		}
		out = append(out, Pattern{Kind: "input-size", Input: name, Threshold: bad.minFailed,
			Summary: fmt.Sprintf("in %s, %s of %s failed messages are ≥ %s bytes and it %s, %s",
				name, Thousands(int64(bad.totals.Failed)), Thousands(int64(bad.totals.Failed)), Thousands(bad.minFailed), delivered, claim)})
	}
	return out
}

// inputName is how patterns name an input: its file name without the
// directories.
func inputName(in Input) string {
	return filepath.Base(in.Name)
}
