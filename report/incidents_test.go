package report

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/smtp"
)

var (
	liveT0     = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	liveClient = netip.MustParseAddrPort("192.0.2.10:40000")
	liveServer = netip.MustParseAddrPort("192.0.2.25:25")
)

func liveAt(sec float64) time.Time { return liveT0.Add(time.Duration(sec * float64(time.Second))) }

func liveReply(code int, frame int, sec float64) *smtp.Reply {
	return &smtp.Reply{Code: code, Frame: frame, Time: liveAt(sec), Lines: 1}
}

// bodyDone is a transaction whose end-of-data went out in frame 20 at 1 s.
func bodyDone() smtp.Transaction {
	return smtp.Transaction{MailFrom: "a@example.org", SizeParam: -1, Method: "DATA", Size: 1234,
		Rcpts:     []smtp.Recipient{{Addr: "b@example.net", Frame: 6, Reply: liveReply(250, 7, 0.1)}},
		MailFrame: 4, MailReply: liveReply(250, 5, 0.1), DataFrame: 8, DataReply: liveReply(354, 9, 0.2),
		EndOfDataFrame: 20, EndOfDataTime: liveAt(1)}
}

// TestIncidentTransactionRules checks the rules of one mail transaction
// as the decoder shows it while the connection is open.
func TestIncidentTransactionRules(t *testing.T) {
	rules := IncidentRules{EODTimeout: 2 * time.Second, ConnectTimeout: 3 * time.Second}
	tests := []struct {
		name  string
		edit  func(*smtp.Transaction)
		now   float64
		timed bool
		// want is "kind@frame", "" for none; done says no other incident
		// can follow.
		want string
		done bool
	}{
		{"delivered", func(tx *smtp.Transaction) { tx.Reply = liveReply(250, 21, 1.1) }, 1.1, false, "", true},
		{"deferred after end-of-data", func(tx *smtp.Transaction) { tx.Reply = liveReply(451, 21, 1.1) }, 1.1, false, "deferred@21", true},
		{"rejected after end-of-data", func(tx *smtp.Transaction) { tx.Reply = liveReply(554, 21, 1.1) }, 1.1, false, "rejected@21", true},
		{"waiting, in time", nil, 2.9, true, "", false},
		{"waiting, timeout", nil, 3.0, true, "eod-timeout@20", false},
		{"waiting, timeout, no sweep", nil, 9, false, "", false},
		{"waiting, incomplete capture", func(tx *smtp.Transaction) { tx.Incomplete = true }, 5, true, "capture-incomplete@20", false},
		{"client gave up", func(tx *smtp.Transaction) {
			tx.Ended, tx.EndFrame, tx.EndTime = smtp.EndClientClosed, 30, liveAt(1.5)
		}, 1.5, false, "eod-no-reply@30", true},
		{"client reset while waiting", func(tx *smtp.Transaction) {
			tx.Ended, tx.EndFrame, tx.EndTime = smtp.EndClientReset, 30, liveAt(1.5)
		}, 1.5, false, "eod-no-reply@30", true},
		{"server reset while waiting", func(tx *smtp.Transaction) {
			tx.Ended, tx.EndFrame, tx.EndTime = smtp.EndServerReset, 30, liveAt(1.5)
		}, 1.5, false, "reset-by-server@30", true},
		{"server closed while waiting", func(tx *smtp.Transaction) {
			tx.Ended, tx.EndFrame, tx.EndTime = smtp.EndServerClosed, 30, liveAt(1.5)
		}, 1.5, false, "eod-no-reply@30", true},
		{"in the body", func(tx *smtp.Transaction) { tx.EndOfDataFrame, tx.EndOfDataTime = 0, time.Time{} }, 60, true, "", false},
		{"client reset in the body", func(tx *smtp.Transaction) {
			tx.EndOfDataFrame, tx.EndOfDataTime = 0, time.Time{}
			tx.Ended, tx.EndFrame, tx.EndTime = smtp.EndClientReset, 15, liveAt(0.8)
		}, 0.8, false, "reset-by-client@15", true},
		{"server reset in the body", func(tx *smtp.Transaction) {
			tx.EndOfDataFrame, tx.EndOfDataTime = 0, time.Time{}
			tx.Ended, tx.EndFrame, tx.EndTime = smtp.EndServerReset, 15, liveAt(0.8)
		}, 0.8, false, "reset-by-server@15", true},
		{"server closed in the body", func(tx *smtp.Transaction) {
			tx.EndOfDataFrame, tx.EndOfDataTime = 0, time.Time{}
			tx.Ended, tx.EndFrame, tx.EndTime = smtp.EndServerClosed, 15, liveAt(0.8)
		}, 0.8, false, "closed-by-server@15", true},
		{"client closed in the body", func(tx *smtp.Transaction) {
			tx.EndOfDataFrame, tx.EndOfDataTime = 0, time.Time{}
			tx.Ended, tx.EndFrame, tx.EndTime = smtp.EndClientClosed, 15, liveAt(0.8)
		}, 0.8, false, "aborted-by-client@15", true},
		{"envelope", func(tx *smtp.Transaction) { envelopeOnly(tx) }, 60, true, "", false},
		// Every command accepted, then RSET or QUIT: the client withdrew
		// the envelope (a sender-verification callout), nothing failed.
		{"envelope withdrawn (RSET, QUIT)", func(tx *smtp.Transaction) {
			envelopeOnly(tx)
			tx.Ended, tx.EndFrame, tx.EndTime = smtp.EndClientClosed, 10, liveAt(0.3)
		}, 0.3, false, "", true},
		{"callout with QUIT pipelined, RCPT's reply to come", func(tx *smtp.Transaction) {
			envelopeOnly(tx)
			tx.Rcpts[0].Reply = nil
			tx.Ended, tx.EndFrame, tx.EndTime = smtp.EndClientClosed, 6, liveAt(0.1)
		}, 0.1, false, "", false},
		{"RCPT unanswered, the connection closed", func(tx *smtp.Transaction) {
			envelopeOnly(tx)
			tx.Rcpts[0].Reply = nil
			tx.Ended, tx.EndFrame, tx.EndTime = smtp.EndClientClosed, 10, liveAt(0.3)
		}, 0.3, false, "aborted-by-client@10", true},
		{"MAIL refused, client not done", func(tx *smtp.Transaction) {
			envelopeOnly(tx)
			tx.Rcpts, tx.MailReply = nil, liveReply(451, 5, 0.1)
		}, 0.1, false, "", false},
		{"MAIL refused, client quits", func(tx *smtp.Transaction) {
			envelopeOnly(tx)
			tx.Rcpts, tx.MailReply = nil, liveReply(451, 5, 0.1)
			tx.Ended, tx.EndFrame, tx.EndTime = smtp.EndClientClosed, 10, liveAt(0.3)
		}, 0.3, false, "deferred@5", true},
		{"DATA refused, client quits", func(tx *smtp.Transaction) {
			envelopeOnly(tx)
			tx.DataFrame, tx.DataReply = 8, liveReply(554, 9, 0.2)
			tx.Ended, tx.EndFrame, tx.EndTime = smtp.EndClientClosed, 10, liveAt(0.3)
		}, 0.3, false, "rejected@9", true},
		{"every recipient refused, client moved on", func(tx *smtp.Transaction) {
			envelopeOnly(tx)
			tx.Rcpts = []smtp.Recipient{{Frame: 6, Reply: liveReply(450, 7, 0.1)}, {Frame: 6, Reply: liveReply(550, 8, 0.1)}}
			tx.Ended, tx.EndFrame, tx.EndTime = smtp.EndClientClosed, 10, liveAt(0.3)
		}, 0.3, false, "rejected@8", true},
		{"every recipient refused, client not done", func(tx *smtp.Transaction) {
			envelopeOnly(tx)
			tx.Rcpts = []smtp.Recipient{{Frame: 6, Reply: liveReply(550, 7, 0.1)}}
		}, 0.3, false, "", false},
		{"one recipient accepted", func(tx *smtp.Transaction) {
			envelopeOnly(tx)
			tx.Rcpts = append(tx.Rcpts, smtp.Recipient{Frame: 8, Reply: liveReply(550, 9, 0.1)})
			tx.Ended, tx.EndFrame, tx.EndTime = smtp.EndClientClosed, 10, liveAt(0.3)
		}, 0.3, false, "aborted-by-client@10", true},
	}
	for _, tt := range tests {
		tx := bodyDone()
		if tt.edit != nil {
			tt.edit(&tx)
		}
		s := &smtp.Session{Transactions: []smtp.Transaction{tx}}
		if strings.Contains(tt.name, "connection closed") {
			s.Closes = []smtp.Close{{Kind: "FIN", By: "client", Frame: 10, Time: liveAt(0.3)}}
		}
		f := &Facts{Conn: syntheticConn(liveServer, synSeg, synACKSeg), Session: s, SMTPPort: true}
		in, told, done := rules.transaction(f, 0, liveAt(tt.now), tt.timed, Options{SlowReply: DefaultSlowReply})
		got := ""
		if told {
			got = fmt.Sprintf("%s@%d", in.Kind, in.Frame)
			if in.Summary == "" || in.Time.IsZero() {
				t.Errorf("%s: incident %+v lacks a summary or time", tt.name, in)
			}
		}
		if got != tt.want || done != tt.done {
			t.Errorf("%s: transaction() = %q, done %v; want %q, done %v", tt.name, got, done, tt.want, tt.done)
		}
	}
}

