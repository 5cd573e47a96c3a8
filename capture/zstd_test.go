package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestZstd reads a zstd-compressed pcap (made by the zstd tool) frame for
// frame like the plain file, and a cut copy up to the cut, then ErrTruncated.
func TestZstd(t *testing.T) {
	pf, err := OpenFile("testdata/smtp-multi-addr.pcap")
	if err != nil {
		t.Fatal(err)
	}
	plainCopies, err := readAll(pf)
	pf.Close()
	if err != io.EOF {
		t.Fatal(err)
	}
	var plain []Frame
	for _, c := range plainCopies {
		plain = append(plain, c.Frame)
	}
	zst, err := os.ReadFile("testdata/smtp-multi-addr.pcap.zst")
	if err != nil {
		t.Fatal(err)
	}
	var f *File
	f, err = Open("x.pcap.zst", bytes.NewReader(zst))
	if err != nil {
		t.Fatal(err)
	}
	var got []Frame
	for {
		fr, err := f.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		fr.Data = bytes.Clone(fr.Data)
		got = append(got, fr)
	}
	if f.Info().Format != "pcap+zstd" || len(got) != len(plain) {
		t.Fatalf("format %q, %d frames; want pcap+zstd, %d", f.Info().Format, len(got), len(plain))
	}
	for i := range got {
		if !bytes.Equal(got[i].Data, plain[i].Data) || !got[i].Time.Equal(plain[i].Time) || got[i].Number != plain[i].Number {
			t.Fatalf("frame %d differs from the plain file's", i+1)
		}
	}
	f.Close()

	// This small file is one zstd block: cut, nothing decodes, and the
	// error says the input is truncated (a large file yields the frames
	// of its whole blocks first, as the CLI test on a lab capture shows).
	_, err = Open("cut.zst", bytes.NewReader(zst[:len(zst)*2/3]))
	if !errors.Is(err, ErrTruncated) {
		t.Errorf("cut zstd: %v, want ErrTruncated", err)
	}
}

// TestZstdCutLarge cuts a multi-block zstd capture: the frames before the
// cut, then ErrTruncated.
func TestZstdCutLarge(t *testing.T) {
	var big bytes.Buffer
	zw, err := zstd.NewWriter(&big, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := os.ReadFile("testdata/smtp-multi-addr.pcap")
	if err != nil {
		t.Fatal(err)
	}
	// A pcap with the same records many times over: 21 frames × 400.
	zw.Write(plain)
	for i := 0; i < 399; i++ {
		zw.Write(plain[24:])
		zw.Flush() // one block per copy
	}
	zw.Close()
	zst := big.Bytes()
	cut, err := Open("cut.zst", bytes.NewReader(zst[:len(zst)/2]))
	if err != nil {
		t.Fatal(err)
	}
	defer cut.Close()
	n := 0
	for {
		_, err := cut.Next()
		if err != nil {
			if !errors.Is(err, ErrTruncated) || !cut.Info().Truncated {
				t.Fatalf("after %d frames: %v, want ErrTruncated", n, err)
			}
			break
		}
		n++
	}
	if n < 21 || n >= 21*400 {
		t.Errorf("cut file gave %d of %d frames", n, 21*400)
	}
}
