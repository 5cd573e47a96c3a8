package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Decryption end to end: the TLS lab scenarios that kept their client's
// key log (testdata/scenarios/captures/<name>.keys) analysed with
// --tls-keylog, against tshark decrypting with the same key log, against
// the plaintext seed incident, and with wrong and missing keys.

const scenarioCaptures = "testdata/scenarios/captures"

// keyedScenarios lists the scenarios whose key log holds a line.
func keyedScenarios(t *testing.T) []string {
	t.Helper()
	keys, _ := filepath.Glob(filepath.Join(repoRoot, scenarioCaptures, "*.keys"))
	var out []string
	for _, k := range keys {
		if fi, err := os.Stat(k); err == nil && fi.Size() > 0 {
			out = append(out, strings.TrimSuffix(filepath.Base(k), ".keys"))
		}
	}
	if len(out) < 4 {
		t.Fatalf("only %d scenarios with a key log", len(out))
	}
	return out
}

// decReply, decCommand, decTx and decConn are the parts of the JSON report
// these tests read.
type decReply struct {
	Code      int       `json:"code"`
	Frame     int       `json:"frame"`
	Time      time.Time `json:"time"`
	LatencyMS float64   `json:"latency_ms"`
}

type decConn struct {
	Stream    int `json:"stream"`
	Diagnosis struct {
		Layer    string `json:"layer"`
		Cause    string `json:"cause"`
		Evidence []struct {
			Frame int    `json:"frame"`
			What  string `json:"what"`
		} `json:"evidence"`
	} `json:"diagnosis"`
	SMTP *struct {
		Banner   *decReply `json:"banner"`
		Commands []struct {
			Verb  string    `json:"verb"`
			Frame int       `json:"frame"`
			Reply *decReply `json:"reply"`
		} `json:"commands"`
		Transactions []struct {
			Outcome  string    `json:"outcome"`
			Inferred bool      `json:"inferred"`
			EODFrame int       `json:"eod_frame"`
			EODTime  time.Time `json:"eod_time"`
			Reply    *decReply `json:"reply"`
			Rcpts    []struct {
				Reply *decReply `json:"reply"`
			} `json:"rcpts"`
		} `json:"transactions"`
		TLS *struct {
			Handshake *struct {
				Ending string `json:"ending"`
			} `json:"handshake"`
			Decryption *struct {
				State  string `json:"state"`
				Reason string `json:"reason"`
			} `json:"decryption"`
		} `json:"tls"`
	} `json:"smtp"`
}

type decReport struct {
	Verdict struct {
		Layer string `json:"layer"`
		Cause string `json:"cause"`
	} `json:"verdict"`
	Connections []decConn `json:"connections"`
}

// decryptJSON runs analyze --format json with args and decodes the report.
func decryptJSON(t *testing.T, args ...string) (decReport, []byte) {
	t.Helper()
	var out, errOut bytes.Buffer
	if st := run(append([]string{"analyze", "--format", "json"}, args...), nil, &out, &errOut); st == exitError {
		t.Fatalf("analyze %q: exit %d: %s", args, st, errOut.String())
	}
	var rep decReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	return rep, out.Bytes()
}

func scenarioFiles(name string) (capture, keys string) {
	dir := filepath.Join(repoRoot, scenarioCaptures)
	return filepath.Join(dir, name+".pcapng"), filepath.Join(dir, name+".keys")
}

// tsharkSMTP is what tshark decrypts of one stream: the commands (frame
// and the verb's first four letters, as smtp.req.command holds them) and
// the last line of every reply (frame and code), and the frames of the
// messages it reassembled (imf).
type tsharkSMTP struct {
	commands, replies []string
	times             map[int]float64
	imf               []int
}

func tsharkDecrypted(t *testing.T, capture, keys string, decode ...string) map[int]*tsharkSMTP {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Fatal("tshark is needed (scripts/setup.sh installs it)")
	}
	out, err := exec.Command("tshark", append(decode, "-r", capture, "-o", "tls.keylog_file:"+keys, "-Y", "smtp || imf",
		"-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|", "-e", "tcp.stream", "-e", "frame.number", "-e", "frame.time_epoch",
		"-e", "smtp.req.command", "-e", "smtp.response", "-e", "imf")...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	res := map[int]*tsharkSMTP{}
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 6 {
			t.Fatalf("tshark line %q", line)
		}
		stream, _ := strconv.Atoi(f[0])
		frame, _ := strconv.Atoi(f[1])
		ts, _ := strconv.ParseFloat(f[2], 64)
		s := res[stream]
		if s == nil {
			s = &tsharkSMTP{times: map[int]float64{}}
			res[stream] = s
		}
		s.times[frame] = ts
		for _, c := range strings.Split(f[3], "|") {
			if c != "" {
				s.commands = append(s.commands, f[1]+" "+c)
			}
		}
		for _, r := range strings.Split(f[4], "|") {
			if len(r) >= 3 && (len(r) == 3 || r[3] == ' ') {
				s.replies = append(s.replies, f[1]+" "+r[:3])
			}
		}
		if f[5] != "" {
			s.imf = append(s.imf, frame)
		}
	}
	return res
}

