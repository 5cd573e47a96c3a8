package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/report"
)

// logReport runs analyze --format json with logs and decodes the report.
func logReport(t *testing.T, args ...string) (jsonReport, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	status := run(append([]string{"analyze", "--format", "json"}, args...), nil, &out, &errOut)
	if status == exitError {
		t.Fatalf("analyze %v: status %d: %s", args, status, errOut.String())
	}
	var rep jsonReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("analyze %v: %v", args, err)
	}
	return rep, errOut.String()
}

type jsonReport struct {
	Logs []struct {
		Name         string
		Format       string
		Sessions     int
		Matched      int
		SkewMS       float64 `json:"skew_ms"`
		SkewFrom     int     `json:"skew_from"`
		SkewMaxMS    float64 `json:"skew_max_ms"`
		ResolutionMS float64 `json:"resolution_ms"`
		Clock        string
		Error        string
		Unmatched    []struct{ Why string }
	}
	Unmatched   []struct{ Why string } `json:"log_unmatched_connections"`
	Connections []struct {
		Stream    int
		Client    string
		Server    string
		Diagnosis struct{ Cause string }
		Log       []struct {
			Source string
			Line   int
			Text   string
		}
		LogMatch *struct {
			Method       string
			SkewMS       float64 `json:"skew_ms"`
			Explanations []string
			Sessions     []struct{ Role string }
		} `json:"log_match"`
	}
}

// TestLogJoinLab joins each lab scenario's log made by real Postfix (and
// the Exchange-format logs written from the lab client's record) to its
// capture: every session and every SMTP connection must match, and the
// failing connection's explanation must say what the wire shows.
func TestLogJoinLab(t *testing.T) {
	scen := "../../testdata/scenarios/"
	tests := []struct {
		capture, log string
		cause        string   // of the failing connection
		explain      []string // in its explanation
	}{
		{"postfix/postfix-relay-stall.pcapng", "postfix/postfix-relay-stall.maillog", "eod-no-reply",
			[]string{"timed out while sending end of data", "sent nothing after the end-of-data in frame", "Postfix wrote this itself"}},
		{"postfix/postfix-eod-451.pcapng", "postfix/postfix-eod-451.maillog", "deferred",
			[]string{"said: 451 4.3.0", "the server sent 451 4.3.0 in frame", "agree"}},
		// Postfix through syslog(3) to a real rsyslogd: its traditional
		// and its RFC 3339 file formats.
		{"postfix/postfix-relay-stall-syslog.pcapng", "postfix/postfix-relay-stall-syslog.mail.log", "eod-no-reply",
			[]string{"timed out while sending end of data", "sent nothing after the end-of-data in frame", "Postfix wrote this itself"}},
		{"postfix/postfix-relay-stall-syslog.pcapng", "postfix/postfix-relay-stall-syslog.mail-rfc3339.log", "eod-no-reply",
			[]string{"timed out while sending end of data", "sent nothing after the end-of-data in frame", "Postfix wrote this itself"}},
		// A real Exim's main log (Debian's 4.96, unpacked beside postfix).
		{"exim/exim-relay-stall.pcapng", "exim/exim-relay-stall.mainlog", "eod-no-reply",
			[]string{"SMTP timeout after end of data", "sent nothing after the end-of-data in frame", "Exim wrote this itself"}},
		{"postfix/postfix-reset.pcapng", "postfix/postfix-reset.maillog", "reset-by-server",
			[]string{"lost connection with", "the server reset the connection (RST) in frame", "during the message body"}},
		{"captures/relay-stall.pcapng", "exchange/relay-stall.SEND.LOG", "eod-no-reply",
			[]string{"logged \"354 Go ahead", "sent nothing at all after the end-of-data in frame 1222", "421 4.4.2 Connection dropped", "Exchange's own"}},
		{"captures/eod-451.pcapng", "exchange/eod-451.SEND.LOG", "deferred",
			[]string{"451 4.3.0", "agree"}},
		{"captures/reset-mid-data.pcapng", "exchange/reset-mid-data.SEND.LOG", "reset-by-server",
			[]string{"the connection dropped", "reset the connection (RST)"}},
	}
	for _, tt := range tests {
		t.Run(tt.log, func(t *testing.T) {
			rep, _ := logReport(t, "--log", scen+tt.log, scen+tt.capture)
			checkAllMatched(t, rep)
			found := false
			for _, c := range rep.Connections {
				if c.Diagnosis.Cause != tt.cause {
					continue
				}
				found = true
				if c.LogMatch == nil {
					t.Fatalf("stream %d (%s): no log match", c.Stream, tt.cause)
				}
				all := strings.Join(c.LogMatch.Explanations, " ")
				for _, w := range tt.explain {
					if !strings.Contains(all, w) {
						t.Errorf("stream %d: explanation %q lacks %q", c.Stream, all, w)
					}
				}
			}
			if !found {
				t.Errorf("no connection diagnosed %s", tt.cause)
			}
			probe := map[string]string{"postfix/": "lost connection after CONNECT", "exim/": "SMTP connection from [127.0.0.1]:"}
			words, ok := probe[tt.log[:strings.IndexByte(tt.log, '/')+1]]
			if !ok {
				return
			}
			// The lab's probe that the MTA listens: the MTA's own words
			// about its client, set beside the client's RST.
			for _, c := range rep.Connections {
				if c.Stream == 0 {
					all := ""
					if c.LogMatch != nil {
						all = strings.Join(c.LogMatch.Explanations, " ")
					}
					if !strings.Contains(all, words) || !strings.Contains(all, "the client closed the connection (RST)") {
						t.Errorf("probe connection: explanation %q", all)
					}
				}
			}
		})
	}
}

