package reassembly

import (
	"github.com/smtpscope/smtpscope/capture"

	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// This file compares the Analyzer's per-frame flags with tshark's over every
// capture the project has. The test decodes packets itself (it does not use
// the flow table) so that a bug there cannot hide one here.

// updateAnalysisGolden rewrites the cached tshark output
// (testdata/analysis/golden/*.tsv) from the installed tshark.
var updateAnalysisGolden *bool

func init() {
	// Another test file of the package may own -update; share it if so.
	if f := flag.Lookup("update"); f != nil {
		return
	}
	updateAnalysisGolden = flag.Bool("update", false, "rewrite golden files from the real tools")
}

func updatingGolden() bool {
	if updateAnalysisGolden != nil {
		return *updateAnalysisGolden
	}
	if f := flag.Lookup("update"); f != nil {
		v, _ := strconv.ParseBool(f.Value.String())
		return v
	}
	return false
}

// Where the captures are.
const (
	analysisSharedCaptures = "../../shared/captures"
	analysisProjectData    = "../testdata"
	analysisOwnData        = "testdata/analysis"
	analysisGoldenDir      = "testdata/analysis/golden"
)

// tsharkAnalysisFields are the tshark fields compared per frame, after
// frame.number and tcp.stream.
var tsharkAnalysisFields = []struct {
	field string
	flag  Flag // 0 for tcp.flags.reset, compared with Segment.RST
}{
	{"tcp.analysis.retransmission", FlagRetransmission},
	{"tcp.analysis.fast_retransmission", FlagFastRetransmission},
	{"tcp.analysis.spurious_retransmission", FlagSpuriousRetransmission},
	{"tcp.analysis.out_of_order", FlagOutOfOrder},
	{"tcp.analysis.lost_segment", FlagLostSegment},
	{"tcp.analysis.ack_lost_segment", FlagAckLostSegment},
	{"tcp.analysis.duplicate_ack", FlagDuplicateAck},
	{"tcp.analysis.zero_window", FlagZeroWindow},
	{"tcp.analysis.zero_window_probe", FlagZeroWindowProbe},
	{"tcp.analysis.window_full", FlagWindowFull},
	{"tcp.analysis.keep_alive", FlagKeepAlive},
	{"tcp.analysis.window_update", FlagWindowUpdate},
	{"tcp.flags.reset", 0},
}

// analysisKnownDisagreements lists every frame where the Analyzer and
// tshark 4.0.17 are allowed to differ, keyed "capture key|frame|field"
// (capture key as in the golden file name; field as in tsharkAnalysisFields
// without "tcp.analysis.", or "stream" / "initial_rtt"), with the reason. An
// entry that no longer matches a disagreement fails the test, so the table
// stays exact.
//
// It is empty: over every capture the project has, every frame agrees.
// Known limits that no capture exercises yet are told in unackedList (a
// retransmission followed by more than 64 segments before any ACK, past
// 10000 unacknowledged segments) and in the helper, which skips IP
// fragments (tshark reassembles them first) and TCP inside IP tunnels
// (tshark analyses the inner connection); TCP headers quoted in ICMP errors
// are skipped by both.
var analysisKnownDisagreements = map[string]string{}

// analysisCapture is one capture file and the key naming its golden file.
type analysisCapture struct {
	path, key string
}

// analysisCaptures lists the captures to compare: the project's testdata
// (any depth; other engineers add scenarios there), this package's own, and
// the shared pool. A capture is keyed by its base name; a file with the same
// name and content as one listed before is the same capture (testdata holds
// copies of the shared pool).
func analysisCaptures(t testing.TB) []analysisCapture {
	var out []analysisCapture
	seen := map[string][]byte{}
	add := func(root, prefix string) {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			switch strings.ToLower(filepath.Ext(p)) {
			case ".pcap", ".pcapng", ".cap":
			default:
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				t.Logf("%s: %v", p, err)
				return nil
			}
			key := filepath.Base(p)
			if prev, dup := seen[key]; dup {
				if bytes.Equal(prev, data) {
					return nil
				}
				rel, _ := filepath.Rel(root, p)
				key = prefix + "__" + strings.ReplaceAll(filepath.ToSlash(rel), "/", "__")
			}
			seen[key] = data
			out = append(out, analysisCapture{path: p, key: key})
			return nil
		})
	}
	add(analysisProjectData, "testdata")
	add(analysisOwnData, "own")
	add(analysisSharedCaptures, "shared")
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// analysisFrame is the test's view of one frame: the TCP segment it
// carries, if any, the stream the helper gave it and the Analyzer's flags.
type analysisFrame struct {
	seg        Segment
	stream     int
	flags      Flag
	initialRTT time.Duration // the Analyzer's after this frame
}

