//go:build cgo && linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fleetLabEnv makes the test binary play the lab of TestFleetEndToEnd;
// fleetFetchEnv makes it fetch one URL inside the namespace.
const (
	fleetLabEnv   = "SMTPSCOPE_FLEET_LAB"
	fleetFetchEnv = "SMTPSCOPE_FLEET_FETCH"
)

// The two hubs: each an smtpscope live watching its own relay's port.
var fleetHubs = []struct {
	name, relay, metrics string
}{
	{"hub-a", "127.0.0.1:2525", "127.0.0.1:9101"},
	{"hub-b", "127.0.0.1:2526", "127.0.0.1:9102"},
}

const fleetPrometheus = "127.0.0.1:9190"

// TestFleetEndToEnd runs, as root in a network namespace, two "hubs" each
// with smtpscope live --metrics, hub A's relay healthy and hub B's silent
// after end-of-data, and a real Prometheus (Debian's) that scrapes both
// with deploy/prometheus/smtpscope.rules.yml: the end-of-data alert must
// fire for hub B only, and hub A's delivered message must be in
// Prometheus.
func TestFleetEndToEnd(t *testing.T) {
	bin, ipTool, ns := liveE2ESetup(t)
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus not found: run scripts/setup.sh (Debian package prometheus)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	dir := t.TempDir()
	rules, err := filepath.Abs(filepath.Join(repoRoot, "deploy/prometheus/smtpscope.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}

	var hubs []*exec.Cmd
	var hubErr []*lockedBuffer
	for _, h := range fleetHubs {
		port := h.relay[strings.LastIndexByte(h.relay, ':')+1:]
		cmd := exec.CommandContext(ctx, ipTool, "netns", "exec", ns, bin, "live", "-i", "lo",
			"--filter", "tcp port "+port, "--smtp-ports", port, "--metrics", h.metrics,
			"--eod-timeout", "1s", "--interval", "0", "--duration", "60s", "--format", "json",
			"-o", filepath.Join(dir, h.name+".json"))
		stderr := new(lockedBuffer)
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		hubs, hubErr = append(hubs, cmd), append(hubErr, stderr)
	}
	defer func() {
		for _, h := range hubs {
			h.Process.Signal(os.Interrupt)
			h.Wait()
		}
	}()

	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: smtpscope
    static_configs:
      - targets: [%q]
        labels: {hub: hub-a}
      - targets: [%q]
        labels: {hub: hub-b}
`, rules, fleetHubs[0].metrics, fleetHubs[1].metrics)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	pcmd := exec.CommandContext(ctx, ipTool, "netns", "exec", ns, prom, "--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+fleetPrometheus)
	promLog := new(lockedBuffer)
	pcmd.Stdout, pcmd.Stderr = promLog, promLog
	if err := pcmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		pcmd.Process.Signal(os.Interrupt)
		pcmd.Wait()
	}()

	fetch := func(u string) (string, error) {
		cmd := exec.CommandContext(ctx, ipTool, "netns", "exec", ns, os.Args[0], "-test.run=^TestFleetFetchHelper$")
		cmd.Env = append(os.Environ(), fleetFetchEnv+"="+u)
		out, err := cmd.Output()
		// The body is the first line; the test binary's verdict follows.
		body, _, _ := strings.Cut(string(out), "\n")
		return body, err
	}
	// waitFor polls until ok or the context ends.
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for !ok() {
			select {
			case <-ctx.Done():
				t.Fatalf("waiting for %s: %v\nprometheus:\n%s\nhub-a:\n%s\nhub-b:\n%s", what, ctx.Err(), promLog.String(), hubErr[0].String(), hubErr[1].String())
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	waitFor("the hubs to capture", func() bool {
		return strings.Contains(hubErr[0].String(), `"type":"start"`) && strings.Contains(hubErr[1].String(), `"type":"start"`)
	})
	waitFor("prometheus to be ready", func() bool {
		_, err := fetch("http://" + fleetPrometheus + "/-/ready")
		return err == nil
	})

	lab := exec.CommandContext(ctx, ipTool, "netns", "exec", ns, os.Args[0], "-test.run=^TestFleetLabHelper$", "-test.v")
	lab.Env = append(os.Environ(), fleetLabEnv+"=1")
	if out, err := lab.CombinedOutput(); err != nil {
		t.Fatalf("lab: %v\n%s", err, out)
	}

	// The alert, from Prometheus's API: firing for hub B's relay only.
	type alert struct {
		Labels map[string]string `json:"labels"`
		State  string            `json:"state"`
	}
	var alerts []alert
	waitFor("the end-of-data alert", func() bool {
		body, err := fetch("http://" + fleetPrometheus + "/api/v1/alerts")
		if err != nil {
			return false
		}
		var resp struct {
			Data struct {
				Alerts []alert `json:"alerts"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(body), &resp); err != nil {
			t.Fatalf("alerts API: %v: %s", err, body)
		}
		alerts = resp.Data.Alerts
		for _, a := range alerts {
			if a.Labels["alertname"] == "SMTPEndOfDataUnanswered" && a.State == "firing" {
				return true
			}
		}
		return false
	})
	for _, a := range alerts {
		if a.Labels["alertname"] != "SMTPEndOfDataUnanswered" {
			continue
		}
		if a.Labels["instance"] != fleetHubs[1].metrics || a.Labels["server"] != fleetHubs[1].relay {
			t.Errorf("alert %+v, want it for hub B (%s) and its relay %s only", a.Labels, fleetHubs[1].metrics, fleetHubs[1].relay)
		}
	}
	// Hub A's message, delivered, in Prometheus once its connection ended.
	query := url.Values{"query": {`smtpscope_transactions_total{outcome="delivered"}`}}.Encode()
	waitFor("hub A's delivered message", func() bool {
		body, err := fetch("http://" + fleetPrometheus + "/api/v1/query?" + query)
		return err == nil && strings.Contains(body, `"instance":"`+fleetHubs[0].metrics+`"`) && strings.Contains(body, `"server":"`+fleetHubs[0].relay+`"`)
	})
}

