package synth

import "time"

// Options configures a Generator. The zero value generates
// DefaultSize bytes with the defaults below.
type Options struct {
	// Seed selects the capture: the same Options give the same bytes.
	Seed uint64
	// Sessions is the number of SMTP sessions to play. Zero: as many as
	// fill Size.
	Sessions int
	// Size is the target capture size in bytes when Sessions is zero
	// (zero: DefaultSize). The capture comes out within a few percent of it.
	Size int64
	// Clients and Servers are how many client and server hosts there are
	// (zero: DefaultClients, DefaultServers).
	Clients, Servers int
	// Problems is the share of sessions that carry one fault, from 0 to 1.
	// Negative means none; zero means DefaultProblems.
	Problems float64
	// Concurrency is how many sessions are open at once (zero:
	// DefaultConcurrency). It bounds the Generator's memory.
	Concurrency int
	// Start is the capture time of the first frame (zero: DefaultStart).
	Start time.Time
	// MaxMessageSize caps the bodies of messages without a body fault, in
	// bytes (zero: no cap; at least 700), for captures with many sessions
	// in few bytes, such as the HTML report's hub-scale test. It changes
	// no random draw: the same seed gives the same sessions, smaller.
	MaxMessageSize int
	// Duplicate writes every frame twice, back to back, as a capture taken
	// on both members of a bond (or on two mirror ports) holds it. The
	// expectations stay the same: a frame captured twice is not sent twice
	// (issue 13).
	Duplicate bool
	// TLS is the share of sessions, from 0 to 1, that upgrade with
	// STARTTLS and go on in opaque TLS records (tls.go); every server then
	// offers STARTTLS. Its messages are expected inferred from the
	// records. It keeps the TCP faults (recovered, or breaking the
	// connection mid-body: aborted at L4 as in clear); a refusal, which
	// looks like any answer encrypted, becomes a relay silent after the
	// end-of-data (FaultEODNoReply). Zero: none, and the capture is the
	// same as without the option.
	TLS float64
	// BDAT is the share of sessions, from 0 to 1, that send their
	// messages with BDAT (RFC 3030 CHUNKING) instead of DATA: one to four
	// chunks, the last "BDAT n LAST" (sometimes an empty one), each
	// answered before the next is sent; every server then advertises
	// CHUNKING. Only sessions in clear use it; their refusals may come
	// after a chunk or after the LAST one, FaultEODNoReply is the silence
	// after BDAT LAST, and body faults hit the chunks' flights as they hit
	// a DATA body's. Zero: none, and the capture is the same as without
	// the option.
	BDAT float64
	// CaptureLoss is the share of sessions, from 0 to 1, whose capture
	// lacks one frame that was on the wire (the peer's ACKs show it
	// arrived): a body segment, a command, a reply or a pure ACK (Loss).
	// Only sessions in clear whose TCP is healthy on the wire get it;
	// their expectations say what the capture still proves. Zero: none,
	// and the capture is the same as without the option.
	CaptureLoss float64
	// FaultCaptureLoss is the share of sessions with a network fault
	// (every fault but deferred, rejected and eod-no-reply), from 0 to 1,
	// whose capture also lacks one frame the peer acknowledged: a frame
	// of a message the fault does not hit as under CaptureLoss, or of the
	// fault's message its envelope's reply, its RCPT sent alone or, when
	// TCP recovers, its final reply (planFaultLoss). Only sessions in
	// clear. Zero: none, and the capture is the same as without the
	// option.
	FaultCaptureLoss float64
	// CommandLoss is the share of sessions in clear with healthy TCP (and
	// no CaptureLoss loss), from 0 to 1, whose capture lacks a client
	// command sent pipelined: one command of a pipelined envelope, which
	// the client then writes one command a segment in one flight, or the
	// segment holding the line of a BDAT chunk after the first
	// (LossClientPipelined, LossClientChunkLine). A session with neither
	// loses nothing. Zero: none, and the capture is the same as without
	// the option.
	CommandLoss float64
	// PipelinedChunkRefusal is the share, from 0 to 1, of the BDAT
	// messages refused after a chunk before the LAST one in a session
	// with PIPELINING whose client had already written every chunk (RFC
	// 3030 §4.2): the later chunks, BDAT LAST included, go out behind the
	// refused one, and the server, the transaction failed, answers each
	// with the same refusal. The outcome is the refusal's. Zero: none,
	// and the capture is the same as without the option.
	PipelinedChunkRefusal float64
	// SACK is the share of sessions, from 0 to 1, whose SYN and SYN-ACK
	// both offer SACK (RFC 2018), as Linux stacks do: the server's
	// duplicate ACKs then carry SACK blocks, and its ACK of a segment it
	// already had a D-SACK block (RFC 2883), so that a spurious
	// retransmission or a tail-loss probe of delivered data is reported
	// as a duplicate. Zero: none, and the capture is the same as without
	// the option.
	SACK float64
}

// Defaults for the zero values of Options.
const (
	DefaultSize        = 64 << 20
	DefaultClients     = 2000
	DefaultServers     = 4
	DefaultProblems    = 0.05
	DefaultConcurrency = 200
)

// DefaultStart is a fixed capture start, so output never depends on the clock.
var DefaultStart = time.Date(2024, 3, 4, 9, 0, 0, 0, time.UTC)

func (o Options) withDefaults() Options {
	if o.Size <= 0 {
		o.Size = DefaultSize
	}
	if o.Clients <= 0 {
		o.Clients = DefaultClients
	}
	if o.Servers <= 0 {
		o.Servers = DefaultServers
	}
	switch {
	case o.Problems == 0:
		o.Problems = DefaultProblems
	case o.Problems < 0:
		o.Problems = 0
	case o.Problems > 1:
		o.Problems = 1
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	o.TLS, o.BDAT, o.CaptureLoss = min(max(o.TLS, 0), 1), min(max(o.BDAT, 0), 1), min(max(o.CaptureLoss, 0), 1)
	o.SACK, o.FaultCaptureLoss = min(max(o.SACK, 0), 1), min(max(o.FaultCaptureLoss, 0), 1)
	o.CommandLoss = min(max(o.CommandLoss, 0), 1)
	o.PipelinedChunkRefusal = min(max(o.PipelinedChunkRefusal, 0), 1)
	if o.Start.IsZero() {
		o.Start = DefaultStart
	}
	return o
}
