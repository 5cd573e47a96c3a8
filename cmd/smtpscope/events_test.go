package main

import (
	"bytes"
	"encoding/json"
	"fmt"
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
		Schema     string `json:"schema"`
		Stream     int    `json:"stream"`
		Input      int    `json:"input"`
		FirstFrame int    `json:"first_frame"`
		Message    int    `json:"message"`
		Cause      string `json:"cause"`
		Summary    string `json:"summary"`
		Corrects   *struct {
			Action, Cause string
		} `json:"corrects"`
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

// TestEventsCorrection checks that the events stream ends with the
// report's word on a cross-session fact: on testdata/starttls-offer (real
// peers; sessions 2 and 4 were offered no STARTTLS by a server that
// offered it on sessions 1 and 3), each connection's line, written as it
// ended, says ok, and once every session was read a correction line per
// stripped session names that line (stream, input, first frame,
// endpoints, Community ID, @timestamp) and gives the report's diagnosis,
// for analyze and live, plain and redacted; the other sessions get none.
// Read in order, the stream's last word on each connection is the
// report's cause.
func TestEventsCorrection(t *testing.T) {
	path := filepath.Join(repoRoot, "testdata/starttls-offer/starttls-offer.pcapng")
	for _, mode := range []string{"analyze", "live"} {
		for _, redact := range []bool{false, true} {
			out := filepath.Join(t.TempDir(), "events.jsonl")
			var rep analyzedReport
			if mode == "analyze" {
				args := []string{"analyze", "--format", "json", "--all", "--events", out, path}
				if redact {
					args = append(args, "--redact")
				}
				var stdout, stderr bytes.Buffer
				if st := run(args, nil, &stdout, &stderr); st == exitError {
					t.Fatalf("analyze: %s", stderr.String())
				}
				if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
					t.Fatal(err)
				}
			} else {
				sink, closeEvents, err := events.Open(out, nil, false)
				if err != nil {
					t.Fatal(err)
				}
				cfg := liveConfig{sink: sink}
				cfg.report.Redact = redact
				res, _ := replay(t, path, cfg)
				if err := closeEvents(); err != nil || res.err != nil {
					t.Fatal(err, res.err)
				}
				rep = reportJSON(t, res.report)
				res.report.Close()
			}
			name := fmt.Sprintf("%s redact %v", mode, redact)
			type key struct{ input, stream, first int }
			lines := map[key]eventLine{}
			last := map[key]string{}
			corrections := 0
			for _, e := range readEventLines(t, out) {
				k := key{e.SMTPScope.Input, e.SMTPScope.Stream, e.SMTPScope.FirstFrame}
				switch e.Event.Action {
				case "connection":
					lines[k] = e
				case "correction":
					corrections++
					c, ok := lines[k]
					switch {
					case !ok:
						t.Errorf("%s: correction %+v before (or without) its connection's line", name, e.SMTPScope)
					case e.SMTPScope.Corrects == nil || e.SMTPScope.Corrects.Action != "connection" || e.SMTPScope.Corrects.Cause != c.SMTPScope.Cause:
						t.Errorf("%s: correction of stream %d says it corrects %+v, the line said %s", name, k.stream, e.SMTPScope.Corrects, c.SMTPScope.Cause)
					case e.Source != c.Source || e.Destination != c.Destination || e.Network.CommunityID != c.Network.CommunityID || !e.Timestamp.Equal(c.Timestamp):
						t.Errorf("%s: correction of stream %d names another flow: %+v, line %+v", name, k.stream, e, c)
					case e.Event.Kind != "event" || e.Event.Reason != e.SMTPScope.Cause || e.Event.Outcome != c.Event.Outcome:
						t.Errorf("%s: correction event %+v, connection line's %+v", name, e.Event, c.Event)
					}
				default:
					continue // live's incidents
				}
				last[k] = e.SMTPScope.Cause
			}
			if corrections != 2 || len(lines) != len(rep.Connections) {
				t.Errorf("%s: %d corrections (want 2), %d connection lines for %d connections", name, corrections, len(lines), len(rep.Connections))
			}
			for _, c := range rep.Connections {
				k := key{c.Input, c.Stream, c.FirstFrame}
				if last[k] != string(c.Diagnosis.Cause) {
					t.Errorf("%s: stream %d: the events' last word %q, the report's cause %q", name, c.Stream, last[k], c.Diagnosis.Cause)
				}
				if c.Diagnosis.Cause == "starttls-stripped" && lines[k].SMTPScope.Cause != "ok" {
					t.Errorf("%s: stream %d: its line said %q before the sessions were compared", name, c.Stream, lines[k].SMTPScope.Cause)
				}
			}
		}
	}
}