func checkAllMatched(t *testing.T, rep jsonReport) {
	t.Helper()
	for _, l := range rep.Logs {
		if l.Error != "" || l.Sessions == 0 || l.Matched != l.Sessions || len(l.Unmatched) != 0 {
			t.Errorf("log %s: %d of %d sessions matched (%v) %s", l.Name, l.Matched, l.Sessions, l.Unmatched, l.Error)
		}
	}
	if len(rep.Unmatched) != 0 {
		t.Errorf("unmatched connections: %v", rep.Unmatched)
	}
	for _, c := range rep.Connections {
		for _, l := range c.Log {
			if l.Line < 1 || l.Source == "" || l.Text == "" {
				t.Errorf("stream %d: log line %+v", c.Stream, l)
			}
		}
	}
}

// shiftLog rewrites every time stamp of a log by d: "Dec 01 22:28:49"
// (Postfix maillog_file, rsyslog's traditional format),
// "2026-11-27T05:22:17.892Z" (Exchange), "2026-12-02T01:33:09.159709+00:00"
// (rsyslog's RFC 3339) or "2026-12-02 01:50:54.380" (Exim, +millisec).
func shiftLog(t *testing.T, src, dst string, d time.Duration) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	syslog := regexp.MustCompile(`(?m)^[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d`)
	iso := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`)
	out := syslog.ReplaceAllStringFunc(string(data), func(s string) string {
		tm, err := time.Parse("Jan _2 15:04:05", strings.Replace(s, " 0", "  ", 1))
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return tm.Add(d).Format("Jan 02 15:04:05")
	})
	out = iso.ReplaceAllStringFunc(out, func(s string) string {
		tm, _ := time.Parse(time.RFC3339Nano, s)
		return tm.Add(d).UTC().Format("2006-01-02T15:04:05.000Z")
	})
	rfc3339 := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00`)
	out = rfc3339.ReplaceAllStringFunc(out, func(s string) string {
		tm, _ := time.Parse(time.RFC3339Nano, s)
		return tm.Add(d).UTC().Format("2006-01-02T15:04:05.000000-07:00")
	})
	exim := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}`)
	out = exim.ReplaceAllStringFunc(out, func(s string) string {
		tm, _ := time.Parse("2006-01-02 15:04:05.000", s)
		return tm.Add(d).Format("2006-01-02 15:04:05.000")
	})
	if err := os.WriteFile(dst, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLogJoinSkew: the same logs with their clocks 90 s fast or slow
// still match every session, and the skew is reported.
func TestLogJoinSkew(t *testing.T) {
	scen := "../../testdata/scenarios/"
	dir := t.TempDir()
	for _, tt := range []struct{ capture, log string }{
		{"postfix/postfix-relay-stall.pcapng", "postfix/postfix-relay-stall.maillog"},
		{"captures/relay-stall.pcapng", "exchange/relay-stall.SEND.LOG"},
		{"postfix/postfix-relay-stall-syslog.pcapng", "postfix/postfix-relay-stall-syslog.mail.log"},
		{"postfix/postfix-relay-stall-syslog.pcapng", "postfix/postfix-relay-stall-syslog.mail-rfc3339.log"},
		{"exim/exim-relay-stall.pcapng", "exim/exim-relay-stall.mainlog"},
		// Postfix stamps status=sent from a cached clock: a second early.
		{"postfix/postfix-callout.pcapng", "postfix/postfix-callout.maillog"},
	} {
		base, _ := logReport(t, "--log", scen+tt.log, scen+tt.capture)
		// Each lab log shares the capture's clock: the report may not
		// claim a skew, and its bound must allow zero.
		if b := base.Logs[0]; b.Clock == report.ClockBehind || b.SkewMaxMS < 0 {
			t.Errorf("%s: clock %q, skew_max_ms %.3f: a skew claimed on a shared clock", tt.log, b.Clock, b.SkewMaxMS)
		}
		for _, d := range []time.Duration{90 * time.Second, -90 * time.Second} {
			shifted := filepath.Join(dir, filepath.Base(tt.log))
			shiftLog(t, scen+tt.log, shifted, d)
			rep, _ := logReport(t, "--log", shifted, scen+tt.capture)
			checkAllMatched(t, rep)
			got, want := rep.Logs[0].SkewMS, base.Logs[0].SkewMS+float64(d.Milliseconds())
			if math.Abs(got-want) > 1 || rep.Logs[0].SkewFrom == 0 {
				t.Errorf("%s shifted %v: skew %.0f ms from %d sessions, want %.0f", tt.log, d, got, rep.Logs[0].SkewFrom, want)
			}
			// 90 s slow is proven (lines before their connections); 90 s
			// fast reads as lines written late, which it could be.
			l := rep.Logs[0]
			switch {
			case d < 0 && (l.Clock != report.ClockBehind || l.SkewMaxMS < -90000 || l.SkewMaxMS > -89000+l.ResolutionMS):
				t.Errorf("%s shifted %v: clock %q, skew_max_ms %.3f; want behind by 89 s less one stamp unit (%.0f ms) to 90 s", tt.log, d, l.Clock, l.SkewMaxMS, l.ResolutionMS)
			case d > 0 && l.Clock != report.ClockLateOrAhead:
				t.Errorf("%s shifted %v: clock %q, want %q", tt.log, d, l.Clock, report.ClockLateOrAhead)
			}
			for _, c := range rep.Connections {
				if c.LogMatch != nil && math.Abs(c.LogMatch.SkewMS-got) > 0.001 {
					t.Errorf("stream %d: log_match skew %.0f, log's %.0f", c.Stream, c.LogMatch.SkewMS, got)
				}
			}
		}
	}
}

// TestLogBadInput: a log of no known format, a binary one and a missing
// one are each one line on stderr and an entry in the report, which is
// still made.
func TestLogBadInput(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "notes.txt")
	binary := filepath.Join(dir, "blob.bin")
	os.WriteFile(unknown, []byte("hello\nworld\n"), 0o644)
	os.WriteFile(binary, []byte("\x00\x01\x02\xff\xfe"), 0o644)
	rep, stderr := logReport(t, "--log", unknown, "--log", binary, "--log", filepath.Join(dir, "missing.log"),
		"../../testdata/scenarios/captures/relay-stall.pcapng")
	if lines := strings.Count(stderr, "\n"); lines != 3 || !strings.Contains(stderr, "not an MTA log of a known format") {
		t.Errorf("stderr: %q", stderr)
	}
	if len(rep.Logs) != 3 || len(rep.Connections) != 1 {
		t.Fatalf("report: %d logs, %d connections", len(rep.Logs), len(rep.Connections))
	}
	for _, l := range rep.Logs {
		if l.Error == "" {
			t.Errorf("log %s: no error", l.Name)
		}
	}
	// Nothing matched: the connection is listed, with why.
	if len(rep.Unmatched) != 1 || rep.Unmatched[0].Why == "" {
		t.Errorf("unmatched connections: %+v", rep.Unmatched)
	}
}

// TestLogRedact: --redact hides the addresses in log lines and
// explanations too, in every format, and the syslog host field even
// without a dot ("mta" in "Dec 01 22:29:00 mta postfix/smtp[…]").
func TestLogRedact(t *testing.T) {
	scen := "../../testdata/scenarios/"
	dotless := regexp.MustCompile(`(^|[^\w.-])mta([^\w.-]|$)`)
	for _, format := range []string{"json", "text", "markdown", "html"} {
		var out, errOut bytes.Buffer
		run([]string{"analyze", "--format", format, "--all", "--redact", "--log", scen + "postfix/postfix-relay-stall.maillog", scen + "postfix/postfix-relay-stall.pcapng"}, nil, &out, &errOut)
		for _, secret := range []string{"127.0.0.2", "127.0.0.1", "relay.lab.test", "sender@client.lab.test", "mta.lab.test"} {
			if strings.Contains(out.String(), secret) {
				i := strings.Index(out.String(), secret)
				t.Errorf("%s: redacted report shows %q: …%s…", format, secret, out.String()[max(0, i-80):min(out.Len(), i+40)])
			}
		}
		if loc := dotless.FindStringIndex(out.String()); loc != nil {
			t.Errorf("%s: redacted report shows the syslog host: …%s…", format, out.String()[max(0, loc[0]-80):min(out.Len(), loc[1]+40)])
		}
		if !strings.Contains(out.String(), "postfix/smtp[") {
			t.Errorf("%s: no log line in the redacted report", format)
		}
	}
	// Redaction hides; it must not change what matches (the Message-IDs
	// the join uses are the real ones).
	rep, _ := logReport(t, "--redact", "--log", scen+"postfix/postfix-relay-stall.maillog", scen+"postfix/postfix-relay-stall.pcapng")
	if len(rep.Logs) != 1 || rep.Logs[0].Matched != 4 || len(rep.Unmatched) != 0 {
		t.Errorf("redacted join: %+v, unmatched connections %+v; want all 4 sessions matched", rep.Logs, rep.Unmatched)
	}
}

// TestReadmeLogExample keeps the README's worked example of --log honest:
// every line of its sample (but the "…" that shortens it) must be in what
// the command prints today, in that order.
func TestReadmeLogExample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "## Joining the MTA's own logs")
	if !ok {
		t.Fatal("README has no \"Joining the MTA's own logs\" section")
	}
	_, block, _ := strings.Cut(after, "```\n")
	sample, _, _ := strings.Cut(block, "```")
	var out, errOut bytes.Buffer
	old, _ := os.Getwd()
	if err := os.Chdir(repoRoot); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(old)
	run([]string{"analyze", "--color", "never", "--log", "testdata/scenarios/postfix/postfix-relay-stall.maillog",
		"testdata/scenarios/postfix/postfix-relay-stall.pcapng"}, nil, &out, &errOut)
	got := out.String()
	for _, l := range strings.Split(strings.TrimSpace(sample), "\n") {
		if l == "…" {
			continue
		}
		i := strings.Index(got, l+"\n")
		if i < 0 {
			t.Fatalf("README sample line not in the output (or out of order): %q\noutput:\n%s", l, out.String())
		}
		got = got[i+len(l):]
	}
}

