package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportSchema validates real JSON reports against the published JSON
// Schema of smtpscope.report/v1 (report/smtpscope.report.v1.schema.json,
// generated from the report's Go types) with an independent validator
// (Python's jsonschema): analyze's report of every test capture, plain
// and with --redact, several captures analysed each on its own (input
// totals, patterns across inputs), a Postfix capture joined to its log,
// and live's report of lab scenarios. Reports broken on purpose (a field
// unknown to the schema, a required one missing, a number where a string
// belongs) must fail it.
func TestReportSchema(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 with jsonschema is needed (scripts/setup.sh installs python3-jsonschema)")
	}
	if out, err := exec.Command(py, "-c", "import jsonschema").CombinedOutput(); err != nil {
		t.Fatalf("python3 jsonschema is needed (scripts/setup.sh installs python3-jsonschema): %s", out)
	}
	var valid bytes.Buffer
	// add validates the report of analyze args; a test capture that is
	// not one smtpscope reads (capture's fixtures of damaged files) gives
	// none, any other run must.
	add := func(args ...string) {
		t.Helper()
		var out, errOut bytes.Buffer
		if st := run(append([]string{"analyze", "--format", "json"}, args...), nil, &out, &errOut); st == exitError {
			if len(args) > 2 {
				t.Fatalf("analyze %v: %s", args, errOut.String())
			}
			return
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, out.Bytes()); err != nil {
			t.Fatalf("analyze %v: %v", args, err)
		}
		valid.Write(compact.Bytes())
		valid.WriteByte('\n')
	}
	for _, c := range testCaptures(t) {
		add(c)
		add("--redact", c)
	}
	scen := filepath.Join(repoRoot, "testdata/scenarios") + "/"
	add(scenarioPath("healthy"), scenarioPath("bdat-fail"), scenarioPath("ipv6"))
	add("--merge", scenarioPath("healthy"), scenarioPath("relay-stall"))
	add("--log", scen+"postfix/postfix-relay-stall.maillog", scen+"postfix/postfix-relay-stall.pcapng")
	add("--log", scen+"exchange/relay-stall.SEND.LOG", scenarioPath("relay-stall"))
	for _, name := range []string{"relay-stall", "eod-552", "connect-timeout", "tls-stall-12"} {
		res, _ := replay(t, scenarioPath(name), liveConfig{})
		if res.err != nil {
			t.Fatal(name, res.err)
		}
		var out bytes.Buffer
		if err := res.report.WriteJSON(&out); err != nil {
			t.Fatal(err)
		}
		res.report.Close()
		var compact bytes.Buffer
		if err := json.Compact(&compact, out.Bytes()); err != nil {
			t.Fatal(err)
		}
		valid.Write(compact.Bytes())
		valid.WriteByte('\n')
	}
	dir := t.TempDir()
	validPath, invalidPath := filepath.Join(dir, "reports.jsonl"), filepath.Join(dir, "broken.jsonl")
	if err := os.WriteFile(validPath, valid.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(valid.String(), "\n")
	var broken bytes.Buffer
	for _, edit := range []func(r map[string]any){
		func(r map[string]any) { r["connections"].([]any)[0].(map[string]any)["body"] = "message text" },
		func(r map[string]any) { delete(r, "schema") },
		func(r map[string]any) { r["totals"].(map[string]any)["delivered"] = "many" },
		func(r map[string]any) { delete(r["connections"].([]any)[0].(map[string]any), "stream") },
	} {
		var r map[string]any
		if err := json.Unmarshal([]byte(first), &r); err != nil {
			t.Fatal(err)
		}
		if len(r["connections"].([]any)) == 0 {
			t.Fatal("the first report has no connection to break")
		}
		edit(r)
		b, _ := json.Marshal(r)
		broken.Write(append(b, '\n'))
	}
	if err := os.WriteFile(invalidPath, broken.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	schema := filepath.Join(repoRoot, "report", "smtpscope.report.v1.schema.json")
	out, err := exec.Command(py, filepath.Join(repoRoot, "events", "testdata", "validate.py"), schema, validPath, invalidPath).Output()
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
	if res.Counts["lines"] < 100 {
		t.Errorf("%d reports validated, want every capture's", res.Counts["lines"])
	}
	t.Logf("%d reports validated", res.Counts["lines"])
}
