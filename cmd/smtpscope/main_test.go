package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// repoRoot is where testdata/ lives, relative to this package.
const repoRoot = "../.."

// goldenCaptures are the captures whose full reports are kept as golden
// files: the seed incident and its healthy twin from the fault lab, and
// real captures by others covering pipelining, BDAT, STARTTLS, AUTH and
// rejections.
var goldenCaptures = []string{
	"testdata/scenarios/captures/healthy.pcapng",
	"testdata/scenarios/captures/relay-stall.pcapng",
	"testdata/captures/zeek__smtp.pcap",
	"testdata/captures/suricata-verify__smtp-pipelining-input.pcap",
	"testdata/captures/zeek__rfc3030-bdat-example1.pcap",
	"testdata/captures/zeek__smtp-starttls.pcap",
	"testdata/captures/suricata-verify__smtperr.pcap",
	"testdata/captures/zeek__smtp-multi-addr.pcap",
	// Packets of three captures run together: the 4-tuple of stream 0
	// comes back 14 years later, reported as stream 0 again (resumed).
	"testdata/captures/PcapPlusPlus__Smtp.pcap",
}

func TestGolden(t *testing.T) {
	for _, rel := range goldenCaptures {
		t.Run(filepath.Base(rel), func(t *testing.T) {
			path := filepath.Join(repoRoot, rel)
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("golden capture missing: %v", err)
			}
			for _, format := range []string{"json", "text", "markdown", "html"} {
				var out, errOut bytes.Buffer
				status := run([]string{"analyze", "--format", format, "--color", "never", path}, nil, &out, &errOut)
				if status == exitError {
					t.Fatalf("exit %d: %s", status, errOut.String())
				}
				// The path the capture was opened under appears in the
				// report; make it independent of the working directory.
				got := bytes.ReplaceAll(out.Bytes(), []byte(path), []byte(rel))
				golden := filepath.Join("testdata", "golden", filepath.Base(rel)+"."+map[string]string{"json": "json", "text": "txt", "markdown": "md", "html": "html"}[format])
				if *update {
					os.MkdirAll(filepath.Dir(golden), 0o755)
					if err := os.WriteFile(golden, got, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./cmd/smtpscope -update)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s report differs from %s; rerun with -update and review the diff\n--- got\n%s", format, golden, got)
				}
			}
		})
	}
}

