package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"
)

// evidenceReport is the part of the JSON report the evidence tests compare.
type evidenceReport struct {
	Connections []struct {
		Stream    int    `json:"stream"`
		Client    string `json:"client"`
		Server    string `json:"server"`
		Packets   int    `json:"packets"`
		Diagnosis struct {
			Layer string `json:"layer"`
			Cause string `json:"cause"`
		} `json:"diagnosis"`
		SMTP *struct {
			Verdict string `json:"verdict"`
		} `json:"smtp"`
	} `json:"connections"`
}

func evidenceJSON(t *testing.T, args ...string) evidenceReport {
	t.Helper()
	var out, errOut bytes.Buffer
	if st := run(append([]string{"analyze", "--format", "json"}, args...), nil, &out, &errOut); st == exitError {
		t.Fatalf("analyze %v: exit 2: %s", args, errOut.String())
	}
	var r evidenceReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestEvidence cuts each failing connection out of its capture: the file
// holds exactly the connection's packets, every one commented with its
// original frame number, and analysing it again gives the same diagnosis.
func TestEvidence(t *testing.T) {
	for _, tt := range []struct {
		capture    string
		wantFailed int
	}{
		{"testdata/scenarios/captures/relay-stall.pcapng", 1},
		{"testdata/captures/suricata-verify__smtperr.pcap", 2},
	} {
		t.Run(filepath.Base(tt.capture), func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(repoRoot, tt.capture)
			rep := evidenceJSON(t, "--evidence", dir, in)
			failed := 0
			for _, c := range rep.Connections {
				path := filepath.Join(dir, fmt.Sprintf("stream-%d.pcapng", c.Stream))
				if c.SMTP == nil || c.SMTP.Verdict != "failed" {
					if _, err := os.Stat(path); err == nil {
						t.Errorf("stream %d did not fail, yet %s was written", c.Stream, path)
					}
					continue
				}
				failed++
				if n := countCommented(t, path); n != c.Packets {
					t.Errorf("%s holds %d packets, want the connection's %d", path, n, c.Packets)
				}
				again := evidenceJSON(t, path)
				if len(again.Connections) != 1 {
					t.Fatalf("%s: %d connections, want 1", path, len(again.Connections))
				}
				g := again.Connections[0]
				if g.Client != c.Client || g.Server != c.Server || g.Packets != c.Packets || g.Diagnosis != c.Diagnosis {
					t.Errorf("%s analyses as %s→%s %d packets %+v, want %s→%s %d packets %+v",
						path, g.Client, g.Server, g.Packets, g.Diagnosis, c.Client, c.Server, c.Packets, c.Diagnosis)
				}
			}
			if failed != tt.wantFailed {
				t.Errorf("%d failing connections, want %d", failed, tt.wantFailed)
			}
		})
	}
}

// countCommented counts a pcapng file's packets, checking that each
// names its original frame.
func countCommented(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	n := 0
	for {
		_, _, opts, err := r.ReadPacketDataWithOptions()
		if err != nil {
			break
		}
		n++
		if len(opts.Comments) != 1 || !strings.HasPrefix(opts.Comments[0], "frame ") {
			t.Fatalf("%s: packet %d has comments %q, want its original frame", path, n, opts.Comments)
		}
	}
	return n
}

// TestEvidenceStdin: standard input cannot be read twice, so --evidence
// with "-" is a usage error, said before anything is read.
func TestEvidenceStdin(t *testing.T) {
	var out, errOut bytes.Buffer
	if st := run([]string{"analyze", "--evidence", t.TempDir(), "-"}, strings.NewReader(""), &out, &errOut); st != exitError {
		t.Errorf("exit %d, want %d", st, exitError)
	}
	if !strings.Contains(errOut.String(), "standard input") {
		t.Errorf("stderr %q does not say standard input cannot be used", errOut.String())
	}
}

// TestEvidenceRedactRefused: --redact hides addresses the packets carry,
// so the combination is a one-line usage error before anything is read or
// written.
func TestEvidenceRedactRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "evidence")
	var out, errOut bytes.Buffer
	in := filepath.Join(repoRoot, "testdata/scenarios/captures/relay-stall.pcapng")
	if st := run([]string{"analyze", "--redact", "--evidence", dir, in}, nil, &out, &errOut); st != exitError {
		t.Errorf("exit %d, want %d", st, exitError)
	}
	if msg := errOut.String(); strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "--redact") {
		t.Errorf("stderr %q, want one line about --redact", msg)
	}
	if out.Len() != 0 {
		t.Errorf("a report was written: %q", out.String())
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("%s was created", dir)
	}
}

