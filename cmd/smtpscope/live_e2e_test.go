//go:build cgo && linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/report"
)

// liveLabEnv makes the test binary play the SMTP lab of TestLiveEndToEnd
// (TestLiveLabHelper) inside the network namespace.
const liveLabEnv = "SMTPSCOPE_LIVE_LAB"

// liveLabAddr is where the lab's server listens, inside the namespace.
const liveLabAddr = "127.0.0.1:2525"

// liveLabWait is how long the lab's client waits for the end-of-data
// reply before it gives up (QUIT, close).
const liveLabWait = 4 * time.Second

// TestLiveEndToEnd runs "smtpscope live -i lo" in a private network
// namespace while a server there never answers an end-of-data: the
// incident must be told while the capture runs, the final report must say
// eod-no-reply with exit status 1, and the capture it wrote must analyse
// to the same verdict.
func TestLiveEndToEnd(t *testing.T) {
	bin, ipTool, ns := liveE2ESetup(t)
	dir := t.TempDir()

	// Every wait below is bounded by ctx.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	pcapPath := filepath.Join(dir, "out.pcapng")
	reportPath := filepath.Join(dir, "report.json")
	live := exec.CommandContext(ctx, ipTool, "netns", "exec", ns, bin, "live", "-i", "lo",
		"--duration", "8s", "--eod-timeout", "2s", "--interval", "3s",
		"--write", pcapPath, "--format", "json", "-o", reportPath)
	var liveOut bytes.Buffer
	live.Stdout = &liveOut
	stderr, err := live.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	started := time.Now()

	// The event stream, line by line with the time each came. The reader
	// ends when smtpscope closes its standard error, at exit.
	type eventLine struct {
		text string
		at   time.Time
	}
	lines := make(chan eventLine)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case lines <- eventLine{sc.Text(), time.Now()}:
			case <-ctx.Done():
				return
			}
		}
	}()
	var events []eventLine
	next := func() (eventLine, bool) {
		select {
		case l, ok := <-lines:
			if ok {
				events = append(events, l)
			}
			return l, ok
		case <-ctx.Done():
			return eventLine{}, false
		}
	}
	dump := func() string {
		var b strings.Builder
		for _, l := range events {
			fmt.Fprintf(&b, "+%.1fs %s\n", l.at.Sub(started).Seconds(), l.text)
		}
		return b.String()
	}

	// The lab starts once the capture runs.
	for {
		l, ok := next()
		if !ok {
			t.Fatalf("smtpscope live ended before its start line:\n%s", dump())
		}
		if strings.Contains(l.text, `"type":"start"`) {
			break
		}
	}
	// Started as root, it runs as nobody once the interface and its files
	// are open (--user's default).
	checkRunsAsNobody(t, live.Process.Pid)
	lab := liveLabCommand(ctx, ipTool, ns)
	labOut, labErr := lab.CombinedOutput()
	if labErr != nil {
		t.Fatalf("lab: %v\n%s", labErr, labOut)
	}
	t.Logf("lab:\n%s", labOut)

	for {
		if _, ok := next(); !ok {
			break
		}
	}
	err = live.Wait()
	exited := time.Now()
	t.Logf("smtpscope live events:\n%s", dump())

	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitFindings {
		t.Errorf("smtpscope live: %v, want exit status %d", err, exitFindings)
	}
	if ran := exited.Sub(started); ran < 8*time.Second || ran > 20*time.Second {
		t.Errorf("smtpscope live ran %s, want about --duration 8s", ran)
	}

	// The incident, told once, while the capture still ran.
	var incidents []liveEvent
	var incidentAt time.Time
	for _, l := range events {
		var e liveEvent
		if json.Unmarshal([]byte(l.text), &e) == nil && e.Type == "incident" {
			incidents = append(incidents, e)
			incidentAt = l.at
		}
	}
	if len(incidents) != 1 {
		t.Fatalf("%d incidents told, want 1", len(incidents))
	}
	in := incidents[0]
	if in.Kind != string(report.CauseEODTimeout) || in.Stream != 0 || in.Server != liveLabAddr ||
		!strings.HasPrefix(in.Client, "127.0.0.1:") || in.Frame == 0 || in.Message != 1 {
		t.Errorf("incident %+v, want eod-timeout on stream 0, client 127.0.0.1 → %s, message 1, with a frame", in, liveLabAddr)
	}
	if !incidentAt.Before(exited.Add(-time.Second)) {
		t.Errorf("incident told %s after the start, smtpscope exited %s after it: not told while running",
			incidentAt.Sub(started), exited.Sub(started))
	}

	// The final report.
	raw, err := os.ReadFile(reportPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep analyzedReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, raw)
	}
	if rep.Verdict.Cause != "eod-no-reply" {
		t.Errorf("live report verdict %+v, want eod-no-reply", rep.Verdict)
	}
	if len(rep.Connections) != 1 || rep.Connections[0].SMTP == nil || len(rep.Connections[0].SMTP.Transactions) != 1 {
		t.Fatalf("live report: want one SMTP connection with one message:\n%s", raw)
	}
	tx := rep.Connections[0].SMTP.Transactions[0]
	if tx.Outcome != "no-reply" || tx.EODFrame != in.Frame {
		t.Errorf("live report: message %+v, want no-reply with the end-of-data in frame %d", tx, in.Frame)
	}
	// Told while the client still waited, --eod-timeout after the dot.
	told, err := time.Parse(time.RFC3339Nano, in.Time)
	if err != nil {
		t.Fatal(err)
	}
	gaveUp := tx.EODTime.Add(time.Duration(tx.WaitedMS * float64(time.Millisecond)))
	if wait := told.Sub(tx.EODTime); wait < 2*time.Second || !told.Before(gaveUp) {
		t.Errorf("incident told %s after the end-of-data, the client gave up after %s: want 2 s, before it gave up",
			wait, gaveUp.Sub(tx.EODTime))
	}
	if liveOut.Len() != 0 {
		t.Errorf("stdout %q, want nothing (the report went to -o)", liveOut.String())
	}

	// The packets it wrote analyse to the same verdict.
	analyze := exec.CommandContext(ctx, bin, "analyze", "--format", "json", pcapPath)
	out, err := analyze.Output()
	if !errors.As(err, &exit) || exit.ExitCode() != exitFindings {
		t.Errorf("smtpscope analyze %s: %v, want exit status %d", pcapPath, err, exitFindings)
	}
	var again analyzedReport
	if err := json.Unmarshal(out, &again); err != nil {
		t.Fatalf("analyze report: %v\n%s", err, out)
	}
	if again.Verdict != rep.Verdict || again.Totals != rep.Totals {
		t.Errorf("analyze of the written capture: %+v %+v; live: %+v %+v", again.Verdict, again.Totals, rep.Verdict, rep.Totals)
	}
	if again.Inputs[0].Packets != rep.Inputs[0].Packets {
		t.Errorf("the written capture holds %d packets, the live run counted %d", again.Inputs[0].Packets, rep.Inputs[0].Packets)
	}
	if len(again.Connections) == 1 && again.Connections[0].SMTP != nil && len(again.Connections[0].SMTP.Transactions) == 1 {
		if f := again.Connections[0].SMTP.Transactions[0].EODFrame; f != in.Frame {
			t.Errorf("the written capture has the end-of-data in frame %d, the incident said %d", f, in.Frame)
		}
	} else {
		t.Errorf("analyze of the written capture: want one SMTP connection with one message:\n%s", out)
	}
}

