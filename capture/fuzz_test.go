package capture

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// addTestdataSeeds adds every capture in testdata to f's corpus.
func addTestdataSeeds(f *testing.F, keep func(name string, data []byte) bool) {
	for _, pattern := range []string{"testdata/*", "testdata/cut/*"} {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			if filepath.Ext(p) == ".tsv" || filepath.Ext(p) == ".sh" || filepath.Ext(p) == ".md" {
				continue
			}
			data, err := os.ReadFile(p)
			if err != nil || len(data) > 16<<10 || !keep(p, data) {
				continue
			}
			f.Add(data)
		}
	}
}

// synthesizedNetmon returns small NetMon files of every version, with
// metadata records and a process table, as fuzzing seeds.
func synthesizedNetmon() [][]byte {
	var out [][]byte
	for _, v := range [][2]byte{{1, 1}, {2, 0}, {2, 1}, {2, 2}, {2, 3}} {
		file := nmFile{major: v[0], minor: v[1], mac: 1, start: nmStart, records: []nmRecord{
			{offset: 1, data: ethFrame, media: 1, filetime: filetimeOf(nmStartTime)},
			{offset: 2, data: []byte("event"), media: 0xFFE0},
			{offset: 3, data: ipv4Frame, media: 0xE065},
			{offset: 4, data: []byte("dns"), media: 0xFFFE},
		}}
		if v == [2]byte{2, 2} {
			file.processes = append([]byte{1, 0}, nmProcess("smtp.exe", []byte{1}, 7, netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), 25, 1025)...)
			file.processCount = 1
		}
		out = append(out, file.build())
	}
	return out
}

// fuzzRead reads every frame of a source, checking the invariants of Next:
// numbers go up, Data is no longer than the frame's captured bytes, and an
// input that ends with ErrTruncated says so in Info.
func fuzzRead(t *testing.T, f *File) {
	last := 0
	for {
		fr, err := f.Next()
		if err != nil {
			if err != io.EOF && f.Info().Truncated != errors.Is(err, ErrTruncated) {
				t.Fatalf("error %v but Info().Truncated = %v", err, f.Info().Truncated)
			}
			if _, again := f.Next(); again != err {
				t.Fatalf("Next after %v returned %v", err, again)
			}
			return
		}
		if fr.Number <= last {
			t.Fatalf("frame number %d after %d", fr.Number, last)
		}
		if len(fr.Data) > netmonMaxFrame && len(fr.Data) > pcapMaxFrame {
			t.Fatalf("frame %d holds %d bytes", fr.Number, len(fr.Data))
		}
		last = fr.Number
	}
}

// FuzzOpen opens arbitrary input, plain and gzipped, as Open does for any
// file: no input may panic or loop, every error is returned.
func FuzzOpen(f *testing.F) {
	addTestdataSeeds(f, func(string, []byte) bool { return true })
	for _, b := range synthesizedNetmon() {
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, r := range []io.Reader{bytes.NewReader(data), streamOnly{bytes.NewReader(data)}} {
			file, err := Open("fuzz", r)
			if err != nil {
				if file != nil {
					t.Fatal("Open returned a File and an error")
				}
				continue
			}
			fuzzRead(t, file)
			file.Processes()
		}
	})
}

// FuzzNetmon reads arbitrary bytes as a Network Monitor file with
// NetmonReader directly, and through Open.
func FuzzNetmon(f *testing.F) {
	addTestdataSeeds(f, func(_ string, data []byte) bool {
		return bytes.HasPrefix(data, []byte("GMBU")) || bytes.HasPrefix(data, []byte("RTSS"))
	})
	for _, b := range synthesizedNetmon() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewNetmonReader(bytes.NewReader(data), int64(len(data)))
		if err == nil {
			r.Processes()
			// A frame table has at most len(data)/4 entries.
			for range len(data)/4 + 2 {
				d, ci, err := r.ZeroCopyReadPacketData()
				if err == io.EOF || errors.Is(err, ErrTruncated) {
					break
				}
				if err == nil && (len(d) != ci.CaptureLength || len(ci.AncillaryData) != 1) {
					t.Fatalf("frame %d: %d bytes, CaptureInfo %+v", r.FrameNumber(), len(d), ci)
				}
				if p := r.FrameProcess(); err == nil && p != nil {
					ps, _ := r.Processes()
					if !slices.ContainsFunc(ps, func(q Process) bool { return &q == p || q == *p }) {
						t.Fatalf("frame %d: process %+v is not in the table", r.FrameNumber(), *p)
					}
				}
				// Other errors concern one frame: the reader goes on.
			}
		}
		if file, err := Open("fuzz.cap", bytes.NewReader(data)); err == nil {
			fuzzRead(t, file)
		}
	})
}
