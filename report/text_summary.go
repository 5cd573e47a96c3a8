package report

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxSummaryRows caps the rows of each summary table; the JSON summary
// has them all.
const maxSummaryRows = 12

// failedLayers names the layers of the causes that failed connections,
// "L4 and L7" say; the verdict's own layer when the summary has none.
func failedLayers(r *Report, layer string) string {
	if r.Summary == nil {
		return layer
	}
	seen := map[string]bool{}
	var out []string
	for _, c := range r.Summary.Causes {
		if c.Failed && !seen[c.Layer] {
			seen[c.Layer] = true
			out = append(out, c.Layer)
		}
	}
	if len(out) == 0 {
		return layer
	}
	sort.Strings(out)
	return strings.Join(out, " and ")
}

// summary writes the tables of the report's Summary: failures (and notes)
// by cause, then by server, then each server's deliveries and end-of-data
// reply latency.
func (t *textWriter) summary(r *Report) {
	s := r.Summary
	if s == nil {
		return
	}
	many := len(r.Inputs) > 1
	tf := timeFormat(r)
	var failed, noted []CauseSummary
	for _, c := range s.Causes {
		if c.Failed {
			failed = append(failed, c)
		} else {
			noted = append(noted, c)
		}
	}
	causeTable := func(title, of string, rows []CauseSummary) {
		if len(rows) == 0 {
			return
		}
		fmt.Fprintf(t.w, "%s  (share: of the %s connections)\n", title, of)
		fmt.Fprintf(t.w, "  %-52s %6s %6s  %-41s %s\n", "cause", "conns", "share", "first → last", "e.g.")
		for k, c := range rows {
			if k == maxSummaryRows {
				fmt.Fprintf(t.w, "  … and %d more causes: see the JSON summary\n", len(rows)-k)
				break
			}
			fmt.Fprintf(t.w, "  %-52s %6s %6s  %-41s stream %d\n", string(c.Cause)+" ("+c.Words+")", Thousands(int64(c.Connections)),
				percent(c.Share), span2(r, &c.First, &c.Last, many, tf), c.Example.Stream)
		}
		fmt.Fprintln(t.w)
	}
	causeTable("FAILURES BY CAUSE", "failed", failed)
	causeTable("NOTES BY CAUSE", "noted (delivered)", noted)

	var failing []ServerSummary
	for _, sv := range s.Servers {
		if sv.FailedConnections > 0 {
			failing = append(failing, sv)
		}
	}
	if len(failing) > 0 {
		fmt.Fprintln(t.w, "FAILURES BY SERVER  (share: of the server's connections)")
		fmt.Fprintf(t.w, "  %-24s %6s %6s  %-41s %-11s %s\n", "server", "failed", "share", "first → last", "e.g.", "causes")
		for k, sv := range failing {
			if k == maxSummaryRows {
				fmt.Fprintf(t.w, "  … and %d more servers with failures: see the JSON summary\n", len(failing)-k)
				break
			}
			var causes []string
			for _, c := range sv.Causes {
				causes = append(causes, fmt.Sprintf("%s %d", c.Cause, c.Connections))
			}
			fmt.Fprintf(t.w, "  %-24s %6s %6s  %-41s %-11s %s\n", sv.Server, Thousands(int64(sv.FailedConnections)), percent(sv.Share),
				span2(r, sv.FirstFailure, sv.LastFailure, many, tf), "stream "+strconv.Itoa(sv.Example.Stream), strings.Join(causes, ", "))
		}
		fmt.Fprintln(t.w)
	}
	if len(s.Servers) > 0 {
		fmt.Fprintln(t.w, "SERVERS  (delivered and failed mail transactions; end-of-data reply latency)")
		fmt.Fprintf(t.w, "  %-24s %7s %9s %6s  %9s %9s %9s  %s\n", "server", "conns", "delivered", "failed", "median", "p95", "max", "retransmissions")
		for k, sv := range s.Servers {
			if k == maxSummaryRows {
				fmt.Fprintf(t.w, "  … and %d more servers: see the JSON summary\n", len(s.Servers)-k)
				break
			}
			med, p95, mx := "—", "—", "—"
			if l := sv.EODReply; l != nil {
				med, p95, mx = msText(l.MedianMS), msText(l.P95MS), msText(l.MaxMS)
			}
			retrans := strconv.Itoa(sv.Retransmissions)
			if sv.Retransmissions > 0 && sv.Segments > 0 {
				retrans += fmt.Sprintf(" (%.1f%% of segments)", 100*float64(sv.Retransmissions)/float64(sv.Segments))
			}
			fmt.Fprintf(t.w, "  %-24s %7s %9s %6s  %9s %9s %9s  %s\n", sv.Server, Thousands(int64(sv.Connections)), Thousands(int64(sv.Delivered)),
				Thousands(int64(sv.FailedTransactions)), med, p95, mx, retrans)
		}
		if other := r.Totals.Connections - r.Totals.SMTPConnections; other > 0 {
			fmt.Fprintf(t.w, "  (%d other TCP connections not shown)\n", other)
		}
		fmt.Fprintln(t.w)
	}
}

