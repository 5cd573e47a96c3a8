// Package reassembly follows every TCP connection of a capture: it numbers
// connections as Wireshark numbers tcp.stream, runs Wireshark's TCP
// analysis (the tcp.analysis.* flags of tshark 4.0) on every packet in
// file order, and hands each connection's two ordered byte streams, with
// the frame number and capture time of every byte and the holes the
// capture left as gaps, to a Handler of the caller's.
//
// The parts, one file each, as gopacket's own reassembly is split:
//   - tracker.go: the Tracker, which takes frames (capture.Frame), finds or
//     starts their connection (conn.go; numbering.go numbers streams and
//     remembers retired 4-tuples) and drives the rest;
//   - decode.go and segment.go: a frame's link, IP and TCP headers to a
//     Segment;
//   - analysis*.go: the Analyzer, Wireshark's per-packet analysis and the
//     facts it keeps (Health); pmtu.go the evidence of a path-MTU black
//     hole; holes.go the holes in each byte stream;
//   - stream.go: the adaptor to gopacket's reassembly (the gpr.Stream that
//     calls the Handler, and the context that carries frame numbers through
//     gopacket's buffers);
//   - idle.go: capture time, the periodic flush and the idle heap that ends
//     and retires connections, so memory holds only open connections;
//   - shard.go: the Sharder and StreamNumbers for analysing on several
//     cores with one numbering.
//
// What it states is facts: counts, frames, flags, sizes, times and named
// conditions (HandshakeState, ResetKind, PMTU evidence). It passes no
// verdict and writes no sentence; package report turns the facts into
// verdicts and words.
//
// What it does not do: it knows nothing of the protocol the bytes carry
// (SMTP, or the TLS records around it) and never imports a package that
// does. A TLS layer sits between this package and smtp: it takes the byte
// streams this package delivers (the Handler's Data, Gap and Control
// calls, with their Marks) for the byte ranges smtp hands it after
// STARTTLS, and knows records and handshakes but nothing of SMTP; nothing
// here changes for it. It does not read capture files (package capture
// does), validate checksums (loopback and offloaded captures carry wrong
// ones, and Wireshark does not check them by default), or reassemble IP
// fragments.
//
// Bad input never panics: a frame that does not decode is counted and
// skipped, and a fault inside gopacket's reassembly ends only the handler
// of that connection (Stats.Recovered).
package reassembly