// envelopeOnly turns a transaction back into one that has not reached
// its body.
func envelopeOnly(tx *smtp.Transaction) {
	tx.Method, tx.DataFrame, tx.DataReply = "", 0, nil
	tx.EndOfDataFrame, tx.EndOfDataTime = 0, time.Time{}
}

// syntheticConn is a connection whose L4 analysis saw segs.
func syntheticConn(server netip.AddrPort, segs ...reassembly.Segment) *reassembly.Conn {
	c := &reassembly.Conn{Stream: 3, Client: liveClient, Server: server, FirstFrame: 1, FirstTime: liveT0, Analyzer: new(reassembly.Analyzer)}
	for i := range segs {
		s := segs[i]
		if s.WindowScale == 0 {
			s.WindowScale = -1
		}
		c.Analyzer.Observe(&s)
		c.Packets++
		c.LastFrame, c.LastTime = s.Frame, s.Time
	}
	return c
}

var (
	synSeg     = reassembly.Segment{Frame: 1, Time: liveT0, Dir: reassembly.ClientToServer, Seq: 1000, SYN: true, Window: 64240}
	synRetry   = reassembly.Segment{Frame: 2, Time: liveAt(1), Dir: reassembly.ClientToServer, Seq: 1000, SYN: true, Window: 64240}
	synACKSeg  = reassembly.Segment{Frame: 2, Time: liveAt(0.001), Dir: reassembly.ServerToClient, Seq: 5000, Ack: 1001, SYN: true, ACK: true, Window: 65160}
	rstSeg     = reassembly.Segment{Frame: 2, Time: liveAt(0.001), Dir: reassembly.ServerToClient, Seq: 0, Ack: 1001, RST: true, ACK: true}
	clientData = reassembly.Segment{Frame: 3, Time: liveAt(0.01), Dir: reassembly.ClientToServer, Seq: 1001, Ack: 5001, ACK: true, Len: 24, CapturedLen: 24, Window: 500}
	dataSeg    = reassembly.Segment{Frame: 1, Time: liveT0, Dir: reassembly.ClientToServer, Seq: 1000, Ack: 5000, ACK: true, Len: 6, CapturedLen: 6, Window: 500}
)