// checkRunsAsNobody checks that process pid has real, effective and
// saved uid nobody's.
func checkRunsAsNobody(t *testing.T, pid int) {
	t.Helper()
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("no user nobody: %v", err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) == 5 && f[0] == "Uid:" && (f[1] != nobody.Uid || f[2] != nobody.Uid || f[3] != nobody.Uid) {
			t.Errorf("smtpscope live runs as %q, want uid %s (nobody) throughout", line, nobody.Uid)
		}
	}
}

// liveE2ESetup skips unless the test can run smtpscope live in a network
// namespace, then builds smtpscope with cgo and creates the namespace with
// its loopback up (deleted when the test ends).
func liveE2ESetup(t *testing.T) (bin, ipTool, ns string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: builds smtpscope and captures live")
	}
	if os.Geteuid() != 0 {
		t.Skip("end-to-end live test needs root (it creates a network namespace and captures on its loopback)")
	}
	ipTool, err := exec.LookPath("ip")
	if err != nil {
		t.Skip("end-to-end live test needs the ip command (iproute2) for network namespaces")
	}
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("end-to-end live test needs the go tool in PATH to build smtpscope")
	}

	bin = filepath.Join(t.TempDir(), "smtpscope")
	build := exec.Command(gotool, "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	ns = fmt.Sprintf("smtpscope-live-%d", os.Getpid())
	ipCmd := func(args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, ipTool, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ipCmd("netns", "add", ns)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, ipTool, "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", ns, err, out)
		}
	})
	ipCmd("-n", ns, "link", "set", "lo", "up")
	return bin, ipTool, ns
}

