package report

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/smtp"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

func conn() *reassembly.Conn {
	return &reassembly.Conn{Stream: 3, Client: netip.MustParseAddrPort("10.0.0.5:40002"),
		Server: netip.MustParseAddrPort("10.0.0.25:25"), FirstFrame: 1, LastFrame: 900, FirstTime: t0, LastTime: at(60)}
}

func smtpReply(code int, enh string, frame int, sec float64) *smtp.Reply {
	return &smtp.Reply{Code: code, Enhanced: smtp.ParseEnhancedCode(enh), Frame: frame, Time: at(sec), Lines: 1}
}

// session returns an SMTP session with one DATA transaction of 1 MB whose
// end-of-data was sent in frame 800 at 10 s, changed by edit.
func session(edit func(*smtp.Session, *smtp.Transaction)) *smtp.Session {
	s := &smtp.Session{IsSMTP: true, Banner: smtpReply(220, "", 4, 0.001)}
	tx := smtp.Transaction{MailFrom: "<alice@example.org>", SizeParam: -1,
		Rcpts:  []smtp.Recipient{{Addr: "<bob@example.net>", Frame: 9, Reply: smtpReply(250, "2.1.5", 10, 0.003)}},
		Method: "DATA", Size: 1 << 20, MailFrame: 7, DataFrame: 11, EndOfDataFrame: 800,
		MailTime: at(0.002), DataTime: at(0.004), EndOfDataTime: at(10)}
	edit(s, &tx)
	s.Transactions = append(s.Transactions, tx)
	return s
}

