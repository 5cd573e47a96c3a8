package wiring

import (
	"context"
	"fmt"
	"io"

	"github.com/smtpscope/smtpscope/events"
	"github.com/smtpscope/smtpscope/pipeline"
	"github.com/smtpscope/smtpscope/report"
)

// HubOptions are the settings of "smtpscope analyze --hub", checked by
// the command.
type HubOptions struct {
	// Hubs are the hubs to compare, each with its captures or event files.
	Hubs     []pipeline.Hub
	Pipeline pipeline.Options
	// Format (text or json), Output, Color and All say how and where the
	// comparison is written.
	Format, Output, Color string
	All                   bool
}

// Hubs analyses each hub on its own (reading event files as the
// messages they tell), then writes the cross-hub findings and one report
// per hub. What goes wrong is told on stderr, one line.
func Hubs(ctx context.Context, o HubOptions, stdout, stderr io.Writer) Outcome {
	hubs := o.Hubs
	for i := range hubs {
		are, err := events.AreEvents(hubs[i].Files)
		if err != nil {
			fmt.Fprintf(stderr, "smtpscope analyze: hub %s: %s\n", hubs[i].Name, OneLine(err))
			return Failed
		}
		if are {
			hubs[i].Messages = events.Messages(hubs[i].Files)
		}
	}
	fleet, reports, err := pipeline.Hubs(ctx, hubs, o.Pipeline)
	if err != nil {
		fmt.Fprintf(stderr, "smtpscope: %s\n", OneLine(err))
		return Failed
	}
	defer func() {
		for _, r := range reports {
			if r != nil {
				r.Close()
			}
		}
	}()
	if err := writeFleet(fleet, reports, &o, stdout); err != nil {
		fmt.Fprintf(stderr, "smtpscope: %s\n", OneLine(err))
		return Failed
	}
	for _, h := range fleet.Hubs {
		if h.Failed > 0 {
			return Findings
		}
	}
	for _, r := range reports {
		if r != nil && r.Failed() {
			return Findings
		}
	}
	return Clean
}

// writeFleet writes the comparison and the hubs' reports to --output or
// stdout.
func writeFleet(fleet *report.Fleet, reports []*report.Report, o *HubOptions, stdout io.Writer) error {
	return toOutput(o.Output, stdout, func(out io.Writer) error {
		if o.Format == "json" {
			return fleet.WriteJSON(out, reports)
		}
		opt := textOptions(o.Color, out)
		opt.All = o.All
		return fleet.WriteText(out, reports, opt)
	})
}
