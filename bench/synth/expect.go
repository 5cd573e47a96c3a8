package synth

import "time"

// Fault is what is wrong with a session, as the generator injected it.
type Fault string

// The faults. A session carries at most one; it hits one of its messages.
const (
	FaultNone Fault = "none"
	// FaultLossFast: one body segment is lost before the capture point;
	// three duplicate ACKs make the client retransmit it. Delivered.
	FaultLossFast Fault = "packet-loss-fast-retransmit"
	// FaultLossRTO: one body segment is lost with only two segments after
	// it, too few duplicate ACKs; the client retransmits on its
	// retransmission timeout. Delivered.
	FaultLossRTO Fault = "packet-loss-rto"
	// FaultLossAbort: the path dies in the middle of a body flight: a
	// segment, those after it and all their retransmissions are lost past
	// the capture point (the server had acknowledged full-size segments
	// before); after the last retransmission times out the client resets
	// the connection. Aborted.
	FaultLossAbort Fault = "packet-loss-abort"
	// FaultReorder: two adjacent body segments arrive swapped. Delivered.
	FaultReorder Fault = "reordering"
	// FaultZeroWindow: the server stops reading mid-body, its window
	// closes, the client probes, the window reopens. Delivered.
	FaultZeroWindow Fault = "zero-window"
	// FaultZeroWindowStall: as FaultZeroWindow, but the window never
	// reopens and the client resets the connection. Aborted.
	FaultZeroWindowStall Fault = "zero-window-stall"
	// FaultResetByServer: the server resets the connection mid-body.
	FaultResetByServer Fault = "reset-by-server"
	// FaultEODNoReply: the server ACKs the end-of-data but never replies;
	// the client gives up and closes (FIN) or resets.
	FaultEODNoReply Fault = "eod-no-reply"
	// FaultPMTUBlackhole: a router past the capture point drops every
	// packet larger than its MTU and its ICMP "fragmentation needed" never
	// reaches the client (RFC 2923 §2.1). The session's earlier messages
	// fit in packets below that MTU and get through; the fault message's
	// full-size body segments are retransmitted in the client stack's
	// Shape, never acknowledged, until the server times out and closes
	// (FIN, which the client's kernel ACKs; the client's own FIN waits
	// behind the unsent body). Aborted, pmtu-blackhole; or, when a client
	// retransmitting the first segment only gives up first with a RST,
	// aborted, packet-loss: without a packet from the server after the
	// loss the capture cannot tell the black hole from a dead path.
	FaultPMTUBlackhole Fault = "pmtu-blackhole"
	// FaultSpurious: the server's ACKs of a body flight are lost past the
	// capture point on their way to the client, whose retransmission timer
	// (or tail-loss probe, by its Shape) fires: it resends a segment the
	// capture saw acknowledged (Wireshark's spurious_retransmission), the
	// server answers with a duplicate ACK and the body goes on. Delivered;
	// TCP is not degraded (the data was not lost).
	FaultSpurious Fault = "spurious-retransmission"
	// FaultDuplicateFrames: a few frames of a body flight are captured
	// twice (a mirror port's glitch): copies, not sent twice. Wireshark
	// flags a data copy as a retransmission; the mail is delivered and
	// TCP is not degraded.
	FaultDuplicateFrames Fault = "duplicated-frames"
	// FaultDeferred and FaultRejected: every recipient, or the message
	// after end-of-data, is refused with a 4xx or 5xx reply.
	FaultDeferred Fault = "deferred"
	FaultRejected Fault = "rejected"
)

// faultWeights lists the faults drawn for a problem session, with their
// relative weights.
var faultWeights = []struct {
	fault  Fault
	weight int
}{
	{FaultLossFast, 2}, {FaultLossRTO, 2}, {FaultLossAbort, 1}, {FaultReorder, 2},
	{FaultZeroWindow, 2}, {FaultZeroWindowStall, 1}, {FaultResetByServer, 2},
	{FaultEODNoReply, 2}, {FaultDeferred, 2}, {FaultRejected, 2},
	{FaultPMTUBlackhole, 2}, {FaultSpurious, 2}, {FaultDuplicateFrames, 1},
}

// Shape is how the client's TCP stack retransmits the segments the
// network lost, by its retransmission timeout (RTO) and tail-loss probe
// (issue 13: the same fault looks different from different stacks).
type Shape string

// The shapes. A session with FaultLossRTO, FaultLossAbort,
// FaultPMTUBlackhole or FaultSpurious has one; the others have none.
const (
	ShapeNone Shape = ""
	// ShapeFlightThenFirst: at the RTO the whole unacknowledged flight is
	// resent once, each segment, then only the first with exponential
	// backoff (Linux without SACK information).
	ShapeFlightThenFirst Shape = "flight-then-first"
	// ShapeFirstOnly: only the first unacknowledged segment, at the RTO
	// and then with exponential backoff (Windows-like).
	ShapeFirstOnly Shape = "first-only"
	// ShapeTailLossProbe: a tail-loss probe, the flight's last segment
	// resent at PTO = 2·SRTT (at least 10 ms), before the RTO; then the
	// first with backoff (RACK-TLP, RFC 8985 §7).
	ShapeTailLossProbe Shape = "tail-loss-probe"
)

