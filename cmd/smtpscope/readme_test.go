package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/bench/synth"
)

// TestReadmeSample keeps the README honest: its sample output must be
// what the command it names prints today.
func TestReadmeSample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const cmdLine = "bin/smtpscope analyze --color never testdata/scenarios/captures/relay-stall.pcapng"
	text := string(readme)
	if !strings.Contains(text, "`"+cmdLine+"`") {
		t.Fatalf("README no longer names the command %q", cmdLine)
	}
	_, after, ok := strings.Cut(text, "## What you see")
	if !ok {
		t.Fatal("README has no \"What you see\" section")
	}
	_, block, ok := strings.Cut(after, "```\n")
	if !ok {
		t.Fatal("no code block in \"What you see\"")
	}
	sample, _, _ := strings.Cut(block, "```")
	rel := "testdata/scenarios/captures/relay-stall.pcapng"
	var out, errOut bytes.Buffer
	run([]string{"analyze", "--color", "never", filepath.Join(repoRoot, rel)}, nil, &out, &errOut)
	got := strings.ReplaceAll(out.String(), filepath.Join(repoRoot, rel), rel)
	if got != sample {
		t.Errorf("README sample is stale; replace it with:\n%s", got)
	}
}

// TestReadmeHubSample keeps README's hub-scale sample honest: it makes
// the capture the README's smtpgen command makes (the same synth options
// as smtpgen's flags and defaults, written as smtpgen writes pcap) and
// compares the first lines of the text report with the sample.
func TestReadmeHubSample(t *testing.T) {
	if testing.Short() {
		t.Skip("generates and analyses a 10,000-session capture")
	}
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const (
		gen     = "go run ./cmd/smtpgen --out hub.pcap --sessions 10000 --seed 1 --max-message-size 4K"
		cmdLine = "bin/smtpscope analyze --color never hub.pcap"
		lines   = 33
	)
	_, section, ok := strings.Cut(string(readme), "### A hub's day")
	if !ok {
		t.Fatal("README has no \"A hub's day\" section")
	}
	for _, c := range []string{"`" + gen + "`", "`" + cmdLine + "`", fmt.Sprintf("first %d\nlines of", lines)} {
		if !strings.Contains(section, c) {
			t.Fatalf("README's hub sample no longer says %q", c)
		}
	}
	_, block, ok := strings.Cut(section, "```\n")
	if !ok {
		t.Fatal("no code block in \"A hub's day\"")
	}
	sample, _, _ := strings.Cut(block, "```")

	dir := t.TempDir()
	capPath := filepath.Join(dir, "hub.pcap")
	f, err := os.Create(capPath)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	pw := pcapgo.NewWriter(bw)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	opts := synth.Options{Seed: 1, Sessions: 10000, Size: 64 << 20, Clients: synth.DefaultClients, Servers: synth.DefaultServers,
		Problems: synth.DefaultProblems, Concurrency: synth.DefaultConcurrency, MaxMessageSize: 4 << 10}
	if _, err := synth.New(opts).Run(pw, nil); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var out, errOut bytes.Buffer
	if code := run([]string{"analyze", "--color", "never", capPath}, nil, &out, &errOut); code != exitFindings {
		t.Fatalf("analyze: exit %d: %s", code, errOut.String())
	}
	got := strings.ReplaceAll(out.String(), capPath, "hub.pcap")
	head := strings.SplitAfterN(got, "\n", lines+1)
	got = strings.Join(head[:min(lines, len(head))], "")
	if got != sample {
		t.Errorf("README hub sample is stale; replace it with:\n%s", got)
	}
}
