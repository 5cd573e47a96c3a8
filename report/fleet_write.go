package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText writes the comparison first (a table of the hubs and the
// cross-hub findings), then each hub's report under a heading; reports[i]
// belongs to f.Hubs[i] and may be nil (a hub read from event files).
func (f *Fleet) WriteText(w io.Writer, reports []*Report, opt TextOptions) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "Fleet: %d hubs compared\n\n", len(f.Hubs))
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "  %-*s\tdelivered\tfailed\tunknown\tlargest delivered\tsmallest failed\t\n", hubWidth(f.Hubs), "hub")
	for _, h := range f.Hubs {
		fmt.Fprintf(tw, "  %-*s\t%s\t%s\t%s\t%s\t%s\t\n", hubWidth(f.Hubs), h.Name, Thousands(int64(h.Delivered)), Thousands(int64(h.Failed)),
			Thousands(int64(h.Unknown)), sizeOrDash(h.MaxDeliveredSize), sizeOrDash(h.MinFailedSize))
	}
	tw.Flush()
	for _, h := range f.Hubs {
		if len(h.Causes) == 0 {
			continue
		}
		parts := make([]string, len(h.Causes))
		for i, c := range h.Causes {
			parts[i] = fmt.Sprintf("%s ×%d", CauseWords(c.Cause), c.Connections)
		}
		fmt.Fprintf(bw, "  hub %s failures: %s\n", h.Name, strings.Join(parts, ", "))
	}
	bw.WriteString("\n")
	if len(f.Patterns) == 0 {
		bw.WriteString("Cross-hub: no hub stands apart (")
		if failing := f.failingHubs(); failing == 0 {
			bw.WriteString("no hub failed a message)\n")
		} else {
			fmt.Fprintf(bw, "%d of %d hubs failed messages; none delivered without failures to contrast)\n", failing, len(f.Hubs))
		}
	}
	for _, p := range f.Patterns {
		fmt.Fprintf(bw, "Cross-hub: %s.\n", upperFirst(p.Summary))
	}
	for i, h := range f.Hubs {
		fmt.Fprintf(bw, "\n════ hub %s (%s) ════\n\n", h.Name, strings.Join(h.Inputs, ", "))
		if i >= len(reports) || reports[i] == nil {
			bw.WriteString("(read from event files: no per-connection report)\n")
			continue
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		if err := reports[i].WriteText(w, opt); err != nil {
			return fmt.Errorf("hub %s: %w", h.Name, err)
		}
	}
	return bw.Flush()
}

// WriteJSON writes the comparison (schema smtpscope.fleet/v1) with each
// hub's full report under "reports", in hub order (null for a hub read
// from event files).
func (f *Fleet) WriteJSON(w io.Writer, reports []*Report) error {
	head, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("writing JSON fleet report: %w", err)
	}
	bw := bufio.NewWriter(w)
	bw.Write(head[:len(head)-2])
	bw.WriteString(",\n  \"reports\": [\n")
	for i := range f.Hubs {
		if i > 0 {
			bw.WriteString(",\n")
		}
		if i >= len(reports) || reports[i] == nil {
			bw.WriteString("null")
			continue
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		if err := reports[i].WriteJSON(w); err != nil {
			return fmt.Errorf("hub %s: %w", f.Hubs[i].Name, err)
		}
	}
	bw.WriteString("]\n}\n")
	return bw.Flush()
}

func (f *Fleet) failingHubs() int {
	n := 0
	for _, h := range f.Hubs {
		if h.Failed > 0 {
			n++
		}
	}
	return n
}

func sizeOrDash(n int64) string {
	if n < 0 {
		return "-"
	}
	return Thousands(n) + " B"
}

// hubWidth is the width of the hub column: the longest name.
func hubWidth(hubs []HubSummary) int {
	w := len("hub")
	for _, h := range hubs {
		w = max(w, len(h.Name))
	}
	return w
}
