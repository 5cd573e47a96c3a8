package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/bench/synth"
	"github.com/smtpscope/smtpscope/capture"
)

// writeSynth writes a generated capture of sessions SMTP sessions, all
// with a fault and all open at once, so that many failing connections'
// frame ranges overlap.
func writeSynth(t *testing.T, sessions int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "overlap.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	pw := pcapgo.NewWriter(bw)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	if _, err := synth.New(synth.Options{Seed: 7, Sessions: sessions, Concurrency: sessions, Problems: 1, MaxMessageSize: 2 << 10}).Run(pw, nil); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return path
}

// readDir returns the contents of the files of dir by name.
func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	return files
}

// maxOverlap is the most frame ranges open at one frame.
func maxOverlap(refs []ConnRef) int {
	most := 0
	for _, r := range refs {
		n := 0
		for _, o := range refs {
			if o.FirstFrame <= r.FirstFrame && r.FirstFrame <= o.LastFrame {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}

// TestEvidencePasses: however few files may be open at once, the evidence
// files are byte for byte those of one pass with every file open, on a
// capture where dozens of failing connections overlap.
func TestEvidencePasses(t *testing.T) {
	in := writeSynth(t, 120)
	rep, failed, err := Files(context.Background(), []string{in}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep.Close()
	overlap := maxOverlap(failed)
	if len(failed) < 20 || overlap < 10 {
		t.Fatalf("%d failing connections, at most %d overlapping: the test needs more", len(failed), overlap)
	}
	t.Logf("%d failing connections, up to %d overlapping", len(failed), overlap)
	write := func(maxOpen int) (map[string][]byte, EvidenceResult) {
		dir := t.TempDir()
		res, err := WriteEvidence([]string{in}, false, failed, EvidenceOptions{Dir: dir, MaxOpen: maxOpen})
		if err != nil {
			t.Fatalf("MaxOpen %d: %v", maxOpen, err)
		}
		return readDir(t, dir), res
	}
	want, res := write(len(failed))
	if len(want) != len(failed) || len(res.Written) != len(failed) {
		t.Fatalf("%d files, %d written, want %d", len(want), len(res.Written), len(failed))
	}
	for _, maxOpen := range []int{1, 3, overlap - 1} {
		got, _ := write(maxOpen)
		if len(got) != len(want) {
			t.Errorf("MaxOpen %d: %d files, want %d", maxOpen, len(got), len(want))
		}
		for name, b := range want {
			if !bytes.Equal(got[name], b) {
				t.Errorf("MaxOpen %d: %s differs from the one-pass file", maxOpen, name)
			}
		}
	}
}

// TestEvidencePassPlan: no pass holds more overlapping connections than
// allowed, and every connection is in exactly one pass.
func TestEvidencePassPlan(t *testing.T) {
	ranges := [][2]int{{1, 10}, {2, 3}, {2, 20}, {4, 5}, {6, 30}, {7, 8}, {11, 12}, {21, 40}, {25, 26}, {50, 60}}
	for _, maxOpen := range []int{1, 2, 3, 10} {
		var conns []*evidenceConn
		for i, r := range ranges {
			conns = append(conns, &evidenceConn{stream: i, first: r[0], last: r[1]})
		}
		seen := map[int]int{}
		passes := 0
		for pass := range evidencePasses(conns, maxOpen) {
			passes++
			for _, c := range pass {
				seen[c.stream]++
				open := 0
				for _, o := range pass {
					if o.first <= c.first && c.first <= o.last {
						open++
					}
				}
				if open > maxOpen {
					t.Errorf("MaxOpen %d: pass %d has %d ranges open at frame %d", maxOpen, passes, open, c.first)
				}
			}
		}
		for i := range ranges {
			if seen[i] != 1 {
				t.Errorf("MaxOpen %d: stream %d in %d passes, want 1", maxOpen, i, seen[i])
			}
		}
		if maxOpen == 10 && passes != 1 {
			t.Errorf("MaxOpen 10: %d passes, want 1", passes)
		}
	}
}

// TestEvidenceFileError: a file that cannot be created is one error
// naming it; the other files are written and nothing is left behind.
func TestEvidenceFileError(t *testing.T) {
	in := writeSynth(t, 40)
	rep, failed, err := Files(context.Background(), []string{in}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep.Close()
	if len(failed) < 3 {
		t.Fatalf("%d failing connections", len(failed))
	}
	dir := t.TempDir()
	blocked := filepath.Join(dir, "stream-"+strconv.Itoa(failed[1].Stream)+".pcapng")
	if err := os.Mkdir(blocked, 0o755); err != nil { // a directory where the file would go
		t.Fatal(err)
	}
	res, err := WriteEvidence([]string{in}, false, failed, EvidenceOptions{Dir: dir, MaxOpen: 2})
	var ee *EvidenceError
	if !errors.As(err, &ee) || ee.Path != blocked {
		t.Fatalf("err = %v, want an *EvidenceError for %s", err, blocked)
	}
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 1 {
		t.Errorf("%d errors, want 1: %v", n, err)
	}
	if len(res.Written) != len(failed)-1 {
		t.Errorf("%d files written, want %d", len(res.Written), len(failed)-1)
	}
	for _, p := range res.Written {
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v, size %d", p, err, fi.Size())
		}
	}
}

// TestEvidenceMaxBytes: the directory's evidence files stay within the
// bound, the oldest (an earlier run's first) deleted, other files kept.
func TestEvidenceMaxBytes(t *testing.T) {
	in := writeSynth(t, 40)
	rep, failed, err := Files(context.Background(), []string{in}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep.Close()
	all := t.TempDir()
	full, err := WriteEvidence([]string{in}, false, failed, EvidenceOptions{Dir: all})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	sizes := map[string]int64{}
	for _, p := range full.Written {
		fi, _ := os.Stat(p)
		sizes[filepath.Base(p)] = fi.Size()
		total += fi.Size()
	}

	dir := t.TempDir()
	old := filepath.Join(dir, "stream-9999.pcapng")
	other := filepath.Join(dir, "notes.txt")
	for _, p := range []string{old, other} {
		if err := os.WriteFile(p, []byte("from an earlier run"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	limit := total / 2
	res, err := WriteEvidence([]string{in}, false, failed, EvidenceOptions{Dir: dir, MaxBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) == 0 || res.Deleted[0] != old {
		t.Errorf("deleted %v, want the earlier run's %s first", res.Deleted, old)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("%s, not an evidence file, was deleted", other)
	}
	left := readDir(t, dir)
	var kept int64
	for name, b := range left {
		if name == "notes.txt" {
			continue
		}
		kept += int64(len(b))
		if int64(len(b)) != sizes[name] {
			t.Errorf("%s: %d bytes, want %d", name, len(b), sizes[name])
		}
	}
	if kept > limit || kept == 0 {
		t.Errorf("%d bytes of evidence kept, want at most %d and some", kept, limit)
	}
	// The files kept are the last completed.
	var lastWritten []string
	for _, p := range res.Written {
		if !slices.Contains(res.Deleted, p) {
			lastWritten = append(lastWritten, p)
		}
	}
	if want := res.Written[len(res.Written)-len(lastWritten):]; !slices.Equal(lastWritten, want) {
		t.Errorf("kept %v, want the last completed %v", lastWritten, want)
	}
}

// TestSecretsBlock: the Decryption Secrets Block is framed as the pcapng
// specification says (padded to 32 bits), and an evidence file written
// with keys gives them back to capture's reader, before its packets.
func TestSecretsBlock(t *testing.T) {
	lines := []byte("CLIENT_RANDOM 00 11\n") // 20 bytes: no padding
	for _, keyLog := range [][]byte{lines, lines[:19]} {
		b := secretsBlock(keyLog)
		if len(b)%4 != 0 || len(b) != 16+((len(keyLog)+3)&^3)+4 {
			t.Errorf("block of %d bytes for %d bytes of keys", len(b), len(keyLog))
		}
		if !bytes.Contains(b, keyLog) || string(b[8:12]) != "KSLT" {
			t.Errorf("block %x", b)
		}
	}
	in := writeSynth(t, 10)
	rep, failed, err := Files(context.Background(), []string{in}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep.Close()
	if len(failed) == 0 {
		t.Fatal("no failing connection")
	}
	dir := t.TempDir()
	c := evidenceConns(failed[:1], []string{in}, false, EvidenceOptions{Dir: dir})[0]
	c.keys = lines[:19]
	if err := cutEvidence([]string{in}, false, []*evidenceConn{c}, func(c *evidenceConn) {
		if err := c.close(); err != nil {
			t.Fatal(err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	f, err := capture.OpenFile(c.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Next(); err != nil {
		t.Fatal(err)
	}
	if got := string(f.TLSKeyLog()); got != string(lines[:19])+"\n" {
		t.Errorf("key log read back %q, want %q", got, lines[:19])
	}
}