// TestLogDisagreement: where the log and the wire tell different stories,
// the report says so rather than explaining one by the other. The lab's
// logs are edited to claim what the capture does not have.
func TestLogDisagreement(t *testing.T) {
	scen := "../../testdata/scenarios/"
	dir := t.TempDir()
	edit := func(src, old, new string) string {
		data, err := os.ReadFile(scen + src)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), old) {
			t.Fatalf("%s lacks %q", src, old)
		}
		dst := filepath.Join(dir, filepath.Base(src))
		os.WriteFile(dst, []byte(strings.Replace(string(data), old, new, 1)), 0o644)
		return dst
	}
	tests := []struct {
		name, capture, log string
		want               string
	}{
		{"a reply the wire does not have", "captures/relay-stall.pcapng",
			edit("exchange/relay-stall.SEND.LOG", "20,127.0.0.1:40001,127.0.0.1:25,-,,Local",
				"20,127.0.0.1:40001,127.0.0.1:25,<,452 4.3.1 Insufficient system storage,\r\n2026-11-27T05:22:28.944Z,Outbound to relay,08DE01A21B7452A4,21,127.0.0.1:40001,127.0.0.1:25,-,,Local"),
			"the capture has no 452 reply on this connection: the log and the wire disagree"},
		{"a timeout where the wire has a reply", "postfix/postfix-eod-451.pcapng",
			edit("postfix/postfix-eod-451.maillog", "host 127.0.0.2[127.0.0.2] said: 451 4.3.0 Temporary local problem - please try later (in reply to end of DATA command)",
				"conversation with 127.0.0.2[127.0.0.2] timed out while sending end of data -- message may be sent more than once"),
			"but on the wire the server answered the end-of-data with 451 4.3.0 in frame"},
	}
	for _, tt := range tests {
		rep, _ := logReport(t, "--log", tt.log, scen+tt.capture)
		var all []string
		for _, c := range rep.Connections {
			if c.LogMatch != nil {
				all = append(all, c.LogMatch.Explanations...)
			}
		}
		if got := strings.Join(all, "\n"); !strings.Contains(got, tt.want) {
			t.Errorf("%s: explanations\n%s\nlack %q", tt.name, got, tt.want)
		}
	}
}

