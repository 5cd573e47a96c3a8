package synth

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// tshark runs tshark with args and returns its standard output.
func tshark(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("tshark", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// TestWiresharkAgrees reads a generated capture with tshark: no bad
// checksum, one conversation per session, sensible replies, and exactly
// the tcp.analysis flags and resets each session's expectation counts —
// none on the healthy ones. A session whose capture lacks a data frame
// (Options.CaptureLoss) has tshark's "ACKed segment that wasn't captured"
// (the peer's ACK shows the bytes arrived) and nothing else of loss; one
// that lacks a pure ACK has no flag at all. A session that negotiated SACK
// has SACK permitted on both SYNs and exactly the SACK and D-SACK blocks
// its expectation counts; the others have none.
func TestWiresharkAgrees(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (scripts/setup.sh installs it)")
	}
	if testing.Short() {
		t.Skip("runs tshark")
	}
	capture, exps, _ := generate(t, Options{Seed: 13, Sessions: 240, Problems: 0.9, Concurrency: 40, MaxMessageSize: 4 << 10, BDAT: 0.3, CaptureLoss: 0.3, SACK: 0.5})
	checkCoverage(t, exps) // tshark is held to every fault in every shape
	name := filepath.Join(t.TempDir(), "synth.pcap")
	if err := os.WriteFile(name, capture, 0o644); err != nil {
		t.Fatal(err)
	}

	conv := strings.Count(tshark(t, "-r", name, "-q", "-z", "conv,tcp"), "<->")
	if conv != len(exps) {
		t.Errorf("tshark -z conv,tcp: %d conversations, want %d", conv, len(exps))
	}

	// One pass for the rest: every frame's checksum status, the frames
	// with an analysis flag or RST, and the reply codes.
	known := map[string]bool{"220": true, "221": true, "250": true, "354": true, "450": true, "451": true,
		"452": true, "550": true, "552": true, "554": true}
	greetings := 0
	got := make([]L4Expectation, len(exps))
	flagged := make([]int, len(exps))
	ackedUnseen := make([]int, len(exps))
	type sackSeen struct{ perm, sacks, dsacks int }
	sacks := make([]sackSeen, len(exps))
	out := tshark(t, "-r", name, "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
		"-T", "fields", "-E", "separator=|", "-e", "frame.number", "-e", "tcp.stream",
		"-e", "ip.checksum.status", "-e", "tcp.checksum.status",
		"-e", "tcp.analysis.retransmission", "-e", "tcp.analysis.out_of_order",
		"-e", "tcp.analysis.zero_window", "-e", "tcp.flags.reset", "-e", "tcp.analysis.flags", "-e", "smtp.response.code",
		"-e", "tcp.analysis.ack_lost_segment", "-e", "tcp.option_kind", "-e", "tcp.options.sack.dsack_le")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 13 {
			t.Fatalf("tshark line %q: want 13 fields", line)
		}
		s, err := strconv.Atoi(f[1])
		if err != nil || s >= len(exps) {
			t.Fatalf("tshark line %q: bad stream", line)
		}
		for _, kind := range strings.Split(f[11], ",") {
			switch kind {
			case "4":
				sacks[s].perm++
			case "5":
				sacks[s].sacks++
			}
		}
		if f[12] != "" {
			sacks[s].dsacks++
		}
		if f[2] != "1" || f[3] != "1" {
			t.Errorf("frame %s: checksum status ip %s tcp %s, want 1 (good)", f[0], f[2], f[3])
		}
		countFlags(&got[s], f[4:8])
		switch {
		case f[10] != "":
			ackedUnseen[s]++
		case f[8] != "":
			flagged[s]++
		}
		for _, code := range strings.Split(f[9], ",") {
			if code == "" {
				continue
			}
			if !known[code] {
				t.Errorf("frame %s: unexpected reply code %s", f[0], code)
			}
			if code == "220" {
				greetings++
			}
		}
	}
	if greetings != len(exps) {
		t.Errorf("%d 220 greetings, want %d", greetings, len(exps))
	}
	sacked, dsacked := 0, 0
	for _, e := range exps {
		if got[e.Stream] != e.L4 {
			t.Errorf("stream %d (%s): tshark counts %+v, want %+v", e.Stream, e.Fault, got[e.Stream], e.L4)
		}
		tcpHealthy := e.Fault == FaultNone || e.Fault == FaultDeferred || e.Fault == FaultRejected || e.Fault == FaultEODNoReply
		if tcpHealthy && flagged[e.Stream] > 0 && (e.CaptureLoss == LossNone || e.CaptureLoss == LossServerACK) {
			t.Errorf("stream %d (%s): %d frames with tcp.analysis flags, want none", e.Stream, e.Fault, flagged[e.Stream])
		}
		want := sackSeen{sacks: e.SACKs, dsacks: e.DSACKs}
		if e.SACK {
			want.perm = 2
		}
		if sacks[e.Stream] != want {
			t.Errorf("stream %d (%s %s, SACK %v): tshark saw %+v SACK options, want %+v", e.Stream, e.Fault, e.Shape, e.SACK, sacks[e.Stream], want)
		}
		if e.SACK && e.DSACKs > 0 {
			dsacked++
		}
		if e.SACK && e.SACKs > e.DSACKs {
			sacked++
		}
		dataLost := e.CaptureLoss != LossNone && e.CaptureLoss != LossServerACK
		if got := ackedUnseen[e.Stream]; dataLost != (got > 0) {
			t.Errorf("stream %d (%s, capture lacks %q): %d frames ACK a segment that wasn't captured", e.Stream, e.Fault, e.CaptureLoss, got)
		}
	}
	if sacked == 0 || dsacked == 0 {
		t.Errorf("%d sessions with SACK blocks, %d with D-SACK blocks: want some of each", sacked, dsacked)
	}
}

