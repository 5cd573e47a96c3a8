package events

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/smtpscope/smtpscope/report"
)

// The seeds are events files analyze --events wrote for two scenario-lab
// captures (relay-stall: one delivered, one no-reply; healthy with
// --redact: servers as tokens).
func TestMessages(t *testing.T) {
	tests := []struct {
		file string
		want []report.HubMessage
	}{
		{"relay-stall.jsonl", []report.HubMessage{
			{Server: "127.0.0.1:25", Size: 2050, Outcome: "delivered", Cause: report.CauseOK, ConnCause: report.CauseEODNoReply},
			{Server: "127.0.0.1:25", Size: 1230123, Outcome: "no-reply", Cause: report.CauseEODNoReply, ConnCause: report.CauseEODNoReply},
		}},
	}
	for _, tt := range tests {
		var got []report.HubMessage
		err := Messages([]string{filepath.Join("testdata", tt.file)})(func(m report.HubMessage) bool {
			got = append(got, m)
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tt.want) {
			t.Fatalf("%s: %+v, want %+v", tt.file, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s message %d: %+v, want %+v", tt.file, i, got[i], tt.want[i])
			}
		}
	}
	// Redacted servers are the report's tokens.
	err := Messages([]string{"testdata/healthy-redacted.jsonl"})(func(m report.HubMessage) bool {
		if m.Server == "" || bytes.Contains([]byte(m.Server), []byte("127.0.0.1")) {
			t.Errorf("redacted server %q", m.Server)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMessagesSkipCorrections: a correction line (report.Revision) adds
// no message and changes none: it revises the cause of a connection that
// did not fail, which the hub comparison does not read.
func TestMessagesSkipCorrections(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "relay-stall.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.Write(data)
	NewWriter(&b).Correction(&report.Revision{Stream: 0, FirstFrame: 1, Client: "127.0.0.1:40001", Server: "127.0.0.1:25", Was: report.CauseOK,
		Diagnosis: report.Diagnosis{Layer: report.LayerTLS, Cause: report.CauseStartTLSStripped, Summary: "The EHLO reply lists no STARTTLS."}})
	read := func(in []byte) []report.HubMessage {
		var got []report.HubMessage
		if _, err := scanMessages("events", bytes.NewReader(in), func(m report.HubMessage) bool {
			got = append(got, m)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got, want := read(b.Bytes()), read(data); !slices.Equal(got, want) || len(want) == 0 {
		t.Errorf("with a correction: %+v, without: %+v", got, want)
	}
}

// FuzzMessages reads arbitrary bytes as an events file: an error or
// messages, never a panic, and a message only from a connection event.
func FuzzMessages(f *testing.F) {
	for _, name := range []string{"relay-stall.jsonl", "healthy-redacted.jsonl"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		_, err := scanMessages("fuzz", bytes.NewReader(data), func(report.HubMessage) bool {
			n++
			return n < 1000
		})
		if err == nil && n > 0 && !bytes.Contains(data, []byte(`"connection"`)) {
			t.Fatalf("%d messages from input without a connection event", n)
		}
	})
}
