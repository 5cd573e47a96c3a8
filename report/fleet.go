package report

import (
	"fmt"
	"slices"
	"strings"
)

// FleetSchema names the JSON layout of a cross-hub comparison.
const FleetSchema = "smtpscope.fleet/v1"

// HubMessage is what the cross-hub comparison needs of one mail
// transaction: where it went, how big it was and what became of it.
type HubMessage struct {
	// Server is the server's ip:port (or its --redact token).
	Server string
	// Size is the body's size in bytes, 0 when unknown; for a failed
	// message a lower bound (the capture may have missed its end).
	Size int64
	// Outcome is the transaction's outcome (Transaction.Outcome).
	Outcome string
	// Cause is the transaction's diagnosis cause, ConnCause its
	// connection's: a failed transaction without a cause of its own
	// ("" or ok) is counted under its connection's.
	Cause, ConnCause Cause
}

// HubMessages yields a hub's transactions in any order. It returns the
// error that stopped it, if any.
type HubMessages func(yield func(HubMessage) bool) error

// Hub is one mail hub's share of a fleet: its name, the inputs it was
// read from, and its transactions.
type Hub struct {
	Name     string
	Inputs   []string
	Messages HubMessages
}

// Messages returns the report's transactions for CompareHubs (refused MAIL
// attempts are not transactions and are left out, as in Totals).
func (r *Report) Messages() HubMessages {
	return func(yield func(HubMessage) bool) error {
		for i := range r.count() {
			if !r.isSMTP(i) {
				continue
			}
			c := r.conn(i)
			if c.SMTP == nil {
				continue
			}
			for j := range c.SMTP.Transactions {
				tx := &c.SMTP.Transactions[j]
				if tx.RefusedAttempt {
					continue
				}
				m := HubMessage{Server: c.Server, Size: tx.Size, Outcome: tx.Outcome, Cause: tx.Diagnosis.Cause, ConnCause: c.Diagnosis.Cause}
				if !yield(m) {
					return r.readErr()
				}
			}
		}
		return r.readErr()
	}
}

// Fleet compares the mail of several hubs that should behave alike (one
// site's regional relays): what each delivered and failed, and the
// pattern that sets the failing hubs apart, with its support.
type Fleet struct {
	Schema string       `json:"schema"`
	Hubs   []HubSummary `json:"hubs"`
	// Patterns are the cross-hub findings; empty when no hub stands apart
	// (every hub fails alike, or none fails).
	Patterns []FleetPattern `json:"patterns"`
}

// HubSummary is one hub's mail in the comparison.
type HubSummary struct {
	Name      string   `json:"name"`
	Inputs    []string `json:"inputs"`
	Delivered int      `json:"delivered"`
	Failed    int      `json:"failed"`
	// Unknown counts transactions that neither delivered nor failed as far
	// as the inputs show (withdrawn, capture-incomplete, inferred).
	Unknown int `json:"unknown"`
	// Causes counts the failed messages per cause, most first.
	Causes []CauseCount `json:"causes,omitempty"`
	// Servers counts delivered and failed messages per server, the servers
	// with the most failures first.
	Servers []HubServer `json:"servers,omitempty"`
	// MinFailedSize is the smallest failed message's size in bytes (-1:
	// none failed, or a failed message's size is unknown); MaxDeliveredSize
	// the largest delivered message's (-1: none delivered).
	MinFailedSize    int64 `json:"min_failed_size"`
	MaxDeliveredSize int64 `json:"max_delivered_size"`
}

// HubServer is what one hub sent to one server.
type HubServer struct {
	Server    string `json:"server"`
	Delivered int    `json:"delivered"`
	Failed    int    `json:"failed"`
}

// FleetPattern is one cross-hub finding.
type FleetPattern struct {
	// Kind is "hub-size" (only these hubs fail, and only messages in a
	// size band they never delivered, while the other hubs delivered such
	// messages) or "hub" (only these hubs fail).
	Kind    string `json:"kind"`
	Summary string `json:"summary"`
	// Failing are the hubs with failures, Healthy the hubs that delivered
	// and failed nothing.
	Failing []string `json:"failing"`
	Healthy []string `json:"healthy"`
	// Threshold is, for "hub-size", the smallest failed message's size:
	// every failure on the failing hubs is at least this big, and
	// FailingDeliveredMax the largest message they delivered (-1: none).
	// HealthyLargest is the largest message the healthy hubs delivered:
	// at least Threshold ("as big") or only above FailingDeliveredMax.
	Threshold           int64 `json:"threshold,omitempty"`
	FailingDeliveredMax int64 `json:"failing_delivered_max,omitempty"`
	HealthyLargest      int64 `json:"healthy_largest,omitempty"`
	// Support: FailedMessages on the failing hubs, HealthyDelivered by
	// the healthy ones.
	FailedMessages   int `json:"failed_messages"`
	HealthyDelivered int `json:"healthy_delivered"`
}

// hubAgg accumulates one hub's summary.
type hubAgg struct {
	sum      HubSummary
	causes   map[Cause]int
	servers  map[string]*HubServer
	allSized bool
}

