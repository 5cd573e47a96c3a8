package reassembly

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/smtpscope/smtpscope/capture"
)

const sharedCaptures = "../testdata/captures"

// readFrames feeds every frame of a capture file to fn, through the
// capture package as the product reads it.
func readFrames(t testing.TB, path string, fn func(*capture.Frame)) {
	t.Helper()
	f, err := capture.OpenFile(path)
	if err != nil {
		t.Skipf("capture not available: %v", err)
	}
	defer f.Close()
	for {
		fr, err := f.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, capture.ErrTruncated) {
				t.Fatalf("%s: %v", path, err)
			}
			return
		}
		fn(&fr)
	}
}

type truthStream struct {
	Stream     int    `json:"tcp_stream"`
	Client     string `json:"client"`
	Server     string `json:"server"`
	How        string `json:"direction_from"`
	FirstFrame int    `json:"first_frame"`
	LastFrame  int    `json:"last_frame"`
}

// TestStreamNumbering checks tcp.stream numbers, first/last frames and the
// client/server split against tshark's view of every shared capture.
func TestStreamNumbering(t *testing.T) {
	truths, _ := filepath.Glob(filepath.Join(sharedCaptures, "*.tshark.json"))
	if len(truths) == 0 {
		t.Skip("no shared captures with tshark truth in " + sharedCaptures)
	}
	for _, tf := range truths {
		capPath := tf[:len(tf)-len(".tshark.json")]
		t.Run(filepath.Base(capPath), func(t *testing.T) {
			raw, err := os.ReadFile(tf)
			if err != nil {
				t.Fatal(err)
			}
			var truth struct {
				Streams []truthStream `json:"streams"`
			}
			if err := json.Unmarshal(raw, &truth); err != nil {
				t.Fatal(err)
			}
			tr := NewTracker(Options{ServerPorts: []uint16{25, 465, 587, 2525}})
			readFrames(t, capPath, func(f *capture.Frame) { tr.Add(f) })
			tr.Close()
			conns := tr.Conns()
			if len(conns) != len(truth.Streams) {
				t.Fatalf("got %d streams, tshark %d", len(conns), len(truth.Streams))
			}
			for i, want := range truth.Streams {
				c := conns[i]
				if c.Stream != want.Stream || c.FirstFrame != want.FirstFrame || c.LastFrame != want.LastFrame {
					t.Errorf("stream %d: got stream %d frames %d-%d, tshark %d-%d", i, c.Stream, c.FirstFrame, c.LastFrame, want.FirstFrame, want.LastFrame)
				}
				// tshark's script guesses the client from the first command
				// or reply when no SYN was captured; compare only real SYNs.
				if want.How == "syn" && (c.Client.String() != want.Client || c.Server.String() != want.Server) {
					t.Errorf("stream %d: got %s -> %s, tshark %s -> %s", i, c.Client, c.Server, want.Client, want.Server)
				}
			}
		})
	}
}
