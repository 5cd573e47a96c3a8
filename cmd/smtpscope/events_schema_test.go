package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/events"
)

// eventsSchema is the JSON Schema of the --events lines.
var eventsSchema = filepath.Join(repoRoot, "events", "smtpscope.events.v1.schema.json")

// TestEventsSchema validates real --events output against the published
// JSON Schema with an independent validator (Python's jsonschema, Draft
// 2020-12, formats checked): analyze's connection lines for every test
// capture, plain and with --redact, and live's incident and connection
// lines for the lab's failure scenarios, one of them a TLS session
// decrypted once its late key came. Lines broken on purpose (a field
// missing, a value outside its enum, an address and an ip at once) must
// fail it, so the schema is shown to say something.
func TestEventsSchema(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 with jsonschema is needed (scripts/setup.sh installs python3-jsonschema)")
	}
	if out, err := exec.Command(py, "-c", "import jsonschema").CombinedOutput(); err != nil {
		t.Fatalf("python3 jsonschema is needed (scripts/setup.sh installs python3-jsonschema): %s", out)
	}
	dir := t.TempDir()
	valid := filepath.Join(dir, "events.jsonl")
	for _, c := range testCaptures(t) {
		for _, redact := range []bool{false, true} {
			args := []string{"analyze", "--format", "json", "-o", os.DevNull, "--events", valid, c}
			if redact {
				args = append(args, "--redact")
			}
			var stdout, stderr bytes.Buffer
			if st := run(args, nil, &stdout, &stderr); st == exitError && !strings.Contains(stderr.String(), "not a capture") &&
				!strings.Contains(stderr.String(), "unsupported") && !strings.Contains(stderr.String(), "no frame") {
				t.Logf("analyze %s: %s", filepath.Base(c), strings.TrimSpace(stderr.String()))
			}
		}
	}
	for _, name := range []string{"relay-stall", "eod-552", "eod-451", "connect-refused", "connect-timeout", "banner-421", "tls-stall-12"} {
		for _, redact := range []bool{false, true} {
			liveEvents(t, valid, name, redact, func(cfg liveConfig) liveResult {
				res, _ := replay(t, scenarioPath(name), cfg)
				return res
			})
		}
	}
	offer := filepath.Join(repoRoot, "testdata", "starttls-offer", "starttls-offer.pcapng")
	for _, redact := range []bool{false, true} {
		// Connections whose lines a correction follows (starttls-stripped
		// by comparison), as analyze and live write them.
		args := []string{"analyze", "--format", "json", "-o", os.DevNull, "--events", valid, offer}
		if redact {
			args = append(args, "--redact")
		}
		var stdout, stderr bytes.Buffer
		if st := run(args, nil, &stdout, &stderr); st == exitError {
			t.Fatalf("analyze %s: %s", offer, stderr.String())
		}
		liveEvents(t, valid, "starttls-offer", redact, func(cfg liveConfig) liveResult {
			res, _ := replay(t, offer, cfg)
			return res
		})
	}
	for _, redact := range []bool{false, true} {
		// A TLS session decrypted once its late key came.
		liveEvents(t, valid, "tls-stall-13", redact, func(cfg liveConfig) liveResult {
			res, _ := replayLateKeys(t, scenarioPath("tls-stall-13"), 30, cfg)
			return res
		})
	}
	invalid := filepath.Join(dir, "invalid.jsonl")
	writeBrokenEvents(t, valid, invalid)

	out, err := exec.Command(py, filepath.Join(repoRoot, "events", "testdata", "validate.py"), eventsSchema, valid, invalid).Output()
	var res struct {
		Counts     map[string]int
		Errors     []string
		ErrorCount int `json:"error_count"`
	}
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		t.Fatalf("validate.py: %v %v: %s", err, jerr, out)
	}
	for _, e := range res.Errors {
		t.Error(e)
	}
	if err != nil && res.ErrorCount == 0 {
		t.Errorf("validate.py: %v", err)
	}
	t.Logf("validated %v", res.Counts)
	for _, k := range []string{"incident", "connection", "redacted", "email", "transactions", "reply", "banner", "decryption", "held_for_key", "correction"} {
		if res.Counts[k] == 0 {
			t.Errorf("no %s line among the %d validated: the sample does not cover the schema", k, res.Counts["lines"])
		}
	}
}