// TestFleetFetchHelper is not a test: TestFleetEndToEnd runs it inside
// its namespace to GET one URL and print the body (exit status 1 unless
// 200 OK), on one line: the JSON the test reads is one line.
func TestFleetFetchHelper(t *testing.T) {
	u := os.Getenv(fleetFetchEnv)
	if u == "" {
		return
	}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", u, resp.Status)
	}
	os.Stdout.Write(append(body, '\n'))
}

// TestFleetLabHelper is the lab of TestFleetEndToEnd, not a test: hub A's
// relay answers everything and delivers a message; hub B's never answers
// the end-of-data and its client gives up.
func TestFleetLabHelper(t *testing.T) {
	if os.Getenv(fleetLabEnv) == "" {
		return
	}
	healthy, err := net.Listen("tcp", fleetHubs[0].relay)
	if err != nil {
		t.Fatal(err)
	}
	defer healthy.Close()
	stalling, err := net.Listen("tcp", fleetHubs[1].relay)
	if err != nil {
		t.Fatal(err)
	}
	defer stalling.Close()
	go serveAnswering(healthy)
	go serveStalling(stalling)
	if err := sendAndDeliver(fleetHubs[0].relay); err != nil {
		t.Fatal(err)
	}
	if err := sendAndGiveUp(fleetHubs[1].relay); err != nil {
		t.Fatal(err)
	}
}

// serveAnswering serves one SMTP session that accepts everything.
func serveAnswering(ln net.Listener) error {
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	say := func(s string) error {
		_, err := io.WriteString(c, s+"\r\n")
		return err
	}
	if err := say("220 lab.test ESMTP"); err != nil {
		return err
	}
	inBody := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil // the client left
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch {
		case inBody && line == ".":
			inBody = false
			err = say("250 2.0.0 queued")
		case inBody:
		case verb == "DATA":
			inBody = true
			err = say("354 go ahead")
		case verb == "QUIT":
			say("221 bye")
			return nil
		default:
			err = say("250 ok")
		}
		if err != nil {
			return err
		}
	}
}

// sendAndDeliver sends one message and expects it accepted.
func sendAndDeliver(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	for _, step := range [][2]string{
		{"", "220"}, {"EHLO client.lab.test", "250"}, {"MAIL FROM:<sender@client.lab.test>", "250"},
		{"RCPT TO:<rcpt@lab.test>", "250"}, {"DATA", "354"},
		{"Subject: fleet test\r\n\r\nDelivered.\r\n.", "250"}, {"QUIT", "221"},
	} {
		if step[0] != "" {
			if _, err := io.WriteString(c, step[0]+"\r\n"); err != nil {
				return err
			}
		}
		line, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("after %q: %w", step[0], err)
		}
		if !strings.HasPrefix(line, step[1]) {
			return fmt.Errorf("after %q: got %q, want %s", step[0], line, step[1])
		}
	}
	return nil
}
