// Command lab is the smtpscope scenario lab: a real SMTP server (built on
// github.com/emersion/go-smtp) with fault knobs, a real SMTP client (go-smtp's
// client, plus a small raw mode for PIPELINING and BDAT), and a helper that
// writes a scenario's expected-result file from what the two peers logged.
//
// It is driven by the scenario scripts beside it (../scripts/*.sh), which run
// both peers inside a private network namespace while tcpdump records.
//
//	lab server [flags]   run the SMTP server
//	lab client [flags]   send messages, print one JSON line per message
//	lab expect [flags]   build <name>.expect.json from client+server logs
//	lab expect-copy [flags]          the same expectations for a converted capture
//	lab pcapng-offset FILE FRAME     byte offset and length of frame's block
//
// Every wait in this program is bounded.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "server":
		err = runServer(os.Args[2:])
	case "client":
		err = runClient(os.Args[2:])
	case "expect":
		err = runExpect(os.Args[2:])
	case "expect-copy":
		err = runExpectCopy(os.Args[2:])
	case "pcapng-offset":
		err = runPcapngOffset(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "lab %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: lab server|client|expect|expect-copy [flags] | lab pcapng-offset FILE FRAME  (lab <cmd> -h for flags)")
	os.Exit(2)
}
