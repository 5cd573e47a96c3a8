package capture

import (
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var writeFixtures = flag.Bool("write-fixtures", false, "rewrite the synthesized fixtures under testdata/")

// processFixtures are Network Monitor files whose process table names the
// program that owned their one TCP connection, as NetMon records it on an
// Exchange server. cmd/smtpscope's tests read them to check that the
// report names the process:
//   - netmon22-process.cap: the table entry has the connection's endpoints;
//   - netmon23-listener.cap: the server side, whose table entry is the
//     listening socket (local port 25, no remote end) that endpoint
//     matching cannot find; only the frames' own process index names it.
var processFixtures = []string{"testdata/netmon22-process.cap", "testdata/netmon23-listener.cap"}

func tcpFrame(t *testing.T, src, dst netip.AddrPort, syn, ack bool, seq, ackN uint32) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 0x15, 0x5d, 1, 2, 3}, DstMAC: net.HardwareAddr{0, 0x15, 0x5d, 4, 5, 6}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 128, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), SYN: syn, ACK: ack, Seq: seq, Ack: ackN, Window: 8192}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestProcessFixture builds the fixtures and checks the committed copies
// are the same bytes (rewrite with -write-fixtures).
func TestProcessFixture(t *testing.T) {
	client := netip.MustParseAddrPort("192.0.2.10:49152")
	server := netip.MustParseAddrPort("198.51.100.25:25")
	outbound := []byte{1, 0}
	outbound = append(outbound, nmProcess(`C:\Program Files\Microsoft\Exchange Server\V15\Bin\EdgeTransport.exe`, nil, 1234,
		client.Addr(), server.Addr(), client.Port(), server.Port())...)
	any4 := netip.IPv4Unspecified()
	listener := []byte{1, 0}
	listener = append(listener, nmProcess(`C:\Windows\System32\svchost.exe`, nil, 4, any4, any4, 135, 0)...)
	listener = append(listener, nmProcess(`C:\Program Files\Microsoft\Exchange Server\V15\Bin\MSExchangeFrontendTransport.exe`, nil, 2345,
		any4, any4, server.Port(), 0)...)
	t0 := nmStartTime
	files := []nmFile{
		{major: 2, minor: 2, mac: 1, start: nmStart, processes: outbound, processCount: 1, records: []nmRecord{
			{offset: 0, data: tcpFrame(t, client, server, true, false, 100, 0), media: 1, process: 0},
			{offset: 1000, data: tcpFrame(t, server, client, true, true, 500, 101), media: 1, process: 0},
			{offset: 2000, data: tcpFrame(t, client, server, false, true, 101, 501), media: 1, process: 0},
		}},
		{major: 2, minor: 3, mac: 1, start: nmStart, processes: listener, processCount: 2, records: []nmRecord{
			{offset: 0, data: tcpFrame(t, client, server, true, false, 100, 0), media: 1, process: 1, filetime: filetimeOf(t0)},
			{offset: 1000, data: tcpFrame(t, server, client, true, true, 500, 101), media: 1, process: 1, filetime: filetimeOf(t0.Add(time.Millisecond))},
			{offset: 2000, data: tcpFrame(t, client, server, false, true, 101, 501), media: 1, process: 1, filetime: filetimeOf(t0.Add(2 * time.Millisecond))},
		}},
	}
	for i, file := range files {
		data := file.build()
		path := filepath.FromSlash(processFixtures[i])
		if *writeFixtures {
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (rewrite with go test ./capture -run TestProcessFixture -write-fixtures)", err)
		}
		if string(got) != string(data) {
			t.Fatalf("%s differs from what the test builds; rewrite with -write-fixtures", path)
		}
		f, err := openBytes(path, got)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := f.Processes()
		if err != nil || len(ps) != int(file.processCount) {
			t.Fatalf("%s: Processes() = %+v, %v", path, ps, err)
		}
	}
}
