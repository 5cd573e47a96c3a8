package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"
)

func TestParseSize(t *testing.T) {
	valid := []struct {
		in   string
		want int64
	}{
		{"1G", 1 << 30}, {"100M", 100 << 20}, {"512k", 512 << 10}, {"5000000", 5000000},
		{"1.5G", 3 << 29}, {"64MiB", 64 << 20}, {"2GB", 2 << 30}, {" 10M ", 10 << 20},
	}
	for _, tt := range valid {
		if got, err := parseSize(tt.in); err != nil || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v, want %d", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "G", "-1M", "0", "ten", "1T", "1MM"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

func sum(t *testing.T, name string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestSameSeedSameFiles runs the command twice per format with the same
// flags: both files must be byte-identical, and a pcapng must read back.
func TestSameSeedSameFiles(t *testing.T) {
	dir := t.TempDir()
	for _, ext := range []string{".pcap", ".pcapng"} {
		var sums [2][2][32]byte
		for i := range 2 {
			out := filepath.Join(dir, "run"+string(rune('a'+i))+ext)
			args := []string{"--out", out, "--sessions", "40", "--seed", "9", "--problems", "0.3", "-q"}
			if err := run(args, os.Stderr); err != nil {
				t.Fatalf("run %v: %v", args, err)
			}
			exp := strings.TrimSuffix(out, ext) + ".expect.jsonl"
			sums[i] = [2][32]byte{sum(t, out), sum(t, exp)}
			if i == 0 && ext == ".pcapng" {
				f, err := os.Open(out)
				if err != nil {
					t.Fatal(err)
				}
				r, err := pcapgo.NewNgReader(bufio.NewReader(f), pcapgo.DefaultNgReaderOptions)
				if err != nil {
					t.Fatalf("%s: %v", out, err)
				}
				if _, _, err := r.ReadPacketData(); err != nil {
					t.Fatalf("%s: first packet: %v", out, err)
				}
				f.Close()
			}
		}
		if sums[0] != sums[1] {
			t.Errorf("%s: two runs with the same seed differ", ext)
		}
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
	}{
		{"no --out", []string{"--sessions", "1"}},
		{"bad extension", []string{"--out", filepath.Join(dir, "x.cap"), "--sessions", "1"}},
		{"bad size", []string{"--out", filepath.Join(dir, "x.pcap"), "--size", "lots"}},
		{"problems above 1", []string{"--out", filepath.Join(dir, "x.pcap"), "--problems", "1.5"}},
		{"TLS share above 1", []string{"--out", filepath.Join(dir, "x.pcap"), "--tls", "1.5"}},
		{"negative TLS share", []string{"--out", filepath.Join(dir, "x.pcap"), "--tls", "-0.1"}},
		{"BDAT share above 1", []string{"--out", filepath.Join(dir, "x.pcap"), "--bdat", "1.5"}},
		{"negative capture loss", []string{"--out", filepath.Join(dir, "x.pcap"), "--capture-loss", "-0.1"}},
		{"fault capture loss above 1", []string{"--out", filepath.Join(dir, "x.pcap"), "--fault-capture-loss", "1.1"}},
		{"negative command loss", []string{"--out", filepath.Join(dir, "x.pcap"), "--command-loss", "-1"}},
		{"pipelined refusal above 1", []string{"--out", filepath.Join(dir, "x.pcap"), "--bdat-pipelined-refusal", "3"}},
		{"SACK share above 1", []string{"--out", filepath.Join(dir, "x.pcap"), "--sack", "2"}},
		{"bad message cap", []string{"--out", filepath.Join(dir, "x.pcap"), "--max-message-size", "small"}},
		{"stray argument", []string{"--out", filepath.Join(dir, "x.pcap"), "extra"}},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		err := run(tt.args, &stderr)
		if !errors.Is(err, errUsage) {
			t.Errorf("%s: run(%q) = %v, want a usage error", tt.name, tt.args, err)
		}
	}
}

func TestSummary(t *testing.T) {
	out := filepath.Join(t.TempDir(), "s.pcap")
	var stderr bytes.Buffer
	if err := run([]string{"--out", out, "--sessions", "5", "--expect", out + ".jsonl"}, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "5 sessions") || !strings.Contains(stderr.String(), out+".jsonl") {
		t.Errorf("summary %q does not name 5 sessions and the expectations file", stderr.String())
	}
	b, err := os.ReadFile(out + ".jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("\n")); n != 5 {
		t.Errorf("%d expectation lines, want 5", n)
	}
	// --tls 1: every session upgrades, and its expectation says to what.
	if err := run([]string{"--out", out, "--sessions", "5", "--tls", "1", "--expect", out + ".jsonl", "--quiet"}, &stderr); err != nil {
		t.Fatal(err)
	}
	if b, err = os.ReadFile(out + ".jsonl"); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte(`"tls":"TLS 1.`)); n != 5 {
		t.Errorf("--tls 1: %d of 5 expectations name a TLS version", n)
	}
	// --bdat 1 --sack 1: every session sends with BDAT and negotiates SACK,
	// and the summary counts them.
	stderr.Reset()
	if err := run([]string{"--out", out, "--sessions", "5", "--bdat", "1", "--sack", "1", "--capture-loss", "1", "--expect", out + ".jsonl"}, &stderr); err != nil {
		t.Fatal(err)
	}
	if b, err = os.ReadFile(out + ".jsonl"); err != nil {
		t.Fatal(err)
	}
	if n, m := bytes.Count(b, []byte(`"bdat":true`)), bytes.Count(b, []byte(`"sack":true`)); n != 5 || m != 5 {
		t.Errorf("--bdat 1 --sack 1: %d and %d of 5 expectations say bdat and sack", n, m)
	}
	if !strings.Contains(stderr.String(), "BDAT 5, capture loss") {
		t.Errorf("summary %q does not count the BDAT sessions", stderr.String())
	}
}
