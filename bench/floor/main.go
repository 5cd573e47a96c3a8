// Command floor runs bench.Floor — read, decode, reassemble, split lines,
// nothing else — over capture files and prints what it counted. It is the
// lower bound scripts/bench.sh compares smtpscope with.
//
//	floor FILE...
package main

import (
	"fmt"
	"os"

	"github.com/smtpscope/smtpscope/bench"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: floor FILE...")
		os.Exit(2)
	}
	for _, name := range os.Args[1:] {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			os.Exit(2)
		}
		st, err := bench.Floor(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "floor: %s: %v\n", name, err)
			os.Exit(2)
		}
		fmt.Printf("%s: packets %d bytes %d tcp %d connections %d reassembled %d lines %d\n",
			name, st.Packets, st.Bytes, st.TCP, st.Connections, st.Reassembled, st.Lines)
	}
}
