package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/pipeline"
	"github.com/smtpscope/smtpscope/tlsrecord"
	"github.com/smtpscope/smtpscope/wiring"
)

// TestInferredMarkedInEveryFormat: a transaction inferred from TLS records
// (no key) says so wherever it is shown — the text line, the Markdown and
// HTML message titles and body facts, the one-line list of the other
// messages — and never reads as a plaintext transaction ("none sent",
// "via DATA"). The plaintext seed incident shows no such mark.
func TestInferredMarkedInEveryFormat(t *testing.T) {
	const mark = "inferred from TLS records"
	for _, name := range []string{"tls-stall-12", "tls-stall-13", "tls-implicit-stall"} {
		path := filepath.Join(repoRoot, scenarioCaptures, name+".pcapng")
		t.Run(name, func(t *testing.T) {
			text := analyzeOutput(t, "--color", "never", path)
			if !strings.Contains(text, mark+": NO-REPLY") || !strings.Contains(text, mark+": UNKNOWN") {
				t.Errorf("text report does not mark both inferred messages:\n%s", text)
			}
			for _, format := range []string{"markdown", "html"} {
				out := analyzeOutput(t, "--format", format, path)
				if format == "html" {
					out = html.UnescapeString(out)
				}
				for _, want := range []string{
					"Message 2 of 2 (" + mark + "): no reply after end-of-data", // the failed message's title
					"Message 1 of 2 (" + mark + "): ",                           // the answered one, listed
					"inferred from the sizes of the client's TLS records",       // its body fact
				} {
					if !strings.Contains(out, want) {
						t.Errorf("%s report lacks %q", format, want)
					}
				}
				if strings.Contains(out, "none sent") {
					t.Errorf("%s report says an inferred body was %q", format, "none sent")
				}
			}
		})
	}
	plain := filepath.Join(repoRoot, scenarioCaptures, "relay-stall.pcapng")
	for _, format := range []string{"text", "markdown", "html"} {
		if out := analyzeOutput(t, "--format", format, plain); strings.Contains(out, mark) {
			t.Errorf("plaintext seed incident, %s report: marked %q", format, mark)
		}
	}
}

// TestDecryptedAlertsAgreeWithTshark: with the key log, every alert of
// every keyed lab scenario — in clear, or encrypted and opened (TLS 1.3's
// certificate alert, each side's close_notify) — is the one tshark
// decrypts with the same key log, frame, level and description; and TLS
// 1.3's certificate rejection becomes definite once its alert is read,
// while without the key it stays "probably".
func TestDecryptedAlertsAgreeWithTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Fatal("tshark is needed (scripts/setup.sh installs it)")
	}
	levels := map[string]string{"warning": "1", "fatal": "2"}
	for _, name := range keyedScenarios(t) {
		capture, keys := scenarioFiles(name)
		t.Run(name, func(t *testing.T) {
			ports, decode := scenarioPorts(t, name)
			out, err := exec.Command("tshark", append(decode, "-r", capture, "-o", "tls.keylog_file:"+keys, "-Y", "tls.alert_message",
				"-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|", "-e", "frame.number", "-e", "tls.alert_message.level", "-e", "tls.alert_message.desc")...).Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			var want []string
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				f := strings.Split(line, "\t")
				if len(f) < 3 {
					continue
				}
				lv, ds := strings.Split(f[1], "|"), strings.Split(f[2], "|")
				for i := range min(len(lv), len(ds)) {
					code, err := strconv.Atoi(ds[i])
					if err != nil {
						t.Fatalf("tshark alert description %q", ds[i])
					}
					want = append(want, f[0]+" "+lv[i]+" "+tlsrecord.AlertName(uint8(code)))
				}
			}
			_, raw := decryptJSON(t, append(ports, "--tls-keylog", keys, capture)...)
			var rep struct {
				Connections []struct {
					SMTP *struct {
						TLS *struct {
							Handshake *struct {
								Alerts []struct {
									Frame       int
									Level       string
									Description string
									Decrypted   bool
								}
							}
						}
					}
				}
			}
			if err := json.Unmarshal(raw, &rep); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range rep.Connections {
				if c.SMTP == nil || c.SMTP.TLS == nil || c.SMTP.TLS.Handshake == nil {
					continue
				}
				for _, a := range c.SMTP.TLS.Handshake.Alerts {
					got = append(got, fmt.Sprintf("%d %s %s", a.Frame, levels[a.Level], a.Description))
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("alerts (frame level description) = %q, tshark %q", got, want)
			}
		})
	}
	capture, keys := scenarioFiles("tls-cert-rejected-13")
	for _, tc := range []struct {
		args     []string
		probably bool
	}{{[]string{capture}, true}, {[]string{"--tls-keylog", keys, capture}, false}} {
		_, raw := decryptJSON(t, tc.args...)
		var rep struct {
			Connections []struct {
				Diagnosis struct{ Cause, Summary string }
			}
		}
		if err := json.Unmarshal(raw, &rep); err != nil || len(rep.Connections) != 1 {
			t.Fatalf("%v: %v, %d connections", tc.args, err, len(rep.Connections))
		}
		d := rep.Connections[0].Diagnosis
		if d.Cause != "tls-cert-rejected" || strings.Contains(d.Summary, "probably") != tc.probably {
			t.Errorf("%v: diagnosis %s %q, want tls-cert-rejected, probably=%v", tc.args, d.Cause, d.Summary, tc.probably)
		}
	}
}

