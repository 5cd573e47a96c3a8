package bench

import (
	"fmt"
	"strings"
	"testing"
)

const checkReport = `{"schema":"smtpscope.report/v1","connections":[
 {"stream":0,"client":"198.18.0.1:40000","server":"198.19.0.10:25",
  "l4":{"retransmissions":1,"resets":0,"zero_windows":0,"analysis":{"out_of_order":{"count":0,"frames":[]}}},
  "smtp":{"transactions":[
   {"size":1000,"message_id":"<a@x>","outcome":"delivered","reply":{"code":250},"diagnosis":{"cause":"ok"}},
   {"size":0,"outcome":"deferred","reply":null,"rcpts":[{"reply":{"code":450}}],"diagnosis":{"cause":"deferred"}}]}},
 {"stream":1,"client":"198.18.0.2:40000","server":"198.19.0.10:25",
  "l4":{"retransmissions":0,"resets":1,"zero_windows":0},
  "smtp":{"transactions":[
   {"size":777,"message_id":"<b@x>","outcome":"aborted","reply":null,"rcpts":[{"reply":{"code":550}},{"reply":{"code":250}}],"diagnosis":{"cause":"reset-by-server"}}]}}]}`

const checkStream0 = `{"stream":0,"client":"198.18.0.1:40000","server":"198.19.0.10:25","fault":"packet-loss-rto",` +
	`"l4":{"retransmissions":1,"out_of_order":0,"zero_windows":0,"resets":0},"messages":[` +
	`{"message_id":"<a@x>","size":1000,"recipients":1,"outcome":"delivered","code":250,"cause":"ok"},` +
	`{"message_id":"","size":0,"recipients":1,"outcome":"deferred","code":450,"cause":"deferred"}]}`

const checkStream1 = `{"stream":1,"client":"198.18.0.2:40000","server":"198.19.0.10:25","fault":"reset-by-server",` +
	`"l4":{"retransmissions":0,"out_of_order":0,"zero_windows":0,"resets":1},"messages":[` +
	`{"message_id":"<b@x>","size":5000,"recipients":2,"outcome":"aborted","code":0,"cause":"reset-by-server"}]}`

// checkTLSStream expects one inferred message of 1000 bytes inside TLS.
const checkTLSStream = `{"stream":0,"client":"198.18.0.1:40000","server":"198.19.0.10:25","fault":"none","tls":"TLS 1.3",` +
	`"l4":{"retransmissions":0,"out_of_order":0,"zero_windows":0,"resets":0},"messages":[` +
	`{"message_id":"","size":1000,"recipients":1,"outcome":"unknown","code":0,"cause":"ok","inferred":true}]}`

// checkTLSReport is a report of that session with the inferred size range.
func checkTLSReport(lo, hi int) string {
	return fmt.Sprintf(`{"connections":[{"stream":0,"client":"198.18.0.1:40000","server":"198.19.0.10:25","l4":{"retransmissions":0},`+
		`"smtp":{"transactions":[{"size":%d,"outcome":"unknown","inferred":true,"size_min":%d,"size_max":%d,"reply":null,"diagnosis":{"cause":"ok"}}]}}]}`, hi, lo, hi)
}

// checkBDATReport is a BDAT session: its one transaction's second chunk
// was refused 552, and the client reset.
const checkBDATReport = `{"connections":[{"stream":0,"client":"198.18.0.1:40000","server":"198.19.0.10:25","l4":{},"smtp":{` +
	`"commands":[{"verb":"EHLO","frame":4,"reply":{"code":250}},{"verb":"MAIL","frame":6,"reply":{"code":250}},{"verb":"RCPT","frame":8,"reply":{"code":250}},` +
	`{"verb":"BDAT","frame":10,"reply":{"code":250}},{"verb":"BDAT","frame":13,"reply":{"code":552}},{"verb":"RSET","frame":15,"reply":{"code":250}}],` +
	`"transactions":[{"mail_frame":6,"method":"BDAT","size":3000,"message_id":"<c@x>","outcome":"rejected","reply":null,"rcpts":[{"reply":{"code":250}}],"diagnosis":{"cause":"rejected"}}]}}]}`

