package capture

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// frameCopy is a Frame whose Data outlives the next call to Next.
type frameCopy struct {
	Frame
}

// readAll reads src to its end and returns copies of its frames and the
// error that ended it (io.EOF for a clean end).
func readAll(src Source) ([]frameCopy, error) {
	var frames []frameCopy
	for {
		f, err := src.Next()
		if err != nil {
			return frames, err
		}
		f.Data = bytes.Clone(f.Data)
		frames = append(frames, frameCopy{f})
	}
}

// openBytes opens b as a capture named name.
func openBytes(name string, b []byte) (*File, error) {
	return Open(name, bytes.NewReader(b))
}

// streamOnly hides every method of a reader but Read, as a pipe would.
type streamOnly struct{ io.Reader }

// readTestdata returns the bytes of a file in testdata.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tsharkFrame is one line of a *.tshark.tsv file made by testdata/make.sh.
type tsharkFrame struct {
	number         int
	time           time.Time
	length, caplen int
	sha256         string
}

// readTsharkGolden reads a *.tshark.tsv file.
func readTsharkGolden(t *testing.T, path string) []tsharkFrame {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var frames []tsharkFrame
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 5 {
			t.Fatalf("%s: line %q: want 5 fields", path, sc.Text())
		}
		var tf tsharkFrame
		tf.number, _ = strconv.Atoi(f[0])
		tf.time = parseEpoch(t, f[1])
		tf.length, _ = strconv.Atoi(f[2])
		tf.caplen, _ = strconv.Atoi(f[3])
		tf.sha256 = f[4]
		frames = append(frames, tf)
	}
	return frames
}

// parseEpoch parses tshark's frame.time_epoch, "seconds.nanoseconds". The
// nanoseconds may exceed 10^9 (tshark prints a pcap record's field as is),
// and are then carried into the seconds as Go does.
func parseEpoch(t testing.TB, s string) time.Time {
	t.Helper()
	sec, frac, _ := strings.Cut(s, ".")
	if len(frac) < 9 {
		frac += strings.Repeat("0", 9-len(frac))
	}
	secs, err1 := strconv.ParseInt(sec, 10, 64)
	nanos, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("bad epoch time %q", s)
	}
	return time.Unix(secs, nanos).UTC()
}

// compareTshark checks frames against tshark's view of the same file.
func compareTshark(t *testing.T, name string, got []frameCopy, want []tsharkFrame) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d frames, tshark shows %d", name, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		sum := sha256.Sum256(g.Data)
		if g.Number != w.number || !g.Time.Equal(w.time) || g.Length != w.length || len(g.Data) != w.caplen || hex.EncodeToString(sum[:]) != w.sha256 {
			t.Errorf("%s: frame %d = (no. %d, %s, len %d, caplen %d, sha %.12x), tshark (no. %d, %s, len %d, caplen %d, sha %.12s)",
				name, i+1, g.Number, g.Time.Format(time.RFC3339Nano), g.Length, len(g.Data), sum,
				w.number, w.time.Format(time.RFC3339Nano), w.length, w.caplen, w.sha256)
		}
	}
}

// TestTestdataMatchesTshark reads every fixture in testdata and compares
// each frame's number, time, lengths and bytes with what tshark showed for
// it (testdata/*.tshark.tsv, made by testdata/make.sh).
func TestTestdataMatchesTshark(t *testing.T) {
	tests := []struct {
		file    string
		format  string
		wantErr error // io.EOF or ErrTruncated
		// golden names the tshark file when it is not file+".tshark.tsv";
		// prefix says the file yields only the first frames of it.
		golden string
		prefix int
	}{
		{file: "smtp-multi-addr.pcap", format: "pcap", wantErr: io.EOF},
		{file: "smtp-multi-addr.pcap.gz", format: "pcap+gzip", wantErr: io.EOF},
		{file: "smtp-multi-addr.netmon20.cap", format: "netmon2", wantErr: io.EOF},
		{file: "smtp-multi-addr.netmon11.cap", format: "netmon1", wantErr: io.EOF},
		{file: "mixed.pcapng", format: "pcapng", wantErr: io.EOF},
		{file: "mixed.netmon21.cap", format: "netmon2", wantErr: io.EOF},
		{file: "ms-authsod.netmon23.cap", format: "netmon2", wantErr: io.EOF},
		{file: "ms-adod.netmon23.cap", format: "netmon2", wantErr: io.EOF},
		{file: "cut/smtp-multi-addr.1000.pcap", format: "pcap", wantErr: ErrTruncated},
		{file: "cut/smtp-multi-addr.pcap.1000.gz", format: "pcap+gzip", wantErr: ErrTruncated},
		{file: "cut/mixed.700.pcapng", format: "pcapng", wantErr: ErrTruncated},
		// tshark reads nothing of a NetMon file without its frame table;
		// we walk the records: the 13 that end before the cut.
		{file: "cut/ms-authsod.9000.cap", format: "netmon2", wantErr: ErrTruncated, golden: "ms-authsod.netmon23.cap.tshark.tsv", prefix: 13},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := OpenFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := readAll(f)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Next after the last frame = %v, want %v", err, tt.wantErr)
			}
			golden := tt.golden
			if golden == "" {
				golden = tt.file + ".tshark.tsv"
			}
			want := readTsharkGolden(t, filepath.Join("testdata", golden))
			if tt.prefix > 0 {
				want = want[:tt.prefix]
			}
			compareTshark(t, tt.file, got, want)
			info := f.Info()
			if info.Format != tt.format || info.Packets != len(got) || info.Truncated != (tt.wantErr == ErrTruncated) {
				t.Errorf("Info() = %+v, want Format %q, Packets %d, Truncated %v", info, tt.format, len(got), tt.wantErr == ErrTruncated)
			}
			// Only pcapng has Decryption Secrets Blocks; for any other
			// format TLSKeyLog stays nil and the pipeline skips it.
			if want := strings.HasPrefix(tt.format, "pcapng"); f.MayHoldSecrets() != want {
				t.Errorf("MayHoldSecrets() = %v, want %v", f.MayHoldSecrets(), want)
			}
		})
	}
}

