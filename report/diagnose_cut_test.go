package report

import (
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/smtp"
)

// TestCaptureCutIsUnknown: a transaction the capture left open (it ended,
// or lost frames, mid-body or before the reply) is unknown with cause
// capture-incomplete: not failed, not counted, no pattern input, its size
// a lower bound. A delivered transaction beside it stays delivered.
func TestCaptureCutIsUnknown(t *testing.T) {
	delivered := func(s *smtp.Session, tx *smtp.Transaction) {
		tx.Size, tx.Reply, tx.Outcome = 2000, smtpReply(250, "2.0.0", 801, 10.2), smtp.OutcomeDelivered
	}
	tests := []struct {
		name      string
		edit      func(s *smtp.Session, tx *smtp.Transaction)
		sizeBound bool
	}{
		{"capture ended mid-body", func(s *smtp.Session, tx *smtp.Transaction) {
			tx.EndOfDataFrame, tx.Outcome, tx.Ended, tx.EndFrame, tx.EndTime = 0, smtp.OutcomeAborted, smtp.EndCaptureEnded, 900, at(60)
		}, true},
		{"capture ended mid-body behind retransmissions", func(s *smtp.Session, tx *smtp.Transaction) {
			tx.EndOfDataFrame, tx.Outcome, tx.Ended, tx.EndFrame, tx.EndTime = 0, smtp.OutcomeAborted, smtp.EndCaptureEnded, 900, at(60)
		}, true},
		{"capture lost frames of the body, then the client closed", func(s *smtp.Session, tx *smtp.Transaction) {
			tx.EndOfDataFrame, tx.Outcome, tx.Ended, tx.Incomplete = 0, smtp.OutcomeAborted, smtp.EndClientClosed, true
		}, true},
		{"capture ended 1 s after the end-of-data", func(s *smtp.Session, tx *smtp.Transaction) {
			tx.Outcome, tx.Ended, tx.EndFrame, tx.EndTime = smtp.OutcomeNoReply, smtp.EndCaptureEnded, 820, at(11)
		}, false},
		{"capture ended 50 s after the end-of-data", func(s *smtp.Session, tx *smtp.Transaction) {
			tx.Outcome, tx.Ended, tx.EndFrame, tx.EndTime = smtp.OutcomeNoReply, smtp.EndCaptureEnded, 820, at(60)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h reassembly.Health
			if strings.Contains(tt.name, "retransmissions") {
				h.Retransmissions, h.Retransmission = 4, reassembly.FlagCount{Count: 4, Frames: []int{700}}
			}
			c1, c2 := conn(), conn()
			c2.Stream, c2.FirstTime = 4, at(100) // later than the cut one: a "time" pattern would show
			r := Build(nil, []Facts{
				{Conn: c1, Health: h, Session: session(tt.edit)},
				{Conn: c2, Session: session(delivered)},
			}, Options{})
			tx := r.Connections[0].SMTP.Transactions[0]
			if tx.Outcome != "unknown" || tx.Diagnosis.Cause != CauseCaptureIncomplete {
				t.Errorf("outcome %s cause %s (%s), want unknown capture-incomplete", tx.Outcome, tx.Diagnosis.Cause, tx.Diagnosis.Summary)
			}
			if tx.SizeAtLeast != tt.sizeBound || tt.sizeBound && !strings.HasPrefix(tx.SizeWords(), "at least ") {
				t.Errorf("SizeAtLeast %v (%q), want %v", tx.SizeAtLeast, tx.SizeWords(), tt.sizeBound)
			}
			if r.Failed() || r.Totals.Failed != 0 || r.Connections[0].Failed() {
				t.Errorf("Failed() %v, %d failed: a cut is not a failure", r.Failed(), r.Totals.Failed)
			}
			if len(r.Patterns) != 0 {
				t.Errorf("patterns %+v drawn from an unknown outcome", r.Patterns)
			}
			if r.Connections[1].SMTP.Transactions[0].Outcome != "delivered" {
				t.Errorf("the delivered transaction became %s", r.Connections[1].SMTP.Transactions[0].Outcome)
			}
			if h.Retransmissions > 0 && r.Connections[0].Diagnosis.Cause != CausePacketLoss {
				t.Errorf("connection cause %s, want the loss TCP proves", r.Connections[0].Diagnosis.Cause)
			}
		})
	}
}

