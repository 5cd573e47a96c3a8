package smtp

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/reassembly"
)

// The real-capture tests feed the public captures in testdata/captures
// (a copy of /work/shared/captures) to the Decoder and compare its
// commands, replies and end-of-data frames with tshark 4.0.17's reading
// in the .tshark.json beside each capture. The TCP feeding here is a
// deliberately simple one of our own (pcapgo + layers, per-direction
// sequence order, out-of-order segments held until the hole fills, holes
// left at the end reported as gaps), so that these tests depend on no
// other package of smtpscope.

const captureDir = "../testdata/captures"

// update rewrites the golden files: go test ./smtp -update, then review
// the diff.
var update = flag.Bool("update", false, "rewrite testdata/golden/*.json from the decoder's output")

// truthFile is the part of a .tshark.json the tests use.
type truthFile struct {
	File    string `json:"file"`
	Streams []struct {
		Stream   int    `json:"tcp_stream"`
		Client   string `json:"client"`
		Server   string `json:"server"`
		IsSMTP   bool   `json:"is_smtp"`
		Commands []struct {
			Frame      int    `json:"frame"`
			Command    string `json:"command"`
			Parameters string `json:"parameters"`
		} `json:"commands"`
		Replies []struct {
			Frame int `json:"frame"`
			Code  int `json:"code"`
		} `json:"replies"`
		EOMFrames []int `json:"eom_frames"`
	} `json:"streams"`
}

func loadTruth(t testing.TB, name string) truthFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(captureDir, name+".tshark.json"))
	if err != nil {
		t.Skipf("no tshark truth: %v", err)
	}
	var tf truthFile
	if err := json.Unmarshal(b, &tf); err != nil {
		t.Fatalf("%s.tshark.json: %v", name, err)
	}
	return tf
}

// packetSource reads pcap or pcapng by the file's magic.
type packetSource interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

func openCapture(t testing.TB, path string) packetSource {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) >= 4 && binary.BigEndian.Uint32(raw) == 0x0a0d0d0a {
		r, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return r
	}
	r, err := pcapgo.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

// heldSegment is an out-of-order segment waiting for the hole before it.
type heldSegment struct {
	seq  uint32
	data []byte
	mark reassembly.Mark
}

// halfStream is one direction of a test connection.
type halfStream struct {
	started bool
	next    uint32
	held    []heldSegment
	fin     bool
}

type testConn struct {
	stream int
	client netip.AddrPort
	d      *Decoder
	half   [2]halfStream
	last   reassembly.Mark
}

// feedSegment delivers a segment's payload in sequence order.
func (c *testConn) feedSegment(dir reassembly.Direction, seq uint32, payload []byte, m reassembly.Mark) {
	h := &c.half[dir]
	if !h.started {
		h.started, h.next = true, seq
	}
	if len(payload) == 0 {
		return
	}
	if d := int32(seq - h.next); d < 0 {
		if int(-d) >= len(payload) {
			return // a retransmission of bytes already delivered
		}
		payload, seq = payload[-d:], h.next
	} else if d > 0 {
		h.held = append(h.held, heldSegment{seq, append([]byte(nil), payload...), m})
		return
	}
	c.d.Data(dir, payload, reassembly.ConstMarker(m))
	h.next = seq + uint32(len(payload))
	for progress := true; progress; {
		progress = false
		for i := 0; i < len(h.held); i++ {
			s := h.held[i]
			if d := int32(s.seq - h.next); d <= 0 {
				h.held = append(h.held[:i], h.held[i+1:]...)
				if int(-d) < len(s.data) {
					c.d.Data(dir, s.data[-d:], reassembly.ConstMarker(s.mark))
					h.next = s.seq + uint32(len(s.data))
				}
				progress = true
				break
			}
		}
	}
}

// flushHeld delivers what is still held after the last packet, with the
// holes before it as gaps.
func (c *testConn) flushHeld() {
	for dir := range c.half {
		h := &c.half[dir]
		sort.Slice(h.held, func(i, j int) bool { return int32(h.held[i].seq-h.held[j].seq) < 0 })
		for _, s := range h.held {
			d := int32(s.seq - h.next)
			if d > 0 {
				c.d.Gap(reassembly.Direction(dir), int(d), s.mark)
			} else if int(-d) >= len(s.data) {
				continue
			} else {
				s.data = s.data[-d:]
			}
			c.d.Data(reassembly.Direction(dir), s.data, reassembly.ConstMarker(s.mark))
			h.next = s.seq + uint32(max(d, 0)) + uint32(len(s.data))
		}
		h.held = nil
	}
}