// TestOpenErrors checks the errors for input that is not a capture, or
// ends before its file header does.
func TestOpenErrors(t *testing.T) {
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	pcapHeader := readTestdata(t, "smtp-multi-addr.pcap")[:24]
	badVersion := bytes.Clone(pcapHeader)
	badVersion[4] = 3 // version 3.4
	tests := []struct {
		name  string
		input []byte
		want  error
		text  string // the message contains this
	}{
		{"empty", nil, ErrNotCapture, "empty.cap: empty file"},
		{"html", []byte("<!DOCTYPE html><html>"), ErrNotCapture, `starts with 3c21444f ("<!DO"), want pcap (a1b2c3d4 or a1b23c4d, either byte order), pcapng (0a0d0d0a), Network Monitor (GMBU, RTSS), gzip (1f8b) or zstd (28b52ffd)`},
		{"one odd byte", []byte{0x42}, ErrNotCapture, "starts with 42"},
		{"part of a pcap magic", []byte{0xd4, 0xc3}, ErrTruncated, "2-byte file"},
		{"part of a NetMon magic", []byte("GMB"), ErrTruncated, "3-byte file"},
		{"pcap header cut", pcapHeader[:20], ErrTruncated, "pcap file header needs 24 bytes, input has 20"},
		{"pcap version 3.4", badVersion, nil, "pcap version 3.4 unsupported"},
		{"pcapng header cut", []byte{0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0}, ErrTruncated, ""},
		{"pcapng version 2.0 only", []byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0}, nil, "no section of version 1.0"},
		{"NetMon header cut", []byte("GMBU\x03\x02\x01\x00"), ErrTruncated, "Network Monitor header needs 64 bytes, file has 8"},
		{"damaged zstd", []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0}, nil, "zstd"},
		{"gzip of nothing", gz(nil), ErrNotCapture, "empty file"},
		{"gzip of gzip", gz(gz(pcapHeader)), ErrNotCapture, "gzip inside gzip"},
		{"gzip header cut", gz(pcapHeader)[:5], ErrTruncated, "gzip header"},
		{"gzip of text", gz([]byte("hello, world\n")), ErrNotCapture, "starts with 68656c6c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openBytes("empty.cap", tt.input)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Open(%q) = %v, want an error wrapping %v", tt.input, err, tt.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.text) || !strings.HasPrefix(msg, "empty.cap: ") || strings.Contains(msg, "\n") {
				t.Errorf("Open(%q) = %q, want one line naming the file and containing %q", tt.input, msg, tt.text)
			}
		})
	}
}

