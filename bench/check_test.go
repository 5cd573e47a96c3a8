package bench

import (
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