// shapes are drawn with equal weights.
var shapes = []Shape{ShapeFlightThenFirst, ShapeFirstOnly, ShapeTailLossProbe}

// shaped tells whether a fault's retransmissions depend on the stack.
func (f Fault) shaped() bool {
	switch f {
	case FaultLossRTO, FaultLossAbort, FaultPMTUBlackhole, FaultSpurious:
		return true
	}
	return false
}

// bodyFault tells whether f happens inside a message body, so the message
// must be large enough to have several flights.
func (f Fault) bodyFault() bool {
	switch f {
	case FaultLossFast, FaultLossRTO, FaultLossAbort, FaultReorder, FaultZeroWindow,
		FaultZeroWindowStall, FaultResetByServer, FaultPMTUBlackhole, FaultSpurious, FaultDuplicateFrames:
		return true
	}
	return false
}

// breaks tells whether f ends the connection under its message, which
// is then never answered.
func (f Fault) breaks() bool {
	switch f {
	case FaultLossAbort, FaultZeroWindowStall, FaultResetByServer, FaultPMTUBlackhole:
		return true
	}
	return false
}

// tcpHealthy tells whether a session with fault f has healthy TCP: no
// fault at all, a refusal, or retransmissions that show no loss.
func (f Fault) tcpHealthy() bool {
	switch f {
	case FaultNone, FaultDeferred, FaultRejected, FaultSpurious, FaultDuplicateFrames:
		return true
	}
	return false
}

// tlsKeeps tells whether a TLS session keeps fault f: TCP faults the
// connection recovers from leave the records whole, the relay's silence
// after the end-of-data is what inference tells, and a connection broken
// in the middle of a body is aborted at L4 in TLS as in clear; refusals,
// which look like any answer encrypted, become that silence.
func (f Fault) tlsKeeps() bool {
	switch f {
	case FaultNone, FaultEODNoReply, FaultLossFast, FaultLossRTO, FaultReorder, FaultZeroWindow,
		FaultSpurious, FaultDuplicateFrames,
		FaultLossAbort, FaultPMTUBlackhole, FaultResetByServer, FaultZeroWindowStall:
		return true
	}
	return false
}

// Expectation is what a correct analysis reports for one session; the
// Generator writes one per session as a JSON line.
type Expectation struct {
	// Stream is the session's tcp.stream index as Wireshark numbers it
	// (order of first packet in the file, from 0).
	Stream int `json:"stream"`
	// Client and Server are ip:port.
	Client string `json:"client"`
	Server string `json:"server"`
	// Fault is what was injected ("none" for a healthy session).
	Fault Fault `json:"fault"`
	// Shape is how the client's stack retransmitted, for the faults whose
	// retransmissions depend on it (omitted for the others).
	Shape Shape `json:"shape,omitempty"`
	// PathMTU is the MTU of the black-hole path (FaultPMTUBlackhole only):
	// the client's packets larger than it never reach the server.
	PathMTU int `json:"path_mtu,omitempty"`
	// TLS is the version the session upgraded to with STARTTLS ("TLS
	// 1.2", "TLS 1.3"; omitted in clear): its messages are Inferred.
	TLS string `json:"tls,omitempty"`
	// BDAT is set for a session that sent its messages with BDAT chunks
	// (RFC 3030) instead of DATA: a message's Size is then the sum of
	// its chunks, and "eod" in a cause is BDAT LAST.
	BDAT bool `json:"bdat,omitempty"`
	// CaptureLoss is the frame the capture lacks (Options.CaptureLoss),
	// omitted when it holds every frame; the message it hit says Lost.
	CaptureLoss Loss `json:"capture_loss,omitempty"`
	// Unseen counts, per side, the payload bytes the peer acknowledged
	// that the capture lacks (capture loss, not network loss: zero for
	// every other fault, whose frames the capture holds).
	Unseen Unseen `json:"unseen,omitzero"`
	// SACK is set when the session negotiated SACK (both SYNs offer it);
	// SACKs counts the server's ACKs that carry SACK blocks, and DSACKs
	// those of them whose first block is a D-SACK (RFC 2883): the
	// retransmissions it names were needless.
	SACK   bool `json:"sack,omitempty"`
	SACKs  int  `json:"sacks,omitempty"`
	DSACKs int  `json:"dsacks,omitempty"`
	// L4 is the TCP analysis a Wireshark-rules analyser finds in a capture
	// that holds each frame once.
	L4 L4Expectation `json:"l4"`
	// L4Verdict is the TCP verdict a correct analysis gives the connection
	// when the fault leaves no doubt: "healthy" for a session without a
	// TCP fault, and for one whose only retransmissions are spurious or
	// copies of frames captured twice (needless, not loss: issue 13);
	// "degraded" for loss repaired by a fast or timed-out retransmission
	// (the capture holds a retransmission of data the receiver lacked,
	// which no D-SACK block names: a tail-loss probe D-SACKed beside it
	// does not make the repair needless). Omitted otherwise.
	L4Verdict string `json:"l4_verdict,omitempty"`
	// Copies is how many times the capture holds each frame (Options.
	// Duplicate: 2; omitted: 1). Wireshark flags the copies (as
	// retransmissions, duplicate ACKs...), so L4's counts hold only for
	// one copy; the messages' outcomes, codes and causes hold for any.
	Copies int `json:"copies,omitempty"`
	// Messages are the mail transactions in order.
	Messages []MessageExpectation `json:"messages"`
}

