package reassembly

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/smtpscope/smtpscope/capture"
)

// eventLog is a Handler that logs every call as text.
type eventLog struct {
	events []string
	data   [2]strings.Builder
}

func (r *eventLog) Data(dir Direction, data []byte, at Marker) {
	first, last := at.Mark(0), at.Mark(len(data)-1)
	r.events = append(r.events, fmt.Sprintf("data %s %q frames %d-%d", dir, data, first.Frame, last.Frame))
	r.data[dir].Write(data)
}
func (r *eventLog) Gap(dir Direction, n int, at Mark) {
	r.events = append(r.events, fmt.Sprintf("gap %s %d at %d", dir, n, at.Frame))
}
func (r *eventLog) Control(kind EventKind, dir Direction, at Mark) {
	k := "FIN"
	if kind == EventRST {
		k = "RST"
	}
	r.events = append(r.events, fmt.Sprintf("%s %s at %d", k, dir, at.Frame))
}
func (r *eventLog) End(at Mark) { r.events = append(r.events, fmt.Sprintf("end at %d", at.Frame)) }

// seg describes one synthetic packet.
type seg struct {
	fromServer bool
	seq, ack   uint32
	flags      string // S, A, F, R, P
	payload    string
	after      time.Duration // capture time since the first packet
	clientPort uint16        // 0: 40000
}

var (
	clientIP = net.IPv4(10, 0, 0, 5)
	serverIP = net.IPv4(10, 0, 0, 25)
	t0       = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
)

func frameOf(t testing.TB, n int, s seg) *capture.Frame {
	t.Helper()
	cport := s.clientPort
	if cport == 0 {
		cport = 40000
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: clientIP, DstIP: serverIP}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(cport), DstPort: 25, Seq: s.seq, Ack: s.ack, Window: 65535}
	if s.fromServer {
		ip.SrcIP, ip.DstIP = serverIP, clientIP
		tcp.SrcPort, tcp.DstPort = 25, layers.TCPPort(cport)
	}
	for _, f := range s.flags {
		switch f {
		case 'S':
			tcp.SYN = true
		case 'A':
			tcp.ACK = true
		case 'F':
			tcp.FIN = true
		case 'R':
			tcp.RST = true
		case 'P':
			tcp.PSH = true
		}
	}
	tcp.SetNetworkLayerForChecksum(ip)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, tcp, gopacket.Payload(s.payload)); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	return &capture.Frame{Number: n, Time: t0.Add(s.after), LinkType: layers.LinkTypeEthernet, Data: data, Length: len(data)}
}

func runSegs(t *testing.T, segs []seg) (*Tracker, []*eventLog) {
	t.Helper()
	var recs []*eventLog
	tr := NewTracker(Options{NewHandler: func(*Conn) Handler {
		r := &eventLog{}
		recs = append(recs, r)
		return r
	}})
	for i, s := range segs {
		if err := tr.Add(frameOf(t, i+1, s)); err != nil {
			t.Fatal(err)
		}
	}
	tr.Close()
	return tr, recs
}

const (
	cISN = 1000
	sISN = 5000
)

var handshake = []seg{
	{seq: cISN, flags: "S"},
	{fromServer: true, seq: sISN, ack: cISN + 1, flags: "SA"},
	{seq: cISN + 1, ack: sISN + 1, flags: "A"},
}