// liveLabCommand runs this test binary as the lab (TestLiveLabHelper)
// inside the namespace, pinned to CPU 0 when taskset is there.
func liveLabCommand(ctx context.Context, ipTool, ns string) *exec.Cmd {
	args := []string{"netns", "exec", ns}
	if taskset, err := exec.LookPath("taskset"); err == nil {
		args = append(args, taskset, "-c", "0")
	}
	args = append(args, os.Args[0], "-test.run=^TestLiveLabHelper$", "-test.v")
	cmd := exec.CommandContext(ctx, ipTool, args...)
	cmd.Env = append(os.Environ(), liveLabEnv+"=1")
	return cmd
}

// TestLiveLabHelper is the lab of TestLiveEndToEnd, not a test: a server
// on 127.0.0.1:2525 that answers every command but never the end-of-data,
// and a client that sends one message, waits liveLabWait for the reply,
// then gives up. It runs only when started by TestLiveEndToEnd.
func TestLiveLabHelper(t *testing.T) {
	if os.Getenv(liveLabEnv) == "" {
		return // not a test of its own: TestLiveEndToEnd runs it in its namespace
	}
	ln, err := net.Listen("tcp", liveLabAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() { served <- serveStalling(ln) }()

	if err := sendAndGiveUp(liveLabAddr); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the lab server did not see the client leave")
	}
}

// serveStalling accepts one connection and plays a relay that stalls
// after the message: every command gets its reply, the end-of-data none.
// It returns when the client has left.
func serveStalling(ln net.Listener) error {
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(2 * liveLabWait)); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	say := func(s string) error {
		_, err := io.WriteString(c, s+"\r\n")
		return err
	}
	if err := say("220 lab.test ESMTP stalling relay"); err != nil {
		return err
	}
	inBody := false
	for {
		line, err := r.ReadString('\n')
		if err == io.EOF {
			return nil // the client left
		}
		if err != nil {
			return err
		}
		line = strings.TrimRight(line, "\r\n")
		switch verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0]); {
		case inBody && line == ".":
			// The stall: no reply, and nothing read from now on is
			// answered, as a relay stuck on this message would not.
			_, err := io.Copy(io.Discard, r)
			return err
		case inBody:
		case verb == "EHLO":
			err = say("250-lab.test\r\n250 8BITMIME")
		case verb == "DATA":
			inBody = true
			err = say("354 go ahead")
		case verb == "QUIT":
			err = say("221 bye")
		default:
			err = say("250 ok")
		}
		if err != nil {
			return err
		}
	}
}

