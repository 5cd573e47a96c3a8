package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/events"
)

// eventLine is the part of an --events line the tests read.
type eventLine struct {
	Timestamp time.Time `json:"@timestamp"`
	Event     struct {
		Kind, Action, Outcome, Reason string
	} `json:"event"`
	Source, Destination struct {
		IP      string `json:"ip"`
		Port    uint16 `json:"port"`
		Address string `json:"address"`
	}
	Network struct {
		Transport   string `json:"transport"`
		CommunityID string `json:"community_id"`
	} `json:"network"`
	Email *struct {
		From struct{ Address []string } `json:"from"`
	} `json:"email"`
	SMTPScope struct {
		Schema  string `json:"schema"`
		Stream  int    `json:"stream"`
		Message int    `json:"message"`
		Cause   string `json:"cause"`
	} `json:"smtpscope"`
}

func readEventLines(t *testing.T, path string) []eventLine {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []eventLine
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e eventLine
		dec := json.NewDecoder(strings.NewReader(l))
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("event line %q: %v", l, err)
		}
		out = append(out, e)
	}
	return out
}

// TestAnalyzeEvents checks analyze --events: one line per connection,
// with the report's cause, ECS endpoints, and the Community ID Zeek and
// Suricata give the flow; with --redact, tokens and no Community ID.
func TestAnalyzeEvents(t *testing.T) {
	path := scenarioPath("relay-stall")
	_, rep := analyzeJSON(t, path)
	for _, redact := range []bool{false, true} {
		out := filepath.Join(t.TempDir(), "events.jsonl")
		args := []string{"analyze", "--format", "json", "-o", os.DevNull, "--events", out, path}
		if redact {
			args = append(args, "--redact")
		}
		var stdout, stderr bytes.Buffer
		if st := run(args, nil, &stdout, &stderr); st != exitFindings {
			t.Fatalf("exit %d: %s", st, stderr.String())
		}
		evs := readEventLines(t, out)
		if len(evs) != len(rep.Connections) {
			t.Fatalf("%d event lines, %d connections", len(evs), len(rep.Connections))
		}
		e := evs[0]
		if e.SMTPScope.Schema != events.Schema || e.Event.Kind != "event" || e.Event.Action != "connection" ||
			e.Event.Outcome != "failure" || e.Event.Reason != string(rep.Connections[0].Diagnosis.Cause) || e.Network.Transport != "tcp" {
			t.Errorf("redact %v: event %+v", redact, e)
		}
		if redact {
			raw, _ := os.ReadFile(out)
			if e.Network.CommunityID != "" || e.Source.IP != "" || e.Source.Address == "" || bytes.Contains(raw, []byte("127.0.0.1")) {
				t.Errorf("redacted event names the flow: %s", raw)
			}
			continue
		}
		src := netip.AddrPortFrom(netip.MustParseAddr(e.Source.IP), e.Source.Port)
		dst := netip.AddrPortFrom(netip.MustParseAddr(e.Destination.IP), e.Destination.Port)
		if src.String() != "127.0.0.1:40001" || dst.String() != "127.0.0.1:25" {
			t.Errorf("endpoints %s → %s", src, dst)
		}
		if want := events.CommunityID(0, events.ProtoTCP, src, dst); e.Network.CommunityID != want {
			t.Errorf("community_id %q, want %q", e.Network.CommunityID, want)
		}
	}
}

// TestLiveEvents checks live --events: the incident and the connection,
// each once.
func TestLiveEvents(t *testing.T) {
	out := filepath.Join(t.TempDir(), "events.jsonl")
	sink, closeEvents, err := events.Open(out, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := replay(t, scenarioPath("relay-stall"), liveConfig{sink: sink})
	if err := closeEvents(); err != nil || res.err != nil {
		t.Fatal(err, res.err)
	}
	var got []string
	for _, e := range readEventLines(t, out) {
		got = append(got, e.Event.Kind+":"+e.SMTPScope.Cause)
		if e.Network.CommunityID == "" {
			t.Errorf("event without community_id: %+v", e)
		}
	}
	if want := "alert:eod-timeout event:eod-no-reply"; strings.Join(got, " ") != want {
		t.Errorf("events %q, want %q", strings.Join(got, " "), want)
	}
}
