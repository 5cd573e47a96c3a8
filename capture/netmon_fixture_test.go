package capture

import (
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var writeFixtures = flag.Bool("write-fixtures", false, "rewrite the synthesized fixtures under testdata/")

// processFixture is a Network Monitor 2.2 file whose process table names
// the program that owned its one TCP connection, as NetMon records it on
// an Exchange server. cmd/smtpscope's tests read it to check that the
// report names the process.
const processFixture = "testdata/netmon22-process.cap"

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

// TestProcessFixture builds the fixture and checks the committed copy is
// the same bytes (rewrite with -write-fixtures).
func TestProcessFixture(t *testing.T) {
	local := netip.MustParseAddrPort("192.0.2.10:49152")
	remote := netip.MustParseAddrPort("198.51.100.25:25")
	table := []byte{1, 0}
	table = append(table, nmProcess(`C:\Program Files\Microsoft\Exchange Server\V15\Bin\EdgeTransport.exe`, nil, 1234,
		local.Addr(), remote.Addr(), local.Port(), remote.Port())...)
	file := nmFile{major: 2, minor: 2, mac: 1, start: nmStart, processes: table, processCount: 1, records: []nmRecord{
		{offset: 0, data: tcpFrame(t, local, remote, true, false, 100, 0), media: 1, process: 0},
		{offset: 1000, data: tcpFrame(t, remote, local, true, true, 500, 101), media: 1, process: 0},
		{offset: 2000, data: tcpFrame(t, local, remote, false, true, 101, 501), media: 1, process: 0},
	}}
	data := file.build()
	path := filepath.FromSlash(processFixture)
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
	f, err := openBytes("fixture", got)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := f.Processes()
	if err != nil || len(ps) != 1 || ps[0].PID != 1234 {
		t.Fatalf("Processes() = %+v, %v", ps, err)
	}
}