func TestTrackerDelivery(t *testing.T) {
	tests := []struct {
		name       string
		segs       []seg
		wantEvents []string
		wantClient string
	}{{
		name: "in order, end-of-data split over three segments",
		segs: append(append([]seg{}, handshake...),
			seg{seq: cISN + 1, ack: sISN + 1, flags: "PA", payload: "body\r"},
			seg{seq: cISN + 6, ack: sISN + 1, flags: "PA", payload: "\n."},
			seg{seq: cISN + 8, ack: sISN + 1, flags: "PA", payload: "\r\n"},
		),
		wantEvents: []string{`data client "body\r" frames 4-4`, `data client "\n." frames 5-5`, `data client "\r\n" frames 6-6`, "end at 6"},
		wantClient: "body\r\n.\r\n",
	}, {
		name: "out of order: later segment first keeps each byte's own frame",
		segs: append(append([]seg{}, handshake...),
			seg{seq: cISN + 6, ack: sISN + 1, flags: "PA", payload: "world", after: time.Millisecond},
			seg{seq: cISN + 1, ack: sISN + 1, flags: "PA", payload: "hello", after: 2 * time.Millisecond},
		),
		wantEvents: []string{`data client "helloworld" frames 5-4`, "end at 5"},
		wantClient: "helloworld",
	}, {
		name: "retransmitted end-of-data is delivered once",
		segs: append(append([]seg{}, handshake...),
			seg{seq: cISN + 1, ack: sISN + 1, flags: "PA", payload: ".\r\n"},
			seg{seq: cISN + 1, ack: sISN + 1, flags: "PA", payload: ".\r\n", after: 200 * time.Millisecond},
			seg{fromServer: true, seq: sISN + 1, ack: cISN + 4, flags: "PA", payload: "250 ok\r\n", after: 300 * time.Millisecond},
		),
		wantEvents: []string{`data client ".\r\n" frames 4-4`, `data server "250 ok\r\n" frames 6-6`, "end at 6"},
		wantClient: ".\r\n",
	}, {
		name: "a hole never filled becomes a gap after GapWait",
		segs: append(append([]seg{}, handshake...),
			seg{seq: cISN + 1, ack: sISN + 1, flags: "PA", payload: "MAIL\r\n"},
			seg{seq: cISN + 17, ack: sISN + 1, flags: "PA", payload: "QUIT\r\n", after: time.Second},
			seg{fromServer: true, seq: sISN + 1, ack: cISN + 23, flags: "A", after: 10 * time.Second},
		),
		wantEvents: []string{`data client "MAIL\r\n" frames 4-4`, "gap client 10 at 5", `data client "QUIT\r\n" frames 5-5`, "end at 6"},
		wantClient: "MAIL\r\nQUIT\r\n",
	}, {
		name: "a hole the receiver acknowledged is skipped at once, before the reply that follows",
		segs: append(append([]seg{}, handshake...),
			seg{seq: cISN + 1, ack: sISN + 1, flags: "PA", payload: "body\r\n"},
			// 10 bytes never captured, then the end-of-data.
			seg{seq: cISN + 17, ack: sISN + 1, flags: "PA", payload: ".\r\n", after: time.Millisecond},
			seg{fromServer: true, seq: sISN + 1, ack: cISN + 20, flags: "A", after: 2 * time.Millisecond},
			seg{fromServer: true, seq: sISN + 1, ack: cISN + 20, flags: "PA", payload: "250 ok\r\n", after: 3 * time.Millisecond},
		),
		wantEvents: []string{`data client "body\r\n" frames 4-4`, "gap client 10 at 5", `data client ".\r\n" frames 5-5`,
			`data server "250 ok\r\n" frames 7-7`, "end at 7"},
		wantClient: "body\r\n.\r\n",
	}, {
		name: "picked up mid-stream, server speaks first",
		segs: []seg{
			{fromServer: true, seq: sISN + 1, ack: cISN + 1, flags: "PA", payload: "220 hi\r\n"},
			{seq: cISN + 1, ack: sISN + 9, flags: "PA", payload: "EHLO x\r\n"},
		},
		wantEvents: []string{`data server "220 hi\r\n" frames 1-1`, `data client "EHLO x\r\n" frames 2-2`, "end at 2"},
		wantClient: "EHLO x\r\n",
	}, {
		name: "sequence numbers wrap around",
		segs: []seg{
			{seq: 0xfffffff0, flags: "S"},
			{fromServer: true, seq: sISN, ack: 0xfffffff1, flags: "SA"},
			{seq: 0xfffffff1, ack: sISN + 1, flags: "PA", payload: "0123456789abcdef"},
			{seq: 0x00000001, ack: sISN + 1, flags: "PA", payload: "after wrap"},
		},
		wantEvents: []string{`data client "0123456789abcdef" frames 3-3`, `data client "after wrap" frames 4-4`, "end at 4"},
		wantClient: "0123456789abcdefafter wrap",
	}, {
		name: "FIN and RST are reported after the data they carry",
		segs: append(append([]seg{}, handshake...),
			seg{seq: cISN + 1, ack: sISN + 1, flags: "PFA", payload: "QUIT\r\n"},
			seg{fromServer: true, seq: sISN + 1, ack: cISN + 8, flags: "RA"},
		),
		wantEvents: []string{`data client "QUIT\r\n" frames 4-4`, "FIN client at 4", "RST server at 5", "end at 5"},
		wantClient: "QUIT\r\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, recs := runSegs(t, tt.segs)
			if len(tr.Conns()) != 1 || len(recs) != 1 {
				t.Fatalf("got %d connections, want 1", len(tr.Conns()))
			}
			got := strings.Join(recs[0].events, "\n")
			want := strings.Join(tt.wantEvents, "\n")
			if got != want {
				t.Errorf("events:\n%s\nwant:\n%s", got, want)
			}
			if c := recs[0].data[ClientToServer].String(); c != tt.wantClient {
				t.Errorf("client bytes %q, want %q", c, tt.wantClient)
			}
			c := tr.Conns()[0]
			if c.Client.String() != "10.0.0.5:40000" || c.Server.String() != "10.0.0.25:25" {
				t.Errorf("client %s server %s", c.Client, c.Server)
			}
		})
	}
}

