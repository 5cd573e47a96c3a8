// Package smtp decodes one TCP connection's SMTP (RFC 5321) conversation
// from its two reassembled byte streams into a Session: the banner, every
// command with its reply and latency, every mail transaction with its
// outcome, TLS, and the anomalies met on the way. Its Decoder implements
// reassembly.Handler; it knows nothing of packets, only of bytes with the
// frame number and capture time of each (reassembly.Mark), so it is tested
// from plain byte sequences.
//
// What it reads:
//   - replies, single and multi-line (RFC 5321 §4.2), with RFC 3463
//     enhanced status codes, and EHLO keywords;
//   - commands, matched with their replies through a bounded FIFO, which
//     is what PIPELINING (RFC 2920) requires;
//   - DATA bodies up to <CRLF>.<CRLF> (RFC 5321 §4.1.1.4) across any split
//     into segments, and BDAT chunks (RFC 3030) counted by length;
//   - AUTH exchanges (RFC 4954), whose responses it answers in the FIFO
//     but never keeps;
//   - STARTTLS (RFC 3207) and implicit TLS, after which it reads only the
//     ClientHello's version and server name;
//   - LMTP (RFC 2033), whose end-of-data gets one reply per recipient.
//
// The outcome of a transaction follows its final reply: 2xx delivered, 4xx
// deferred, 5xx rejected (RFC 5321 §4.2.5). Without a final reply it is
// no-reply when the end-of-data was sent, aborted when the body was cut
// short, and unknown when a capture gap may hide the end-of-data or the
// reply. It never invents a reply: a reply line cut short by the end of
// the connection is kept as Transaction.PartialReply, and the outcome
// stays no-reply.
//
// What it does not do: it keeps no message body (only the size and the
// Message-ID header) and no credential; it does not decrypt TLS; it does
// not judge the outcome against TCP health, which is the report's work.
// It does not look at ports, so it cannot tell SMTPS from other implicit
// TLS (see Session.IsSMTP).
//
// Every resource the peers can make it spend is bounded (Options); hitting
// a bound raises a named Anomaly (the Anomaly* constants, anomaly.go) and
// decoding goes on. Garbage never makes
// it panic.
//
// # State machines
//
// The Decoder keeps one explicit state per concern, each an iota type with
// one transition function that owns every change of it:
//   - clientState (client.go): how the client's next bytes are read:
//     command lines, AUTH responses, a DATA body, a BDAT chunk, an XEXCH50
//     blob, TLS, lines skipped to resynchronise after a gap, or the rest
//     of a command line already answered. clientUpdate moves it by the
//     table nextClientState on a clientEvent: a command, a reply to a
//     command, a body's end, a gap... As in Zeek's
//     SMTP_Analyzer::UpdateState(cmd, reply), the reply side does not set
//     the client's state: it reports the reply (evReply);
//   - serverState (server.go): the start or the continuation of a reply,
//     resynchronisation, the rest of a reply a gap cut, or TLS, moved by
//     serverUpdate (nextServerState);
//   - dotState (data.go): the end-of-data detector, after net/textproto's
//     dotReader, resumable at any byte;
//   - detectState: undecided, SMTP, not SMTP, or TLS from the first byte;
//   - txnPhase (transaction.go): each transaction's envelope, body, wait
//     for the final reply, replied, or abandoned, moved by txnUpdate
//     (nextTxnPhase).
//
// Replies are matched to requests through a FIFO of pending entries (the
// greeting, commands, AUTH responses, end-of-data), which is what
// PIPELINING (RFC 2920 §3) requires and what an unpipelined session needs
// anyway.
//
// Where the FIFO's position is in doubt (after a gap in the server's
// bytes, a reply stamped before its command, a code the oldest request
// cannot draw), the decoder reads TCP's acknowledgments, which reassembly
// hands with the bytes (reassembly.Acker; ack.go), not the time stamps,
// which two capture points with clocks apart get wrong (#13): a reply
// answers only a request the server had received in full when it sent
// it; a request's reply came before the reply being matched when the
// client sent its next request after bytes past the replies accounted for
// (it waited), or when a gap that began between replies held bytes. A
// reply that still may answer one of several requests is tied to the
// oldest but never read as a final reply while a later request may own
// it, and the next reply is matched the same way; a reply left with no
// candidate is unmatched, and the transactions concerned are Incomplete
// (#14). Without acknowledgments (decrypted TLS, hand-fed bytes) the time
// stamps decide, as they did before.
//
// # Decisions
//
// Where a transaction waits for its final reply, its end (Ended, EndFrame)
// is the first of: the client's QUIT (where the client gave up, unless it
// came in the frame of the end-of-data, which is pipelining), a FIN or RST
// from either side, or the end of the capture. A reply that comes after the
// client gave up is still the final reply, and LateReply is set.
//
// A gap (reassembly.Handler.Gap) marks the transactions it touches
// Incomplete. A server gap while the end-of-data waited makes a missing
// reply unknown rather than no-reply. A client gap that may hold a
// transaction's end (in its body, or anywhere in it but inside a BDAT
// chunk of known length) makes a missing final reply unknown rather than
// aborted. A server reply with nothing else pending, after a client gap
// in a body, answers the end-of-data lost in the gap only if the server's
// bytes before it are whole: with a gap on both sides it may answer a
// command the client's gap hid, so it is kept unmatched and the outcome
// stays unknown. A capture without any byte from the server is one-sided:
// its outcomes are unknown.
//
// A line a gap cuts (a snaplen that keeps the first bytes of each
// segment, a segment lost mid-line) is not simply skipped: the request
// FIFO must keep every command the server will answer. A cut command line
// whose visible start parses as MAIL FROM:, RCPT TO: or another line-only
// verb is recorded Truncated, with the visible part of its address
// (MailFromTruncated, Recipient.Truncated); a cut reply line whose code is
// visible is delivered Truncated, and the lines after the gap that
// continue a cut multi-line reply are skipped. Reassembly reports a gap
// only with the next segment of its direction, so a reply may come before
// the gap that shows the command line was cut: a reply with nothing
// pending takes the client's unfinished command line as the command it
// answers.
//
// A connection whose client speaks TLS first is reported with IsSMTP false
// and TLS.How "implicit": the Decoder does not see ports, and the caller
// decides whether port 465 makes it SMTPS. A caller that knows the port is
// one of implicit TLS says so (Options.ImplicitTLS): the records are then
// read from the first byte even when the capture missed the ClientHello,
// unless the server greets in plaintext SMTP.
package smtp
