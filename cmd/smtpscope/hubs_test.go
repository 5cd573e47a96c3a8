package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fleetJSON is the part of analyze --hub's JSON the tests compare.
type fleetJSON struct {
	Schema string `json:"schema"`
	Hubs   []struct {
		Name             string `json:"name"`
		Delivered        int    `json:"delivered"`
		Failed           int    `json:"failed"`
		Unknown          int    `json:"unknown"`
		MinFailedSize    int64  `json:"min_failed_size"`
		MaxDeliveredSize int64  `json:"max_delivered_size"`
		Servers          []struct {
			Server            string
			Delivered, Failed int
		} `json:"servers"`
	} `json:"hubs"`
	Patterns []struct {
		Kind           string   `json:"kind"`
		Summary        string   `json:"summary"`
		Failing        []string `json:"failing"`
		Healthy        []string `json:"healthy"`
		Threshold      int64    `json:"threshold"`
		HealthyLargest int64    `json:"healthy_largest"`
	} `json:"patterns"`
	Reports []*struct {
		Schema string `json:"schema"`
	} `json:"reports"`
}

// hubCaptures are three hubs' captures from the scenario lab (real
// go-smtp peers): A and C deliver messages of 1 MB and more (C one of
// 1,230,122 bytes), B's relay never answers the end-of-data of its
// 1,230,123-byte message, the seed incident.
var hubCaptures = [][2]string{
	{"A", "healthy.pcapng"},
	{"B", "relay-stall.pcapng"},
	{"C", "slow-reply.pcapng"},
}

func analyzeHubs(t *testing.T, files func(name, capture string) string, extra ...string) (fleetJSON, int) {
	t.Helper()
	args := []string{"analyze", "--format", "json"}
	for _, h := range hubCaptures {
		args = append(args, "--hub", h[0]+"="+files(h[0], filepath.Join(repoRoot, scenarioCaptures, h[1])))
	}
	var out, errOut bytes.Buffer
	st := run(append(args, extra...), nil, &out, &errOut)
	if st == exitError {
		t.Fatalf("exit 2: %s", errOut.String())
	}
	var f fleetJSON
	if err := json.Unmarshal(out.Bytes(), &f); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	return f, st
}

// TestHubs compares three hubs' real captures: only hub B fails, only
// its large message, while A and C delivered messages larger than any B
// delivered (though, by one byte, none as big as its failure); each hub
// keeps its own report; the exit status says a message failed.
func TestHubs(t *testing.T) {
	f, st := analyzeHubs(t, func(_, c string) string { return c })
	if st != exitFindings {
		t.Errorf("exit %d, want %d", st, exitFindings)
	}
	if f.Schema != "smtpscope.fleet/v1" || len(f.Hubs) != 3 || len(f.Reports) != 3 {
		t.Fatalf("fleet %+v", f)
	}
	for i, r := range f.Reports {
		if r == nil || r.Schema != "smtpscope.report/v1" {
			t.Errorf("hub %s's report: %+v", f.Hubs[i].Name, r)
		}
	}
	if len(f.Patterns) != 1 {
		t.Fatalf("patterns %+v, want one", f.Patterns)
	}
	p := f.Patterns[0]
	if p.Kind != "hub-size" || !reflect.DeepEqual(p.Failing, []string{"B"}) || !reflect.DeepEqual(p.Healthy, []string{"A", "C"}) ||
		p.Threshold != 1230123 || p.HealthyLargest != 1230122 {
		t.Errorf("pattern %+v", p)
	}
	b := f.Hubs[1]
	if b.Delivered != 1 || b.Failed != 1 || b.MinFailedSize != 1230123 || b.MaxDeliveredSize != 2050 {
		t.Errorf("hub B %+v", b)
	}
}

// TestHubsFromEvents runs the same comparison over the event files each
// hub's analyze --events wrote: the hubs' counts and the finding are the
// same as from the captures.
func TestHubsFromEvents(t *testing.T) {
	dir := t.TempDir()
	fromEvents := func(name, capture string) string {
		path := filepath.Join(dir, name+".jsonl")
		var out, errOut bytes.Buffer
		if st := run([]string{"analyze", "--events", path, "--output", os.DevNull, capture}, nil, &out, &errOut); st == exitError {
			t.Fatalf("events for %s: %s", name, errOut.String())
		}
		return path
	}
	want, _ := analyzeHubs(t, func(_, c string) string { return c })
	got, st := analyzeHubs(t, fromEvents)
	if st != exitFindings {
		t.Errorf("exit %d, want %d", st, exitFindings)
	}
	for _, r := range got.Reports {
		if r != nil {
			t.Errorf("a hub read from events has no report, got %+v", r)
		}
	}
	want.Reports, got.Reports = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("from events:\n%+v\nfrom captures:\n%+v", got, want)
	}
}

// TestHubsErrors: what --hub refuses, with a one-line error and exit 2.
func TestHubsErrors(t *testing.T) {
	dir := t.TempDir()
	events := filepath.Join(dir, "a.jsonl")
	if err := os.WriteFile(events, []byte(`{"smtpscope":{"schema":"smtpscope.events/v1"},"event":{"action":"connection"}}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	notEvents := filepath.Join(dir, "b.jsonl")
	if err := os.WriteFile(notEvents, []byte("{\"hello\": 1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	capture := filepath.Join(repoRoot, scenarioCaptures, "healthy.pcapng")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--hub", "A=" + capture}, "at least two"},
		{[]string{"--hub", "A=" + capture, "--hub", "A=" + capture}, "--hub A given twice"},
		{[]string{"--hub", "A" + capture, "--hub", "B=" + capture}, "want NAME=FILE"},
		{[]string{"--hub", "A=" + capture, "--hub", "B=" + capture, capture}, "give every file in a --hub"},
		{[]string{"--hub", "A=" + capture + "," + events, "--hub", "B=" + capture}, "captures and event files mixed"},
		{[]string{"--hub", "A=" + capture, "--hub", "B=" + capture, "--format", "html"}, "--hub writes text or json"},
		{[]string{"--hub", "A=" + capture, "--hub", "B=" + notEvents}, "not an smtpscope event"},
		{[]string{"--hub", "A=" + capture, "--hub", "B=" + filepath.Join(dir, "missing.pcap")}, "missing.pcap"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		st := run(append([]string{"analyze"}, tt.args...), nil, &out, &errOut)
		msg := errOut.String()
		if st != exitError || !strings.Contains(msg, tt.want) || strings.Count(msg, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line with %q", tt.args, st, msg, tt.want)
		}
	}
}

// TestReadmeHubsSample keeps README's "Comparing hubs" sample what the
// command prints today (its first lines, up to the hubs' reports).
func TestReadmeHubsSample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "**Comparing hubs**")
	if !ok {
		t.Fatal(`README has no "Comparing hubs" paragraph`)
	}
	_, block, _ := strings.Cut(after, "```\n")
	sample, _, _ := strings.Cut(block, "```")
	args := []string{"analyze", "--color", "never"}
	for _, h := range hubCaptures {
		args = append(args, "--hub", h[0]+"="+filepath.Join(repoRoot, scenarioCaptures, h[1]))
	}
	var out, errOut bytes.Buffer
	run(args, nil, &out, &errOut)
	got, _, _ := strings.Cut(out.String(), "\n════ hub")
	if got != sample {
		t.Errorf("README sample is stale; replace it with:\n%s", got)
	}
}