// TestTrackerPortReuse checks Wireshark's tcp.stream rule: a new SYN with
// a different ISN on a 4-tuple starts a new stream; a retransmitted SYN
// (same ISN) does not.
func TestTrackerPortReuse(t *testing.T) {
	segs := []seg{
		{seq: cISN, flags: "S"},
		{seq: cISN, flags: "S", after: time.Second}, // SYN retry, same ISN
		{fromServer: true, seq: sISN, ack: cISN + 1, flags: "SA", after: time.Second},
		{seq: cISN + 1, ack: sISN + 1, flags: "PA", payload: "QUIT\r\n", after: time.Second},
		{seq: cISN + 7, ack: sISN + 1, flags: "FA", after: time.Second},
		{seq: 90000, flags: "S", after: 2 * time.Second}, // new connection, same ports
		{fromServer: true, seq: 7000, ack: 90001, flags: "SA", after: 2 * time.Second},
		{seq: 90001, ack: 7001, flags: "PA", payload: "EHLO again\r\n", after: 2 * time.Second},
		{seq: cISN, flags: "S", clientPort: 40001, after: 3 * time.Second}, // another 4-tuple
	}
	tr, recs := runSegs(t, segs)
	conns := tr.Conns()
	if len(conns) != 3 {
		t.Fatalf("got %d streams, want 3", len(conns))
	}
	wantFrames := [][2]int{{1, 5}, {6, 8}, {9, 9}}
	for i, c := range conns {
		if c.Stream != i || c.FirstFrame != wantFrames[i][0] || c.LastFrame != wantFrames[i][1] {
			t.Errorf("stream %d: frames %d-%d, want %v", c.Stream, c.FirstFrame, c.LastFrame, wantFrames[i])
		}
	}
	if got := recs[1].data[ClientToServer].String(); got != "EHLO again\r\n" {
		t.Errorf("second connection got client bytes %q", got)
	}
	if got := recs[0].data[ClientToServer].String(); got != "QUIT\r\n" {
		t.Errorf("first connection got client bytes %q", got)
	}
}
