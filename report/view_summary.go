package report

import (
	"fmt"
	"strconv"
	"strings"
)

// summaryView is the report's Summary worded for the Markdown and HTML
// writers: the same tables as the text report's, capped at
// maxSummaryRows rows each (the JSON has every row).
type summaryView struct {
	Causes, Notes          []causeRow
	MoreCauses, MoreNotes  int
	FailingServers         []failServerRow
	MoreFailingServers     int
	Servers                []serverLatencyRow
	MoreServers            int
	FailedConnections      string
	NotedConnections       string
	HasFailures, HasServer bool
}

// causeRow is one cause: how many connections, their share, the first
// and last, an example.
type causeRow struct {
	Cause, Words, Layer string
	Connections, Share  string
	Range               string // "first → last", or one place
	Example             int
	ExampleAnchor       string
	Servers             string
}

// failServerRow is one server's failed connections.
type failServerRow struct {
	Server         string
	Failed, Share  string
	Range          string
	Example        int
	ExampleAnchor  string
	Causes         string
	Connections    string
	FailedMessages string
}

// serverLatencyRow is one server's deliveries and end-of-data reply
// latency.
type serverLatencyRow struct {
	Server                            string
	Connections, Delivered, Failed    string
	Median, P95, Max, Retransmissions string
}

func newSummaryView(r *Report) *summaryView {
	s := r.Summary
	if s == nil {
		return nil
	}
	many := len(r.Inputs) > 1
	tf := timeFormat(r)
	sv := &summaryView{FailedConnections: Thousands(int64(s.FailedConnections))}
	noted := 0
	for _, c := range s.Causes {
		row := causeRow{Cause: string(c.Cause), Words: c.Words, Layer: c.Layer, Connections: Thousands(int64(c.Connections)),
			Share: percent(c.Share), Range: shown(span2(r, &c.First, &c.Last, many, tf)),
			Example: c.Example.Stream, ExampleAnchor: anchorOf(c.Example), Servers: shown(serverCounts(c.Servers))}
		switch {
		case c.Failed && len(sv.Causes) < maxSummaryRows:
			sv.Causes = append(sv.Causes, row)
		case c.Failed:
			sv.MoreCauses++
		case len(sv.Notes) < maxSummaryRows:
			sv.Notes = append(sv.Notes, row)
			noted += c.Connections
		default:
			sv.MoreNotes++
			noted += c.Connections
		}
	}
	sv.NotedConnections = Thousands(int64(noted))
	sv.HasFailures = len(sv.Causes) > 0
	for _, srv := range s.Servers {
		if srv.FailedConnections > 0 {
			if len(sv.FailingServers) == maxSummaryRows {
				sv.MoreFailingServers++
			} else {
				var causes []string
				for _, c := range srv.Causes {
					causes = append(causes, fmt.Sprintf("%s %d", c.Cause, c.Connections))
				}
				sv.FailingServers = append(sv.FailingServers, failServerRow{Server: shown(srv.Server),
					Failed: Thousands(int64(srv.FailedConnections)), Share: percent(srv.Share),
					Range:   shown(span2(r, srv.FirstFailure, srv.LastFailure, many, tf)),
					Example: srv.Example.Stream, ExampleAnchor: anchorOf(*srv.Example), Causes: strings.Join(causes, ", "),
					Connections: Thousands(int64(srv.Connections)), FailedMessages: Thousands(int64(srv.FailedTransactions))})
			}
		}
		if len(sv.Servers) == maxSummaryRows {
			sv.MoreServers++
			continue
		}
		row := serverLatencyRow{Server: shown(srv.Server), Connections: Thousands(int64(srv.Connections)),
			Delivered: Thousands(int64(srv.Delivered)), Failed: Thousands(int64(srv.FailedTransactions)),
			Median: "—", P95: "—", Max: "—", Retransmissions: strconv.Itoa(srv.Retransmissions)}
		if l := srv.EODReply; l != nil {
			row.Median, row.P95, row.Max = msText(l.MedianMS), msText(l.P95MS), msText(l.MaxMS)
		}
		if srv.Retransmissions > 0 && srv.Segments > 0 {
			row.Retransmissions += fmt.Sprintf(" (%.1f%%)", 100*float64(srv.Retransmissions)/float64(srv.Segments))
		}
		sv.Servers = append(sv.Servers, row)
	}
	sv.HasServer = len(sv.Servers) > 0
	return sv
}

