package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/report"
	"github.com/smtpscope/smtpscope/tlskeys"
)

// TestLiveLateTLSKeys replays the TLS 1.3 seed incident (a relay silent
// after a 1.2 MiB end-of-data inside STARTTLS) as live traffic with a key
// log that gains the session's lines only after its first protected
// records, as a followed file written by the peer does: the session waits
// for them and is decrypted, giving the plaintext verdict; keys that never
// come leave it inferred, and its decryption says why. With
// --evidence-keys the evidence file carries the keys in a Decryption
// Secrets Block, without it no key material.
func TestLiveLateTLSKeys(t *testing.T) {
	name := filepath.Join(repoRoot, "testdata/scenarios/captures/tls-stall-13.pcapng")
	keyLog, err := os.ReadFile(filepath.Join(repoRoot, "testdata/scenarios/captures/tls-stall-13.keys"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		// keysAt is the frame after which the key log holds the lines (0:
		// never); evidenceKeys asks for them in the evidence file.
		keysAt       int
		evidenceKeys bool
		state        string
	}{
		{"keys after the first protected records", 30, true, "decrypted"},
		{"keys after the first protected records, no evidence keys", 30, false, "decrypted"},
		{"keys never come", 0, true, "inferred"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			keys := tlskeys.NewKeyLog()
			dir := t.TempDir()
			eo := EvidenceOptions{Dir: dir}
			if tt.evidenceKeys {
				eo.Keys = keys
			}
			ev, err := NewLiveEvidence(eo, "live capture on lo", 0)
			if err != nil {
				t.Fatal(err)
			}
			f, err := capture.OpenFile(name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			src := &pacedFile{File: f}
			// frames is the analysis's count; given is closed once the
			// key log goroutine has read the lines.
			var frames atomic.Int32
			given := make(chan struct{})
			var told []report.Incident
			rep, _, err := LiveReport(context.Background(), src, nil, LiveOptions{
				EODTimeout: 2 * time.Second, ConnectTimeout: 3 * time.Second,
				Clock: func() time.Time { return src.now }, RingWait: true,
				Incident: func(in *report.Incident) { told = append(told, *in) },
				Options:  Options{Connection: ev.Connection, TLSKeys: keys},
				Retiring: ev.Retiring,
				Frame: func(fr *capture.Frame) error {
					if int(frames.Add(1)) == tt.keysAt {
						// The key log goroutine reads the lines, and
						// hands them over: the analysis takes them at
						// this frame.
						select {
						case <-given:
						case <-time.After(10 * time.Second):
							t.Error("the key log goroutine did not read the key log")
						}
						time.Sleep(2 * tlsKeyPollEvery)
					}
					ev.Frame(fr)
					return nil
				},
				PollTLSKeys: func(into *tlskeys.KeyLog) int {
					if tt.keysAt == 0 || int(frames.Load()) < tt.keysAt {
						return 0
					}
					select {
					case <-given:
						return 0
					default:
					}
					into.Add("followed", keyLog)
					close(given)
					return into.Len()
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer rep.Close()
			var c *report.Connection
			for i := range rep.Connections {
				if s := rep.Connections[i].SMTP; s != nil && s.TLS != nil && s.TLS.Decryption != nil {
					c = &rep.Connections[i]
				}
			}
			if c == nil {
				t.Fatalf("no connection with a TLS decryption in %d", len(rep.Connections))
			}
			d := c.SMTP.TLS.Decryption
			if d.State != tt.state || c.Diagnosis.Cause != "eod-no-reply" {
				t.Fatalf("decryption %+v, cause %s; want %s, eod-no-reply", d, c.Diagnosis.Cause, tt.state)
			}
			inferred := 0
			for _, tx := range c.SMTP.Transactions {
				if tx.Inferred {
					inferred++
				}
			}
			if tt.state == "decrypted" {
				if inferred != 0 || len(c.SMTP.Transactions) != 2 || c.SMTP.Transactions[0].Outcome != "delivered" {
					t.Errorf("transactions %+v, want the plaintext's: delivered, then no-reply", c.SMTP.Transactions)
				}
			} else if inferred == 0 || !strings.Contains(d.Reason, "the followed key log gave none") {
				t.Errorf("%d inferred transactions, reason %q", inferred, d.Reason)
			}
			checkKeyLate(t, c, told, tt.keysAt > 0)
			noKeyReaderLeft(t)
			res, err := ev.Result()
			if err != nil || len(res.Written) != 1 {
				t.Fatalf("evidence: %d files, %v", len(res.Written), err)
			}
			file, err := os.ReadFile(res.Written[0])
			if err != nil {
				t.Fatal(err)
			}
			// A Decryption Secrets Block: block type 10, secrets type
			// "TLSK" (little-endian), then the key log lines.
			dsb := bytes.Contains(file, []byte{0x0a, 0, 0, 0}) && bytes.Contains(file, []byte("KSLT")) &&
				bytes.Contains(file, []byte("CLIENT_HANDSHAKE_TRAFFIC_SECRET "))
			if want := tt.evidenceKeys && tt.keysAt > 0; dsb != want || (res.WithKeys == 1) != want {
				t.Errorf("evidence file with keys: %v (WithKeys %d), want %v", dsb, res.WithKeys, want)
			}
			if !tt.evidenceKeys && bytes.Contains(file, []byte("SECRET")) {
				t.Errorf("key material in an evidence file without --evidence-keys")
			}
		})
	}
}

// checkKeyLate checks that a session whose key came late says so, and
// one whose key never came does not: in the report's decryption (records
// held, the capture time waited) and TLS line, and in each incident told
// of the connection once the key had come.
func checkKeyLate(t *testing.T, c *report.Connection, told []report.Incident, late bool) {
	t.Helper()
	d := c.SMTP.TLS.Decryption
	words := report.KeyLateWords(d)
	line := report.TLSLine(c.SMTP.TLS)
	switch {
	case !late && (d.HeldForKey != 0 || d.KeyWaitMS != 0 || words != ""):
		t.Errorf("key never came, but decryption %+v says %q", d, words)
	case late && (d.HeldForKey < 1 || d.KeyWaitMS <= 0):
		t.Errorf("key came late, decryption %+v: want records held and a wait", d)
	case late && (!strings.Contains(words, "TLS key came") || !strings.Contains(words, fmt.Sprintf("%d records held", d.HeldForKey)) ||
		!strings.Contains(line, words)):
		t.Errorf("key came late: words %q, TLS line %q", words, line)
	}
	n := 0
	for _, in := range told {
		if in.Stream != c.Stream {
			continue
		}
		n++
		if in.Decryption == nil || in.Decryption.State != d.State || in.Decryption.HeldForKey != d.HeldForKey {
			t.Errorf("incident %s: decryption %+v, want the report's %+v", in.Kind, in.Decryption, d)
		}
	}
	if n == 0 {
		t.Errorf("no incident told of stream %d", c.Stream)
	}
}

// TestLiveStartTLSStripped replays testdata/starttls-offer (real peers:
// one server address offering STARTTLS on sessions 1 and 3, not on 2 and
// 4) as live traffic: sessions 2 and 4 are told as starttls-stripped
// incidents while the capture runs (each after the first session's
// offer), and the final report gives them the same cause.
func TestLiveStartTLSStripped(t *testing.T) {
	f, err := capture.OpenFile(filepath.Join(repoRoot, "testdata/starttls-offer/starttls-offer.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src := &pacedFile{File: f}
	var told []report.Incident
	rep, _, err := LiveReport(context.Background(), src, nil, LiveOptions{
		EODTimeout: 2 * time.Second, ConnectTimeout: 3 * time.Second,
		Clock: func() time.Time { return src.now }, RingWait: true,
		Incident: func(in *report.Incident) { told = append(told, *in) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	var got []string
	for _, in := range told {
		got = append(got, fmt.Sprintf("%s %s", in.Client, in.Kind))
	}
	want := []string{"127.0.0.1:40002 starttls-stripped", "127.0.0.1:40004 starttls-stripped"}
	if !slices.Equal(got, want) {
		t.Errorf("incidents %q, want %q", got, want)
	}
	for i := range rep.Connections {
		c := &rep.Connections[i]
		stripped := strings.HasSuffix(c.Client, ":40002") || strings.HasSuffix(c.Client, ":40004")
		if (c.Diagnosis.Cause == report.CauseStartTLSStripped) != stripped {
			t.Errorf("%s: final cause %s", c.Client, c.Diagnosis.Cause)
		}
	}
}
