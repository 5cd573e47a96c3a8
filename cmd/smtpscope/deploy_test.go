package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// unitExecStart returns the arguments of the systemd unit's ExecStart
// after the program, its continuation lines joined.
func unitExecStart(t *testing.T) []string {
	t.Helper()
	unit, err := os.ReadFile(filepath.Join(repoRoot, "deploy/systemd/smtpscope.service"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(unit), "\\\n", " ")
	m := regexp.MustCompile(`(?m)^ExecStart=(\S+)(.*)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("the unit has no ExecStart")
	}
	return strings.Fields(m[2])
}

// flagValue returns the value of --name in args.
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == "--"+name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// TestDeploySamples holds the deploy/ samples to the program: every flag
// of the systemd unit's command line is one smtpscope accepts, and the
// Vector and Fluent Bit samples read the events file the unit writes,
// as JSON lines. Neither shipper is packaged for Debian, so their own
// parsers are not run here.
func TestDeploySamples(t *testing.T) {
	args := unitExecStart(t)
	if len(args) == 0 || args[0] != "live" {
		t.Fatalf("ExecStart runs %q, want smtpscope live", args)
	}
	var out, errOut bytes.Buffer
	// --help after the unit's flags: every flag before it must parse.
	if st := run(append(append([]string{}, args...), "--help"), nil, &out, &errOut); st != exitOK {
		t.Errorf("smtpscope %s: exit %d: %s", strings.Join(args, " "), st, errOut.String())
	}
	events := flagValue(args, "events")
	if !strings.HasPrefix(events, "/") {
		t.Fatalf("the unit's --events is %q, want an absolute path", events)
	}

	vector, err := os.ReadFile(filepath.Join(repoRoot, "deploy/vector/smtpscope.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(vector), `include = ["`+events+`"]`) || !strings.Contains(string(vector), "parse_json!") {
		t.Errorf("deploy/vector/smtpscope.toml does not read %s as JSON lines", events)
	}

	fb, err := os.ReadFile(filepath.Join(repoRoot, "deploy/fluent-bit/smtpscope.conf"))
	if err != nil {
		t.Fatal(err)
	}
	input := fluentSection(t, string(fb), "INPUT")
	if input["name"] != "tail" || input["path"] != events {
		t.Errorf("Fluent Bit [INPUT] %v, want tail of %s", input, events)
	}
	service := fluentSection(t, string(fb), "SERVICE")
	parsers, err := os.ReadFile(filepath.Join(repoRoot, "deploy/fluent-bit", service["parsers_file"]))
	if err != nil {
		t.Fatalf("Fluent Bit Parsers_File: %v", err)
	}
	parser := fluentSection(t, string(parsers), "PARSER")
	if parser["name"] != input["parser"] || parser["format"] != "json" {
		t.Errorf("Fluent Bit parser %v, want %q with format json", parser, input["parser"])
	}
	if _, ok := parser["time_key"]; ok {
		t.Errorf("Fluent Bit parser %v sets Time_Key: @timestamp has a varying number of fraction digits", parser)
	}
}

// fluentSection returns the keys (lower case) and values of the first
// [name] section of a Fluent Bit classic configuration.
func fluentSection(t *testing.T, conf, name string) map[string]string {
	t.Helper()
	kv := map[string]string{}
	in := false
	for _, line := range strings.Split(conf, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			if in {
				break
			}
			in = line == "["+name+"]"
			continue
		}
		if in {
			k, v, _ := strings.Cut(line, " ")
			kv[strings.ToLower(k)] = strings.TrimSpace(v)
		}
	}
	if len(kv) == 0 {
		t.Fatalf("no [%s] section", name)
	}
	return kv
}
