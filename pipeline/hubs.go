package pipeline

import (
	"context"
	"fmt"

	"github.com/smtpscope/smtpscope/report"
)

// Hub is one mail hub of a fleet comparison: a name and its inputs. With
// Messages set (event files read by package events) the files are not
// analysed; else they are captures.
type Hub struct {
	Name     string
	Files    []string
	Messages report.HubMessages
}

// Hubs analyses each hub on its own (its captures as Files analyses them,
// into a report of its own; a hub with Messages as they are) and compares the
// hubs (report.CompareHubs). reports[i] is hub i's report, nil for a hub
// read from event files; close every non-nil one when done. An error
// names the hub.
func Hubs(ctx context.Context, hubs []Hub, opts Options) (fleet *report.Fleet, reports []*report.Report, err error) {
	defer func() {
		if err != nil {
			for _, r := range reports {
				if r != nil {
					r.Close()
				}
			}
			reports = nil
		}
	}()
	in := make([]report.Hub, len(hubs))
	for i, h := range hubs {
		in[i] = report.Hub{Name: h.Name, Inputs: h.Files, Messages: h.Messages}
		if h.Messages != nil {
			reports = append(reports, nil)
			continue
		}
		rep, _, err := Files(ctx, h.Files, nil, opts)
		if err != nil {
			return nil, reports, fmt.Errorf("hub %s: %w", h.Name, err)
		}
		reports = append(reports, rep)
		in[i].Messages = rep.Messages()
	}
	fleet, err = report.CompareHubs(in)
	return fleet, reports, err
}
