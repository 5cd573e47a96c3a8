package report

import (
	"fmt"

	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/smtp"
)

// Retransmissions with other bytes than the segment they repeat
// (reassembly.Conflict): the receiver kept one version, the capture holds
// both and cannot prove which, so what the decoder read there (the first
// version) may not be what the peer read. A transaction they fall in is
// not judged: its outcome is unknown.

// conflictNotes copies a connection's conflicts into its L4 facts, with a
// note naming both frames of each.
func conflictNotes(l *L4, c *reassembly.Conn) {
	l.ConflictCount = c.ConflictCount
	for _, cf := range c.Conflicts {
		l.Conflicts = append(l.Conflicts, Conflict{By: cf.Dir.String(), OriginalFrame: cf.Original.Frame,
			RetransmissionFrame: cf.Retransmission.Frame, Offset: cf.Offset, Bytes: cf.Len})
		l.Notes = append(l.Notes, fmt.Sprintf("frame %d retransmits the %s's %d bytes of frame %d (stream offset %d) with different bytes (overlap-different-data): the receiver kept one of the two versions and the capture cannot say which; smtpscope read frame %d's",
			cf.Retransmission.Frame, cf.Dir, cf.Len, cf.Original.Frame, cf.Offset, cf.Original.Frame))
	}
	if more := c.ConflictCount - len(c.Conflicts); more > 0 {
		l.Notes = append(l.Notes, fmt.Sprintf("%d more retransmissions with different bytes", more))
	}
}

// conflictDiagnosis makes a transaction that a conflict falls in (from
// its MAIL to its final reply, or its end) capture-incomplete.
func conflictDiagnosis(c *reassembly.Conn, tx *smtp.Transaction) (Diagnosis, bool) {
	if len(c.Conflicts) == 0 {
		return Diagnosis{}, false
	}
	end := c.LastFrame
	switch {
	case tx.Reply != nil && tx.Reply.Frame > 0:
		end = tx.Reply.Frame
	case tx.EndFrame > 0:
		end = tx.EndFrame
	}
	start := tx.MailFrame
	for _, cf := range c.Conflicts {
		in := func(f int) bool { return f >= start && f <= end }
		if !in(cf.Original.Frame) && !in(cf.Retransmission.Frame) {
			continue
		}
		return Diagnosis{Layer: LayerCapture, Cause: CauseCaptureIncomplete,
			Filter: fmt.Sprintf("tcp.stream eq %d && frame.number in {%d %d}", c.Stream, cf.Original.Frame, cf.Retransmission.Frame),
			Evidence: []Evidence{
				{Frame: cf.Original.Frame, Time: cf.Original.Time, What: fmt.Sprintf("the %s sent %d bytes", cf.Dir, cf.Len)},
				{Frame: cf.Retransmission.Frame, Time: cf.Retransmission.Time, What: "it retransmitted them with different bytes"}},
			Summary: fmt.Sprintf("The %s retransmitted bytes of this transaction with different content (frames %d and %d): the server read one of the two versions and the capture cannot say which, so the outcome is unknown (an evasion attempt, or a broken stack or middlebox).",
				cf.Dir, cf.Original.Frame, cf.Retransmission.Frame)}, true
	}
	return Diagnosis{}, false
}