// analysisConn is the helper's tcp.stream: Wireshark's conversation plus an
// Analyzer.
type analysisConn struct {
	stream  int
	client  netip.AddrPort
	baseSet [2]bool
	base    [2]uint32
	an      Analyzer
}

// analysisDecoder turns frames into Segments and numbers connections like
// tcp.stream: in order of first appearance per 4-tuple, with a new stream
// when a SYN comes with an ISN other than the one its side started with.
type analysisDecoder struct {
	dec     *decoder // the product's decoder: its Segments are what is checked
	conns   map[[2]netip.AddrPort]*analysisConn
	streams int
}

func newAnalysisDecoder() *analysisDecoder {
	return &analysisDecoder{dec: newDecoder(), conns: map[[2]netip.AddrPort]*analysisConn{}}
}

// errAnalysisLink marks a link type the decoder cannot decode.
var errAnalysisLink = ErrUnsupportedLink

// segment decodes one frame with the product's decoder and builds its
// Segment as the Tracker does; ok is false when it carries no analysable
// TCP segment (not TCP, an IP fragment, or malformed).
func (d *analysisDecoder) segment(frame int, ci gopacket.CaptureInfo, lt layers.LinkType, data []byte) (seg Segment, src, dst netip.AddrPort, ok bool, err error) {
	p, ok, err := d.dec.decode(lt, data)
	if err != nil || !ok {
		return seg, src, dst, false, err
	}
	return p.segment(frame, ci.Timestamp, nil), p.src, p.dst, true, nil
}

// conn finds or opens the connection of a segment and sets its direction.
func (d *analysisDecoder) conn(seg *Segment, src, dst netip.AddrPort) *analysisConn {
	key := [2]netip.AddrPort{src, dst}
	if dst.Addr().Less(src.Addr()) || (dst.Addr() == src.Addr() && dst.Port() < src.Port()) {
		key = [2]netip.AddrPort{dst, src}
	}
	c := d.conns[key]
	open := func() {
		c = &analysisConn{stream: d.streams, client: src}
		if seg.SYN && seg.ACK {
			c.client = dst
		}
		d.streams++
		d.conns[key] = c
	}
	if c == nil {
		open()
	}
	dir := 0
	if src != c.client {
		dir = 1
	}
	// Wireshark (dissect_tcp): a SYN whose ISN differs from the base
	// sequence number its side already has starts a new conversation.
	if seg.SYN && !seg.ACK && c.baseSet[dir] && seg.Seq != c.base[dir] {
		open()
		c.client = src
		dir = 0
	}
	if !c.baseSet[dir] {
		c.base[dir], c.baseSet[dir] = seg.Seq, true
		if !seg.SYN {
			c.base[dir]--
		}
	}
	if !c.baseSet[1-dir] && seg.ACK {
		c.base[1-dir], c.baseSet[1-dir] = seg.Ack-1, true
	}
	seg.Dir = Direction(dir)
	return c
}