// TestEvidenceFileErrorKeepsReport: an evidence file that cannot be
// written is one line on stderr naming it and exit status 2, and the
// report is written in full all the same.
func TestEvidenceFileErrorKeepsReport(t *testing.T) {
	in := filepath.Join(repoRoot, "testdata/captures/suricata-verify__smtperr.pcap")
	var want, errOut bytes.Buffer
	if st := run([]string{"analyze", "--format", "json", in}, nil, &want, &errOut); st != exitFindings {
		t.Fatalf("exit %d: %s", st, errOut.String())
	}
	dir := t.TempDir()
	rep := evidenceJSON(t, "--evidence", t.TempDir(), in)
	var failed []int
	for _, c := range rep.Connections {
		if c.SMTP != nil && c.SMTP.Verdict == "failed" {
			failed = append(failed, c.Stream)
		}
	}
	if len(failed) < 2 {
		t.Fatalf("failing streams %v, want two", failed)
	}
	blocked := filepath.Join(dir, fmt.Sprintf("stream-%d.pcapng", failed[0]))
	if err := os.Mkdir(blocked, 0o755); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	errOut.Reset()
	if st := run([]string{"analyze", "--format", "json", "--evidence", dir, in}, nil, &out, &errOut); st != exitError {
		t.Errorf("exit %d, want %d", st, exitError)
	}
	if out.String() != want.String() {
		t.Errorf("the report is not the one written without --evidence:\n%s", out.String())
	}
	if msg := errOut.String(); strings.Count(msg, "\n") != 1 || !strings.Contains(msg, blocked) {
		t.Errorf("stderr %q, want one line naming %s", msg, blocked)
	}
	other := filepath.Join(dir, fmt.Sprintf("stream-%d.pcapng", failed[1]))
	if fi, err := os.Stat(other); err != nil || fi.Size() == 0 {
		t.Errorf("%s not written: %v", other, err)
	}
}

// TestEvidenceKeys: with --evidence-keys, the evidence file of a TLS
// session carries its keys in a Decryption Secrets Block, so tshark
// decrypts it with no key log to the commands and replies it decrypts
// from the original with the key log; without the flag, no secret of the
// key log is in the file (as hex or as bytes).
func TestEvidenceKeys(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Fatal("tshark is needed (scripts/setup.sh installs it)")
	}
	smtpLines := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("tshark", append(args, "-Y", "smtp.req.command || smtp.response.code",
			"-T", "fields", "-e", "smtp.req.command", "-e", "smtp.response.code")...).Output()
		if err != nil {
			t.Fatalf("tshark %v: %v", args, err)
		}
		return string(out)
	}
	for _, name := range []string{"tls-stall-12", "tls-stall-13", "tls-implicit-stall"} {
		t.Run(name, func(t *testing.T) {
			capture, keys := scenarioFiles(name)
			withKeys, without := t.TempDir(), t.TempDir()
			var out, errOut bytes.Buffer
			if st := run([]string{"analyze", "--tls-keylog", keys, "--evidence", withKeys, "--evidence-keys", capture}, nil, &out, &errOut); st != exitFindings {
				t.Fatalf("exit %d: %s", st, errOut.String())
			}
			if !strings.Contains(errOut.String(), "1 of 1 evidence files carry TLS keys") {
				t.Errorf("stderr %q", errOut.String())
			}
			if st := run([]string{"analyze", "--tls-keylog", keys, "--evidence", without, capture}, nil, &out, &errOut); st != exitFindings {
				t.Fatalf("exit %d: %s", st, errOut.String())
			}
			evidence := filepath.Join(withKeys, "stream-0.pcapng")
			want := smtpLines("-r", capture, "-o", "tls.keylog_file:"+keys)
			if got := smtpLines("-r", evidence); got != want {
				t.Errorf("tshark decrypts the evidence file to\n%s\nand the original with the key log to\n%s", got, want)
			}
			if strings.Count(want, "\n") < 10 {
				t.Errorf("tshark decrypted only\n%s", want)
			}
			plain, err := os.ReadFile(filepath.Join(without, "stream-0.pcapng"))
			if err != nil {
				t.Fatal(err)
			}
			lines, err := os.ReadFile(keys)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
				f := strings.Fields(l)
				secret, _ := hex.DecodeString(f[2])
				if bytes.Contains(plain, []byte(f[2])) || bytes.Contains(plain, secret) {
					t.Errorf("without --evidence-keys, the file holds the %s secret", f[0])
				}
			}
		})
	}
}