// checkHiddenMailReport is a BDAT session of two transactions, the
// second's pipelined MAIL hidden by capture loss (mail_frame 0), its one
// chunk refused 552.
const checkHiddenMailReport = `{"connections":[{"stream":0,"client":"198.18.0.1:40000","server":"198.19.0.10:25","l4":{"client":{"unseen_bytes":40}},"smtp":{` +
	`"commands":[{"verb":"MAIL","frame":6,"reply":{"code":250}},{"verb":"RCPT","frame":6,"reply":{"code":250}},` +
	`{"verb":"BDAT","frame":10,"reply":{"code":250}},{"verb":"BDAT","frame":11,"reply":{"code":250,"frame":12}},` +
	`{"verb":"RCPT","frame":20,"reply":{"code":250}},{"verb":"BDAT","frame":22,"reply":{"code":552,"frame":23}}],` +
	`"transactions":[{"mail_frame":6,"size":3000,"message_id":"<e@x>","outcome":"delivered","reply":{"code":250,"frame":12},"diagnosis":{"cause":"ok"}},` +
	`{"mail_frame":0,"size":2000,"message_id":"<f@x>","outcome":"rejected","reply":null,"diagnosis":{"cause":"rejected"}}]}}]}`

const checkHiddenMailStream = `{"stream":0,"client":"198.18.0.1:40000","server":"198.19.0.10:25","fault":"rejected","bdat":true,` +
	`"capture_loss":"client-pipelined","unseen":{"client":40,"server":0},"l4":{},"messages":[` +
	`{"message_id":"<e@x>","size":3000,"recipients":1,"outcome":"delivered","code":250,"cause":"ok","chunks":2,"last":true},` +
	`{"message_id":"<f@x>","size":2000,"recipients":1,"outcome":"rejected","code":552,"cause":"rejected","chunks":1,"last":true,"lost":"client-pipelined","unknown_ok":true}]}`

func checkBDATStream(chunks int) string {
	return fmt.Sprintf(`{"stream":0,"client":"198.18.0.1:40000","server":"198.19.0.10:25","fault":"rejected","bdat":true,`+
		`"l4":{},"messages":[{"message_id":"<c@x>","size":3000,"recipients":1,"outcome":"rejected","code":552,"cause":"rejected","chunks":%d}]}`, chunks)
}

// checkLossReport is a session whose one transaction has the given
// outcome and cause, and its expectation one whose capture lacks a frame.
func checkLossReport(outcome, cause string) string {
	return fmt.Sprintf(`{"connections":[{"stream":0,"client":"198.18.0.1:40000","server":"198.19.0.10:25","l4":{},"smtp":{"transactions":[`+
		`{"size":1000,"message_id":"<d@x>","outcome":%q,"reply":null,"diagnosis":{"cause":%q}}]}}]}`, outcome, cause)
}

