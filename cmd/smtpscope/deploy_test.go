package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
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

// TestRsyslogShipsEvents runs the rsyslog sample with Debian's rsyslogd:
// it tails an events file that smtpscope analyze --events appends to
// after rsyslogd started, and forwards each line over TCP to a listener
// of the test, which must receive every event line unchanged, and not a
// line that is not JSON. Only the sample's file path and collector
// address are changed, and the global settings a main rsyslog.conf holds
// (work directory, message size) are put before it.
func TestRsyslogShipsEvents(t *testing.T) {
	rsyslogd, err := exec.LookPath("rsyslogd")
	if err != nil {
		t.Fatal("rsyslogd is needed (scripts/setup.sh installs rsyslog)")
	}
	dir := t.TempDir()
	eventsPath := filepath.Join(dir, "events.jsonl")
	if err := os.WriteFile(eventsPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	received := make(chan string, 1000)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				sc.Buffer(nil, 1<<20)
				for sc.Scan() {
					if line := sc.Text(); line != "" {
						received <- line
					}
				}
			}()
		}
	}()

	sample, err := os.ReadFile(filepath.Join(repoRoot, "deploy/rsyslog/smtpscope.conf"))
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	conf := string(sample)
	for _, r := range [][2]string{
		{`File="/var/log/smtpscope/events.jsonl"`, `File="` + eventsPath + `"`},
		{`target="logs.example.net" port="10514"`, `target="127.0.0.1" port="` + port + `"`},
	} {
		if !strings.Contains(conf, r[0]) {
			t.Fatalf("the sample no longer holds %s", r[0])
		}
		conf = strings.ReplaceAll(conf, r[0], r[1])
	}
	conf = `global(workDirectory="` + dir + `" maxMessageSize="64k")` + "\n" + conf
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(rsyslogd, "-N1", "-f", confPath).CombinedOutput(); err != nil {
		t.Fatalf("rsyslogd -N1 (config check): %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var logs bytes.Buffer
	cmd := exec.CommandContext(ctx, rsyslogd, "-n", "-f", confPath, "-i", filepath.Join(dir, "rsyslogd.pid"))
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	time.Sleep(500 * time.Millisecond) // imfile watching

	for _, name := range []string{"relay-stall", "eod-552", "healthy"} {
		var out, errOut bytes.Buffer
		if st := run([]string{"analyze", "--format", "json", "-o", os.DevNull, "--events", eventsPath, scenarioPath(name)}, nil, &out, &errOut); st == exitError {
			t.Fatalf("analyze %s: %s", name, errOut.String())
		}
	}
	f, err := os.OpenFile(eventsPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("a line cut short by a crash {\"@timestamp\n")
	f.Close()
	data, err := os.ReadFile(eventsPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	want := lines[:len(lines)-1]
	var got []string
	for len(got) < len(want) {
		select {
		case l := <-received:
			got = append(got, l)
		case <-ctx.Done():
			t.Fatalf("the collector received %d of %d event lines\nrsyslogd:\n%s", len(got), len(want), logs.String())
		}
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d forwarded as\n%s\nwritten as\n%s", i+1, got[i], want[i])
		}
	}
	select {
	case l := <-received:
		t.Errorf("a line that is not JSON was forwarded: %q", l)
	case <-time.After(2 * time.Second):
	}
	t.Logf("rsyslogd forwarded %d event lines unchanged", len(got))
}