// analyseCapture runs the Analyzer over a capture and returns its frames
// (index 0 unused: frame numbers are 1-based) and its connections.
func analyseCapture(path string) (frames []analysisFrame, conns []*analysisConn, note string, err error) {
	src, err := capture.OpenFile(path)
	if err != nil {
		return nil, nil, "", err
	}
	defer src.Close()
	d := newAnalysisDecoder()
	frames = []analysisFrame{{}}
	seen := map[*analysisConn]bool{}
	linkErrs := 0
	for n := 1; ; n++ {
		f, rerr := src.Next()
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			note = fmt.Sprintf("reading stopped at frame %d: %v", n, rerr)
			break
		}
		fr := analysisFrame{stream: -1}
		seg, s, dst, ok, derr := d.segment(f.Number, gopacket.CaptureInfo{Timestamp: f.Time}, f.LinkType, f.Data)
		if derr != nil {
			linkErrs++
			if linkErrs == 1 {
				note = derr.Error()
			}
		}
		if ok {
			c := d.conn(&seg, s, dst)
			if !seen[c] {
				seen[c] = true
				conns = append(conns, c)
			}
			fr.seg, fr.stream = seg, c.stream
			fr.flags = c.an.Observe(&seg)
			fr.initialRTT = c.an.InitialRTT()
		}
		frames = append(frames, fr)
	}
	if linkErrs > 0 && linkErrs == len(frames)-1 {
		return nil, nil, note, fmt.Errorf("%w", errAnalysisLink)
	}
	return frames, conns, note, nil
}

// tsharkFrame is tshark's view of one frame.
type tsharkFrame struct {
	stream     string
	set        [16]bool // indexed like tsharkAnalysisFields
	initialRTT string   // tcp.analysis.initial_rtt, in seconds, "" if unknown
}

// parseSeconds reads tshark's "S.NNNNNNNNN" exactly.
func parseSeconds(v string) (time.Duration, error) {
	whole, frac, _ := strings.Cut(v, ".")
	s, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, err
	}
	frac = (frac + "000000000")[:9]
	ns, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, err
	}
	return time.Duration(s)*time.Second + time.Duration(ns), nil
}

// tsharkArgs are the arguments after -r FILE.
func tsharkArgs() []string {
	args := []string{"-n", "-T", "fields", "-E", "header=n", "-E", "separator=/t",
		"-o", "tcp.analyze_sequence_numbers:TRUE", "-o", "tcp.relative_sequence_numbers:TRUE",
		"-e", "frame.number", "-e", "tcp.stream"}
	for _, f := range tsharkAnalysisFields {
		args = append(args, "-e", f.field)
	}
	return append(args, "-e", "tcp.analysis.initial_rtt")
}

// runTshark returns tshark's output for a capture, or "" if tshark is not
// installed.
func runTshark(t testing.TB, path string) (string, string) {
	bin, err := exec.LookPath("tshark")
	if err != nil {
		return "", ""
	}
	out, err := exec.Command(bin, append([]string{"-r", path}, tsharkArgs()...)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(out) > 0 {
			// tshark exits non-zero on a file cut short; its output up to there stands.
		} else {
			t.Logf("tshark %s: %v", path, err)
			return "", ""
		}
	}
	ver, _ := exec.Command(bin, "--version").Output()
	version := strings.SplitN(string(ver), "\n", 2)[0]
	return string(out), version
}

// parseTshark reads tshark's field output, with or without the golden
// header.
func parseTshark(out string) (map[int]tsharkFrame, error) {
	frames := map[int]tsharkFrame{}
	for _, line := range strings.Split(out, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != 3+len(tsharkAnalysisFields) {
			return nil, fmt.Errorf("tshark line %q: %d columns, want %d", line, len(cols), 3+len(tsharkAnalysisFields))
		}
		n, err := strconv.Atoi(cols[0])
		if err != nil {
			return nil, fmt.Errorf("tshark line %q: %v", line, err)
		}
		tf := tsharkFrame{stream: cols[1], initialRTT: cols[2+len(tsharkAnalysisFields)]}
		for i := range tsharkAnalysisFields {
			v := cols[2+i]
			tf.set[i] = v != "" && v != "0" && !strings.HasPrefix(v, "0,") && v != "False"
		}
		frames[n] = tf
	}
	return frames, nil
}

func goldenPath(key string) string { return filepath.Join(analysisGoldenDir, key+".tsv") }