// TestIncidentConnectionRules checks the rules of the connection itself:
// refused, unanswered, refused in the greeting.
func TestIncidentConnectionRules(t *testing.T) {
	rules := IncidentRules{EODTimeout: 2 * time.Second, ConnectTimeout: 3 * time.Second}
	other := netip.MustParseAddrPort("192.0.2.25:8080")
	tests := []struct {
		name     string
		conn     *reassembly.Conn
		smtpPort bool
		banner   *smtp.Reply
		now      float64
		timed    bool
		want     string // "kind@frame", "" for none
	}{
		{"refused", syntheticConn(liveServer, synSeg, rstSeg), true, nil, 0.001, true, "connect-refused@2"},
		{"refused, not an SMTP port", syntheticConn(other, synSeg, rstSeg), false, nil, 0.001, true, ""},
		{"SYN unanswered, in time", syntheticConn(liveServer, synSeg, synRetry), true, nil, 2.9, true, ""},
		{"SYN unanswered", syntheticConn(liveServer, synSeg, synRetry), true, nil, 3, true, "connect-timeout@1"},
		{"SYN unanswered, no sweep", syntheticConn(liveServer, synSeg, synRetry), true, nil, 9, false, ""},
		{"SYN unanswered, not an SMTP port", syntheticConn(other, synSeg, synRetry), false, nil, 9, true, ""},
		{"handshake done", syntheticConn(liveServer, synSeg, synACKSeg), true, nil, 9, true, ""},
		{"SYN+ACK not captured, client sends data", syntheticConn(liveServer, synSeg, clientData), true, nil, 9, true, ""},
		{"picked up mid-stream", syntheticConn(liveServer, dataSeg), true, nil, 9, true, ""},
		{"greeting 220", syntheticConn(liveServer, synSeg, synACKSeg), true, liveReply(220, 4, 0.01), 9, true, ""},
		{"greeting 421", syntheticConn(liveServer, synSeg, synACKSeg), true, liveReply(421, 4, 0.01), 0.01, false, "deferred@4"},
		{"greeting 554", syntheticConn(liveServer, synSeg, synACKSeg), true, liveReply(554, 4, 0.01), 0.01, false, "rejected@4"},
	}
	for _, tt := range tests {
		var w IncidentWatch
		f := &Facts{Conn: tt.conn, Session: &smtp.Session{Banner: tt.banner}, SMTPPort: tt.smtpPort}
		in := rules.Incidents(nil, &w, f, liveAt(tt.now), tt.timed)
		var got []string
		for _, i := range in {
			got = append(got, fmt.Sprintf("%s@%d", i.Kind, i.Frame))
			if i.Stream != 3 || i.Client != liveClient.String() || i.Server != tt.conn.Server.String() || i.Message != 0 {
				t.Errorf("%s: incident %+v does not name the connection", tt.name, i)
			}
		}
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("%s: check() = %q, want %q", tt.name, g, tt.want)
		}
		// Told once: the same facts later tell nothing.
		if again := rules.Incidents(nil, &w, f, liveAt(tt.now+60), true); len(again) != 0 && tt.want != "" {
			t.Errorf("%s: told again: %+v", tt.name, again)
		}
	}
}