// ourSMTP lists a connection's commands and replies as tsharkSMTP does.
func ourSMTP(c decConn) (commands, replies []string) {
	add := func(r *decReply) {
		if r != nil {
			replies = append(replies, strconv.Itoa(r.Frame)+" "+strconv.Itoa(r.Code))
		}
	}
	add(c.SMTP.Banner)
	for _, cmd := range c.SMTP.Commands {
		v := cmd.Verb
		if len(v) > 4 {
			v = v[:4]
		}
		commands = append(commands, strconv.Itoa(cmd.Frame)+" "+v)
		add(cmd.Reply)
	}
	for _, tx := range c.SMTP.Transactions {
		add(tx.Reply)
	}
	byFrame := func(a, b string) int {
		fa, _ := strconv.Atoi(strings.Fields(a)[0])
		fb, _ := strconv.Atoi(strings.Fields(b)[0])
		return fa - fb
	}
	slices.SortStableFunc(replies, byFrame)
	return commands, replies
}

// TestDecryptedScenariosAgreeWithTshark: every TLS lab capture with a key
// log, analysed with it, is decrypted on every connection whose handshake
// completed; no transaction is inferred; each stream's commands and reply
// codes, frame by frame, are those tshark decrypts with the same key log.
func TestDecryptedScenariosAgreeWithTshark(t *testing.T) {
	for _, name := range keyedScenarios(t) {
		t.Run(name, func(t *testing.T) {
			capture, keys := scenarioFiles(name)
			ports, decode := scenarioPorts(t, name)
			rep, _ := decryptJSON(t, append(ports, "--tls-keylog", keys, capture)...)
			want := tsharkDecrypted(t, capture, keys, decode...)
			for _, c := range rep.Connections {
				if c.SMTP == nil {
					continue
				}
				if tls := c.SMTP.TLS; tls != nil && tls.Handshake != nil && tls.Handshake.Ending == "complete" {
					if tls.Decryption == nil || tls.Decryption.State != "decrypted" {
						t.Errorf("stream %d: decryption %+v, want decrypted", c.Stream, tls.Decryption)
					}
					for i, tx := range c.SMTP.Transactions {
						if tx.Inferred {
							t.Errorf("stream %d: transaction %d inferred though decrypted", c.Stream, i+1)
						}
					}
				}
				w := want[c.Stream]
				if w == nil {
					w = &tsharkSMTP{}
				}
				commands, replies := ourSMTP(c)
				if !slices.Equal(commands, w.commands) {
					t.Errorf("stream %d: commands\n got %q\nwant %q (tshark)", c.Stream, commands, w.commands)
				}
				if tls := c.SMTP.TLS; tls != nil && tls.Handshake != nil && tls.Handshake.Ending != "complete" &&
					len(replies) < len(w.replies) && slices.Equal(replies, w.replies[:len(replies)]) {
					// After a failed handshake go-smtp writes "550 5.0.0
					// Handshake error" in clear; tshark reads it as SMTP,
					// smtpscope leaves bytes after STARTTLS to the TLS reader
					// (with or without keys): the handshake's failure is the
					// cause either way.
					t.Logf("stream %d: tshark reads replies after the failed handshake: %q", c.Stream, w.replies[len(replies):])
				} else if !slices.Equal(replies, w.replies) {
					t.Errorf("stream %d: replies\n got %q\nwant %q (tshark)", c.Stream, replies, w.replies)
				}
			}
		})
	}
}