// writeBrokenEvents writes lines that break the schema, each made from a
// real line of valid by one change.
func writeBrokenEvents(t *testing.T, valid, invalid string) {
	t.Helper()
	data, err := os.ReadFile(valid)
	if err != nil {
		t.Fatal(err)
	}
	var incident, connection, correction map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatal(err)
		}
		if _, ok := ev["source"].(map[string]any)["ip"]; !ok {
			continue
		}
		switch ev["event"].(map[string]any)["action"] {
		case "incident":
			incident = firstOf(incident, ev)
		case "connection":
			connection = firstOf(connection, ev)
		case "correction":
			correction = firstOf(correction, ev)
		}
	}
	if incident == nil || connection == nil || correction == nil {
		t.Fatal("no incident, connection or correction line to break")
	}
	edits := []func(ev map[string]any){
		func(ev map[string]any) { delete(ev["smtpscope"].(map[string]any), "schema") },
		func(ev map[string]any) { ev["event"].(map[string]any)["outcome"] = "maybe" },
		func(ev map[string]any) { ev["source"].(map[string]any)["address"] = "host-1:25" },
		func(ev map[string]any) { delete(ev["network"].(map[string]any), "community_id") },
		func(ev map[string]any) { ev["smtpscope"].(map[string]any)["stream"] = -1 },
		func(ev map[string]any) { ev["smtpscope"].(map[string]any)["body"] = "message text" },
		func(ev map[string]any) { // an incident's kind on a connection, and the other way round
			e := ev["event"].(map[string]any)
			e["kind"] = map[any]string{"alert": "event", "event": "alert"}[e["kind"]]
		},
		func(ev map[string]any) { ev["@timestamp"] = "yesterday" },
	}
	var b bytes.Buffer
	write := func(base map[string]any, edit func(map[string]any)) {
		ev := deepCopy(t, base)
		edit(ev)
		line, _ := json.Marshal(ev)
		b.Write(append(line, '\n'))
	}
	for _, base := range []map[string]any{incident, connection, correction} {
		for _, edit := range edits {
			write(base, edit)
		}
	}
	scope := func(ev map[string]any) map[string]any { return ev["smtpscope"].(map[string]any) }
	for _, edit := range []func(ev map[string]any){
		// A correction that does not say what it corrects, or says it of
		// an incident; one that carries a connection's facts.
		func(ev map[string]any) { delete(scope(ev), "corrects") },
		func(ev map[string]any) { scope(ev)["corrects"].(map[string]any)["action"] = "incident" },
		func(ev map[string]any) { scope(ev)["packets"] = 12 },
		func(ev map[string]any) { ev["event"].(map[string]any)["dataset"] = "smtpscope.connection" },
	} {
		write(correction, edit)
	}
	// A connection line that says it corrects another.
	write(connection, func(ev map[string]any) { scope(ev)["corrects"] = map[string]any{"action": "connection", "cause": "ok"} })
	if err := os.WriteFile(invalid, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// firstOf keeps the first of two events.
func firstOf(have, ev map[string]any) map[string]any {
	if have != nil {
		return have
	}
	return ev
}

func deepCopy(t *testing.T, ev map[string]any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(ev)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// liveEvents appends to the events file at path what a live run writes:
// play runs it with the given configuration (the events sink, redact).
func liveEvents(t *testing.T, path, name string, redact bool, play func(liveConfig) liveResult) {
	t.Helper()
	sink, closeEvents, err := events.Open(path, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg := liveConfig{sink: sink}
	cfg.report.Redact = redact
	res := play(cfg)
	if err := closeEvents(); err != nil || res.err != nil {
		t.Fatal(name, err, res.err)
	}
	res.report.Close()
}
