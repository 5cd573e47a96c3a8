package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
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
