package tlsrecord

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
)

// encodeSteps writes steps in the fuzz input's format: per step a control
// byte (bit 0: server, bit 1: a gap of the next byte's size, bit 2: an RST,
// bit 3: a gap of unknown size) and, for data, a 2-byte length and the
// bytes.
func encodeSteps(steps []step) []byte {
	var b []byte
	for _, s := range steps {
		ctl := byte(s.dir)
		switch {
		case s.data != nil:
			b = append(b, ctl, byte(len(s.data)>>8), byte(len(s.data)))
			b = append(b, s.data...)
		case s.gap < 0:
			b = append(b, ctl|8)
		case s.gap > 0:
			b = append(b, ctl|2, byte(s.gap))
		case s.rst:
			b = append(b, ctl|4)
		}
	}
	return b
}

// updateSeeds rewrites testdata/fuzz/FuzzConn/session-* from crypto/tls
// sessions: go test ./tlsrecord -run TestFuzzSeeds -update-seeds.
var updateSeeds = flag.Bool("update-seeds", false, "rewrite FuzzConn's session seeds")

// TestFuzzSeeds writes FuzzConn's seed corpus of recorded crypto/tls
// sessions (TLS 1.2, 1.3, a certificate rejected in 1.3, a version
// mismatch; each whole and with gaps), and checks that it is there.
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzConn")
	if !*updateSeeds {
		m, _ := filepath.Glob(filepath.Join(dir, "session-*"))
		if len(m) < 8 {
			t.Fatalf("%d session seeds in %s; write them with -update-seeds", len(m), dir)
		}
		return
	}
	good := testCert(t, t0.Add(-time.Hour), t0.Add(time.Hour), "relay.example")
	n := 0
	for _, cfg := range []struct{ c, s *tls.Config }{
		{clientConfig12(), serverConfig(good)},
		{&tls.Config{ServerName: "relay.example", InsecureSkipVerify: true}, serverConfig(good)},
		{&tls.Config{ServerName: "relay.example"}, serverConfig(good)},
		{&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}, &tls.Config{Certificates: []tls.Certificate{good}, MaxVersion: tls.VersionTLS12}},
	} {
		var steps []step
		for _, w := range session(t, cfg.c, cfg.s) {
			steps = append(steps, step{dir: w.dir, data: w.p})
		}
		seeds := [][]byte{encodeSteps(steps)}
		if len(steps) > 3 {
			cut := append([]step(nil), steps[:2]...)
			cut = append(cut, step{dir: steps[2].dir, gap: 10}, step{dir: steps[2].dir, data: steps[2].data[10:]}, step{dir: client, gap: -1})
			seeds = append(seeds, encodeSteps(append(cut, steps[3:]...)))
		} else {
			seeds = append(seeds, encodeSteps(append(steps, step{dir: server, rst: true})))
		}
		for _, s := range seeds {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("session-%d", n)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
}

// FuzzConn feeds arbitrary steps to a Conn: it must never panic, and its
// facts must stay consistent with what it handed out.
func FuzzConn(f *testing.F) {
	hello := rec(TypeHandshake, hsMsg(1, minimalHello()))
	f.Add(encodeSteps([]step{{dir: client, data: hello}, {dir: server, rst: true}}))
	f.Add(encodeSteps([]step{{dir: client, data: []byte("EHLO x\r\n")}}))
	f.Add(encodeSteps([]step{{dir: server, data: rec(TypeHandshake, hsMsg(11, certList([]byte{1, 2})))}}))
	f.Fuzz(func(t *testing.T, in []byte) {
		fuzzConn(t, in, false)
		fuzzConn(t, in, true) // implicit TLS: maybe picked up mid-stream
	})
}

// fuzzConn runs one FuzzConn input, with Options.Implicit or not.
func fuzzConn(t *testing.T, in []byte, implicit bool) {
	var handed [2]int
	c := NewConn(Options{Implicit: implicit, RecordBytes: !implicit, Record: func(r Record, raw []byte) {
		handed[r.Dir]++
		if raw != nil && len(raw) != Overhead+r.Length {
			t.Fatalf("record of length %d handed with %d raw bytes", r.Length, len(raw))
		}
	}})
	frame := 0
	var w changeWatch
	for len(in) > 0 {
		w.check(t, c)
		ctl := in[0]
		in = in[1:]
		dir := reassembly.Direction(ctl & 1)
		frame++
		m := reassembly.Mark{Frame: frame, Time: t0.Add(time.Duration(frame) * time.Millisecond)}
		switch {
		case ctl&8 != 0:
			c.Gap(dir, -1, m)
		case ctl&4 != 0:
			c.Control(reassembly.EventRST, dir, m)
		case ctl&2 != 0:
			if len(in) == 0 {
				return
			}
			c.Gap(dir, int(in[0]), m)
			in = in[1:]
		default:
			if len(in) < 2 {
				return
			}
			n := min(int(in[0])<<8|int(in[1]), len(in)-2)
			c.Data(dir, in[2:2+n], reassembly.ConstMarker(m))
			in = in[2+n:]
		}
	}
	w.check(t, c)
	c.End(reassembly.Mark{Frame: frame + 1})
	w.check(t, c)
	f := c.Facts()
	if f.Records != handed {
		t.Fatalf("counted %v records, handed %v", f.Records, handed)
	}
	if f.Ending == EndOpen {
		t.Fatalf("ending still open after End")
	}
	_ = f.Duration()
}

// changeWatch checks, between calls, what Changes and Counts promise: the
// counts are Facts' Records and Bytes, and while Changes stays the same
// nothing else in the facts changes.
type changeWatch struct {
	changes uint64
	facts   Facts
	seen    bool
}

func (w *changeWatch) check(t testing.TB, c *Conn) {
	t.Helper()
	f := c.Facts()
	if records, bytes := c.Counts(); records != f.Records || bytes != f.Bytes {
		t.Fatalf("Counts %v %v, Facts %v %v", records, bytes, f.Records, f.Bytes)
	}
	if w.seen && c.Changes() == w.changes {
		g := f
		g.Records, g.Bytes = w.facts.Records, w.facts.Bytes
		if !reflect.DeepEqual(g, w.facts) {
			t.Fatalf("the facts changed, Changes did not (%d):\n%+v\n%+v", w.changes, w.facts, f)
		}
	}
	w.changes, w.facts, w.seen = c.Changes(), f, true
}
