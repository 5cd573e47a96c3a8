package main

import (
	"encoding/json"
	"fmt"
	"html"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/tlsrecord"
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
			out, err := exec.Command("tshark", "-r", capture, "-o", "tls.keylog_file:"+keys, "-Y", "tls.alert_message",
				"-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|", "-e", "frame.number", "-e", "tls.alert_message.level", "-e", "tls.alert_message.desc").Output()
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
			_, raw := decryptJSON(t, "--tls-keylog", keys, capture)
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