// TestTruncatedAtEveryOffset cuts fixtures at every byte and checks that
// each cut yields the frames wholly before it, unchanged, then io.EOF if
// the cut falls between records and an error wrapping ErrTruncated if not.
func TestTruncatedAtEveryOffset(t *testing.T) {
	tests := []struct {
		file string
		// boundaries says where records end, when it can be known from
		// the file alone: after the header and each record (pcap).
		pcapBoundaries bool
		// netmon: only a complete frame table lets a cut file end cleanly.
		netmon bool
		stream bool // read through a plain io.Reader
	}{
		{file: "smtp-multi-addr.pcap", pcapBoundaries: true},
		{file: "smtp-multi-addr.pcap.gz"},
		{file: "mixed.pcapng"},
		{file: "smtp-multi-addr.netmon20.cap", netmon: true},
		{file: "smtp-multi-addr.netmon11.cap", netmon: true},
		{file: "mixed.netmon21.cap", netmon: true},
		{file: "ms-authsod.netmon23.cap", netmon: true},
		{file: "ms-authsod.netmon23.cap", netmon: true, stream: true},
	}
	for _, tt := range tests {
		name := tt.file
		if tt.stream {
			name += "/stream"
		}
		t.Run(name, func(t *testing.T) {
			whole := readTestdata(t, tt.file)
			f, err := openBytes(tt.file, whole)
			if err != nil {
				t.Fatal(err)
			}
			all, err := readAll(f)
			if err != io.EOF {
				t.Fatal(err)
			}
			ends := map[int]int{} // record end offset -> frames before it
			if tt.pcapBoundaries {
				off := 24
				ends[off] = 0
				for i, fr := range all {
					off += 16 + len(fr.Data)
					ends[off] = i + 1
				}
			}
			prev := 0
			for k := 0; k <= len(whole); k++ {
				var r io.Reader = bytes.NewReader(whole[:k])
				if tt.stream {
					r = streamOnly{r}
				}
				f, err := Open("cut", r)
				if err != nil {
					if k == 0 && errors.Is(err, ErrNotCapture) {
						continue
					}
					if !errors.Is(err, ErrTruncated) {
						t.Fatalf("cut at %d: Open: %v, want an error wrapping ErrTruncated", k, err)
					}
					if prev > 0 {
						t.Fatalf("cut at %d: Open failed, but a shorter cut yielded %d frames", k, prev)
					}
					continue
				}
				got, err := readAll(f)
				for i, g := range got {
					w := all[i]
					if g.Number != w.Number || !g.Time.Equal(w.Time) || g.Length != w.Length || g.LinkType != w.LinkType || !bytes.Equal(g.Data, w.Data) {
						t.Fatalf("cut at %d: frame %d differs from the whole file's", k, i+1)
					}
				}
				if len(got) < prev {
					t.Fatalf("cut at %d: %d frames, a shorter cut yielded %d", k, len(got), prev)
				}
				prev = len(got)
				if err != io.EOF && !errors.Is(err, ErrTruncated) {
					t.Fatalf("cut at %d: after %d frames: %v, want io.EOF or ErrTruncated", k, len(got), err)
				}
				if f.Info().Truncated != (err != io.EOF) {
					t.Fatalf("cut at %d: Info().Truncated = %v after %v", k, f.Info().Truncated, err)
				}
				if tt.pcapBoundaries {
					n, boundary := ends[k]
					if !boundary {
						n = 0
						for end, c := range ends {
							if end <= k && c > n {
								n = c
							}
						}
					}
					if len(got) != n || (err == io.EOF) != boundary {
						t.Fatalf("cut at %d: %d frames then %v, want %d frames then %s", k, len(got), err, n, map[bool]string{true: "io.EOF", false: "ErrTruncated"}[boundary])
					}
				}
				if tt.netmon && err == io.EOF && len(got) != len(all) {
					t.Fatalf("cut at %d: %d of %d frames, then io.EOF", k, len(got), len(all))
				}
			}
			if prev != len(all) {
				t.Errorf("the whole file yielded %d frames, want %d", prev, len(all))
			}
		})
	}
}

// TestGzipDamage checks that a gzip stream that fails its checksum yields
// its frames, then an error that is not mistaken for truncation.
func TestGzipDamage(t *testing.T) {
	gz := bytes.Clone(readTestdata(t, "smtp-multi-addr.pcap.gz"))
	gz[len(gz)-8] ^= 0xff // the CRC-32 in the gzip trailer
	f, err := openBytes("bad-crc.pcap.gz", gz)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(f)
	if len(got) != 21 || err == nil || err == io.EOF || errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("bad CRC: %d frames then %v, want 21 frames then a checksum error", len(got), err)
	}
	if again, _ := f.Next(); again.Number != 0 {
		t.Errorf("Next after the error returned frame %d", again.Number)
	}
}