func TestDiagnosis(t *testing.T) {
	healthy := reassembly.Health{}
	lossy := reassembly.Health{Retransmissions: 40, Retransmission: reassembly.FlagCount{Count: 40, Frames: []int{500}}}
	stalled := reassembly.Health{ZeroWindows: 12}
	stalled.Sides[reassembly.ServerToClient].LongestZeroWindow = 3 * time.Second
	stalled.Sides[reassembly.ServerToClient].ZeroWindowTime = 3 * time.Second
	tests := []struct {
		name       string
		health     reassembly.Health
		session    *smtp.Session
		wantLayer  string
		wantCause  Cause
		wantFailed bool
		wantWords  []string
	}{
		{"delivered", healthy, session(func(s *smtp.Session, tx *smtp.Transaction) {
			tx.Reply, tx.Outcome = smtpReply(250, "2.0.0", 801, 10.2), smtp.OutcomeDelivered
		}), LayerNone, CauseOK, false, nil},
		{"delivered after the server stopped reading for 3 s", stalled, session(func(s *smtp.Session, tx *smtp.Transaction) {
			tx.Reply, tx.Outcome = smtpReply(250, "2.0.0", 801, 10.2), smtp.OutcomeDelivered
		}), LayerL4, CauseZeroWindowStall, false, []string{"server stopped reading", "3.0 s"}},
		{"slow reply", healthy, session(func(s *smtp.Session, tx *smtp.Transaction) {
			tx.Reply, tx.Outcome = smtpReply(250, "2.0.0", 801, 55), smtp.OutcomeDelivered
		}), LayerL7, CauseSlowReply, false, []string{"45.0 s"}},
		{"the seed incident: relay silent after end-of-data, client gives up", healthy, session(func(s *smtp.Session, tx *smtp.Transaction) {
			tx.Outcome, tx.Ended, tx.EndFrame, tx.EndTime = smtp.OutcomeNoReply, smtp.EndClientClosed, 850, at(35)
		}), LayerL7, CauseEODNoReply, true, []string{"TCP was healthy", "never answered the end-of-data", "25.0 s"}},
		{"no reply, capture ended 12 s later", healthy, session(func(s *smtp.Session, tx *smtp.Transaction) {
			tx.Outcome, tx.Ended, tx.EndFrame, tx.EndTime = smtp.OutcomeNoReply, smtp.EndCaptureEnded, 820, at(22)
		}), LayerCapture, CauseCaptureIncomplete, false, []string{"capture ended", "outcome is unknown"}},
		{"end-of-data lost in a capture gap, no reply tied to it", healthy, session(func(s *smtp.Session, tx *smtp.Transaction) {
			tx.EndOfDataFrame, tx.Incomplete, tx.Outcome = 0, true, smtp.OutcomeUnknown
		}), LayerCapture, CauseCaptureIncomplete, false, []string{"lost this transaction's end-of-data", "outcome unknown"}},
		{"end-of-data lost, but the next reply answers it by order", healthy, session(func(s *smtp.Session, tx *smtp.Transaction) {
			tx.EndOfDataFrame, tx.Incomplete = 0, true
			tx.Reply, tx.Outcome = smtpReply(250, "2.0.0", 801, 10.2), smtp.OutcomeDelivered
		}), LayerNone, CauseOK, false, nil},
		{"capture ended 2 s after end-of-data: too soon to tell", healthy, session(func(s *smtp.Session, tx *smtp.Transaction) {
			tx.Outcome, tx.Ended, tx.EndFrame, tx.EndTime = smtp.OutcomeNoReply, smtp.EndCaptureEnded, 820, at(12)
		}), LayerCapture, CauseCaptureIncomplete, false, []string{"too soon to tell"}},
		{"no reply on a lossy path is the network's fault", lossy, session(func(s *smtp.Session, tx *smtp.Transaction) {
			tx.Outcome, tx.Ended, tx.EndFrame, tx.EndTime = smtp.OutcomeNoReply, smtp.EndClientClosed, 850, at(35)
		}), LayerL4, CausePacketLoss, true, []string{"retransmitted 40"}},
		{"no reply with a capture gap is not blamed on anyone", healthy, session(func(s *smtp.Session, tx *smtp.Transaction) {
			tx.Outcome, tx.Ended, tx.Incomplete = smtp.OutcomeNoReply, smtp.EndClientClosed, true
		}), LayerCapture, CauseCaptureIncomplete, false, nil},
		{"client resets after an unanswered end-of-data: the silence is the cause", healthy, session(func(s *smtp.Session, tx *smtp.Transaction) {
			tx.Outcome, tx.Ended, tx.EndFrame, tx.EndTime = smtp.OutcomeNoReply, smtp.EndClientReset, 850, at(40)
		}), LayerL7, CauseEODNoReply, true, []string{"never answered the end-of-data"}},
		{"client resets mid-body after a stalled window: the stall is the cause", stalled, session(func(s *smtp.Session, tx *smtp.Transaction) {
			tx.EndOfDataFrame, tx.Outcome, tx.Ended, tx.EndFrame = 0, smtp.OutcomeAborted, smtp.EndClientReset, 400
		}), LayerL4, CauseZeroWindowStall, true, nil},
		{"server reset instead of replying", healthy, session(func(s *smtp.Session, tx *smtp.Transaction) {
			tx.Outcome, tx.Ended, tx.EndFrame, tx.EndTime = smtp.OutcomeNoReply, smtp.EndServerReset, 802, at(10.5)
		}), LayerL4, CauseResetByServer, true, nil},
		{"rejected as too big", healthy, session(func(s *smtp.Session, tx *smtp.Transaction) {
			tx.Reply, tx.Outcome = smtpReply(552, "5.3.4", 801, 10.1), smtp.OutcomeRejected
			tx.Reply.Text = "Message size exceeds fixed maximum message size"
		}), LayerL7, CauseRejected, true, []string{"552 5.3.4", "message too big for system"}},
		{"deferred at RCPT", healthy, session(func(s *smtp.Session, tx *smtp.Transaction) {
			tx.Rcpts[0].Reply = smtpReply(451, "4.3.0", 10, 0.003)
			tx.Method, tx.EndOfDataFrame, tx.Outcome = "", 0, smtp.OutcomeDeferred
			// The client gave up: a refusal while the capture still ran
			// would leave the transaction open (TestRefusedWhileOpen).
			s.Commands = append(s.Commands, smtp.Command{Verb: "QUIT", Frame: 20, Reply: smtpReply(221, "2.0.0", 21, 0.01)})
		}), LayerL7, CauseDeferred, true, []string{"451 4.3.0"}},
		{"aborted: server reset mid-body", healthy, session(func(s *smtp.Session, tx *smtp.Transaction) {
			tx.EndOfDataFrame, tx.Outcome, tx.Ended, tx.EndFrame = 0, smtp.OutcomeAborted, smtp.EndServerReset, 400
		}), LayerL4, CauseResetByServer, true, []string{"middle of the message body"}},
		{"aborted behind a zero window", stalled, session(func(s *smtp.Session, tx *smtp.Transaction) {
			tx.EndOfDataFrame, tx.Outcome, tx.Ended, tx.EndFrame = 0, smtp.OutcomeAborted, smtp.EndClientClosed, 400
		}), LayerL4, CauseZeroWindowStall, true, []string{"zero window 12 times"}},
		{"banner 554", healthy, &smtp.Session{IsSMTP: true, Banner: smtpReply(554, "5.7.1", 4, 0.001)},
			LayerL7, CauseRejected, true, []string{"greeting", "554 5.7.1"}},
		// A completed STARTTLS is no fault and no capture problem
		// (tls_test.go has the TLS rules).
		{"STARTTLS is not a fault", healthy, &smtp.Session{IsSMTP: true, Banner: smtpReply(220, "", 4, 0.001),
			TLS: &smtp.TLS{How: "starttls", Frame: 12}}, LayerNone, CauseOK, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Build([]Input{{Name: "x.pcapng"}}, []Facts{{Conn: conn(), Health: tt.health, Session: tt.session}}, Options{})
			d := r.Connections[0].Diagnosis
			if d.Layer != tt.wantLayer || d.Cause != tt.wantCause {
				t.Errorf("diagnosis = %s/%s (%s), want %s/%s", d.Layer, d.Cause, d.Summary, tt.wantLayer, tt.wantCause)
			}
			if r.Failed() != tt.wantFailed {
				t.Errorf("Failed() = %v, want %v", r.Failed(), tt.wantFailed)
			}
			for _, w := range tt.wantWords {
				if !strings.Contains(d.Summary, w) {
					t.Errorf("summary %q lacks %q", d.Summary, w)
				}
			}
			var text, js bytes.Buffer
			if err := r.WriteText(&text, TextOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := r.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDiagnosisWithoutSMTP(t *testing.T) {
	mark := func(f int, sec float64) reassembly.Mark { return reassembly.Mark{Frame: f, Time: at(sec)} }
	refused := reassembly.Health{Packets: 2}
	refused.Handshake.SYN, refused.Handshake.LastSYN, refused.Handshake.RefusedBy = mark(1, 0), mark(1, 0), mark(2, 0.001)
	refused.Handshake.State = reassembly.HandshakeRefused
	unanswered := reassembly.Health{Packets: 3}
	unanswered.Handshake.SYN, unanswered.Handshake.LastSYN, unanswered.Handshake.SYNRetries = mark(1, 0), mark(3, 3), 2
	unanswered.Handshake.State = reassembly.HandshakeUnanswered
	unanswered.Sides[reassembly.ClientToServer].Segments = 3
	tests := []struct {
		name      string
		health    reassembly.Health
		smtpPort  bool
		wantCause Cause
		failed    bool
	}{
		{"refused on port 25", refused, true, CauseConnectRefused, true},
		{"unanswered on port 25", unanswered, true, CauseConnectTimeout, true},
		{"refused elsewhere is not our business", refused, false, CauseOK, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Build(nil, []Facts{{Conn: conn(), Health: tt.health, SMTPPort: tt.smtpPort}}, Options{})
			if d := r.Connections[0].Diagnosis; d.Cause != tt.wantCause {
				t.Errorf("cause %s (%s), want %s", d.Cause, d.Summary, tt.wantCause)
			}
			if r.Failed() != tt.failed {
				t.Errorf("Failed() = %v, want %v", r.Failed(), tt.failed)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	s := session(func(s *smtp.Session, tx *smtp.Transaction) {
		s.Hello = "mail.example.org"
		tx.Reply, tx.Outcome = smtpReply(250, "2.0.0", 801, 10.2), smtp.OutcomeDelivered
	})
	for _, redact := range []bool{false, true} {
		r := Build(nil, []Facts{{Conn: conn(), Session: s}}, Options{Redact: redact})
		var out bytes.Buffer
		r.WriteJSON(&out)
		r.WriteText(&out, TextOptions{})
		leaked := strings.Contains(out.String(), "alice") || strings.Contains(out.String(), "example.net") ||
			strings.Contains(out.String(), "mail.example.org")
		if leaked == redact {
			t.Errorf("redact=%v: addresses present = %v\n%s", redact, leaked, out.String())
		}
	}
	// The same address always gets the same token.
	red := newRedactor(true)
	if a, b := red.mail("<Alice@Example.org>"), red.mail("<alice@example.org>"); a != b {
		t.Errorf("tokens differ: %s %s", a, b)
	}
	if got := red.mail("<>"); got != "<>" {
		t.Errorf("null reverse-path redacted to %q", got)
	}
}

// TestCaptureGaps checks what the report makes of the decoder's marks for
// capture gaps: a delivery tied to a lost end-of-data only by the order
// of replies says so, and addresses a gap cut end in "…".
func TestCaptureGaps(t *testing.T) {
	s := session(func(s *smtp.Session, tx *smtp.Transaction) {
		tx.EndOfDataFrame, tx.Incomplete = 0, true
		tx.Reply, tx.Outcome = smtpReply(250, "2.0.0", 801, 10.2), smtp.OutcomeDelivered
		tx.MailFrom, tx.MailFromTruncated = "<alice@exam", true
		tx.Rcpts[0].Addr, tx.Rcpts[0].Truncated = "<bob@", true
	})
	r := Build(nil, []Facts{{Conn: conn(), Session: s}}, Options{})
	tx := r.Connections[0].SMTP.Transactions[0]
	if !strings.Contains(tx.Diagnosis.Summary, "order of replies") {
		t.Errorf("summary %q does not say the reply is tied by order", tx.Diagnosis.Summary)
	}
	if tx.MailFrom != "<alice@exam…" || !tx.MailFromTruncated || tx.RcptTo[0] != "<bob@…" || !tx.Rcpts[0].Truncated {
		t.Errorf("cut addresses: mail_from %q (%v), rcpt %q (%v)", tx.MailFrom, tx.MailFromTruncated, tx.RcptTo[0], tx.Rcpts[0].Truncated)
	}
}

// TestEnhancedText checks the table of enhancedText against
// smtp.EnhancedCode.String, with codes outside it.
func TestEnhancedText(t *testing.T) {
	codes := []smtp.EnhancedCode{{}, {5, 7, 26}, {4, 10, 1}, {2, 0, 100}, {1, 0, 0}, {6, 0, 0}, {2, -1, 0}}
	for class := 2; class <= 5; class++ {
		for subject := range 10 {
			for detail := range 10 {
				codes = append(codes, smtp.EnhancedCode{class, subject, detail})
			}
		}
	}
	for _, e := range codes {
		if got, want := enhancedText(e), e.String(); got != want {
			t.Errorf("enhancedText(%v) = %q, want %q", [3]int(e), got, want)
		}
	}
}