// CompareHubs reads each hub's messages once and compares the hubs. Memory is
// bounded by the number of hubs, servers and causes, not by messages.
// It returns the first error a hub's messages returned, wrapped with the
// hub's name.
func CompareHubs(hubs []Hub) (*Fleet, error) {
	aggs := make([]*hubAgg, len(hubs))
	for i, h := range hubs {
		a := newHubAgg(h.Name)
		a.sum.Inputs = h.Inputs
		err := h.Messages(func(m HubMessage) bool {
			a.add(m)
			return true
		})
		if err != nil {
			return nil, fmt.Errorf("hub %s: %w", h.Name, err)
		}
		aggs[i] = a
	}
	f := &Fleet{Schema: FleetSchema, Hubs: make([]HubSummary, len(aggs)), Patterns: []FleetPattern{}}
	for i, a := range aggs {
		f.Hubs[i] = a.summary()
	}
	if p := hubPattern(aggs, "hub"); p != nil {
		f.Patterns = append(f.Patterns, *p)
	}
	return f, nil
}

func newHubAgg(name string) *hubAgg {
	return &hubAgg{sum: HubSummary{Name: name, MinFailedSize: -1, MaxDeliveredSize: -1},
		causes: map[Cause]int{}, servers: map[string]*HubServer{}, allSized: true}
}

func (a *hubAgg) add(m HubMessage) {
	srv := a.servers[m.Server]
	if srv == nil {
		srv = &HubServer{Server: m.Server}
		a.servers[m.Server] = srv
	}
	switch fateOf(m.Outcome) {
	case fateDelivered:
		a.sum.Delivered++
		srv.Delivered++
		a.sum.MaxDeliveredSize = max(a.sum.MaxDeliveredSize, m.Size)
	case fateFailed:
		a.sum.Failed++
		srv.Failed++
		cause := m.Cause
		if cause == "" || cause == CauseOK {
			cause = m.ConnCause
		}
		a.causes[cause]++
		if m.Size <= 0 {
			a.allSized = false
		} else if a.sum.MinFailedSize < 0 || m.Size < a.sum.MinFailedSize {
			a.sum.MinFailedSize = m.Size
		}
	default:
		a.sum.Unknown++
	}
}

func (a *hubAgg) summary() HubSummary {
	s := a.sum
	if !a.allSized {
		s.MinFailedSize = -1
	}
	s.Causes = mostFirst(a.causes, func(c Cause, n int) CauseCount { return CauseCount{Cause: c, Connections: n} })
	for _, srv := range a.servers {
		s.Servers = append(s.Servers, *srv)
	}
	slices.SortFunc(s.Servers, func(x, y HubServer) int {
		if x.Failed != y.Failed {
			return y.Failed - x.Failed
		}
		if x.Delivered != y.Delivered {
			return y.Delivered - x.Delivered
		}
		return strings.Compare(x.Server, y.Server)
	})
	return s
}

// hubPattern finds what sets the failing hubs apart (noun names them:
// "hub", or "input" for the inputs of one report): some fail messages
// while the others deliver theirs and fail none. When every failure on
// the failing hubs is at least some size, those hubs delivered only
// smaller messages, and the healthy hubs delivered bigger ones than any
// the failing hubs delivered, the finding is about size (the seed
// incident: one hub's relay never answers large messages); the claim goes
// only as far as the healthy hubs' deliveries. It needs a failing and a
// healthy hub to contrast; a hub with no delivered nor failed message
// counts as neither. Every number is a count of messages the inputs
// prove.
func hubPattern(aggs []*hubAgg, noun string) *FleetPattern {
	var failing, healthy []*hubAgg
	for _, a := range aggs {
		switch {
		case a.sum.Failed > 0:
			failing = append(failing, a)
		case a.sum.Delivered > 0:
			healthy = append(healthy, a)
		}
	}
	if len(failing) == 0 || len(healthy) == 0 {
		return nil
	}
	p := &FleetPattern{Kind: "hub", HealthyLargest: -1}
	var delivered, largest []string
	for _, a := range failing {
		p.Failing = append(p.Failing, a.sum.Name)
		p.FailedMessages += a.sum.Failed
	}
	for _, a := range healthy {
		p.Healthy = append(p.Healthy, a.sum.Name)
		p.HealthyDelivered += a.sum.Delivered
		p.HealthyLargest = max(p.HealthyLargest, a.sum.MaxDeliveredSize)
		delivered = append(delivered, fmt.Sprintf("%s %s", a.sum.Name, Thousands(int64(a.sum.Delivered))))
		largest = append(largest, fmt.Sprintf("%s %s", a.sum.Name, Thousands(a.sum.MaxDeliveredSize)))
	}
	who, others := nouns(noun, p.Failing), nouns(noun, p.Healthy)
	detail := failureDetail(failing)
	threshold, below, sized := sizeBand(failing)
	if !sized || p.HealthyLargest <= below {
		p.Summary = fmt.Sprintf("only %s %s messages (%s; %s); %s delivered all %s %s (%s) and failed none: the failure is at %s (%s relay, %s path), not in the mail",
			who, failVerb(len(p.Failing)), messages(p.FailedMessages, "failed"), detail,
			others, possessive(len(p.Healthy)), messages(p.HealthyDelivered, ""), strings.Join(delivered, ", "), who, possessive(len(p.Failing)), possessive(len(p.Failing)))
		return p
	}
	p.Kind, p.Threshold, p.FailingDeliveredMax = "hub-size", threshold, below
	failed := fmt.Sprintf("%s, every one at least %s bytes", messages(p.FailedMessages, "failed"), Thousands(threshold))
	if p.FailedMessages == 1 {
		failed = fmt.Sprintf("1 failed message of %s bytes", Thousands(threshold))
	}
	claim := fmt.Sprintf("%s delivered messages as big (largest: %s bytes) and failed none: only %s %s messages of that size (look at the relay's size limit or the path's MTU there)",
		others, strings.Join(largest, ", "), who, failVerb(len(p.Failing)))
	if p.HealthyLargest < threshold {
		claim = fmt.Sprintf("%s delivered bigger messages than any %s delivered, though none as big as the smallest failure (largest: %s bytes), and failed none",
			others, who, strings.Join(largest, ", "))
	}
	p.Summary = fmt.Sprintf("only %s %s messages: %s (%s), and %s; %s",
		who, failVerb(len(p.Failing)), failed, detail, deliveredSmaller(failing), claim)
	return p
}