// sendAndGiveUp sends one message and waits liveLabWait for the reply to
// its end-of-data; it expects none, then sends QUIT and closes.
func sendAndGiveUp(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(2 * liveLabWait)); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	// expect reads one reply, multi-line ones whole (RFC 5321 §4.2.1).
	expect := func(code string) error {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return fmt.Errorf("waiting for %s: %w", code, err)
			}
			if !strings.HasPrefix(line, code) {
				return fmt.Errorf("got %q, want %s", line, code)
			}
			if len(line) < 4 || line[3] != '-' {
				return nil
			}
		}
	}
	send := func(s, code string) error {
		if _, err := io.WriteString(c, s+"\r\n"); err != nil {
			return err
		}
		return expect(code)
	}
	if err := expect("220"); err != nil {
		return err
	}
	for _, step := range [][2]string{
		{"EHLO client.lab.test", "250"}, {"MAIL FROM:<sender@client.lab.test>", "250"},
		{"RCPT TO:<rcpt@lab.test>", "250"}, {"DATA", "354"},
	} {
		if err := send(step[0], step[1]); err != nil {
			return err
		}
	}
	body := "Subject: live test\r\nMessage-ID: <live-e2e@client.lab.test>\r\n\r\n" +
		strings.Repeat("The relay will not answer this message.\r\n", 50) + ".\r\n"
	if _, err := io.WriteString(c, body); err != nil {
		return err
	}
	if err := c.SetReadDeadline(time.Now().Add(liveLabWait)); err != nil {
		return err
	}
	if line, err := r.ReadString('\n'); err == nil {
		return fmt.Errorf("the server answered the end-of-data: %q", line)
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		return fmt.Errorf("waiting for the end-of-data reply: %w", err)
	}
	fmt.Printf("client: no reply to the end-of-data in %s; giving up\n", liveLabWait)
	_, err = io.WriteString(c, "QUIT\r\n")
	return err
}

// TestLiveSignals checks that SIGINT and SIGTERM end a run without
// --duration: smtpscope stops within a read timeout or two, says why, and
// writes the report; nothing failed, so the exit status is 0.
func TestLiveSignals(t *testing.T) {
	bin, ipTool, ns := liveE2ESetup(t)
	for _, sig := range []struct {
		signal os.Signal
		reason string
	}{{os.Interrupt, "interrupt signal received"}, {syscall.SIGTERM, "terminated signal received"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		// ip netns exec execs smtpscope: the signal goes to smtpscope itself.
		live := exec.CommandContext(ctx, ipTool, "netns", "exec", ns, bin, "live", "-i", "lo", "--format", "json")
		var stdout bytes.Buffer
		var stderr lockedBuffer
		live.Stdout, live.Stderr = &stdout, &stderr
		if err := live.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		// Bounded wait for the start line: the capture runs.
		for ctx.Err() == nil && !strings.Contains(stderr.String(), `"type":"start"`) {
			time.Sleep(20 * time.Millisecond)
		}
		sent := time.Now()
		if err := live.Process.Signal(sig.signal); err != nil {
			t.Fatal(err)
		}
		err := live.Wait()
		took := time.Since(sent)
		cancel()
		if err != nil {
			t.Errorf("%v: smtpscope live: %v, want exit status 0\n%s", sig.signal, err, stderr.String())
		}
		if took > 2*time.Second {
			t.Errorf("%v: smtpscope took %s to stop", sig.signal, took)
		}
		if !strings.Contains(stderr.String(), `"type":"stop","time":`) || !strings.Contains(stderr.String(), `"reason":"`+sig.reason+`"`) {
			t.Errorf("%v: no stop line saying %q:\n%s", sig.signal, sig.reason, stderr.String())
		}
		var rep analyzedReport
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || rep.Verdict.Cause != "ok" {
			t.Errorf("%v: report %+v (%v), want verdict ok:\n%s", sig.signal, rep.Verdict, err, stdout.String())
		}
	}
}

// lockedBuffer is a bytes.Buffer that a process writes while the test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLiveOutputPaths checks that a report or packet file that cannot be
// created ends the run before the capture starts, with exit status 2. The
// capture is opened on the loopback, where nothing is sent.
func TestLiveOutputPaths(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("opening a live capture needs root")
	}
	missing := filepath.Join(t.TempDir(), "missing")
	for _, args := range [][]string{
		{"-o", filepath.Join(missing, "report.txt")},
		{"--write", filepath.Join(missing, "out.pcapng")},
	} {
		var out, errOut bytes.Buffer
		start := time.Now()
		status := run(append([]string{"live", "-i", "lo", "--duration", "5s"}, args...), nil, &out, &errOut)
		if status != exitError || !strings.Contains(errOut.String(), "no such file or directory") {
			t.Errorf("live %q: exit %d, stderr %q; want exit 2 and the path error", args, status, errOut.String())
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("live %q: took %s, want an error before the capture", args, took)
		}
	}
}
