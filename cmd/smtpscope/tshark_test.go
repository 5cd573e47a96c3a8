package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// replyDisagreements lists, per capture and tcp.stream, where smtpscope's
// SMTP replies differ from tshark 4.0's smtp.response.code, and why the
// raw bytes say smtpscope is right. A listed stream that stops disagreeing
// fails the test too, so the list stays true.
//
// smtp/captures_cases_test.go explains the same cases at the decoder
// level, against the raw bytes.
var replyDisagreements = map[string]string{
	// AUTH's 334 challenges are not reported as replies: an AUTH
	// exchange is one command whose reply is its final 235 or 5xx, and
	// the challenges carry credentials' prompts, nothing a mail engineer
	// needs. tshark lists every 334.
	"PcapPlusPlus__Smtp.pcap#0":                       "AUTH 334 challenge",
	"nDPI__emotet.pcap#0":                             "AUTH 334 challenges",
	"suricata-verify__bug-3616-smtp-input.pcap#0":     "AUTH 334 challenges",
	"zeek__smtp.pcap#0":                               "AUTH 334 challenges",
	"suricata-verify__smtp-long-command-input.pcap#0": "AUTH LOGIN 334 challenges; the capture ends inside the exchange",
	// The client sent binary junk before the greeting: four lines and a
	// tail without CRLF. Sendmail answers the four lines with 500 in
	// frame 6 and the tail, once the client's FIN ends it, with a fifth
	// 500 in frame 11. A line without CRLF is no command, so that 500
	// answers nothing we saw: smtpscope lists it under unmatched_replies,
	// which this comparison counts, so stream 0 needs no entry.
	// Yahoo's final reply "4.7.0 [IPTS04] ... temporarily deferred" has
	// no basic reply code. tshark does not count it; smtpscope keeps it
	// with code 0 and classifies it by its enhanced code 4.7.0.
	"suricata-verify__smtperr.pcap#1": "reply without a basic code",
	// A plaintext Postfix greeting on port 465: tshark decodes port 465
	// as TLS and shows no SMTP; smtpscope reads the 220 from the bytes.
	"suricata-verify__smtperr.pcap#3": "plaintext greeting on port 465",
}

type frameCode struct{ Frame, Code int }

func (f frameCode) String() string { return fmt.Sprintf("%d@%d", f.Code, f.Frame) }

// ourReplies runs smtpscope on path and returns, per stream, every SMTP
// reply (banner, command replies, end-of-data replies) in frame order.
func ourReplies(t *testing.T, path string, extraPorts ...string) map[int][]frameCode {
	t.Helper()
	args := []string{"analyze", "--format", "json"}
	for _, p := range extraPorts {
		args = append(args, "--smtp-ports", p)
	}
	var out, errOut bytes.Buffer
	if st := run(append(args, path), nil, &out, &errOut); st == exitError {
		t.Fatalf("exit 2: %s", errOut.String())
	}
	var rep struct {
		Connections []struct {
			Stream int `json:"stream"`
			SMTP   *struct {
				Banner   *frameCode `json:"banner"`
				Commands []struct {
					Verb  string     `json:"verb"`
					Reply *frameCode `json:"reply"`
				} `json:"commands"`
				Transactions []struct {
					Method string     `json:"method"`
					Reply  *frameCode `json:"reply"`
				} `json:"transactions"`
				Unmatched []frameCode `json:"unmatched_replies"`
			} `json:"smtp"`
		} `json:"connections"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	got := map[int][]frameCode{}
	for _, c := range rep.Connections {
		if c.SMTP == nil {
			continue
		}
		// Replies in stream order: the end-of-data reply follows its
		// DATA command's 354, then frames order everything (a stable
		// sort keeps the order of replies sharing a frame).
		var rs []frameCode
		if c.SMTP.Banner != nil {
			rs = append(rs, *c.SMTP.Banner)
		}
		txs := c.SMTP.Transactions
		for _, cmd := range c.SMTP.Commands {
			if cmd.Reply != nil {
				rs = append(rs, *cmd.Reply)
			}
			if cmd.Verb == "DATA" {
				for len(txs) > 0 && txs[0].Method != "DATA" {
					txs = txs[1:]
				}
				if len(txs) > 0 {
					if txs[0].Reply != nil {
						rs = append(rs, *txs[0].Reply)
					}
					txs = txs[1:]
				}
			}
		}
		rs = append(rs, c.SMTP.Unmatched...)
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].Frame < rs[j].Frame })
		if len(rs) > 0 {
			got[c.Stream] = rs
		}
	}
	return got
}

// TestRepliesAgreeWithTshark compares, stream by stream, the SMTP replies
// smtpscope finds with tshark's smtp.response.code on every capture that
// has a tshark view (the .tshark.json files made by tshark_truth.sh).
func TestRepliesAgreeWithTshark(t *testing.T) {
	truths, _ := filepath.Glob(filepath.Join(repoRoot, "testdata/captures/*.tshark.json"))
	if len(truths) == 0 {
		t.Fatal("no tshark truth files in testdata/captures")
	}
	seen := map[string]bool{}
	for _, tf := range truths {
		capPath := strings.TrimSuffix(tf, ".tshark.json")
		name := filepath.Base(capPath)
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(tf)
			if err != nil {
				t.Fatal(err)
			}
			var truth struct {
				Streams []struct {
					Stream  int         `json:"tcp_stream"`
					Replies []frameCode `json:"replies"`
				} `json:"streams"`
			}
			if err := json.Unmarshal(raw, &truth); err != nil {
				t.Fatal(err)
			}
			want := map[int][]frameCode{}
			for _, s := range truth.Streams {
				if len(s.Replies) > 0 {
					want[s.Stream] = s.Replies
				}
			}
			got := ourReplies(t, capPath)
			streams := map[int]bool{}
			for s := range want {
				streams[s] = true
			}
			for s := range got {
				streams[s] = true
			}
			for s := range streams {
				key := fmt.Sprintf("%s#%d", name, s)
				g, w := fmt.Sprint(got[s]), fmt.Sprint(want[s])
				why, listed := replyDisagreements[key]
				seen[key] = true
				switch {
				case g != w && !listed:
					t.Errorf("stream %d replies differ from tshark:\n  smtpscope %s\n  tshark    %s", s, g, w)
				case g == w && listed:
					t.Errorf("stream %d now agrees with tshark; remove its entry (%s)", s, why)
				}
			}
		})
	}
	for key := range replyDisagreements {
		if !seen[key] {
			t.Errorf("replyDisagreements lists %s, which no capture has", key)
		}
	}
}
