package reassembly

import (
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/capture"
)

// TestHeaderAddrsAgreeWithDecoder checks the Sharder's shortcut against
// the decoder on every frame of every capture in testdata: wherever both
// read a TCP segment, they read the same addresses and ports, so all the
// frames of a connection go to one shard however they were read.
func TestHeaderAddrsAgreeWithDecoder(t *testing.T) {
	var files []string
	for _, pat := range []string{"../testdata/captures/*", "../testdata/scenarios/captures/*"} {
		m, _ := filepath.Glob(pat)
		for _, f := range m {
			if !strings.HasSuffix(f, ".json") && !strings.HasSuffix(f, ".md") && !strings.HasSuffix(f, ".txt") && !strings.HasSuffix(f, ".jsonl") {
				files = append(files, f)
			}
		}
	}
	dec := newDecoder()
	shortcut, compared := 0, 0
	for _, name := range files {
		f, err := capture.OpenFile(name)
		if err != nil {
			continue
		}
		for {
			fr, err := f.Next()
			if errors.Is(err, io.EOF) || err != nil {
				break
			}
			src, dst, ok := headerAddrs(fr.LinkType, fr.Data)
			if !ok {
				continue
			}
			shortcut++
			p, isTCP, _ := dec.decode(fr.LinkType, fr.Data)
			if !isTCP {
				continue
			}
			compared++
			if p.src != src || p.dst != dst {
				t.Errorf("%s frame %d: shortcut %s > %s, decoder %s > %s", name, fr.Number, src, dst, p.src, p.dst)
			}
		}
		f.Close()
	}
	if compared < 10000 {
		t.Errorf("compared only %d frames (%d read by the shortcut)", compared, shortcut)
	}
	t.Logf("%d frames read by the shortcut, %d of them TCP to the decoder too", shortcut, compared)
}

// TestStreamNumbers checks the numbering over shards against the order of
// first frames.
func TestStreamNumbers(t *testing.T) {
	s := NewStreamNumbers(2)
	// Shard 0 starts streams in frames 1, 5, 9; shard 1 in 3 and 7.
	s.Start(0, 1)
	s.Start(0, 5)
	s.Start(1, 3)
	s.Reached(0, 5)
	if _, ok := s.Number(0, 1); ok {
		t.Errorf("shard 0's stream 1 (frame 5) numbered before shard 1 got past frame 5")
	}
	s.Reached(1, 6)
	for _, tc := range []struct{ shard, local, want int }{{0, 0, 0}, {1, 0, 1}, {0, 1, 2}} {
		if got, ok := s.Number(tc.shard, tc.local); !ok || got != tc.want {
			t.Errorf("Number(%d, %d) = %d, %v; want %d", tc.shard, tc.local, got, ok, tc.want)
		}
	}
	s.Start(1, 7)
	s.Start(0, 9)
	s.Reached(0, 1<<62)
	s.Reached(1, 1<<62)
	for _, tc := range []struct{ shard, local, want int }{{1, 1, 3}, {0, 2, 4}} {
		if got, ok := s.Number(tc.shard, tc.local); !ok || got != tc.want {
			t.Errorf("Number(%d, %d) = %d, %v; want %d", tc.shard, tc.local, got, ok, tc.want)
		}
	}
	if _, ok := s.Number(1, 5); ok {
		t.Errorf("a stream never started was numbered")
	}
}

// FuzzHeaderAddrs checks that the shortcut never panics and, wherever the
// decoder also reads a TCP segment, agrees with it.
func FuzzHeaderAddrs(f *testing.F) {
	for _, s := range []seg{{seq: cISN, flags: "S"}, {fromServer: true, seq: sISN, ack: cISN + 1, flags: "PA", payload: "220 hi\r\n"}} {
		f.Add(frameOf(f, 1, s).Data)
	}
	f.Add([]byte{})
	// Found by this target: an IPv4 header length beyond the frame.
	f.Add([]byte("000000000000\b\x00K00000\x00\x000\x060000000000"))
	dec := newDecoder()
	f.Fuzz(func(t *testing.T, data []byte) {
		src, dst, ok := headerAddrs(1, data) // LINKTYPE_ETHERNET
		if !ok {
			return
		}
		if p, isTCP, _ := dec.decode(1, data); isTCP && (p.src != src || p.dst != dst) {
			t.Errorf("shortcut %s > %s, decoder %s > %s", src, dst, p.src, p.dst)
		}
	})
}
