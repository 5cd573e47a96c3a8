package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestStartTLSOfferCompared analyses testdata/starttls-offer (made by its
// make.sh: real Python ssl peers, one server address that offers STARTTLS
// on some sessions and not on others): each session the server logged as
// not offered is starttls-stripped, by comparison with the sessions that
// were offered it, saying what the client did next; the others are ok.
// tshark's reading of the same EHLO replies agrees on which lacked
// STARTTLS, and the connection's Wireshark filter shows both replies.
func TestStartTLSOfferCompared(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Fatal("tshark is needed (scripts/setup.sh installs it)")
	}
	dir := filepath.Join(repoRoot, "testdata/starttls-offer")
	capture := filepath.Join(dir, "starttls-offer.pcapng")
	offered := map[string]bool{}
	f, err := os.Open(filepath.Join(dir, "starttls-offer.server.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var s struct {
			Port    int  `json:"client_port"`
			Offered bool `json:"starttls_offered"`
		}
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatal(err)
		}
		offered[strconv.Itoa(s.Port)] = s.Offered
	}
	// tshark's EHLO replies (make.sh): port, then the parameters.
	tsv, err := os.ReadFile(filepath.Join(dir, "starttls-offer.tshark.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	tsharkOffered := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(tsv)), "\n") {
		if f := strings.Split(line, "\t"); len(f) == 3 && strings.Contains(f[2], "8BITMIME") {
			tsharkOffered[f[1]] = strings.Contains(f[2], "STARTTLS")
		}
	}
	var rep struct {
		Connections []struct {
			Stream    int    `json:"stream"`
			Client    string `json:"client"`
			Diagnosis struct {
				Layer   string `json:"layer"`
				Cause   string `json:"cause"`
				Summary string `json:"summary"`
				Filter  string `json:"filter"`
			} `json:"diagnosis"`
		} `json:"connections"`
	}
	if err := json.Unmarshal([]byte(analyzeOutput(t, "--format", "json", "--all", capture)), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Connections) != len(offered) || len(offered) != 4 {
		t.Fatalf("%d connections, %d sessions logged: want 4", len(rep.Connections), len(offered))
	}
	stripped := 0
	for _, c := range rep.Connections {
		port := c.Client[strings.LastIndexByte(c.Client, ':')+1:]
		if tsharkOffered[port] != offered[port] {
			t.Errorf("port %s: tshark reads STARTTLS offered %v, the server logged %v", port, tsharkOffered[port], offered[port])
		}
		d := c.Diagnosis
		if offered[port] {
			if d.Cause != "ok" {
				t.Errorf("port %s (offered STARTTLS): cause %s, want ok", port, d.Cause)
			}
			continue
		}
		stripped++
		next := map[string]string{"40002": "went on in plaintext", "40004": "gave up"}[port]
		if d.Layer != "TLS" || d.Cause != "starttls-stripped" || !strings.Contains(d.Summary, "offered it on 2 other sessions") || !strings.Contains(d.Summary, next) {
			t.Errorf("port %s (no STARTTLS offered): %s %s %q, want TLS starttls-stripped, offered on 2 other sessions, %q", port, d.Layer, d.Cause, d.Summary, next)
		}
		out, err := exec.Command("tshark", "-r", capture, "-Y", d.Filter, "-T", "fields", "-e", "tcp.dstport").Output()
		if err != nil {
			t.Fatalf("tshark -Y %q: %v", d.Filter, err)
		}
		if got := strings.Fields(string(out)); len(got) != 2 || got[0] != "40001" || got[1] != port {
			t.Errorf("filter %q shows replies to %q, want the EHLO replies to 40001 and %s", d.Filter, got, port)
		}
	}
	if stripped != 2 {
		t.Errorf("%d sessions without STARTTLS offered, want 2", stripped)
	}
}