// TestSeedIncidentInsideTLS: the seed incident (relay-stall, plaintext)
// and its twins inside TLS 1.2 and 1.3 STARTTLS and implicit TLS, with
// their key logs, give the same verdict, the same diagnosis with the same
// evidence (the frames being where tshark shows the decrypted end-of-data
// and QUIT), the same outcomes, and reply latencies as tshark's frame
// times give them.
func TestSeedIncidentInsideTLS(t *testing.T) {
	plainCap, _ := scenarioFiles("relay-stall")
	plain, _ := decryptJSON(t, plainCap)
	if len(plain.Connections) != 1 || plain.Verdict.Cause != "eod-no-reply" {
		t.Fatalf("plaintext seed: %+v", plain.Verdict)
	}
	pc := plain.Connections[0]
	for _, name := range []string{"tls-stall-12", "tls-stall-13", "tls-implicit-stall"} {
		t.Run(name, func(t *testing.T) {
			capture, keys := scenarioFiles(name)
			rep, _ := decryptJSON(t, "--tls-keylog", keys, capture)
			if rep.Verdict != plain.Verdict {
				t.Errorf("verdict %+v, plaintext %+v", rep.Verdict, plain.Verdict)
			}
			if len(rep.Connections) != 1 {
				t.Fatalf("%d connections", len(rep.Connections))
			}
			c := rep.Connections[0]
			if c.Diagnosis.Layer != pc.Diagnosis.Layer || c.Diagnosis.Cause != pc.Diagnosis.Cause {
				t.Errorf("diagnosis %s/%s, plaintext %s/%s", c.Diagnosis.Layer, c.Diagnosis.Cause, pc.Diagnosis.Layer, pc.Diagnosis.Cause)
			}
			var whats, plainWhats []string
			for _, e := range c.Diagnosis.Evidence {
				whats = append(whats, e.What)
			}
			for _, e := range pc.Diagnosis.Evidence {
				plainWhats = append(plainWhats, e.What)
			}
			if !slices.Equal(whats, plainWhats) {
				t.Errorf("evidence %q, plaintext %q", whats, plainWhats)
			}
			ts := tsharkDecrypted(t, capture, keys)[c.Stream]
			if ts == nil || len(ts.imf) != 2 {
				t.Fatalf("tshark decrypted %+v", ts)
			}
			var quit int
			for _, cmd := range ts.commands {
				if f := strings.Fields(cmd); f[1] == "QUIT" {
					quit, _ = strconv.Atoi(f[0])
				}
			}
			wantFrames := []int{ts.imf[1], quit}
			var frames []int
			for _, e := range c.Diagnosis.Evidence {
				frames = append(frames, e.Frame)
			}
			if !slices.Equal(frames, wantFrames) {
				t.Errorf("evidence frames %v, want %v (tshark: the second message's end-of-data, QUIT)", frames, wantFrames)
			}
			if len(c.SMTP.Transactions) != len(pc.SMTP.Transactions) {
				t.Fatalf("%d transactions, plaintext %d", len(c.SMTP.Transactions), len(pc.SMTP.Transactions))
			}
			for i, tx := range c.SMTP.Transactions {
				if tx.Outcome != pc.SMTP.Transactions[i].Outcome || tx.Inferred {
					t.Errorf("transaction %d: %s (inferred %v), plaintext %s", i+1, tx.Outcome, tx.Inferred, pc.SMTP.Transactions[i].Outcome)
				}
				if tx.EODFrame != ts.imf[i] {
					t.Errorf("transaction %d: end-of-data frame %d, tshark's message ends in %d", i+1, tx.EODFrame, ts.imf[i])
				}
				if tx.Reply == nil {
					continue
				}
				want := (ts.times[tx.Reply.Frame] - ts.times[tx.EODFrame]) * 1e3
				if math.Abs(tx.Reply.LatencyMS-want) > 0.002 {
					t.Errorf("transaction %d: reply latency %.3f ms, tshark's frame times give %.3f ms", i+1, tx.Reply.LatencyMS, want)
				}
			}
		})
	}
}