// TestSeedIncident checks the product's reason to exist on the seed
// capture: exit 1, and plain words saying TCP was healthy and the relay
// never answered the end-of-data, with the frame of the dot.
func TestSeedIncident(t *testing.T) {
	path := filepath.Join(repoRoot, "testdata/scenarios/captures/relay-stall.pcapng")
	var out, errOut bytes.Buffer
	if status := run([]string{"analyze", "--color", "never", path}, nil, &out, &errOut); status != exitFindings {
		t.Fatalf("exit %d, want %d; stderr: %s", status, exitFindings, errOut.String())
	}
	// Sentences wrap; compare with whitespace collapsed.
	text := strings.Join(strings.Fields(out.String()), " ")
	for _, want := range []string{"TCP was healthy", "never answered the end-of-data", "client sent the end-of-data", "NO REPLY AFTER END-OF-DATA"} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
	out.Reset()
	run([]string{"analyze", "--format", "json", path}, nil, &out, &errOut)
	var rep struct {
		Connections []struct {
			L4 struct {
				Retransmissions int    `json:"retransmissions"`
				Verdict         string `json:"verdict"`
			} `json:"l4"`
			SMTP *struct {
				Transactions []struct {
					Size     int64   `json:"size"`
					EODFrame int     `json:"eod_frame"`
					Outcome  string  `json:"outcome"`
					WaitedMS float64 `json:"waited_ms"`
				} `json:"transactions"`
			} `json:"smtp"`
			Diagnosis struct{ Layer, Cause string } `json:"diagnosis"`
		} `json:"connections"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	var noReply int
	for _, c := range rep.Connections {
		if c.SMTP == nil {
			continue
		}
		for _, tx := range c.SMTP.Transactions {
			if tx.Outcome != "no-reply" {
				continue
			}
			noReply++
			if tx.Size < 1<<20 || tx.EODFrame == 0 || tx.WaitedMS <= 0 {
				t.Errorf("no-reply transaction: size %d, eod frame %d, waited %v ms", tx.Size, tx.EODFrame, tx.WaitedMS)
			}
			if c.Diagnosis.Layer != "L7" || c.Diagnosis.Cause != "eod-no-reply" || c.L4.Verdict != "healthy" {
				t.Errorf("diagnosis %+v with L4 %+v, want L7 eod-no-reply on healthy TCP", c.Diagnosis, c.L4)
			}
		}
	}
	if noReply != 1 {
		t.Errorf("found %d no-reply transactions, want 1", noReply)
	}
}

func TestExitStatus(t *testing.T) {
	dir := t.TempDir()
	notCapture := filepath.Join(dir, "notes.txt")
	os.WriteFile(notCapture, []byte("this is not a capture file\n"), 0o644)
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"no args", nil, exitError},
		{"unknown command", []string{"frobnicate"}, exitError},
		{"help", []string{"help"}, exitOK},
		{"version", []string{"version"}, exitOK},
		{"analyze without files", []string{"analyze"}, exitError},
		{"bad format", []string{"analyze", "--format", "xml", notCapture}, exitError},
		{"missing file", []string{"analyze", filepath.Join(dir, "nope.pcap")}, exitError},
		{"not a capture", []string{"analyze", notCapture}, exitError},
		{"unsupported link type", []string{"analyze", filepath.Join(repoRoot, "testdata/captures/tcpdump__dsa.pcap")}, exitError},
		{"healthy", []string{"analyze", filepath.Join(repoRoot, "testdata/scenarios/captures/healthy.pcapng")}, exitOK},
		{"seed incident", []string{"analyze", filepath.Join(repoRoot, "testdata/scenarios/captures/relay-stall.pcapng")}, exitFindings},
		{"seed incident on 2 workers", []string{"analyze", "--workers", "2", filepath.Join(repoRoot, "testdata/scenarios/captures/relay-stall.pcapng")}, exitFindings},
		{"no workers", []string{"analyze", "--workers", "0", notCapture}, exitError},
		{"empty pcap", []string{"analyze", filepath.Join(repoRoot, "testdata/captures/tcpdump__empty.pcap")}, exitOK},
		// Exim refuses a second MAIL inside an open envelope (503 "sender
		// already given"); the envelope goes on and its message is
		// delivered: nothing failed (#20).
		{"duplicate MAIL refused inside an open envelope", []string{"analyze", filepath.Join(repoRoot, "testdata/captures/zeek__smtp-mail-transactions-invalid.pcap")}, exitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			got := run(tt.args, nil, &out, &errOut)
			if got != tt.want {
				t.Errorf("run(%q) = %d, want %d; stderr: %s", tt.args, got, tt.want, errOut.String())
			}
			if got == exitError && tt.args != nil && len(tt.args) > 0 && tt.args[0] == "analyze" {
				if lines := strings.Count(strings.TrimSpace(errOut.String()), "\n"); lines > 0 && !strings.Contains(errOut.String(), "Usage") {
					t.Errorf("error is not one line: %q", errOut.String())
				}
			}
		})
	}
}

// TestEveryCapture runs the analysis over every capture in the test data:
// none may crash; each ends with a report (exit 0/1) or, for damaged and
// unsupported files, exit 2 with a one-line reason.
func TestEveryCapture(t *testing.T) {
	for _, f := range testCaptures(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var out, errOut bytes.Buffer
			status := run([]string{"analyze", "--format", "json", f}, nil, &out, &errOut)
			switch status {
			case exitOK, exitFindings:
				if !json.Valid(out.Bytes()) {
					t.Errorf("invalid JSON report")
				}
			case exitError:
				msg := strings.TrimSpace(errOut.String())
				if msg == "" || strings.Contains(msg, "\n") {
					t.Errorf("exit 2 needs a one-line reason, got %q", msg)
				}
				t.Logf("exit 2: %s", msg)
			default:
				t.Errorf("exit %d", status)
			}
		})
	}
}

// TestNetmonOwningProcess checks that a Network Monitor 2.2+ capture's
// process table reaches the report: the connection names the program
// that owned it, found by the table entry's endpoints (an outbound
// connection) or by the frames' own process index (the listening socket
// of a server, whose entry has no remote end).
func TestNetmonOwningProcess(t *testing.T) {
	tests := []struct {
		file string
		pid  int
		name string
	}{
		{"netmon22-process.cap", 1234, "EdgeTransport.exe"},
		{"netmon23-listener.cap", 2345, "MSExchangeFrontendTransport.exe"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(repoRoot, "capture/testdata", tt.file)
			var out, errOut bytes.Buffer
			if st := run([]string{"analyze", "--format", "json", path}, nil, &out, &errOut); st == exitError {
				t.Fatalf("exit 2: %s", errOut.String())
			}
			var rep struct {
				Inputs      []struct{ Format string } `json:"inputs"`
				Connections []struct {
					Client  string `json:"client"`
					Process *struct {
						PID  int    `json:"pid"`
						Name string `json:"name"`
					} `json:"process"`
				} `json:"connections"`
			}
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatal(err)
			}
			if len(rep.Connections) != 1 || rep.Connections[0].Process == nil {
				t.Fatalf("connections %+v: want one with its process", rep.Connections)
			}
			if p := rep.Connections[0].Process; p.PID != tt.pid || p.Name != tt.name {
				t.Errorf("process %+v, want %s PID %d", p, tt.name, tt.pid)
			}
			if rep.Inputs[0].Format == "" || !strings.HasPrefix(rep.Inputs[0].Format, "netmon") {
				t.Errorf("format %q", rep.Inputs[0].Format)
			}
		})
	}
}

// TestMerge analyses two captures as one timeline: connections from both,
// numbered in one tcp.stream sequence, frames numbered in merged order as
// mergecap would, and each file still listed as an input.
func TestMerge(t *testing.T) {
	a := filepath.Join(repoRoot, "testdata/scenarios/captures/healthy.pcapng")
	b := filepath.Join(repoRoot, "testdata/scenarios/captures/eod-552.pcapng")
	type rep struct {
		Inputs []struct {
			Packets int `json:"packets"`
		} `json:"inputs"`
		Connections []struct {
			Stream     int `json:"stream"`
			FirstFrame int `json:"first_frame"`
			LastFrame  int `json:"last_frame"`
			Packets    int `json:"packets"`
		} `json:"connections"`
	}
	analyze := func(args ...string) rep {
		var out, errOut bytes.Buffer
		if st := run(append([]string{"analyze", "--format", "json"}, args...), nil, &out, &errOut); st == exitError {
			t.Fatalf("exit 2: %s", errOut.String())
		}
		var r rep
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	ra, rb := analyze(a), analyze(b)
	sep := analyze(a, b)
	merged := analyze("--merge", a, b)
	total := ra.Inputs[0].Packets + rb.Inputs[0].Packets
	if len(merged.Inputs) != 2 || merged.Inputs[0].Packets+merged.Inputs[1].Packets != total {
		t.Fatalf("merged inputs %+v, want both files with %d packets", merged.Inputs, total)
	}
	if len(merged.Connections) != len(ra.Connections)+len(rb.Connections) || len(sep.Connections) != len(merged.Connections) {
		t.Fatalf("merged %d connections, separate %d, want %d", len(merged.Connections), len(sep.Connections), len(ra.Connections)+len(rb.Connections))
	}
	packets := 0
	for i, c := range merged.Connections {
		if c.Stream != i {
			t.Errorf("merged connection %d has stream %d", i, c.Stream)
		}
		if c.LastFrame > total {
			t.Errorf("stream %d ends at frame %d, beyond the %d merged frames", c.Stream, c.LastFrame, total)
		}
		packets += c.Packets
	}
	if packets != total {
		t.Errorf("merged connections hold %d packets, want %d", packets, total)
	}
	// Separately, the second file's streams restart at 0.
	if sep.Connections[len(ra.Connections)].Stream != 0 {
		t.Errorf("separate analysis: second file's first stream is %d, want 0", sep.Connections[len(ra.Connections)].Stream)
	}
}

// TestStdin reads a capture from standard input ("-") and reports it as
// it would the file.
func TestStdin(t *testing.T) {
	path := filepath.Join(repoRoot, "testdata/scenarios/captures/relay-stall.pcapng")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fromFile, fromStdin, errOut bytes.Buffer
	run([]string{"analyze", "--format", "json", path}, nil, &fromFile, &errOut)
	if st := run([]string{"analyze", "--format", "json", "-"}, bytes.NewReader(data), &fromStdin, &errOut); st != exitFindings {
		t.Fatalf("exit %d: %s", st, errOut.String())
	}
	want := bytes.ReplaceAll(fromFile.Bytes(), []byte(`"name": "`+path+`"`), []byte(`"name": "-"`))
	if !bytes.Equal(fromStdin.Bytes(), want) {
		t.Errorf("report from stdin differs from the file's")
	}
}
