package report

import (
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/smtp"
)

// TestAbortedIncompleteWords: an aborted transaction the capture misses
// part of is capture-incomplete, and its words say what was missed: a
// body's end, or, for one that never reached a body (its MAIL lost in a
// client gap, the server closing in the envelope), a command or reply
// before it, never "this message body".
func TestAbortedIncompleteWords(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*smtp.Session, *smtp.Transaction)
		want    string
		wantNot string
	}{
		{"body under way", func(s *smtp.Session, tx *smtp.Transaction) {
			tx.EndOfDataFrame, tx.Outcome, tx.Ended, tx.EndFrame, tx.Incomplete = 0, smtp.OutcomeAborted, smtp.EndServerClosed, 400, true
		}, "misses part of this message body", ""},
		{"envelope, MAIL lost", func(s *smtp.Session, tx *smtp.Transaction) {
			tx.MailFrame, tx.MailFrom, tx.Method, tx.DataFrame, tx.EndOfDataFrame, tx.Size = 0, "", "", 0, 0, 0
			tx.Outcome, tx.Ended, tx.EndFrame, tx.Incomplete = smtp.OutcomeAborted, smtp.EndServerClosed, 12, true
		}, "before a body was seen", "message body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Build([]Input{{Name: "x.pcapng"}}, []Facts{{Conn: conn(), Health: reassembly.Health{}, Session: session(tt.edit)}}, Options{})
			x := r.Connections[0].SMTP.Transactions[0]
			if x.Diagnosis.Cause != CauseCaptureIncomplete || x.Outcome != "unknown" {
				t.Errorf("%s (%s), want unknown, capture-incomplete", x.Outcome, x.Diagnosis.Cause)
			}
			if !strings.Contains(x.Diagnosis.Summary, tt.want) || tt.wantNot != "" && strings.Contains(x.Diagnosis.Summary, tt.wantNot) {
				t.Errorf("summary %q: want %q, not %q", x.Diagnosis.Summary, tt.want, tt.wantNot)
			}
		})
	}
}