// Unseen is what each side sent that the capture lacks, in bytes.
type Unseen struct {
	Client int64 `json:"client"`
	Server int64 `json:"server"`
}

// L4Expectation counts the frames that carry a tcp.analysis flag because
// of the injected fault; a healthy session has all zero.
type L4Expectation struct {
	// Retransmissions is the number of frames marked
	// tcp.analysis.retransmission (fast and spurious retransmissions, and
	// copies of a data frame captured twice, included).
	Retransmissions int `json:"retransmissions"`
	// OutOfOrder is the number of frames marked tcp.analysis.out_of_order.
	OutOfOrder int `json:"out_of_order"`
	// ZeroWindows is the number of frames marked tcp.analysis.zero_window
	// (window 0 outside SYN, FIN and RST).
	ZeroWindows int `json:"zero_windows"`
	// Resets is the number of frames with RST set.
	Resets int `json:"resets"`
}

// MessageExpectation is one mail transaction.
type MessageExpectation struct {
	MessageID string `json:"message_id"`
	// Size is the message's bytes on the wire after the 354 reply up to,
	// not including, the end-of-data line ".\r\n" (dot-stuffing
	// included); 0 when the body was never sent.
	Size int64 `json:"size"`
	// Recipients is the number of RCPT TO commands.
	Recipients int `json:"recipients"`
	// Outcome is delivered, deferred, rejected, no-reply or aborted.
	Outcome string `json:"outcome"`
	// Code is the reply that decided the outcome: the reply to
	// end-of-data, or the refusal of the recipients; 0 for none.
	Code int `json:"code"`
	// Cause is the diagnosis a correct analysis gives the message: ok,
	// deferred, rejected, eod-no-reply, packet-loss, pmtu-blackhole,
	// zero-window-stall or reset-by-server. A fault TCP recovered from leaves the message "ok";
	// Fault and L4 tell it.
	Cause string `json:"cause"`
	// Inferred is set for a message sent inside TLS: an analyser without
	// keys infers it from the records (outcome unknown when the server
	// answered, no-reply when it stayed silent; no code, no Message-ID),
	// and its size range must hold Size plus the end-of-data line.
	Inferred bool `json:"inferred,omitempty"`
	// Chunks is how many BDAT commands the message was sent with (BDAT
	// sessions; 0 otherwise or when its envelope was refused), and Last
	// whether the last of them was BDAT ... LAST: a message refused after
	// an earlier chunk sent no more.
	Chunks int  `json:"chunks,omitempty"`
	Last   bool `json:"last,omitempty"`
	// Lost is the frame of this message the capture lacks (LossNone: it
	// has them all). What the capture then proves is in Outcome: the
	// outcome on the wire when the capture still proves it (UnknownOK: an
	// analyser may also say unknown, cause capture-incomplete, and compare
	// nothing else), or "unknown" with cause capture-incomplete and code 0
	// when it does not; WireOutcome is then what happened on the wire. A
	// message after the one a loss hit has UnknownOK without Lost: its
	// outcome is proven, but only by reasoning on the peers' ACKs. An
	// analyser that claims a failure the capture does not prove is wrong.
	Lost        Loss   `json:"lost,omitempty"`
	UnknownOK   bool   `json:"unknown_ok,omitempty"`
	WireOutcome string `json:"wire_outcome,omitempty"`
}

// Stats summarises a generated capture.
type Stats struct {
	Sessions int
	Messages int
	Frames   int64
	// Bytes is the size of the frames (without file headers).
	Bytes int64
	// Duration is the capture time from the first frame to the last.
	Duration time.Duration
	// BDAT and CaptureLoss count the sessions sent with BDAT and those
	// whose capture lacks a frame.
	BDAT, CaptureLoss int
	// Faults counts sessions per fault, in faultWeights order after none.
	Faults []FaultCount
}

// FaultCount is how many sessions carry a fault.
type FaultCount struct {
	Fault    Fault
	Sessions int
}