// connSpec names a connection to decode: its stream number and who is
// the client.
type connSpec struct {
	stream         int
	client, server netip.AddrPort
}

// decodeCapture decodes every TCP connection of a capture whose client
// tshark named, and returns the sessions by tcp.stream.
func decodeCapture(t testing.TB, name string, tf truthFile) map[int]*Session {
	t.Helper()
	var specs []connSpec
	for _, s := range tf.Streams {
		cl, err1 := netip.ParseAddrPort(s.Client)
		sv, err2 := netip.ParseAddrPort(s.Server)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: stream %d: bad endpoints %q %q", name, s.Stream, s.Client, s.Server)
		}
		specs = append(specs, connSpec{s.Stream, cl, sv})
	}
	return decodeConns(t, filepath.Join(captureDir, name), specs)
}

// decodeConns decodes the listed connections of a capture file.
func decodeConns(t testing.TB, path string, specs []connSpec) map[int]*Session {
	t.Helper()
	name := filepath.Base(path)
	type pair struct{ a, b netip.AddrPort }
	streams := map[pair][]int{}
	clients := map[int]netip.AddrPort{}
	for _, s := range specs {
		streams[pair{s.client, s.server}] = append(streams[pair{s.client, s.server}], s.stream)
		clients[s.stream] = s.client
	}
	src := openCapture(t, path)
	conns := map[pair]*testConn{}
	var order []*testConn
	frame := 0
	for {
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			t.Logf("%s: frame %d: %v", name, frame+1, err)
			break
		}
		frame++
		pkt := gopacket.NewPacket(data, src.LinkType(), gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil {
			continue
		}
		var sa, da netip.Addr
		switch ip := pkt.NetworkLayer().(type) {
		case *layers.IPv4:
			sa, _ = netip.AddrFromSlice(ip.SrcIP.To4())
			da, _ = netip.AddrFromSlice(ip.DstIP.To4())
		case *layers.IPv6:
			sa, _ = netip.AddrFromSlice(ip.SrcIP)
			da, _ = netip.AddrFromSlice(ip.DstIP)
		default:
			continue
		}
		from := netip.AddrPortFrom(sa, uint16(tcp.SrcPort))
		to := netip.AddrPortFrom(da, uint16(tcp.DstPort))
		key, dir := pair{from, to}, reassembly.ClientToServer
		if _, ok := streams[key]; !ok {
			key, dir = pair{to, from}, reassembly.ServerToClient
		}
		ids, ok := streams[key]
		if !ok {
			continue
		}
		m := reassembly.Mark{Frame: frame, Time: ci.Timestamp}
		c := conns[key]
		if c == nil || (tcp.SYN && !tcp.ACK && c.half[reassembly.ClientToServer].started && c.half[reassembly.ClientToServer].next != tcp.Seq+1) {
			if c != nil {
				ids = ids[1:] // a new connection on the same four-tuple
				streams[key] = ids
			}
			if len(ids) == 0 {
				continue
			}
			c = &testConn{stream: ids[0], client: clients[ids[0]], d: NewDecoder(Options{})}
			conns[key] = c
			order = append(order, c)
		}
		c.last = m
		seq := tcp.Seq
		if tcp.SYN {
			seq++
		}
		c.feedSegment(dir, seq, tcp.Payload, m)
		if tcp.FIN && !c.half[dir].fin {
			c.half[dir].fin = true
			c.d.Control(reassembly.EventFIN, dir, m)
		}
		if tcp.RST {
			c.d.Control(reassembly.EventRST, dir, m)
		}
	}
	out := map[int]*Session{}
	for _, c := range order {
		c.flushHeld()
		c.d.End(c.last)
		out[c.stream] = c.d.Session()
	}
	return out
}

// observed is one session's commands, replies and end-of-data frames in
// tshark's terms.
type observed struct {
	commands []string // "frame VERB param"
	replies  []string // "frame code"
	eoms     []int
}