// TestWiresharkReadsTLS reads a capture of STARTTLS sessions with tshark:
// no malformed frame, and in every session a ClientHello and a ServerHello
// of the version the expectation names (a TLS 1.3 ServerHello carries
// supported_versions 0x0304), with the certificate chain in clear in TLS
// 1.2 and none in TLS 1.3.
func TestWiresharkReadsTLS(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (scripts/setup.sh installs it)")
	}
	if testing.Short() {
		t.Skip("runs tshark")
	}
	capture, exps, _ := generate(t, Options{Seed: 12, Sessions: 30, Problems: 0.3, Concurrency: 10, TLS: 1, MaxMessageSize: 20 << 10})
	name := filepath.Join(t.TempDir(), "tls.pcap")
	if err := os.WriteFile(name, capture, 0o644); err != nil {
		t.Fatal(err)
	}
	type seen struct {
		hello, serverHello, certificate int
		version13                       bool
	}
	got := make([]seen, len(exps))
	out := tshark(t, "-r", name, "-Y", "tls || _ws.malformed", "-T", "fields", "-E", "separator=|", "-e", "frame.number",
		"-e", "tcp.stream", "-e", "tls.handshake.type", "-e", "tls.handshake.extensions.supported_version", "-e", "_ws.malformed")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 5 {
			t.Fatalf("tshark line %q: want 5 fields", line)
		}
		if f[4] != "" {
			t.Errorf("frame %s: malformed", f[0])
		}
		s, err := strconv.Atoi(f[1])
		if err != nil || s >= len(exps) {
			t.Fatalf("tshark line %q: bad stream", line)
		}
		for _, typ := range strings.Split(f[2], ",") {
			switch typ {
			case "1":
				got[s].hello++
			case "2":
				got[s].serverHello++
				// The ServerHello's supported_versions follows the
				// ClientHello's list in the same frame only if both are
				// there; a ServerHello frame holds the server's alone.
				got[s].version13 = strings.HasSuffix(f[3], "0x0304")
			case "11":
				got[s].certificate++
			}
		}
	}
	for _, e := range exps {
		g := got[e.Stream]
		if e.TLS == "" {
			t.Errorf("stream %d: not a TLS session with TLS 1", e.Stream)
			continue
		}
		want := seen{hello: 1, serverHello: 1, version13: e.TLS == "TLS 1.3"}
		if !want.version13 {
			want.certificate = 1
		}
		if g != want {
			t.Errorf("stream %d (%s): tshark saw %+v, want %+v", e.Stream, e.TLS, g, want)
		}
	}
}

// countFlags adds one frame's tshark fields tcp.analysis.retransmission,
// out_of_order, zero_window and tcp.flags.reset to l4.
func countFlags(l4 *L4Expectation, f []string) {
	for i, n := range []*int{&l4.Retransmissions, &l4.OutOfOrder, &l4.ZeroWindows} {
		if f[i] != "" {
			*n++
		}
	}
	if f[3] == "1" || f[3] == "True" {
		l4.Resets++
	}
}