const (
	// checkLostFinal: the capture lacks the reply to end-of-data.
	checkLostFinal = `{"stream":0,"client":"198.18.0.1:40000","server":"198.19.0.10:25","fault":"none","capture_loss":"server-final","l4":{},` +
		`"messages":[{"message_id":"<d@x>","size":1000,"recipients":1,"outcome":"unknown","code":0,"cause":"capture-incomplete","lost":"server-final","wire_outcome":"delivered"}]}`
	// checkLostBody: the capture lacks a body segment; the outcome is proven.
	checkLostBody = `{"stream":0,"client":"198.18.0.1:40000","server":"198.19.0.10:25","fault":"none","capture_loss":"client-body","l4":{},` +
		`"messages":[{"message_id":"<d@x>","size":1000,"recipients":1,"outcome":"no-reply","code":0,"cause":"eod-no-reply","lost":"client-body","unknown_ok":true}]}`
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		report string
		expect string
		want   []string // Mismatch.String() of each
	}{
		{"all agree (aborted size not compared, partial refusal decides nothing)", checkReport,
			checkStream0 + "\n" + checkStream1 + "\n", nil},
		{"outcome, code and cause differ", strings.Replace(checkReport, `"outcome":"delivered","reply":{"code":250},"diagnosis":{"cause":"ok"}`,
			`"outcome":"no-reply","reply":null,"diagnosis":{"cause":"eod-no-reply"}`, 1),
			checkStream0 + "\n" + checkStream1, []string{
				"stream 0 (packet-loss-rto): message[0].outcome: want delivered, got no-reply",
				"stream 0 (packet-loss-rto): message[0].code: want 250, got 0",
				"stream 0 (packet-loss-rto): message[0].cause: want ok, got eod-no-reply",
			}},
		{"L4 count and size differ", strings.Replace(strings.Replace(checkReport, `"retransmissions":1`, `"retransmissions":2`, 1),
			`"size":1000`, `"size":999`, 1),
			checkStream0, []string{
				"stream 0 (packet-loss-rto): l4.retransmissions: want 1, got 2",
				"stream 0 (packet-loss-rto): message[0].size: want 1000, got 999",
				"stream 1 (): connection: want none, got 198.18.0.2:40000 -> 198.19.0.10:25",
			}},
		{"verdict differs", strings.Replace(checkReport, `"l4":{"retransmissions":1`, `"l4":{"verdict":"degraded","retransmissions":1`, 1),
			strings.Replace(checkStream0, `"fault":"packet-loss-rto",`, `"fault":"spurious-retransmission","shape":"tail-loss-probe","l4_verdict":"healthy",`, 1) + "\n" + checkStream1, []string{
				"stream 0 (spurious-retransmission, tail-loss-probe): l4.verdict: want healthy, got degraded",
			}},
		{"inferred: size range holds message and end-of-data line", checkTLSReport(1000, 1005), checkTLSStream, nil},
		{"inferred: size out of range", checkTLSReport(1004, 1010), checkTLSStream, []string{
			"stream 0 (none, TLS 1.3): message[0].size: want 1003, got [1004, 1010]",
		}},
		{"inferred expected, clear reported", strings.Replace(checkTLSReport(1000, 1005), `"inferred":true,`, ``, 1), checkTLSStream, []string{
			"stream 0 (none, TLS 1.3): message[0].inferred: want true, got false",
		}},
		{"BDAT: a refused chunk decides, chunks counted", checkBDATReport, checkBDATStream(2), nil},
		{"BDAT: chunks differ", checkBDATReport, checkBDATStream(3), []string{
			"stream 0 (rejected, BDAT): message[0].chunks: want 3, got 2",
		}},
		{"BDAT: a transaction's chunks end at its final reply; a hidden MAIL's follow the previous one", checkHiddenMailReport, checkHiddenMailStream, nil},
		{"capture loss: unknown where the capture lacks the final reply", checkLossReport("unknown", "capture-incomplete"), checkLostFinal, nil},
		{"capture loss: a failure the capture does not prove is a false claim", checkLossReport("no-reply", "eod-no-reply"), checkLostFinal, []string{
			"stream 0 (none, capture lacks server-final): message[0].false-claim: want unknown, got no-reply",
			"stream 0 (none, capture lacks server-final): message[0].cause: want capture-incomplete, got eod-no-reply",
		}},
		{"capture loss: the wire's outcome where the capture proves it", checkLossReport("no-reply", "eod-no-reply"), checkLostBody, nil},
		{"capture loss: unknown allowed where proven, with its cause", checkLossReport("unknown", "capture-incomplete"), checkLostBody, nil},
		{"capture loss: unknown allowed, but not with another cause", checkLossReport("unknown", "ok"), checkLostBody, []string{
			"stream 0 (none, capture lacks client-body): message[0].cause: want capture-incomplete, got ok",
		}},
		{"capture loss: another failure than the proven one is a false claim", checkLossReport("aborted", "packet-loss"), checkLostBody, []string{
			"stream 0 (none, capture lacks client-body): message[0].false-claim: want no-reply, got aborted",
			"stream 0 (none, capture lacks client-body): message[0].cause: want eod-no-reply, got packet-loss",
		}},
		{"a gap on a side the capture lost nothing of is reassembly's", strings.Replace(checkLossReport("unknown", "capture-incomplete"),
			`"l4":{}`, `"l4":{"client":{"missed_bytes":1460}}`, 1), checkLostFinal, []string{
			"stream 0 (none, capture lacks server-final): l4.client.missed_bytes: want 0, got 1460",
		}},
		{"a gap on a side the capture lacks bytes of is expected", strings.Replace(checkLossReport("no-reply", "eod-no-reply"),
			`"l4":{}`, `"l4":{"client":{"unseen_bytes":1460,"missed_bytes":1460}}`, 1),
			strings.Replace(checkLostBody, `"l4":{}`, `"l4":{},"unseen":{"client":1460,"server":0}`, 1), nil},
		{"connection missing", `{"connections":[]}`, checkStream1, []string{
			"stream 1 (reset-by-server): connection: want 198.18.0.2:40000 -> 198.19.0.10:25, got missing",
		}},
	}
	for _, tt := range tests {
		res, err := Check(strings.NewReader(tt.report), strings.NewReader(tt.expect))
		if err != nil {
			t.Fatalf("%s: Check: %v", tt.name, err)
		}
		var got []string
		for _, m := range res.Mismatches {
			got = append(got, m.String())
		}
		if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
			t.Errorf("%s: mismatches\n%s\nwant\n%s", tt.name, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
		}
	}
}