// sizeBand finds the size band the failing hubs fail in: every failure is
// at least threshold bytes and every message they delivered at most below
// bytes (-1: none), below < threshold. sized is false when there is no
// such band (a failure of unknown size, a hub that delivered a message as
// big as one that failed anywhere).
func sizeBand(failing []*hubAgg) (threshold, below int64, sized bool) {
	threshold, below = -1, -1
	for _, a := range failing {
		if !a.allSized || a.sum.MinFailedSize <= 0 || a.sum.MaxDeliveredSize >= a.sum.MinFailedSize {
			return 0, 0, false
		}
		if threshold < 0 || a.sum.MinFailedSize < threshold {
			threshold = a.sum.MinFailedSize
		}
		below = max(below, a.sum.MaxDeliveredSize)
	}
	return threshold, below, below < threshold
}

// failureDetail says the failing hubs' causes and servers, most first.
func failureDetail(failing []*hubAgg) string {
	causes := map[Cause]int{}
	servers := map[string]int{}
	for _, a := range failing {
		for c, n := range a.causes {
			causes[c] += n
		}
		for s, srv := range a.servers {
			if srv.Failed > 0 {
				servers[s] += srv.Failed
			}
		}
	}
	return fmt.Sprintf("%s; to %s", countedCauses(causes), countedServers(servers))
}

// nouns names hubs: "hub B", "hubs A and C", "hubs A, C and D".
func nouns(noun string, names []string) string {
	if len(names) == 1 {
		return noun + " " + names[0]
	}
	return noun + "s " + strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

func possessive(n int) string {
	if n == 1 {
		return "its"
	}
	return "their"
}

func failVerb(n int) string {
	if n == 1 {
		return "fails"
	}
	return "fail"
}

// messages says "1 failed message", "12 messages".
func messages(n int, adj string) string {
	if adj != "" {
		adj += " "
	}
	if n == 1 {
		return "1 " + adj + "message"
	}
	return Thousands(int64(n)) + " " + adj + "messages"
}

// deliveredSmaller says what the failing hubs delivered: "delivered only
// smaller ones: 40 messages of at most 120,000 bytes" or "delivered none".
func deliveredSmaller(failing []*hubAgg) string {
	n, largest := 0, int64(-1)
	for _, a := range failing {
		n += a.sum.Delivered
		largest = max(largest, a.sum.MaxDeliveredSize)
	}
	verb := "delivered"
	if len(failing) == 1 {
		verb = "it delivered"
	}
	if n == 0 {
		return verb + " none"
	}
	return fmt.Sprintf("%s only smaller ones: %s of at most %s bytes", verb, messages(n, ""), Thousands(largest))
}

// countedCauses says "no reply after end-of-data ×12, refused by the
// server (5xx) ×1", most first.
func countedCauses(causes map[Cause]int) string {
	rows := mostFirst(causes, func(c Cause, n int) CauseCount { return CauseCount{Cause: c, Connections: n} })
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = fmt.Sprintf("%s ×%d", CauseWords(r.Cause), r.Connections)
	}
	return strings.Join(parts, ", ")
}

// countedServers says "192.0.2.25:25 ×12, …" for at most three servers.
func countedServers(servers map[string]int) string {
	rows := mostFirst(servers, func(s string, n int) ServerCount { return ServerCount{Server: s, Connections: n} })
	var parts []string
	for i, r := range rows {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("%d more servers", len(rows)-3))
			break
		}
		parts = append(parts, fmt.Sprintf("%s ×%d", r.Server, r.Connections))
	}
	return strings.Join(parts, ", ")
}
