//go:build unix

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/bench/synth"
)

// evidenceLimitEnv carries the arguments of TestEvidenceLimitHelper.
const evidenceLimitEnv = "SMTPSCOPE_EVIDENCE_LIMIT_ARGS"

// evidenceFileLimit is the open-file limit TestEvidenceOpenFileLimit runs
// under: below the number of failing connections of its capture, above
// DefaultEvidenceOpenFiles and the few files the run itself holds.
const evidenceFileLimit = 90

// TestEvidenceOpenFileLimit: with more failing connections (all open at
// once) than the open-file limit allows files, analyze --evidence still
// writes every connection's file and the report (the files are written a
// bounded number at a time), instead of exiting on "too many open files".
func TestEvidenceOpenFileLimit(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "overlap.pcap")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	pw := pcapgo.NewWriter(bw)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	if _, err := synth.New(synth.Options{Seed: 3, Sessions: 260, Concurrency: 260, Problems: 1, MaxMessageSize: 2 << 10}).Run(pw, nil); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	evidence := filepath.Join(dir, "evidence")
	args := []string{"analyze", "--format", "json", "--evidence", evidence, in}
	cmd := exec.Command(os.Args[0], "-test.run=^TestEvidenceLimitHelper$")
	cmd.Env = append(os.Environ(), evidenceLimitEnv+"="+strings.Join(args, "\n"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitFindings {
		t.Fatalf("analyze under a limit of %d open files: %v (want exit %d): %s", evidenceFileLimit, err, exitFindings, stderr.String())
	}
	var rep evidenceReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout.String())
	}
	failed := 0
	for _, c := range rep.Connections {
		if c.SMTP == nil || c.SMTP.Verdict != "failed" {
			continue
		}
		failed++
		path := filepath.Join(evidence, fmt.Sprintf("stream-%d.pcapng", c.Stream))
		if n := countCommented(t, path); n != c.Packets {
			t.Errorf("%s holds %d packets, want the connection's %d", path, n, c.Packets)
		}
	}
	if failed <= evidenceFileLimit {
		t.Fatalf("%d failing connections: the test needs more than %d", failed, evidenceFileLimit)
	}
	files, _ := filepath.Glob(filepath.Join(evidence, "*"))
	if len(files) != failed {
		t.Errorf("%d files in %s, want %d", len(files), evidence, failed)
	}
	t.Logf("%d evidence files under a limit of %d open files", failed, evidenceFileLimit)
}

// TestEvidenceLimitHelper runs smtpscope with the arguments in
// evidenceLimitEnv under an open-file limit of evidenceFileLimit, for
// TestEvidenceOpenFileLimit; without them it does nothing.
func TestEvidenceLimitHelper(t *testing.T) {
	args := os.Getenv(evidenceLimitEnv)
	if args == "" {
		return
	}
	lim := syscall.Rlimit{Cur: evidenceFileLimit, Max: evidenceFileLimit}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	os.Exit(run(strings.Split(args, "\n"), nil, os.Stdout, os.Stderr))
}
