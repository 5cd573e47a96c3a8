package report

import (
	"fmt"

	"github.com/smtpscope/smtpscope/smtp"
)

// A live capture that loses packets (the kernel's buffer, or smtpscope's
// ring between capture and analysis, was full) cannot say which
// connections they belonged to. Every connection open while packets were
// lost (Facts.Dropped) is then capture-incomplete: what the capture shows
// of it may miss frames, so no failure is claimed at L4 or L7. A
// delivered message stays delivered: its reply was seen.

// droppedSummary is the diagnosis of a connection that overlapped a drop.
const droppedSummary = "The capture dropped packets while this connection was open (%s): frames of it may be missing, so no failure is claimed; outcomes not seen to succeed are unknown."

// droppedWhere says which buffer lost the packets.
func droppedWhere(d *Facts) string {
	switch {
	case d.DroppedKernel && d.DroppedRing:
		return "the kernel's capture buffer and smtpscope's ring were full"
	case d.DroppedRing:
		return "smtpscope's ring between capture and analysis was full"
	}
	return "the kernel's capture buffer was full"
}

// applyDrops makes a connection that overlapped a capture drop
// capture-incomplete, and its transactions not delivered unknown.
func applyDrops(f *Facts, c *Connection) {
	if !f.Dropped() {
		return
	}
	d := Diagnosis{Layer: LayerCapture, Cause: CauseCaptureIncomplete, Summary: fmt.Sprintf(droppedSummary, droppedWhere(f))}
	if c.SMTP != nil {
		for i := range c.SMTP.Transactions {
			t := &c.SMTP.Transactions[i]
			if t.Outcome == outcomeDelivered {
				continue
			}
			t.Outcome = smtp.OutcomeUnknown.String()
			t.Diagnosis = d
		}
		c.SMTP.Verdict = "ok"
	}
	c.L4.Notes = append(c.L4.Notes, "the capture dropped packets while this connection was open: its TCP counts may miss frames")
	c.Diagnosis = d
}

// dropIncident turns an incident of a connection that overlapped a drop
// into the capture-incomplete one its diagnosis will be.
func dropIncident(f *Facts, in *Incident) {
	if !f.Dropped() || in.Kind == CauseCaptureIncomplete {
		return
	}
	in.Kind, in.Layer = CauseCaptureIncomplete, LayerCapture
	in.Summary = fmt.Sprintf(droppedSummary, droppedWhere(f))
}

// ApplyDrops makes an incident of f's connection told before f was found
// to overlap a capture drop the capture-incomplete one it would have
// been: a live run learns of kernel drops only when it reads the
// counters, after the frames they fell among.
func (in *Incident) ApplyDrops(f *Facts) { dropIncident(f, in) }