// scenarioPorts gives the flags a lab scenario needs beyond the defaults,
// from its expect file: for implicit TLS on a port of its own
// (settings.implicit_tls_port), smtpscope's --tls-ports and tshark's
// decode-as pair.
func scenarioPorts(t *testing.T, name string) (analyze, tshark []string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, scenarioCaptures, name+".expect.json"))
	if err != nil {
		return nil, nil // not a lab scenario (a capture made from one)
	}
	var exp struct {
		Settings struct {
			ImplicitTLSPort int `json:"implicit_tls_port"`
		} `json:"settings"`
	}
	if err := json.Unmarshal(raw, &exp); err != nil {
		t.Fatalf("%s.expect.json: %v", name, err)
	}
	if p := exp.Settings.ImplicitTLSPort; p != 0 {
		n := strconv.Itoa(p)
		return []string{"--tls-ports", n}, []string{"-d", "tcp.port==" + n + ",tls", "-d", "tls.port==" + n + ",smtp"}
	}
	return nil, nil
}

// TestTLSPorts: implicit TLS on a port of its own (the tls-implicit-port
// lab scenario, 4650) is mail only with --tls-ports; then each session
// is read as TLS from its first byte, as with port 465. A capture that
// begins after the handshake (cut with editcap, on 465 and on the
// --tls-ports port) is read from its records — the seed incident keeps
// its inferred no-reply headline, a healthy session stays healthy — where
// it used to be called a failed handshake ("bytes that are not TLS").
func TestTLSPorts(t *testing.T) {
	capture, keys := scenarioFiles("tls-implicit-port")
	type conn struct {
		Diagnosis diagnosis
		SMTP      *struct {
			TLS *struct {
				How       string
				Handshake *struct{ Ending string }
			}
			Transactions []struct {
				Inferred bool
				Outcome  string
			}
		}
	}
	analyze := func(args ...string) (diagnosis, []conn) {
		t.Helper()
		_, raw := decryptJSON(t, args...)
		var rep struct {
			Verdict     diagnosis
			Connections []conn
		}
		if err := json.Unmarshal(raw, &rep); err != nil {
			t.Fatal(err)
		}
		return rep.Verdict, rep.Connections
	}
	if _, conns := analyze(capture); len(conns) != 2 || conns[0].SMTP != nil || conns[1].SMTP != nil {
		t.Errorf("without --tls-ports: %+v, want two connections that are not mail", conns)
	}
	for _, args := range [][]string{{"--tls-ports", "4650"}, {"--tls-ports", "4650", "--tls-keylog", keys}} {
		want := map[bool]string{false: "unknown", true: "delivered"}[len(args) > 2]
		v, conns := analyze(append(args, capture)...)
		var outcomes []string
		for _, c := range conns {
			if c.SMTP == nil || c.SMTP.TLS == nil || c.SMTP.TLS.How != "implicit" || c.SMTP.TLS.Handshake.Ending != "complete" {
				t.Fatalf("%v: connection %+v, want implicit TLS, handshake complete", args, c)
			}
			for _, tx := range c.SMTP.Transactions {
				outcomes = append(outcomes, tx.Outcome)
			}
		}
		if v.Cause != "ok" || !slices.Equal(outcomes, []string{want, want, want}) {
			t.Errorf("%v: verdict %+v, outcomes %q, want ok and three %s (the peers logged three 250s)", args, v, outcomes, want)
		}
	}

	if _, err := exec.LookPath("editcap"); err != nil {
		t.Fatal("editcap is needed (scripts/setup.sh installs it)")
	}
	stall, _ := scenarioFiles("tls-implicit-stall")
	for _, tc := range []struct {
		name, capture, from string
		args                []string
		cause               string
		ending              string
	}{
		// Frame 20 of tls-implicit-stall is the server's first record
		// after the handshake; its frame 30 is the middle of a record.
		{"465 after the handshake", stall, "20", nil, "eod-no-reply", "not-captured"},
		{"465 from mid-record", stall, "30", nil, "eod-no-reply", "not-captured"},
		{"--tls-ports after the handshake", capture, "20", []string{"--tls-ports", "4650"}, "ok", "not-captured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cut := filepath.Join(t.TempDir(), "cut.pcapng")
			if out, err := exec.Command("editcap", "-r", tc.capture, cut, tc.from+"-1000000").CombinedOutput(); err != nil {
				t.Fatalf("editcap: %v: %s", err, out)
			}
			v, conns := analyze(append(tc.args, cut)...)
			if v.Cause != tc.cause {
				t.Errorf("verdict %+v, want %s", v, tc.cause)
			}
			c := conns[0]
			if c.SMTP == nil || c.SMTP.TLS == nil || c.SMTP.TLS.Handshake == nil || c.SMTP.TLS.Handshake.Ending != tc.ending {
				t.Fatalf("first connection %+v, want its handshake %s", c, tc.ending)
			}
			if c.Diagnosis.Layer == "TLS" {
				t.Errorf("diagnosis %+v: the capture shows no handshake to judge", c.Diagnosis)
			}
			if len(c.SMTP.Transactions) == 0 || !c.SMTP.Transactions[len(c.SMTP.Transactions)-1].Inferred {
				t.Errorf("transactions %+v, want them inferred from the records", c.SMTP.Transactions)
			}
		})
	}
}