// TestLogHTML: the HTML page sets the log lines beside the wire events
// of the failing connection, escaped.
func TestLogHTML(t *testing.T) {
	scen := "../../testdata/scenarios/"
	var out, errOut bytes.Buffer
	run([]string{"analyze", "--format", "html", "--log", scen + "postfix/postfix-relay-stall.maillog", scen + "postfix/postfix-relay-stall.pcapng"}, nil, &out, &errOut)
	page := out.String()
	for _, want := range []string{"<strong>MTA log</strong>", "timed out while sending end of data", "to=&lt;rcpt@relay.lab.test&gt;", "Postfix wrote this itself"} {
		if !strings.Contains(page, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
}

// TestLogOtherRuns: the three Postfix runs share addresses, ports and
// relay and lie seconds apart; given all three logs, each capture matches
// only its own run's log (the others' Message-IDs and queue IDs rule them
// out, rather than a made-up clock skew letting them in).
func TestLogOtherRuns(t *testing.T) {
	scen := "../../testdata/scenarios/postfix/"
	logs, err := filepath.Glob(scen + "*.maillog")
	if err != nil || len(logs) < 3 {
		t.Fatalf("%d maillogs: %v", len(logs), err)
	}
	for _, run := range []string{"postfix-relay-stall", "postfix-eod-451", "postfix-reset"} {
		rep, _ := logReport(t, "--log", scen+"*.maillog", scen+run+".pcapng")
		if len(rep.Logs) != len(logs) {
			t.Fatalf("%s: %d logs, want the %d the glob matches", run, len(rep.Logs), len(logs))
		}
		for _, l := range rep.Logs {
			want := 0
			if strings.HasSuffix(l.Name, run+".maillog") {
				want = l.Sessions
			}
			if l.Matched != want {
				t.Errorf("capture %s, log %s: %d of %d sessions matched, want %d", run, l.Name, l.Matched, l.Sessions, want)
			}
		}
		if len(rep.Unmatched) != 0 {
			t.Errorf("%s: unmatched connections %v", run, rep.Unmatched)
		}
	}
}

// TestLogClockReplyAnchor: a sending Postfix writes its only line about a
// session, the delivery verdict, at the session's end, long after the
// connection opened; the verdict quotes the relay's end-of-data reply and
// cannot be written before it, so a clock 10 ms slow is proven behind
// even though the line comes 25 ms after the connection's first packet.
// Real input: rsyslog's RFC 3339 file of the Postfix lab, its smtp client
// lines only.
func TestLogClockReplyAnchor(t *testing.T) {
	scen := "../../testdata/scenarios/postfix/"
	data, err := os.ReadFile(scen + "postfix-relay-stall-syslog.mail-rfc3339.log")
	if err != nil {
		t.Fatal(err)
	}
	var client []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, " postfix/smtp[") {
			client = append(client, l)
		}
	}
	dir := t.TempDir()
	only, shifted := filepath.Join(dir, "client.log"), filepath.Join(dir, "client-slow.log")
	os.WriteFile(only, []byte(strings.Join(client, "\n")+"\n"), 0o644)
	shiftLog(t, only, shifted, -10*time.Millisecond)
	for _, tt := range []struct {
		log   string
		clock string
	}{{only, report.ClockLateOrAhead}, {shifted, report.ClockBehind}} {
		rep, _ := logReport(t, "--log", tt.log, scen+"postfix-relay-stall-syslog.pcapng")
		l := rep.Logs[0]
		if l.Matched != 2 || l.Clock != tt.clock {
			t.Errorf("%s: %d sessions matched, clock %q skew_max_ms %.3f; want 2, %q", filepath.Base(tt.log), l.Matched, l.Clock, l.SkewMaxMS, tt.clock)
		}
		if tt.clock == report.ClockBehind && (l.SkewMaxMS < -10 || l.SkewMaxMS > -9) {
			t.Errorf("%s: skew_max_ms %.3f, want -10 to -9 (the verdict 0.4 ms after the reply)", filepath.Base(tt.log), l.SkewMaxMS)
		}
	}
}
