package capture_test

import (
	"errors"
	"fmt"
	"io"
	"log"

	"github.com/smtpscope/smtpscope/capture"
)

// Read a capture file frame by frame. The format is found from the file's
// first bytes; a file cut short still yields the frames before the cut.
func ExampleOpenFile() {
	f, err := capture.OpenFile("testdata/smtp-multi-addr.pcap")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	for {
		fr, err := f.Next()
		if errors.Is(err, capture.ErrTruncated) {
			log.Print(err) // report it, keep what was read
			break
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		if fr.Number <= 3 {
			fmt.Println(fr.Number, fr.Time.Format("15:04:05.000000"), fr.LinkType, fr.Length)
		}
	}
	info := f.Info()
	fmt.Println(info.Format, info.Packets, "frames")
	// Output:
	// 1 21:31:02.855497 Ethernet 74
	// 2 21:31:02.856067 Ethernet 74
	// 3 21:31:02.856124 Ethernet 66
	// pcap 21 frames
}

// Frames of a Network Monitor file keep the numbers Wireshark shows, even
// where metadata records are left out.
func ExampleOpenFile_netmon() {
	f, err := capture.OpenFile("testdata/ms-authsod.netmon23.cap")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	fr, err := f.Next()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(fr.Number, fr.Time.Format("2006-01-02 15:04:05.0000000"), fr.LinkType, len(fr.Data))
	fmt.Println(f.Info().Format)
	// Output:
	// 1 2016-08-08 09:43:59.0596839 Ethernet 307
	// netmon2
}

// Read two captures of one incident as one timeline.
func ExampleMerge() {
	client, err := capture.OpenFile("testdata/smtp-multi-addr.pcap")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	server, err := capture.OpenFile("testdata/smtp-multi-addr.netmon20.cap")
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	names := []string{"client", "server"}
	timeline := capture.Merge(client, server)
	for range 4 {
		fr, err := timeline.Next()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s frame %d at %s\n", names[fr.Input], fr.Number, fr.Time.Format("15:04:05.000000"))
	}
	// Output:
	// client frame 1 at 21:31:02.855497
	// server frame 1 at 21:31:02.855497
	// client frame 2 at 21:31:02.856067
	// server frame 2 at 21:31:02.856067
}