// tsharkTruth returns tshark's per-frame flags for a capture: live when
// tshark is installed (rewriting the golden file under -update), else from
// the golden file. The golden file names the SHA-256 of the capture it was
// made from: one made from another version of the file is not used, and
// one made from this version must match live tshark (or tshark changed).
// ok is false when no truth is available.
func tsharkTruth(t *testing.T, c analysisCapture) (truth map[int]tsharkFrame, source string, ok bool) {
	t.Helper()
	data, err := os.ReadFile(c.path)
	if err != nil {
		t.Fatal(err)
	}
	sum := fmt.Sprintf("# sha256 %x\n", sha256.Sum256(data))
	golden, gerr := os.ReadFile(goldenPath(c.key))
	current := gerr == nil && strings.Contains(string(golden), sum)
	live, version := runTshark(t, c.path)
	if version != "" {
		header := fmt.Sprintf("# %s; tshark -r FILE %s\n%s", version, strings.Join(tsharkArgs(), " "), sum)
		switch {
		case updatingGolden():
			if err := os.MkdirAll(analysisGoldenDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(goldenPath(c.key), []byte(header+live), 0o644); err != nil {
				t.Fatal(err)
			}
		case current && stripComments(string(golden)) != live:
			t.Errorf("%s differs from live tshark (%s) on the same capture; rerun with -update and review the diff", goldenPath(c.key), version)
		case !current:
			t.Logf("%s is missing or was made from another version of the capture; -update rewrites it", goldenPath(c.key))
		}
		truth, err := parseTshark(live)
		if err != nil {
			t.Fatal(err)
		}
		return truth, "live " + version, true
	}
	if !current {
		return nil, "", false
	}
	truth, err = parseTshark(string(golden))
	if err != nil {
		t.Fatalf("%s: %v", goldenPath(c.key), err)
	}
	return truth, "golden", true
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if !strings.HasPrefix(line, "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// analysisAgreement is one capture's line of the agreement table.
type analysisAgreement struct {
	key                           string
	frames, tcpFrames, flagged    int
	disagreements, known, skipped int
	note                          string
	usedKnown                     []string
}

// analysisUndecodable are the captures whose every frame has a link type
// smtpscope does not decode (tshark 4.0 cannot read them either).
var analysisUndecodable = map[string]string{
	"tcpdump__dsa.pcap": "link type 284, DSA tags",
}

// TestAnalyzerAgreesWithTshark compares, frame by frame, the Analyzer's
// flags with tshark 4.0's tcp.analysis fields over every capture.
func TestAnalyzerAgreesWithTshark(t *testing.T) {
	captures := analysisCaptures(t)
	if len(captures) == 0 {
		t.Skip("no captures found")
	}
	table := make([]analysisAgreement, len(captures))
	t.Run("capture", func(t *testing.T) {
		for i, c := range captures {
			t.Run(c.key, func(t *testing.T) {
				t.Parallel()
				compareWithTshark(t, c, &table[i])
			})
		}
	})
	usedKnown := map[string]bool{}
	for _, r := range table {
		for _, k := range r.usedKnown {
			usedKnown[k] = true
		}
	}
	for k := range analysisKnownDisagreements {
		if !usedKnown[k] && !t.Failed() {
			t.Errorf("known disagreement %s no longer happens: remove it from the table", k)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-95s %7s %7s %7s %5s %5s  %s\n", "capture", "frames", "tcp", "flagged", "diff", "known", "note")
	for _, r := range table {
		if r.key == "" { // not run (-run filter)
			continue
		}
		if r.skipped > 0 {
			fmt.Fprintf(&b, "%-95s %7s %7s %7s %5s %5s  skipped: %s\n", r.key, "-", "-", "-", "-", "-", r.note)
			continue
		}
		fmt.Fprintf(&b, "%-95s %7d %7d %7d %5d %5d  %s\n", r.key, r.frames, r.tcpFrames, r.flagged, r.disagreements, r.known, r.note)
	}
	t.Logf("agreement with tshark:\n%s", b.String())
}

// compareWithTshark compares one capture and fills in its agreement row.
func compareWithTshark(t *testing.T, c analysisCapture, row *analysisAgreement) {
	row.key = c.key
	frames, _, note, err := analyseCapture(c.path)
	row.note = note
	why, undecodable := analysisUndecodable[c.key]
	switch {
	case err != nil && undecodable:
		// Nothing to compare, as expected (a skip would fail CI).
		row.skipped = 1
		row.note = err.Error()
		t.Logf("%s: not decodable, as expected (%s): %v", c.path, why, err)
		return
	case err != nil:
		t.Fatalf("%s: pcapgo/decoder cannot use it: %v", c.path, err)
	case undecodable:
		t.Errorf("%s is decoded now: remove it from analysisUndecodable (%s)", c.key, why)
	}
	truth, source, ok := tsharkTruth(t, c)
	if !ok {
		row.skipped = 1
		row.note = "no tshark, and no golden file for this version of the capture"
		t.Skipf("%s: tshark is not installed and %s is missing or was made from another version of the capture", c.path, goldenPath(c.key))
	}
	row.frames = len(frames) - 1
	for n := 1; n < len(frames); n++ {
		fr := frames[n]
		tf, inTruth := truth[n]
		tcp := fr.stream >= 0
		if !tcp && !(inTruth && tf.stream != "") {
			continue
		}
		row.tcpFrames++
		// The helper numbers connections as tcp.stream does; a frame put in
		// another stream would be analysed against the wrong history.
		if tcp && inTruth && tf.stream != strconv.Itoa(fr.stream) {
			row.disagreements++
			t.Errorf("frame %d tcp.stream: helper %d, tshark (%s) %q", n, fr.stream, source, tf.stream)
		}
		if fr.flags != 0 {
			row.flagged++
		}
		for i, field := range tsharkAnalysisFields {
			ours := fr.flags&field.flag != 0
			if field.flag == 0 {
				ours = tcp && fr.seg.RST
			}
			if ours == tf.set[i] {
				continue
			}
			k := fmt.Sprintf("%s|%d|%s", c.key, n, strings.TrimPrefix(strings.TrimPrefix(field.field, "tcp.analysis."), "tcp."))
			if why, known := analysisKnownDisagreements[k]; known {
				row.usedKnown = append(row.usedKnown, k)
				row.known++
				t.Logf("known disagreement %s (ours %v, tshark %v): %s", k, ours, tf.set[i], why)
				continue
			}
			row.disagreements++
			t.Errorf("frame %d %s: Analyzer %v, tshark (%s) %v; segment %s", n, field.field, ours, source, tf.set[i], describeSegment(fr))
		}
		if tcp && !tsharkSameRTT(tf.initialRTT, fr.initialRTT) {
			row.disagreements++
			t.Errorf("frame %d tcp.analysis.initial_rtt: Analyzer %v, tshark (%s) %q", n, fr.initialRTT, source, tf.initialRTT)
		}
	}
}

// tsharkSameRTT compares tshark's initial_rtt column with ours. tshark
// prints it only on frames its analysis keeps data for (an ACK of a
// segment, bytes in flight, a flag), so an empty column proves nothing.
func tsharkSameRTT(theirs string, ours time.Duration) bool {
	if theirs == "" {
		return true
	}
	d, err := parseSeconds(strings.Split(theirs, ",")[0])
	return err == nil && d == ours
}

func describeSegment(fr analysisFrame) string {
	if fr.stream < 0 {
		return "(no TCP segment decoded)"
	}
	s := fr.seg
	var fl []string
	for _, x := range []struct {
		on   bool
		name string
	}{{s.SYN, "SYN"}, {s.ACK, "ACK"}, {s.FIN, "FIN"}, {s.RST, "RST"}, {s.PSH, "PSH"}} {
		if x.on {
			fl = append(fl, x.name)
		}
	}
	return fmt.Sprintf("stream %d dir %s seq %d ack %d len %d win %d [%s] t=%s ours=%s",
		fr.stream, s.Dir, s.Seq, s.Ack, s.Len, s.Window, strings.Join(fl, ","), s.Time.Format("15:04:05.000000"), fr.flags)
}
