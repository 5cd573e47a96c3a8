// Package synth generates deterministic synthetic SMTP captures for
// benchmarks and for checking smtpscope's verdicts at scale.
//
// A Generator plays many interleaved SMTP sessions between thousands of
// clients and a few mail servers, as seen by a capture taken at the mail
// hub: Ethernet/IPv4/TCP frames with correct sequence numbers, ACKs,
// windows and checksums, MSS-sized body segments and capture timestamps
// that advance with each session's round-trip time and bandwidth. A share
// of the sessions carries one fault: packet loss repaired by fast
// retransmit or by RTO, loss the client gives up on, a path-MTU black
// hole, a spurious retransmission (ACKs lost, not data), frames captured
// twice, reordering, a zero-window episode (recovered or fatal), a server
// RST in the middle of DATA, no reply after end-of-data, or a 4xx/5xx
// refusal. Where the retransmissions depend on the client's TCP stack
// (RTO loss, loss given up on, the black hole, the spurious one), each
// session draws one stack's Shape: the whole flight once then the first
// segment with backoff (Linux), the first only (Windows-like), or a
// tail-loss probe before the RTO (RACK-TLP). With Options.TLS, a share
// of the sessions upgrade with STARTTLS and go on in TLS records whose
// framing and clear handshake are real and whose protected contents are
// noise of the right lengths (tls.go): their messages are expected
// inferred from the records. With Options.BDAT, a share of the sessions in
// clear send with BDAT chunks (RFC 3030, bdat.go): refused after a chunk
// or after BDAT LAST (Options.PipelinedChunkRefusal: a refused chunk
// with the later ones pipelined behind it), or met with silence after
// BDAT LAST. With
// Options.CaptureLoss, a share of the sessions with healthy TCP lack one
// frame in the capture that the peer acknowledged on the wire (loss.go),
// and their expectations say what the capture still proves; with
// Options.FaultCaptureLoss, a share of those with a network fault too
// (away from the fault's flights); with Options.CommandLoss, a share
// lack a pipelined client command (one of an envelope written one command
// a segment, or a BDAT line after the first chunk's). With
// Options.SACK, a share of the sessions negotiate SACK: the server's
// duplicate ACKs carry SACK blocks, and D-SACK blocks name the data it
// received twice (a spurious retransmission, a tail-loss probe).
//
// For every session the Generator writes an Expectation — the tcp.stream
// index Wireshark gives it, its peers, the fault it carries and, per
// message, the outcome, final reply code and diagnosis a correct analyser
// reports — so that a report can be checked session by session.
//
// Output is a pure function of Options: the same seed gives the same bytes.
// All randomness comes from math/rand/v2 PCG sources seeded from
// Options.Seed, nothing is ordered by map iteration, and frames are merged
// across sessions by (time, session, frame) keys. Memory stays flat
// whatever the target size: only the active sessions (Options.Concurrency)
// hold state, and each holds at most one flight of segments.
//
// The package writes captures; it does not read or analyse them.
package synth