// TestIncidentOnce follows one connection as its session grows and checks
// that every incident is told once, with its transaction number.
func TestIncidentOnce(t *testing.T) {
	rules := IncidentRules{EODTimeout: 2 * time.Second, ConnectTimeout: 3 * time.Second}
	c := syntheticConn(liveServer, synSeg, synACKSeg)
	var w IncidentWatch
	s := &smtp.Session{Banner: liveReply(220, 4, 0.01)}
	f := &Facts{Conn: c, Session: s, SMTPPort: true}
	var told []string
	step := func(now float64, timed bool) {
		for _, in := range rules.Incidents(nil, &w, f, liveAt(now), timed) {
			told = append(told, fmt.Sprintf("%s@%d#%d", in.Kind, in.Frame, in.Message))
		}
	}
	step(0.5, true)
	// Message 1 is delivered; message 2 waits past the timeout, then is
	// answered late; message 3 is rejected; message 4 waits.
	s.Transactions = append(s.Transactions, bodyDone())
	s.Transactions[0].Reply = liveReply(250, 21, 1.1)
	step(1.1, false)
	tx := bodyDone()
	tx.EndOfDataFrame, tx.EndOfDataTime = 40, liveAt(2)
	s.Transactions = append(s.Transactions, tx)
	for now := 2.0; now < 6; now += 0.2 {
		step(now, true)
	}
	s.Transactions[1].Reply = liveReply(250, 41, 6)
	step(6, false)
	tx = bodyDone()
	tx.EndOfDataFrame, tx.EndOfDataTime, tx.Reply = 50, liveAt(7), liveReply(552, 51, 7.1)
	s.Transactions = append(s.Transactions, tx)
	step(7.1, false)
	step(7.2, true)
	tx = bodyDone()
	tx.EndOfDataFrame, tx.EndOfDataTime = 60, liveAt(8)
	s.Transactions = append(s.Transactions, tx)
	step(8.5, true)
	step(10.2, true)
	// The client gives up on message 4: already told, not again.
	s.Transactions[3].Ended, s.Transactions[3].EndFrame, s.Transactions[3].EndTime = smtp.EndClientClosed, 70, liveAt(12)
	step(12, false)
	step(12.2, true)

	want := "eod-timeout@40#2 rejected@51#3 eod-timeout@60#4"
	if got := strings.Join(told, " "); got != want {
		t.Errorf("told %q, want %q", got, want)
	}
	if w.firstOpen != 4 {
		t.Errorf("firstOpen = %d, want 4: every message is done", w.firstOpen)
	}
	// Without a sweep during its wait, message 4's end tells it, once.
	told = nil
	var w2 IncidentWatch
	for _, in := range rules.Incidents(nil, &w2, f, liveAt(12.2), true) {
		told = append(told, fmt.Sprintf("%s@%d#%d", in.Kind, in.Frame, in.Message))
	}
	want = "rejected@51#3 eod-no-reply@70#4"
	if got := strings.Join(told, " "); got != want {
		t.Errorf("a fresh watch told %q, want %q", got, want)
	}
}
