// Command smtpgen writes a deterministic synthetic SMTP capture for
// benchmarks, and beside it the expected outcome of every session.
//
//	smtpgen --out bench.pcap --size 1G --seed 1 --problems 0.05
//
// The capture is pcap or pcapng by the --out extension; the expectations
// go to --expect (default: the capture's name with .expect.jsonl), one
// JSON line per session in tcp.stream order. The same flags give the same
// bytes. See package bench/synth for what the sessions contain.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/spf13/pflag"

	"github.com/smtpscope/smtpscope/bench/synth"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "smtpgen:", err)
		os.Exit(2)
	}
}

// errUsage is returned for bad flags; the message says which.
var errUsage = errors.New("usage")

func run(args []string, stderr io.Writer) error {
	fs := pflag.NewFlagSet("smtpgen", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.StringP("out", "o", "", "capture file to write: .pcap or .pcapng (required)")
	expect := fs.String("expect", "", "expectations file, one JSON line per session (default: OUT without extension + .expect.jsonl)")
	size := fs.String("size", "64M", "target capture size: bytes, or with K, M, G (powers of 1024); ignored with --sessions")
	sessions := fs.Int("sessions", 0, "number of sessions (0: as many as fill --size)")
	clients := fs.Int("clients", synth.DefaultClients, "number of client hosts")
	servers := fs.Int("servers", synth.DefaultServers, "number of mail servers")
	seed := fs.Uint64("seed", 1, "seed: the same seed and flags give the same bytes")
	problems := fs.Float64("problems", synth.DefaultProblems, "share of sessions with a fault, 0 to 1")
	concurrency := fs.Int("concurrency", synth.DefaultConcurrency, "sessions open at once")
	maxMessage := fs.String("max-message-size", "0", "cap the bodies of messages without a body fault: bytes, or with K, M (0: no cap; at least 700), for many sessions in few bytes")
	tlsShare := fs.Float64("tls", 0, "share of sessions, 0 to 1, that upgrade with STARTTLS and go on in opaque TLS records (their messages are expected inferred); every server then offers STARTTLS")
	bdat := fs.Float64("bdat", 0, "share of sessions, 0 to 1, that send their messages in BDAT chunks (RFC 3030; sessions in clear without a body fault); every server then advertises CHUNKING")
	faultLoss := fs.Float64("fault-capture-loss", 0, "share of sessions with a network fault, 0 to 1, whose capture also lacks one frame the peer acknowledged (of the fault's message: its envelope's reply, its RCPT sent alone, or its final reply when TCP recovers; sessions in clear)")
	commandLoss := fs.Float64("command-loss", 0, "share of sessions, 0 to 1, whose capture lacks a client command sent pipelined: one command of a pipelined envelope (written one command a segment) or the line of a BDAT chunk after the first (sessions in clear with healthy TCP)")
	chunkRefusal := fs.Float64("bdat-pipelined-refusal", 0, "share, 0 to 1, of the BDAT messages refused after a chunk before LAST, in sessions with PIPELINING, whose later chunks (BDAT LAST included) were already written behind the refused one; each is answered with the same refusal")
	captureLoss := fs.Float64("capture-loss", 0, "share of sessions, 0 to 1, whose capture lacks one frame the peer acknowledged (a body segment, a command, a reply or an ACK; sessions in clear with healthy TCP); their expectations say what the capture still proves")
	sack := fs.Float64("sack", 0, "share of sessions, 0 to 1, that negotiate SACK on the SYNs: the server's duplicate ACKs carry SACK blocks, and D-SACK blocks for data it received twice (spurious retransmissions, tail-loss probes)")
	duplicate := fs.Bool("duplicate", false, "write every frame twice, as a capture on both members of a bond holds it (the expectations stay the same)")
	quiet := fs.BoolP("quiet", "q", false, "do not print the summary")
	flood := fs.String("flood", "", "write a flood instead of mail sessions: syn (half-open connections) or idle-ehlo (sessions idle after EHLO); --sessions connections (default 200000) over --flood-duration")
	floodDuration := fs.Duration("flood-duration", synth.DefaultFloodDuration, "capture time the --flood connections start over")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: smtpgen --out FILE.pcap|FILE.pcapng [flags]")
		fs.PrintDefaults()
		return fmt.Errorf("%w: --out FILE is required and no arguments are taken", errUsage)
	}
	if *flood != "" {
		kind, err := synth.ParseFlood(*flood)
		if err != nil {
			return fmt.Errorf("%w: --flood: %v", errUsage, err)
		}
		fo := synth.FloodOptions{Kind: kind, Connections: *sessions, Duration: *floodDuration, Seed: *seed}
		st, err := generateFlood(*out, fo)
		if err != nil {
			return err
		}
		if !*quiet {
			fmt.Fprintf(stderr, "smtpgen: %s: %s flood: %d connections, %d frames, %d bytes of frames, %s of capture time\n",
				*out, kind, st.Sessions, st.Frames, st.Bytes, st.Duration.Round(time.Millisecond))
		}
		return nil
	}
	target, err := parseSize(*size)
	if err != nil {
		return fmt.Errorf("%w: --size: %v", errUsage, err)
	}
	var maxMsg int64
	if *maxMessage != "0" {
		if maxMsg, err = parseSize(*maxMessage); err != nil || maxMsg > 1<<30 {
			return fmt.Errorf("%w: --max-message-size %q: want 0 or a size up to 1G", errUsage, *maxMessage)
		}
	}
	if *tlsShare < 0 || *tlsShare > 1 {
		return fmt.Errorf("%w: --tls %v is not between 0 and 1", errUsage, *tlsShare)
	}
	if *faultLoss < 0 || *faultLoss > 1 {
		return fmt.Errorf("%w: --fault-capture-loss %v is not between 0 and 1", errUsage, *faultLoss)
	}
	if *commandLoss < 0 || *commandLoss > 1 {
		return fmt.Errorf("%w: --command-loss %v is not between 0 and 1", errUsage, *commandLoss)
	}
	if *chunkRefusal < 0 || *chunkRefusal > 1 {
		return fmt.Errorf("%w: --bdat-pipelined-refusal %v is not between 0 and 1", errUsage, *chunkRefusal)
	}
	if *captureLoss < 0 || *captureLoss > 1 {
		return fmt.Errorf("%w: --capture-loss %v is not between 0 and 1", errUsage, *captureLoss)
	}
	if *sack < 0 || *sack > 1 {
		return fmt.Errorf("%w: --sack %v is not between 0 and 1", errUsage, *sack)
	}
	if *bdat < 0 || *bdat > 1 {
		return fmt.Errorf("%w: --bdat %v is not between 0 and 1", errUsage, *bdat)
	}
	if *problems < 0 || *problems > 1 {
		return fmt.Errorf("%w: --problems %v is not between 0 and 1", errUsage, *problems)
	}
	opts := synth.Options{Seed: *seed, Sessions: *sessions, Size: target, Clients: *clients,
		Servers: *servers, Problems: *problems, Concurrency: *concurrency, MaxMessageSize: int(maxMsg), Duplicate: *duplicate, TLS: *tlsShare, BDAT: *bdat, CaptureLoss: *captureLoss, SACK: *sack,
		FaultCaptureLoss: *faultLoss, CommandLoss: *commandLoss, PipelinedChunkRefusal: *chunkRefusal}
	if *problems == 0 {
		opts.Problems = -1 // zero means the default in Options
	}
	if *expect == "" {
		*expect = strings.TrimSuffix(strings.TrimSuffix(*out, ".pcapng"), ".pcap") + ".expect.jsonl"
	}
	start := time.Now()
	st, err := generate(*out, *expect, opts)
	if err != nil {
		return err
	}
	if !*quiet {
		fmt.Fprintf(stderr, "smtpgen: %s: %d sessions, %d messages, %d frames, %d bytes of frames, %s of capture time, in %s\n",
			*out, st.Sessions, st.Messages, st.Frames, st.Bytes, st.Duration.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		var parts []string
		for _, f := range st.Faults {
			parts = append(parts, fmt.Sprintf("%s %d", f.Fault, f.Sessions))
		}
		fmt.Fprintf(stderr, "smtpgen: faults: %s; BDAT %d, capture loss %d; expectations in %s\n", strings.Join(parts, ", "), st.BDAT, st.CaptureLoss, *expect)
	}
	return nil
}

// generateFlood writes a flood capture (no expectations: a flood has no
// mail to expect).
func generateFlood(out string, opts synth.FloodOptions) (synth.Stats, error) {
	var st synth.Stats
	f, err := os.Create(out)
	if err != nil {
		return st, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	pw, flush, err := packetWriter(bw, out)
	if err != nil {
		return st, err
	}
	if st, err = synth.WriteFlood(pw, opts); err != nil {
		return st, fmt.Errorf("%s: %w", out, err)
	}
	for _, fl := range []func() error{flush, bw.Flush, f.Close} {
		if err := fl(); err != nil {
			return st, err
		}
	}
	return st, nil
}

// packetWriter writes pcap or pcapng to w by the extension of name.
func packetWriter(w io.Writer, name string) (synth.PacketWriter, func() error, error) {
	switch {
	case strings.HasSuffix(name, ".pcapng"):
		nw, err := pcapgo.NewNgWriter(w, layers.LinkTypeEthernet)
		if err != nil {
			return nil, nil, err
		}
		return nw, nw.Flush, nil
	case strings.HasSuffix(name, ".pcap"):
		pw := pcapgo.NewWriter(w)
		if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
			return nil, nil, err
		}
		return pw, func() error { return nil }, nil
	}
	return nil, nil, fmt.Errorf("%w: --out %s: the name must end in .pcap or .pcapng", errUsage, name)
}

// generate writes the capture and the expectations files.
func generate(out, expect string, opts synth.Options) (synth.Stats, error) {
	var st synth.Stats
	f, err := os.Create(out)
	if err != nil {
		return st, err
	}
	defer f.Close()
	e, err := os.Create(expect)
	if err != nil {
		return st, err
	}
	defer e.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	ew := bufio.NewWriterSize(e, 64<<10)

	pw, flush, err := packetWriter(bw, out)
	if err != nil {
		return st, err
	}
	st, err = synth.New(opts).Run(pw, ew)
	if err != nil {
		return st, fmt.Errorf("%s: %w", out, err)
	}
	for _, fl := range []func() error{flush, bw.Flush, ew.Flush, f.Close, e.Close} {
		if err := fl(); err != nil {
			return st, err
		}
	}
	return st, nil
}

// parseSize reads "1G", "100M", "512K" (powers of 1024) or plain bytes.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "B")
	t = strings.TrimSuffix(t, "I")
	switch {
	case strings.HasSuffix(t, "K"):
		mult, t = 1<<10, strings.TrimSuffix(t, "K")
	case strings.HasSuffix(t, "M"):
		mult, t = 1<<20, strings.TrimSuffix(t, "M")
	case strings.HasSuffix(t, "G"):
		mult, t = 1<<30, strings.TrimSuffix(t, "G")
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size such as 1G, 100M or 5000000", s)
	}
	return int64(n * float64(mult)), nil
}