// groups writes the failing connections grouped by cause (the Summary's
// order: most frequent first), then those that delivered with a note,
// then the healthy ones, as one line unless TextOptions.All.
func (t *textWriter) groups(r *Report) {
	order, members := groupMembers(r)
	var healthy []int
	for _, i := range sortedConnections(r) {
		if !r.failedAt(i) && (r.causeOf(i) == CauseOK || r.causeOf(i) == CauseTLSOpaque) {
			healthy = append(healthy, i)
		}
	}
	for _, k := range order {
		idx := members[k]
		if len(idx) == 0 {
			continue
		}
		title := "FAILED"
		if !k.failed {
			title = "NOTE (not a failure)"
		}
		fmt.Fprintf(t.w, "── %s: %s — %s (%s connection(s))\n\n", title, k.cause, CauseWords(k.cause), Thousands(int64(len(idx))))
		shown := idx
		if !t.opt.All && len(shown) > maxGroupShown {
			shown = shown[:maxGroupShown]
		}
		for _, i := range shown {
			t.connection(r.conn(i))
		}
		if more := len(idx) - len(shown); more > 0 {
			fmt.Fprintf(t.w, "  … and %s more: `--all` or the JSON\n\n", Thousands(int64(more)))
		}
	}
	smtpHealthy := 0
	for _, i := range healthy {
		if t.opt.All {
			if r.isSMTP(i) {
				if smtpHealthy == 0 {
					fmt.Fprintln(t.w, "── HEALTHY")
					fmt.Fprintln(t.w)
				}
				smtpHealthy++
				t.connection(r.conn(i))
			}
			continue
		}
		if r.isSMTP(i) {
			smtpHealthy++
		}
	}
	if !t.opt.All && smtpHealthy > 0 {
		fmt.Fprintf(t.w, "%s %s healthy connection(s) not listed: `--all` lists them\n", t.color("32", "✓"), Thousands(int64(smtpHealthy)))
	}
}

// where says where a connection is: "#1,234 09:00:01" (frame and time,
// with the file's name when the report has several inputs).
func where(r *Report, w *Where, many bool, tf string) string {
	if w == nil {
		return "—"
	}
	s := "#" + Thousands(int64(w.Frame))
	if many && w.Input >= 0 && w.Input < len(r.Inputs) {
		s = filepath.Base(r.Inputs[w.Input].Name) + s
	}
	if !w.Time.IsZero() {
		s += " " + w.Time.UTC().Format(tf)
	}
	return s
}

// span2 is "first → last", or one place when they are the same.
func span2(r *Report, first, last *Where, many bool, tf string) string {
	a, b := where(r, first, many, tf), where(r, last, many, tf)
	if a == b {
		return a
	}
	return a + " → " + b
}

// timeFormat is the clock format for the summary's times: with the date
// when the capture spans more than one day.
func timeFormat(r *Report) string {
	var start, end time.Time
	for _, in := range r.Inputs {
		if !in.Start.IsZero() && (start.IsZero() || in.Start.Before(start)) {
			start = in.Start
		}
		if in.End.After(end) {
			end = in.End
		}
	}
	if start.IsZero() || start.UTC().Format("2006-01-02") == end.UTC().Format("2006-01-02") {
		return "15:04:05"
	}
	return "01-02 15:04"
}

func percent(f float64) string {
	return strconv.FormatFloat(100*f, 'f', 1, 64) + "%"
}

// serverCounts lists the servers of a cause, most first, at most three.
func serverCounts(s []ServerCount) string {
	var parts []string
	for k, c := range s {
		if k == 3 {
			parts = append(parts, fmt.Sprintf("+%d more", len(s)-k))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %d", c.Server, c.Connections))
	}
	return strings.Join(parts, ", ")
}