// TestPatternSupport: each pattern states how many failed and delivered
// messages it holds for.
func TestPatternSupport(t *testing.T) {
	var facts []Facts
	for i := 0; i < 5; i++ {
		c := conn()
		c.Stream, c.FirstTime = i, at(float64(i))
		size, rep := int64(1000+i), smtpReply(250, "2.0.0", 801, 10.2)
		if i >= 3 {
			size, rep = 2_000_000+int64(i), smtpReply(552, "5.3.4", 801, 10.2)
		}
		facts = append(facts, Facts{Conn: c, Session: session(func(s *smtp.Session, tx *smtp.Transaction) {
			tx.Size, tx.Reply, tx.Outcome = size, rep, smtp.OutcomeDelivered
			if rep.Class() == 5 {
				tx.Outcome = smtp.OutcomeRejected
			}
		})})
	}
	r := Build(nil, facts, Options{SlowReply: time.Hour})
	want := map[string]string{
		"size": "2 of 2 failed messages ≥ 2,000,003 bytes, 3 of 3 delivered ≤ 1,002 bytes",
		"time": "3 of 3 delivered messages before",
	}
	for _, p := range r.Patterns {
		if w, ok := want[p.Kind]; ok && !strings.Contains(p.Summary, w) {
			t.Errorf("%s pattern %q lacks %q", p.Kind, p.Summary, w)
		}
		delete(want, p.Kind)
	}
	if len(want) > 0 {
		t.Errorf("missing patterns %v in %+v", want, r.Patterns)
	}
}

// TestSpuriousIsNotLoss: a connection whose retransmissions were all
// spurious delivered its mail on a path that lost nothing.
func TestSpuriousIsNotLoss(t *testing.T) {
	var h reassembly.Health
	h.Retransmissions = 3
	h.Retransmission = reassembly.FlagCount{Count: 3, Frames: []int{20, 30, 40}}
	h.SpuriousRetransmission = h.Retransmission
	r := Build(nil, []Facts{{Conn: conn(), Health: h, Session: session(func(s *smtp.Session, tx *smtp.Transaction) {
		tx.Reply, tx.Outcome = smtpReply(250, "2.0.0", 801, 10.2), smtp.OutcomeDelivered
	})}}, Options{})
	c := r.Connections[0]
	if c.Diagnosis.Cause != CauseOK || c.L4.Verdict != "healthy" {
		t.Errorf("cause %s (%s), L4 %s %q: spurious retransmissions are not loss", c.Diagnosis.Cause, c.Diagnosis.Summary, c.L4.Verdict, c.L4.Reasons)
	}
}

// TestRefusedWhileOpen: a refused command does not end a transaction
// (RFC 5321 §4.1.4); one still open when the capture ended is unknown,
// one the client ended (RSET, QUIT, a close) keeps its refusal.
func TestRefusedWhileOpen(t *testing.T) {
	refused := func(end string) func(s *smtp.Session, tx *smtp.Transaction) {
		return func(s *smtp.Session, tx *smtp.Transaction) {
			s.Commands = []smtp.Command{{Verb: "MAIL", Frame: 7, Reply: smtpReply(250, "2.1.0", 8, 0.002)},
				{Verb: "DATA", Frame: 11, Reply: smtpReply(503, "5.5.1", 12, 0.004)}}
			if end != "" {
				s.Commands = append(s.Commands, smtp.Command{Verb: end, Frame: 13, Reply: smtpReply(250, "", 14, 0.005)})
			}
			tx.Method, tx.EndOfDataFrame, tx.Outcome = "", 0, smtp.OutcomeRejected
		}
	}
	for _, tc := range []struct {
		end  string
		want string
	}{{"", "unknown"}, {"RSET", "rejected"}, {"QUIT", "rejected"}} {
		r := Build(nil, []Facts{{Conn: conn(), Session: session(refused(tc.end))}}, Options{})
		if got := r.Connections[0].SMTP.Transactions[0].Outcome; got != tc.want {
			t.Errorf("refused DATA, then %q: outcome %s, want %s", tc.end, got, tc.want)
		}
	}
}