// TestOpenFileStdin reads standard input through OpenFile("-").
func TestOpenFileStdin(t *testing.T) {
	in, err := os.Open(filepath.Join("testdata", "ms-authsod.netmon23.cap"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	saved := os.Stdin
	os.Stdin = in
	defer func() { os.Stdin = saved }()

	f, err := OpenFile("-")
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(f)
	if len(got) != 15 || err != io.EOF {
		t.Errorf("OpenFile(\"-\"): %d frames then %v, want 15 then io.EOF", len(got), err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := in.Stat(); err != nil {
		t.Errorf("Close closed standard input: %v", err)
	}
	if _, err := f.Next(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Next after Close = %v, want os.ErrClosed", err)
	}
}

// TestOpenFileMissing checks that a missing file's error names it.
func TestOpenFileMissing(t *testing.T) {
	_, err := OpenFile(filepath.Join("testdata", "no-such.pcap"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "no-such.pcap") {
		t.Errorf("OpenFile(missing) = %v", err)
	}
}

// TestLegacyPcap reads pcap 2.0 to 2.3 layouts, which pcapgo refuses.
func TestLegacyPcap(t *testing.T) {
	// A little-endian header with the given minor version and DLT_RAW,
	// then one record whose length fields are in the given order.
	build := func(minor byte, first, second uint32) []byte {
		b := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, minor, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 101, 0, 0, 0}
		b = append(b, 100, 0, 0, 0, 7, 0, 0, 0) // 100 s, 7 µs
		b = append(b, byte(first), byte(first>>8), byte(first>>16), byte(first>>24))
		b = append(b, byte(second), byte(second>>8), byte(second>>16), byte(second>>24))
		return append(b, 0x45, 0, 0, 4)
	}
	tests := []struct {
		name   string
		input  []byte
		length int // original length once read
	}{
		{"2.2 orig then incl", build(2, 1500, 4), 1500},
		{"2.3 in 2.4 order", build(3, 4, 1500), 1500},
		{"2.3 in pre-2.3 order", build(3, 1500, 4), 1500},
		{"2.0 both equal", build(0, 4, 4), 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := openBytes("legacy.pcap", tt.input)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(f)
			if err != io.EOF || len(got) != 1 {
				t.Fatalf("%d frames then %v, want 1 then io.EOF", len(got), err)
			}
			g := got[0]
			want := time.Unix(100, 7000).UTC()
			if !g.Time.Equal(want) || g.Length != tt.length || !bytes.Equal(g.Data, []byte{0x45, 0, 0, 4}) || g.LinkType != layers.LinkTypeRaw {
				t.Errorf("frame = %+v, want time %v, length %d, 4 bytes of DLT_RAW", g.Frame, want, tt.length)
			}
		})
	}
	huge := build(2, 1500, 300000)
	f, err := openBytes("huge.pcap", huge)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Next(); err == nil || errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "exceeds the maximum") {
		t.Errorf("300000-byte record: %v, want a damage error", err)
	}
}

// benchFrames is how many frames the benchmark inputs hold, so that the
// buffers allocated once per file weigh nothing per frame.
const benchFrames = 5000

// benchInputs returns a pcap, a pcapng and a NetMon 2.3 file of
// benchFrames frames each, the frames of smtp-multi-addr.pcap over and
// over.
func benchInputs(b *testing.B) map[string][]byte {
	f, err := OpenFile(filepath.Join("testdata", "smtp-multi-addr.pcap"))
	if err != nil {
		b.Fatal(err)
	}
	frames, _ := readAll(f)
	f.Close()
	var pcapBuf, ngBuf bytes.Buffer
	pw := pcapgo.NewWriter(&pcapBuf)
	if err := pw.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		b.Fatal(err)
	}
	nw, err := pcapgo.NewNgWriter(&ngBuf, layers.LinkTypeEthernet)
	if err != nil {
		b.Fatal(err)
	}
	nm := nmFile{major: 2, minor: 3, mac: 1, start: nmStart}
	for i := range benchFrames {
		fr := frames[i%len(frames)]
		ci := gopacket.CaptureInfo{Timestamp: fr.Time, CaptureLength: len(fr.Data), Length: fr.Length}
		pw.WritePacket(ci, fr.Data)
		nw.WritePacket(ci, fr.Data)
		nm.records = append(nm.records, nmRecord{offset: uint64(i), data: fr.Data, media: 1, filetime: filetimeOf(fr.Time)})
	}
	nw.Flush()
	return map[string][]byte{"pcap": pcapBuf.Bytes(), "pcapng": ngBuf.Bytes(), "netmon": nm.build()}
}

// BenchmarkNext measures the per-frame path, File.Next, on a pcap, a
// pcapng and a NetMon file held in memory.
func BenchmarkNext(b *testing.B) {
	inputs := benchInputs(b)
	for _, format := range []string{"pcap", "pcapng", "netmon"} {
		b.Run(format, func(b *testing.B) {
			data := inputs[format]
			open := func() *File {
				f, err := openBytes(format, data)
				if err != nil {
					b.Fatal(err)
				}
				return f
			}
			f := open()
			b.ReportAllocs()
			b.SetBytes(int64(len(data) / benchFrames))
			b.ResetTimer()
			for range b.N {
				_, err := f.Next()
				if err == io.EOF {
					b.StopTimer()
					f = open()
					b.StartTimer()
					continue
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