func TestCheckInvalid(t *testing.T) {
	tests := []struct{ name, report, expect string }{
		{"report not JSON", "nope", checkStream0},
		{"expectation not JSON", checkReport, "{"},
	}
	for _, tt := range tests {
		if _, err := Check(strings.NewReader(tt.report), strings.NewReader(tt.expect)); err == nil {
			t.Errorf("%s: Check = nil error, want one", tt.name)
		}
	}
}

func TestByField(t *testing.T) {
	r := CheckResult{Mismatches: []Mismatch{{Field: "message[0].code"}, {Field: "l4.resets"}, {Field: "message[2].code"}}}
	got := r.ByField()
	want := []FieldCount{{"message[].code", 2}, {"l4.resets", 1}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ByField() = %v, want %v", got, want)
	}
}

// FuzzCheck: any report and expectations give a result or an error, never
// a panic.
func FuzzCheck(f *testing.F) {
	f.Add(checkReport, checkStream0+"\n"+checkStream1)
	f.Add(checkTLSReport(1000, 1005), checkTLSStream)
	f.Add(checkBDATReport, checkBDATStream(2))
	f.Add(checkLossReport("unknown", "ok"), checkLostBody)
	f.Add(`{"connections":[{"stream":0,"smtp":{"transactions":[{}]}}]}`, `{"stream":0,"messages":[{},{}]}`)
	f.Add("", "")
	f.Fuzz(func(t *testing.T, report, expect string) {
		res, err := Check(strings.NewReader(report), strings.NewReader(expect))
		if err == nil {
			for _, m := range res.Mismatches {
				_ = m.String()
			}
			res.ByField()
		}
	})
}

// TestCheckCounts: a failure the capture does not prove counts as a false
// claim, and unknown where the capture proves the outcome as an honest
// unknown, apart from the mismatches.
func TestCheckCounts(t *testing.T) {
	tests := []struct {
		name                  string
		report, expect        string
		falseClaims, unknowns int
	}{
		{"unproven no-reply", checkLossReport("no-reply", "eod-no-reply"), checkLostFinal, 1, 0},
		{"unknown where lost", checkLossReport("unknown", "capture-incomplete"), checkLostFinal, 0, 0},
		{"unknown where proven", checkLossReport("unknown", "capture-incomplete"), checkLostBody, 0, 1},
		{"proven no-reply", checkLossReport("no-reply", "eod-no-reply"), checkLostBody, 0, 0},
		{"other failure than the proven one", checkLossReport("aborted", "packet-loss"), checkLostBody, 1, 0},
	}
	for _, tt := range tests {
		res, err := Check(strings.NewReader(tt.report), strings.NewReader(tt.expect))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if res.FalseClaims != tt.falseClaims || res.Unknown != tt.unknowns {
			t.Errorf("%s: %d false claims, %d unknowns; want %d, %d", tt.name, res.FalseClaims, res.Unknown, tt.falseClaims, tt.unknowns)
		}
	}
}
