// Command mkmixed writes mixed.pcapng: a pcapng file whose two interfaces
// have different link types (Ethernet and Token Ring), with frames taken
// from a pcap file. Converted with `editcap -F netmon2`, it becomes a
// Network Monitor 2.1 file with a media type in every frame's trailer,
// which is what mixed.netmon21.cap is (see ../make.sh).
//
// Usage: go run ./capture/testdata/mkmixed IN.pcap OUT.pcapng
package main

import (
	"log"
	"os"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: mkmixed IN.pcap OUT.pcapng")
	}
	in, err := os.Open(os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	defer in.Close()
	r, err := pcapgo.NewReader(in)
	if err != nil {
		log.Fatal(err)
	}
	out, err := os.Create(os.Args[2])
	if err != nil {
		log.Fatal(err)
	}
	w, err := pcapgo.NewNgWriterInterface(out, pcapgo.NgInterface{
		Name:                "eth0",
		LinkType:            layers.LinkTypeEthernet,
		SnapLength:          262144,
		TimestampResolution: 6,
	}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		log.Fatal(err)
	}
	tr, err := w.AddInterface(pcapgo.NgInterface{
		Name:                "tr0",
		LinkType:            layers.LinkTypeTokenRing,
		SnapLength:          262144,
		TimestampResolution: 6,
	})
	if err != nil {
		log.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			log.Fatal(err)
		}
		ci.InterfaceIndex = 0
		if err := w.WritePacket(ci, data); err != nil {
			log.Fatal(err)
		}
		if i%2 == 1 {
			// A Token Ring frame: access control, frame control,
			// destination and source addresses, then LLC/SNAP.
			tok := []byte{0x10, 0x40, 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0xaa, 0xaa, 3, 0, 0, 0, 8, 0}
			ci.Timestamp = ci.Timestamp.Add(250 * time.Microsecond)
			ci.CaptureLength, ci.Length = len(tok), len(tok)
			ci.InterfaceIndex = tr
			if err := w.WritePacket(ci, tok); err != nil {
				log.Fatal(err)
			}
		}
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := out.Close(); err != nil {
		log.Fatal(err)
	}
}