// anchorOf is the id of a connection's section (streamAnchor's).
func anchorOf(w Where) string {
	return fmt.Sprintf("input-%d-stream-%d", w.Input, w.Stream)
}

// viewLimits says how many connections of a group get a full section.
type viewLimits struct {
	// Failed and Noted cap the sections per group of failed and of noted
	// connections; MaxFailed caps the failed ones' sections over all
	// groups (the HTML page details every failing connection up to it).
	Failed, Noted, MaxFailed int
	// Healthy caps the rows of the healthy connections' table.
	Healthy int
}

// ViewOptions tunes the Markdown and HTML renderings.
type ViewOptions struct {
	// All details every failing and noted connection and lists every
	// healthy one (as TextOptions.All). By default Markdown details five
	// connections per cause and counts the healthy ones; HTML details the
	// failing connections up to maxHTMLFailing, five noted ones per cause,
	// and counts the healthy ones in one line.
	All bool
}

// groupView is the failing (or noted) connections of one cause.
type groupView struct {
	Cause  Cause
	Words  string
	Failed bool
	// Total connections; Conns are those detailed, More the rest.
	Total int
	Conns []connView
	More  int
}

// groupMembers groups the failing and noted connections of r by cause,
// each group in report order (sortedConnections), the groups in the
// summary's order (failures first, most frequent first); causes the
// summary leaves out (a failed connection diagnosed ok or tls-opaque)
// come last.
func groupMembers(r *Report) ([]causeKey, map[causeKey][]int) {
	members := map[causeKey][]int{}
	for _, i := range sortedConnections(r) {
		cause, failed := r.causeOf(i), r.failedAt(i)
		if !failed && (cause == CauseOK || cause == CauseTLSOpaque) {
			continue
		}
		k := causeKey{cause, failed}
		members[k] = append(members[k], i)
	}
	var order []causeKey
	seen := map[causeKey]bool{}
	if r.Summary != nil {
		for _, c := range r.Summary.Causes {
			k := causeKey{c.Cause, c.Failed}
			if len(members[k]) > 0 {
				order = append(order, k)
			}
			seen[k] = true
		}
	}
	var rest []causeKey
	for k := range members {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sortCauseKeys(rest)
	return append(order, rest...), members
}

// groupConnections groups the failing and noted connections of r by
// cause (groupMembers) and details as many as lim allows.
func groupConnections(r *Report, v *reportView, lim viewLimits) []groupView {
	order, members := groupMembers(r)
	var groups []groupView
	failedShown := 0
	for _, k := range order {
		idx := members[k]
		if len(idx) == 0 {
			continue
		}
		g := groupView{Cause: k.cause, Words: CauseWords(k.cause), Failed: k.failed, Total: len(idx)}
		n := lim.Noted
		if k.failed {
			n = min(lim.Failed, max(lim.MaxFailed-failedShown, 0))
		}
		for _, i := range idx {
			if len(g.Conns) >= n {
				break
			}
			g.Conns = append(g.Conns, v.connView(r, i))
		}
		if k.failed {
			failedShown += len(g.Conns)
		}
		g.More = len(idx) - len(g.Conns)
		groups = append(groups, g)
	}
	return groups
}

// sortCauseKeys orders failures first, then by severity, then by name.
func sortCauseKeys(ks []causeKey) {
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && causeKeyLess(ks[j], ks[j-1]); j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
}

func causeKeyLess(a, b causeKey) bool {
	if a.failed != b.failed {
		return a.failed
	}
	if severity[a.cause] != severity[b.cause] {
		return severity[a.cause] > severity[b.cause]
	}
	return a.cause < b.cause
}
