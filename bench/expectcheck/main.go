// Command expectcheck compares a smtpscope JSON report with the
// expectations cmd/smtpgen wrote beside the capture:
//
//	smtpscope analyze --format json F.pcap > F.json
//	expectcheck F.json F.expect.jsonl [EXAMPLES]
//
// It prints the sessions and messages checked, the mismatches per field
// and the first EXAMPLES mismatches (default 10), and exits 1 when there
// is any mismatch, 2 when it cannot read its input.
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/smtpscope/smtpscope/bench"
)

func main() {
	if len(os.Args) < 3 || len(os.Args) > 4 {
		fmt.Fprintln(os.Stderr, "usage: expectcheck REPORT.json EXPECT.jsonl [EXAMPLES]")
		os.Exit(2)
	}
	examples := 10
	if len(os.Args) == 4 {
		n, err := strconv.Atoi(os.Args[3])
		if err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "expectcheck: EXAMPLES %q is not a count\n", os.Args[3])
			os.Exit(2)
		}
		examples = n
	}
	rep, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "expectcheck:", err)
		os.Exit(2)
	}
	exp, err := os.Open(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "expectcheck:", err)
		os.Exit(2)
	}
	res, err := bench.Check(rep, exp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "expectcheck:", err)
		os.Exit(2)
	}
	fmt.Printf("checked %d sessions, %d messages: %d mismatches (%d false claims); %d messages unknown where the capture lacks a frame but proves the outcome\n",
		res.Sessions, res.Messages, len(res.Mismatches), res.FalseClaims, res.Unknown)
	for _, f := range res.ByField() {
		fmt.Printf("  %-28s %d\n", f.Field, f.Count)
	}
	for i, m := range res.Mismatches {
		if i == examples {
			fmt.Printf("  ... and %d more\n", len(res.Mismatches)-examples)
			break
		}
		fmt.Println("  " + m.String())
	}
	if len(res.Mismatches) > 0 {
		os.Exit(1)
	}
}