// TestLiveTLSIncidents replays the TLS lab captures as live captures: each
// TLS failure is told once, as it happens, with the cause and the frame
// the report of analyze gives (its diagnosis' last evidence); the seed
// incident inside TLS is told --eod-timeout after the body's last record,
// while the client still waits, as in clear text; delivered sessions tell
// nothing.
func TestLiveTLSIncidents(t *testing.T) {
	const eodTimeout = 2 * time.Second
	tests := []struct {
		scenario string
		kind     string // "" for none
		message  int
	}{
		{"starttls", "", 0},
		{"tls-openssl-delivered", "", 0},
		{"tls-stall-12", "eod-timeout", 2},
		{"tls-stall-13", "eod-timeout", 2},
		{"tls-implicit-stall", "eod-timeout", 2},
		{"tls-cert-rejected-12", "tls-cert-rejected", 0},
		{"tls-cert-rejected-13", "tls-cert-rejected", 0},
		{"tls-version-mismatch", "tls-version-mismatch", 0},
		{"tls-starttls-454", "starttls-refused", 0},
		{"tls-starttls-masked", "starttls-stripped", 0},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			path := scenarioPath(tt.scenario)
			res, evs := replay(t, path, liveConfig{eodTimeout: eodTimeout})
			if res.err != nil {
				t.Fatalf("live loop: %v", res.err)
			}
			got := incidentsOf(evs)
			if tt.kind == "" {
				if len(got) != 0 {
					t.Errorf("incidents %+v, want none", got)
				}
				return
			}
			if len(got) != 1 || got[0].Kind != tt.kind || got[0].Stream != 0 || got[0].Message != tt.message {
				t.Fatalf("incidents %+v, want one %s on stream 0, message %d", got, tt.kind, tt.message)
			}
			_, raw := decryptJSON(t, path)
			var rep struct {
				Connections []struct {
					Diagnosis struct {
						Evidence []struct{ Frame int }
					}
					SMTP struct {
						Transactions []struct {
							EODFrame int       `json:"eod_frame"`
							EODTime  time.Time `json:"eod_time"`
							WaitedMS float64   `json:"waited_ms"`
						}
					}
				}
			}
			if err := json.Unmarshal(raw, &rep); err != nil {
				t.Fatal(err)
			}
			c := rep.Connections[0]
			if tt.message == 0 {
				ev := c.Diagnosis.Evidence
				if len(ev) == 0 || got[0].Frame != ev[len(ev)-1].Frame {
					t.Errorf("incident at frame %d, the report's evidence %+v", got[0].Frame, ev)
				}
				return
			}
			tx := c.SMTP.Transactions[tt.message-1]
			if got[0].Frame != tx.EODFrame {
				t.Errorf("incident at frame %d, the inferred end-of-data is frame %d", got[0].Frame, tx.EODFrame)
			}
			told, err := time.Parse(time.RFC3339Nano, got[0].Time)
			if err != nil {
				t.Fatal(err)
			}
			late := told.Sub(tx.EODTime)
			gaveUp := tx.EODTime.Add(time.Duration(tx.WaitedMS * float64(time.Millisecond)))
			if late < eodTimeout-time.Millisecond || late > eodTimeout+pipeline.SweepEvery+wiring.LiveReadTimeout || !told.Before(gaveUp) {
				t.Errorf("told %s after the end-of-data (the client gave up %s after it), want %s", late, gaveUp.Sub(tx.EODTime), eodTimeout)
			}
			if !strings.Contains(got[0].Summary, "unanswered for 2.") {
				t.Errorf("summary %q", got[0].Summary)
			}
		})
	}
}

