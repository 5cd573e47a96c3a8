//go:build cgo && linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loadLabEnv makes the test binary play the load lab of
// TestLiveUnderLoad inside its namespace.
const loadLabEnv = "SMTPSCOPE_LOAD_LAB"

// The load lab: loadClients clients send sessions back to back, as fast
// as the box allows, for loadFor (at most loadMax sessions); every
// loadRejectEvery-th session's message is refused at its end-of-data
// (554).
const (
	loadAddr        = "127.0.0.1:2525"
	loadClients     = 8
	loadFor         = 6 * time.Second
	loadMax         = 20000
	loadRejectEvery = 25
)

// TestLiveUnderLoad runs smtpscope live and tcpdump side by side on the
// loopback of a network namespace while the lab sends SMTP sessions as
// fast as the box allows, then analyses tcpdump's file: live must give
// the same totals as analyze, or report its drops and take every affected
// connection as capture-incomplete, never as a failure. tcpdump is the
// reference: its file must hold every session the lab made.
func TestLiveUnderLoad(t *testing.T) {
	bin, ipTool, ns := liveE2ESetup(t)
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Fatal("tcpdump not found: run scripts/setup.sh")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	// Readable by tcpdump once it drops privileges (as tcpdump does).
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	ref, livePath := filepath.Join(dir, "tcpdump.pcap"), filepath.Join(dir, "live.json")

	dump := exec.CommandContext(ctx, ipTool, "netns", "exec", ns, tcpdump, "-i", "lo", "-n", "-B", "65536",
		"-s", "0", "-w", ref, "tcp port 2525")
	dumpErr := new(lockedBuffer)
	dump.Stderr = dumpErr
	live := exec.CommandContext(ctx, ipTool, "netns", "exec", ns, bin, "live", "-i", "lo",
		"--filter", "tcp port 2525", "--smtp-ports", "2525", "--interval", "0", "--duration", "60s",
		"--format", "json", "-o", livePath)
	liveErr := new(lockedBuffer)
	live.Stderr = liveErr
	for _, c := range []*exec.Cmd{dump, live} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		for _, c := range []*exec.Cmd{dump, live} {
			c.Process.Signal(os.Interrupt)
		}
		dump.Wait()
		live.Wait()
	}
	defer stop()
	for !strings.Contains(dumpErr.String(), "listening on lo") || !strings.Contains(liveErr.String(), `"type":"start"`) {
		select {
		case <-ctx.Done():
			t.Fatalf("tcpdump and smtpscope live did not start:\n%s\n%s", dumpErr, liveErr)
		case <-time.After(100 * time.Millisecond):
		}
	}

	args := []string{"netns", "exec", ns}
	if taskset, err := exec.LookPath("taskset"); err == nil {
		args = append(args, taskset, "-c", "0")
	}
	lab := exec.CommandContext(ctx, ipTool, append(args, os.Args[0], "-test.run=^TestLiveLoadLabHelper$", "-test.v")...)
	lab.Env = append(os.Environ(), loadLabEnv+"=1")
	labOut, err := lab.CombinedOutput()
	if err != nil {
		t.Fatalf("lab: %v\n%s", err, labOut)
	}
	m := regexp.MustCompile(`lab: (\d+) sessions in ([0-9.]+) s: (\d+) delivered, (\d+) refused`).FindSubmatch(labOut)
	if m == nil {
		t.Fatalf("lab said:\n%s", labOut)
	}
	sessions, _ := strconv.Atoi(string(m[1]))
	secs, _ := strconv.ParseFloat(string(m[2]), 64)
	delivered, _ := strconv.Atoi(string(m[3]))
	refused, _ := strconv.Atoi(string(m[4]))
	// Let both read what the kernel still holds.
	time.Sleep(2 * time.Second)
	stop()

	// tcpdump's file is the reference: complete, or the test says nothing.
	if !regexp.MustCompile(`(?m)^0 packets dropped by kernel`).MatchString(dumpErr.String()) {
		t.Fatalf("tcpdump dropped packets, the reference is incomplete:\n%s", dumpErr)
	}
	out, err := exec.CommandContext(ctx, bin, "analyze", "--format", "json", ref).Output()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == exitFindings) {
		t.Fatalf("analyze %s: %v", ref, err)
	}
	var want, got analyzedReport
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("analyze: %v", err)
	}
	raw, err := os.ReadFile(livePath)
	if err != nil {
		t.Fatalf("live report: %v\n%s", err, liveErr)
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("live report: %v", err)
	}
	var drops struct {
		Inputs []struct {
			Packets int `json:"packets"`
			Dropped *struct {
				Kernel, Interface, Ring, Connections int
			} `json:"dropped"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal(raw, &drops); err != nil || len(drops.Inputs) != 1 || drops.Inputs[0].Dropped == nil {
		t.Fatalf("live report without its drop counts (%v): %s", err, raw[:min(len(raw), 400)])
	}
	d := drops.Inputs[0].Dropped
	t.Logf("lab: %d sessions in %.1f s (%.0f sessions/s); tcpdump: %d packets (%.0f packets/s); live: %d packets, dropped %+v",
		sessions, secs, float64(sessions)/secs, want.Inputs[0].Packets, float64(want.Inputs[0].Packets)/secs, got.Inputs[0].Packets, *d)

	// The reference saw what the lab did.
	if want.Totals.Connections != sessions || want.Totals.Delivered != delivered || want.Totals.Failed != refused {
		t.Fatalf("analyze of tcpdump's file: %+v; the lab made %d sessions, %d delivered, %d refused", want.Totals, sessions, delivered, refused)
	}
	// Live: the same, or its drops said and their connections not failed.
	// A delivery live does not show is one a drop took: on a connection
	// open during a drop (d.Connections), on one whose start fell in a
	// drop (no SYN seen: live met it mid-session, after the drop was
	// counted, so it overlapped none), or on a session the drops took
	// whole.
	lost := d.Kernel + d.Interface + d.Ring
	startLost := 0
	for _, c := range got.Connections {
		if c.L4.Handshake.SYNFrame == 0 {
			startLost++
		}
	}
	unseen := max(0, want.Totals.Connections-got.Totals.Connections)
	t.Logf("live: %d connections hit by drops, %d met mid-session, %d sessions not seen", d.Connections, startLost, unseen)
	switch {
	case got.Totals.Failed > want.Totals.Failed:
		t.Errorf("live: %d failed messages, analyze %d: false failures", got.Totals.Failed, want.Totals.Failed)
	case lost == 0 && got.Totals != want.Totals:
		t.Errorf("live totals %+v without drops, analyze %+v", got.Totals, want.Totals)
	case lost > 0 && got.Totals.Delivered+d.Connections+startLost+unseen < want.Totals.Delivered:
		t.Errorf("live delivered %d with %d connections hit by drops, %d met mid-session and %d sessions not seen; analyze %d",
			got.Totals.Delivered, d.Connections, startLost, unseen, want.Totals.Delivered)
	}
	if lost == 0 && got.Inputs[0].Packets != want.Inputs[0].Packets {
		t.Errorf("live analysed %d packets and reports no drop; tcpdump captured %d", got.Inputs[0].Packets, want.Inputs[0].Packets)
	}
	for _, c := range got.Connections {
		if c.Diagnosis.Cause != "rejected" && c.Diagnosis.Cause != "ok" && c.Diagnosis.Cause != "capture-incomplete" {
			t.Errorf("live: stream %d diagnosed %s", c.Stream, c.Diagnosis.Cause)
		}
		if c.Diagnosis.Cause == "capture-incomplete" && lost == 0 {
			t.Errorf("live: stream %d capture-incomplete without a drop", c.Stream)
		}
	}
}

// TestLiveLoadLabHelper is the lab of TestLiveUnderLoad, not a test: a
// server answering every session, and loadClients clients sending
// sessions back to back until loadFor or loadMax.
func TestLiveLoadLabHelper(t *testing.T) {
	if os.Getenv(loadLabEnv) == "" {
		return
	}
	ln, err := net.Listen("tcp", loadAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveLoad(c)
		}
	}()
	var next, delivered, refused atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, loadClients)
	start := time.Now()
	deadline := start.Add(loadFor)
	for range loadClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				i := next.Add(1)
				if i > loadMax {
					return
				}
				reject := i%loadRejectEvery == 0
				if err := sendLoad(reject); err != nil {
					errs <- fmt.Errorf("session %d: %w", i, err)
					return
				}
				if reject {
					refused.Add(1)
				} else {
					delivered.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	fmt.Printf("lab: %d sessions in %.2f s: %d delivered, %d refused\n", delivered.Load()+refused.Load(), took.Seconds(), delivered.Load(), refused.Load())
}

// serveLoad serves one session: everything accepted but a message with
// the subject "reject".
func serveLoad(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	say := func(s string) error {
		w.WriteString(s + "\r\n")
		return w.Flush()
	}
	if say("220 lab.test ESMTP") != nil {
		return
	}
	inBody, reject := false, false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch {
		case inBody && line == "." && reject:
			inBody = false
			err = say("554 5.7.1 message refused")
		case inBody && line == ".":
			inBody = false
			err = say("250 2.0.0 queued")
		case inBody:
			reject = reject || line == "Subject: reject"
		case verb == "DATA":
			inBody = true
			err = say("354 go ahead")
		case verb == "QUIT":
			say("221 bye")
			return
		default:
			err = say("250 ok")
		}
		if err != nil {
			return
		}
	}
}

// loadBody is a message of about 4 KB, after its subject.
var loadBody = "\r\n" + strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n", 70) + "."

// sendLoad plays one session; reject sends a message the server refuses.
func sendLoad(reject bool) error {
	c, err := net.DialTimeout("tcp", loadAddr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	body, reply := "Subject: load\r\n"+loadBody, "250"
	if reject {
		body, reply = "Subject: reject\r\n"+loadBody, "554"
	}
	steps := [][2]string{{"", "220"}, {"EHLO client.lab.test", "250"}, {"MAIL FROM:<sender@client.lab.test>", "250"},
		{"RCPT TO:<rcpt@lab.test>", "250"}, {"DATA", "354"}, {body, reply}, {"QUIT", "221"}}
	for _, step := range steps {
		if step[0] != "" {
			if _, err := io.WriteString(c, step[0]+"\r\n"); err != nil {
				return err
			}
		}
		line, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("after %.20q: %w", step[0], err)
		}
		if !strings.HasPrefix(line, step[1]) {
			return fmt.Errorf("after %.20q: got %q, want %s", step[0], line, step[1])
		}
	}
	return nil
}