// TestDecryptionWrongOrMissingKey: a key log whose secrets are wrong, or
// that lacks the connection's client random, gives a per-connection note
// and the report the capture gives without keys (inferred).
func TestDecryptionWrongOrMissingKey(t *testing.T) {
	for _, name := range []string{"tls-stall-12", "tls-stall-13", "tls-implicit-stall", "tls-cert-rejected-13"} {
		capture, keys := scenarioFiles(name)
		raw, err := os.ReadFile(keys)
		if err != nil {
			t.Fatal(err)
		}
		wrong, missing := flipSecrets(raw), flipRandoms(raw)
		dir := t.TempDir()
		for _, tt := range []struct {
			kind, state, reason string
			log                 []byte
		}{
			{"wrong", "failed", "bad record MAC", wrong},
			{"missing", "inferred", "no key for this client random", missing},
		} {
			t.Run(name+"/"+tt.kind, func(t *testing.T) {
				path := filepath.Join(dir, tt.kind+".keys")
				if err := os.WriteFile(path, tt.log, 0o600); err != nil {
					t.Fatal(err)
				}
				base, _ := decryptJSON(t, capture)
				rep, _ := decryptJSON(t, "--tls-keylog", path, capture)
				if rep.Verdict != base.Verdict {
					t.Errorf("verdict %+v, without keys %+v", rep.Verdict, base.Verdict)
				}
				for i, c := range rep.Connections {
					b := base.Connections[i]
					if c.Diagnosis.Layer != b.Diagnosis.Layer || c.Diagnosis.Cause != b.Diagnosis.Cause {
						t.Errorf("stream %d: %s/%s, without keys %s/%s", c.Stream, c.Diagnosis.Layer, c.Diagnosis.Cause, b.Diagnosis.Layer, b.Diagnosis.Cause)
					}
					if c.SMTP == nil || c.SMTP.TLS == nil {
						continue
					}
					d := c.SMTP.TLS.Decryption
					if d == nil || d.State != tt.state || !strings.Contains(d.Reason, tt.reason) {
						t.Errorf("stream %d: decryption %+v, want %s (%s)", c.Stream, d, tt.state, tt.reason)
					}
					if len(c.SMTP.Transactions) != len(b.SMTP.Transactions) {
						t.Errorf("stream %d: %d transactions, without keys %d", c.Stream, len(c.SMTP.Transactions), len(b.SMTP.Transactions))
					}
					for j := range c.SMTP.Transactions {
						if j < len(b.SMTP.Transactions) && c.SMTP.Transactions[j].Outcome != b.SMTP.Transactions[j].Outcome {
							t.Errorf("stream %d transaction %d: %s, without keys %s", c.Stream, j+1, c.SMTP.Transactions[j].Outcome, b.SMTP.Transactions[j].Outcome)
						}
					}
				}
			})
		}
	}
}

// flipSecrets changes the first hex digit of every secret in a key log.
func flipSecrets(log []byte) []byte {
	return mapKeyLog(log, 2)
}

// flipRandoms changes the first hex digit of every client random.
func flipRandoms(log []byte) []byte {
	return mapKeyLog(log, 1)
}

func mapKeyLog(log []byte, field int) []byte {
	var out []string
	for _, line := range strings.Split(string(log), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && !strings.HasPrefix(line, "#") {
			b := []byte(f[field])
			if b[0] == '0' {
				b[0] = '1'
			} else {
				b[0] = '0'
			}
			f[field] = string(b)
			line = strings.Join(f, " ")
		}
		out = append(out, line)
	}
	return []byte(strings.Join(out, "\n"))
}

// TestDecryptionSecretsBlock: keys put into the capture with
// `editcap --inject-secrets tls,KEYS` decrypt as --tls-keylog does, and no
// output format prints a secret.
func TestDecryptionSecretsBlock(t *testing.T) {
	if _, err := exec.LookPath("editcap"); err != nil {
		t.Fatal("editcap is needed (scripts/setup.sh installs it)")
	}
	for _, name := range []string{"tls-stall-12", "tls-stall-13", "tls-openssl-delivered"} {
		t.Run(name, func(t *testing.T) {
			capture, keys := scenarioFiles(name)
			withKeys := filepath.Join(t.TempDir(), name+"-dsb.pcapng")
			if out, err := exec.Command("editcap", "--inject-secrets", "tls,"+keys, capture, withKeys).CombinedOutput(); err != nil {
				t.Fatalf("editcap: %v: %s", err, out)
			}
			flag, _ := decryptJSON(t, "--tls-keylog", keys, capture)
			dsb, _ := decryptJSON(t, withKeys)
			a, _ := json.Marshal(flag)
			b, _ := json.Marshal(dsb)
			if !bytes.Equal(a, b) {
				t.Errorf("with the Decryption Secrets Block:\n%s\nwith --tls-keylog:\n%s", b, a)
			}
			// editcap puts the block before the packets: sharded runs
			// have the keys before the first frame, too.
			sharded, _ := decryptJSON(t, "--workers", "2", withKeys)
			if c, _ := json.Marshal(sharded); !bytes.Equal(a, c) {
				t.Errorf("with the Decryption Secrets Block and --workers 2:\n%s\nwith --tls-keylog:\n%s", c, a)
			}
			raw, err := os.ReadFile(keys)
			if err != nil {
				t.Fatal(err)
			}
			var secrets []string
			for _, line := range strings.Split(string(raw), "\n") {
				if f := strings.Fields(line); len(f) == 3 {
					secrets = append(secrets, strings.ToLower(f[2]), strings.ToUpper(f[2]))
				}
			}
			for _, format := range []string{"text", "json", "markdown", "html"} {
				var out, errOut bytes.Buffer
				run([]string{"analyze", "--format", format, withKeys}, nil, &out, &errOut)
				for _, s := range secrets {
					if bytes.Contains(out.Bytes(), []byte(s)) || bytes.Contains(errOut.Bytes(), []byte(s)) {
						t.Errorf("%s output holds a secret of the key log", format)
					}
				}
			}
		})
	}
}