// TestLiveTLSPorts: live reads the ports of --tls-ports as implicit TLS as
// analyze does (tls-implicit-port, 4650, cut after the first session's
// handshake, which only a port taken for TLS reads as mail): the same
// verdict and totals; the flag rejects what is no port.
func TestLiveTLSPorts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cut.pcapng")
	if out, err := exec.Command("editcap", "-r", scenarioPath("tls-implicit-port"), path, "20-1000000").CombinedOutput(); err != nil {
		t.Fatalf("editcap: %v: %s", err, out)
	}
	res, _ := replay(t, path, liveConfig{ports: []uint16{25, 465, 587, 2525, 4650}, tlsPorts: []uint16{465, 4650}})
	if res.err != nil {
		t.Fatalf("live loop: %v", res.err)
	}
	live := reportJSON(t, res.report)
	var out, errOut bytes.Buffer
	if st := run([]string{"analyze", "--format", "json", "--tls-ports", "4650", path}, nil, &out, &errOut); st == exitError {
		t.Fatalf("analyze: %s", errOut.String())
	}
	var want analyzedReport
	if err := json.Unmarshal(out.Bytes(), &want); err != nil {
		t.Fatal(err)
	}
	if live.Verdict != want.Verdict || live.Totals != want.Totals || want.Totals.SMTPConnections != 2 || want.Totals.Transactions != 3 {
		t.Errorf("live %+v %+v, analyze --tls-ports %+v %+v (want 2 SMTP connections, 3 transactions)", live.Verdict, live.Totals, want.Verdict, want.Totals)
	}
	errOut.Reset()
	if st := run([]string{"live", "--tls-ports", "0"}, nil, &out, &errOut); st != exitError || !strings.Contains(errOut.String(), "--tls-ports: 0 is not a TCP port") {
		t.Errorf("live --tls-ports 0: exit %d, %q", st, errOut.String())
	}
}

// BenchmarkAnalyzeTLS measures analyze on the seed incident in clear text
// (relay-stall) and inside TLS 1.3 (tls-stall-13: without a key, the
// records are read and the transactions inferred; with its key log, every
// record is decrypted and decoded), per packet: what TLS costs over the
// same SMTP dialogue.
func BenchmarkAnalyzeTLS(b *testing.B) {
	plain, _ := scenarioFiles("relay-stall")
	capture, keys := scenarioFiles("tls-stall-13")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"plaintext", []string{plain}},
		{"tls13-inferred", []string{capture}},
		{"tls13-decrypted", []string{"--tls-keylog", keys, capture}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var packets int
			for b.Loop() {
				var out, errOut bytes.Buffer
				if st := run(append([]string{"analyze", "--format", "json"}, tc.args...), nil, &out, &errOut); st == exitError {
					b.Fatal(errOut.String())
				}
				if packets == 0 {
					var rep analyzedReport
					if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
						b.Fatal(err)
					}
					packets = rep.Inputs[0].Packets
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(int64(b.N)*int64(packets)), "ns/pkt")
		})
	}
}