// observe renders a session: commands with frame and argument (for AUTH
// only the mechanism, as we keep), and every reply we attached to a
// command, a transaction or the greeting, ordered by frame.
func observe(s *Session) observed {
	var o observed
	for _, c := range s.Commands {
		o.commands = append(o.commands, fmt.Sprintf("%d %s %s", c.Frame, c.Verb, c.Arg))
	}
	seen := map[*Reply]bool{}
	var rs []*Reply
	add := func(r *Reply) {
		if r != nil && !r.Partial && !seen[r] {
			seen[r] = true
			rs = append(rs, r)
		}
	}
	add(s.Banner)
	for i := range s.Commands {
		add(s.Commands[i].Reply)
	}
	for i := range s.Transactions {
		x := &s.Transactions[i]
		add(x.Reply)
		for j := range x.Rcpts {
			add(x.Rcpts[j].DataReply)
		}
		if x.Method == "DATA" && x.EndOfDataFrame != 0 {
			o.eoms = append(o.eoms, x.EndOfDataFrame)
		}
	}
	for _, r := range rs {
		o.replies = append(o.replies, fmt.Sprintf("%d %d", r.Frame, r.Code))
	}
	sortReplies(o.replies)
	return o
}

// sortReplies orders "frame code" strings by frame, then code: within one
// frame the order of replies to pipelined requests is checked through the
// commands they are attached to, not here.
func sortReplies(rs []string) {
	key := func(s string) (int, string) {
		var f int
		fmt.Sscan(s, &f)
		return f, s
	}
	sort.SliceStable(rs, func(i, j int) bool {
		fi, si := key(rs[i])
		fj, sj := key(rs[j])
		if fi != fj {
			return fi < fj
		}
		return si < sj
	})
}

// expected renders tshark's reading of a stream the same way. AUTH
// challenges (334) are left out: the Decoder answers them in its FIFO but
// keeps only the exchange's final reply, and AUTH parameters are cut to
// the mechanism.
func expected(tf truthFile, stream int) observed {
	var o observed
	for _, s := range tf.Streams {
		if s.Stream != stream {
			continue
		}
		for _, c := range s.Commands {
			// We trim the spaces that end a command line.
			verb, param := strings.ToUpper(c.Command), strings.TrimRight(c.Parameters, " ")
			if verb == "AUTH" {
				param, _, _ = strings.Cut(strings.ToUpper(param), " ")
			}
			o.commands = append(o.commands, fmt.Sprintf("%d %s %s", c.Frame, verb, param))
		}
		for _, r := range s.Replies {
			if r.Code != 334 {
				o.replies = append(o.replies, fmt.Sprintf("%d %d", r.Frame, r.Code))
			}
		}
		o.eoms = append(o.eoms, s.EOMFrames...)
	}
	sortReplies(o.replies)
	return o
}

// captureCase says, for one capture, where the raw bytes and tshark 4.0
// part ways and what else the session must show.
type captureCase struct {
	file string
	// fix turns tshark's reading of a stream into the raw bytes' reading;
	// nil when they agree. Each fix says why in a comment.
	fix   func(stream int, o *observed)
	check func(t *testing.T, sessions map[int]*Session)
}

func TestCaptures(t *testing.T) {
	for _, tc := range captureCases {
		t.Run(tc.file, func(t *testing.T) {
			tf := loadTruth(t, tc.file)
			sessions := decodeCapture(t, tc.file, tf)
			for _, st := range tf.Streams {
				if !st.IsSMTP {
					continue
				}
				s := sessions[st.Stream]
				if s == nil {
					t.Errorf("stream %d: no session", st.Stream)
					continue
				}
				want := expected(tf, st.Stream)
				if tc.fix != nil {
					tc.fix(st.Stream, &want)
					sortReplies(want.replies)
				}
				got := observe(s)
				compareLists(t, fmt.Sprintf("stream %d commands", st.Stream), got.commands, want.commands)
				compareLists(t, fmt.Sprintf("stream %d replies", st.Stream), got.replies, want.replies)
				compareLists(t, fmt.Sprintf("stream %d end-of-data frames", st.Stream), intStrings(got.eoms), intStrings(want.eoms))
			}
			if tc.check != nil {
				tc.check(t, sessions)
			}
			checkGolden(t, tc.file, sessions)
		})
	}
}

// checkGolden compares the sessions of a capture with
// testdata/golden/<capture>.json.
func checkGolden(t *testing.T, name string, sessions map[int]*Session) {
	t.Helper()
	got, err := json.MarshalIndent(sessions, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./smtp -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("sessions differ from %s (run go test ./smtp -update and review the diff):\n%s", path, firstDiff(string(got), string(want)))
	}
}

// firstDiff shows the first differing line with some context.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, gl, wl)
		}
	}
	return ""
}

func intStrings(v []int) []string {
	out := []string{}
	for _, n := range v {
		out = append(out, fmt.Sprint(n))
	}
	return out
}

func compareLists(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s differ from tshark:\n got: %q\nwant: %q", what, got, want)
	}
}
