// Package report turns what the earlier stages learned — each connection's
// L4 health from reassembly and its SMTP session from smtp — into
// verdicts and causes, and renders them for people (text) and programs
// (JSON, schema "smtpscope.report/v1").
//
// Deciding and rendering are kept apart: a Builder applies explicit rules
// to each connection as the earlier stages finish it and fills a Report
// (Build does it for connections already at hand); the writers only
// format a Report. The rules look at one connection at a time, and what
// the report says over all of them (totals, headline, patterns) is kept
// as running aggregates, so a capture of any length is reported in
// bounded memory: beyond Options.MemoryConnections, finished connections
// wait in a temporary file until the writers stream them out. Nothing in
// this package reads packets or parses SMTP.
//
// # JSON schema smtpscope.report/v1
//
// smtpscope.report.v1.schema.json, beside this file, is the same layout
// as a JSON Schema (Draft 2020-12), generated from the types below by
// report/internal/schemagen: go test ./report -run TestSchemaFile -update
// rewrites it; cmd/smtpscope's TestReportSchema validates real reports
// against it.
//
//	{"schema": "smtpscope.report/v1",
//	 "inputs": [{"name", "format", "packets", "truncated", "warnings",
//	             "reassembly": {"tcp_frames", "other_frames", "unsupported_link", "expired",
//	                            "acked_holes", "recovered", "evicted",
//	                            "evictions": [{"server", "half_open", "idle"}]},
//	             "dropped": {"kernel", "interface", "ring", "connections"}, // dropped: live only
//	             "totals"}],                          // totals: with several inputs not merged
//	 "verdict": {"layer", "cause", "summary"},        // the headline
//	 "patterns": [{"kind": "size"|"server"|"time"|"input"|"input-size", "summary",
//	               "threshold", "server", "since", "input"}],   // input*: across inputs not merged
//	 "summary": {"failed_connections",                // what the report says first
//	   "causes": [{"cause", "words", "layer", "failed", "connections", "share",
//	               "servers": [{"server", "connections"}],
//	               "first", "last", "example"}],      // each {"input", "stream", "frame", "time"}
//	   "servers": [{"server", "connections", "delivered", "failed_transactions",
//	                "failed_connections", "share", "causes": [{"cause", "connections"}],
//	                "retransmissions", "segments", "first_failure", "last_failure", "example",
//	                "eod_reply": {"samples", "median_ms", "p95_ms", "max_ms"} | absent}]},
//	 "connections": [{
//	   "stream", "client", "server", "first_frame", "last_frame", "start", "duration_ms", "packets",
//	   "resumed",                                      // set: packets on the 4-tuple of an ended stream
//	   "evicted",                                      // set: no longer followed (connection cap)
//	   "l4": {"retransmissions", "resets", "zero_windows", "verdict", "reasons",
//	          "conflicts": [{"by", "original_frame", "retransmission_frame", "offset", "bytes"}],
//	          "conflict_count"},                    // retransmissions with other bytes
//	   "smtp": {"banner": {"code", "enhanced", "text", "frame"} | null,
//	            "tls": {"how": "starttls"|"implicit", "frame", "version", "server_name",
//	                    "handshake": {"offered", "negotiated", "cipher_suite", "alpn", "hello_retry",
//	                                  "client_hello_frame", "server_hello_frame",
//	                                  "ending", "ended_by", "end_frame", "handshake_ms",
//	                                  "alerts": [{"by", "frame", "level", "description", "decrypted"}],
//	                                  "certificate": {"subject", "issuer", "dns_names", "not_before",
//	                                                  "not_after", "self_signed", "expired", "names_sni"},
//	                                  "client_records", "server_records",
//	                                  "conditions": [{"name", "by", "frame"}]},
//	                    "decryption": {"state", "reason", "client_records_decrypted", "server_records_decrypted",
//	                                   "client_records_failed", "server_records_failed",
//	                                   "held_for_key", "key_wait_ms"}} | null,
//	            "commands": [{"verb", "frame", "reply": {"code", "enhanced", "frame", "latency_ms"} | null}],
//	            "transactions": [{"mail_from", "rcpt_to", "method", "size", "mail_frame",
//	                              "eod_frame", "reply": {"code", "enhanced", "text", "frame", "latency_ms"} | null,
//	                              "outcome", "ended", "end_frame", "waited_ms", "incomplete",
//	                              "inferred", "size_min", "size_max", "answer_frame", "answer_ms"}],
//	            "verdict"} | null,                        // null: not SMTP
//	                                              // a reply's "code" is 0 when the line had none, only
//	                                              // an enhanced code ("4.7.0 ..."; anomaly malformed-reply)
//	   "diagnosis": {"layer", "cause", "summary", "evidence": [{"frame", "what"}], "filter"},
//	   "log": [{"source", "line", "time", "wire_time", "text", "message"}],   // with --log: matched MTA log lines
//	   "log_match": {"method", "skew_ms",                          // with --log, when a session matched
//	                 "sessions": [{"source", "id", "format", "role", "method", "skew_ms"}],
//	                 "explanations": ["…"]}}],
//	 "logs": [{"name", "format", "compression", "lines", "sessions", "matched",   // with --log
//	           "skew_ms", "skew_from", "skew_max_ms", "resolution_ms", "clock", "error", "warnings",
//	           "unmatched": [{"id", "line", "time", "remote", "why"}]}],
//	 "log_unmatched_connections": [{"input", "stream", "client", "server", "why"}]}
//
// Logs (Report.JoinLogs): log_match.method lists the keys that agreed,
// joined by "+": endpoints (both ends with ports, as Exchange logs them),
// peer (the peer's address and port), peer-address, queue-id (the "queued
// as X" of a 250 reply on the wire), message-id, and always time. skew_ms
// is how far the log's times are moved onto the capture's clock, per log:
// the lower envelope of its matched sessions' offsets (the smallest, over
// a session's lines from its connect line on, of a line's time minus its
// connection's first packet or, for a delivery verdict quoting the peer's
// reply, minus the first such reply on the wire), so that no line comes before its connection; wire_time is a
// line's time corrected by it. It is a clock skew only where clock says
// so: a logger can be late but hardly early, so skew_max_ms (skew_ms plus
// twice resolution_ms, the time stamps' resolution: a stamp is cut to its
// unit and may read a clock a unit stale) bounds the log's clock from
// above, and clock is "behind" when that bound is below zero (proven),
// "no-skew-shown" when the earliest lines fall on their connections within
// the resolution, "late-or-ahead" when every session's lines come later:
// an MTA that logs late and one whose clock is ahead write the same log. message is
// the line without its time stamp and host (an Exchange record: event,
// data and context), as the HTML ladder shows it.
// explanations set each error the log states (a refusal it quotes, a
// timeout or lost connection in the MTA's own words) beside what the
// capture shows, and say so when the two disagree.
//
// The summary is computed by the Builder from every connection's
// diagnosis (Summary in summary.go documents each field): causes has one
// entry per cause of a failed connection (failed: true, share of the
// failed connections) and per cause of a note (failed: false, share of the
// noted ones), most frequent first; first and last are the earliest and
// latest such connection at its first evidence frame, example the first
// in report order. servers has one entry per server, most failed
// connections first; share is failed_connections over connections;
// eod_reply summarises the server's end-of-data reply latencies (exact up
// to 4,096 per server, within 1% beyond). When several causes failed
// connections, verdict.summary names them all; verdict.cause and layer
// are the most severe one's.
//
// outcome is one of delivered, rejected, deferred, no-reply, aborted,
// withdrawn (the client left before DATA with every command accepted: a
// sender-verification callout; counted in totals.withdrawn, apart from
// totals.transactions), unknown. diagnosis.layer is none, L4, L7, TLS or capture;
// diagnosis.cause is one of the Cause constants (the vocabulary is only
// ever extended; tls-opaque is no longer given).
//
// tls.version and tls.server_name are the highest version the ClientHello
// offered and its SNI; tls.handshake (absent when no TLS byte was
// captured) is what the records showed without keys: version and suite
// the ServerHello chose, how the handshake ended (complete, alert,
// probable-alert, fin, rst, gap, capture-end, not-tls, open; not-captured
// when the capture of an implicit-TLS connection began after it), the alerts
// in clear (with a key log also the encrypted ones it opened, with
// decrypted true: a TLS 1.3 certificate alert makes tls-cert-rejected
// definite instead of "probably"), and the server's leaf certificate where it was in clear (TLS
// ≤ 1.2). A transaction with inferred set was inferred from the records of
// an established TLS session, not decoded: mail_from and rcpt_to are
// empty, data_frame and eod_frame are the first and last record of the
// message body flight, size_min and size_max bound the bytes it carried
// (the message with its end-of-data line, exact for AEAD suites without
// record padding), and outcome is no-reply (no server record after it
// until the client's next flight, a close or the capture's end) or
// unknown (answered after answer_ms: a 250 and a 5xx look alike
// encrypted).
//
// tls.decryption is present when a key log was given (analyze
// --tls-keylog, or the capture's Decryption Secrets Blocks): {"state",
// "reason", "client_records_decrypted", "server_records_decrypted",
// "client_records_failed", "server_records_failed", "held_for_key",
// "key_wait_ms"}; state is decrypted
// (the session's commands, replies and transactions are decoded as in
// clear text), partly-decrypted, failed (records tried, none opened: a
// wrong key) or inferred (no key for the client random, an unknown suite,
// no ServerHello); reason says why records were not decrypted. A session
// not decrypted keeps its inferred transactions. held_for_key and
// key_wait_ms (live --tls-keylog only) say that the session's key reached
// the followed key log after its first records: how many records were
// held for it, and the capture time they waited, before they were read
// with it. No key material appears.
//
// # JSON schema smtpscope.fleet/v1 (analyze --hub)
//
// CompareHubs compares hubs that should behave alike: {"schema",
// "hubs": [{"name", "inputs", "delivered", "failed", "unknown", "causes",
// "servers": [{"server", "delivered", "failed"}], "min_failed_size",
// "max_delivered_size"}], "patterns": [{"kind" ("hub" or "hub-size"),
// "summary", "failing", "healthy", "threshold", "failing_delivered_max",
// "healthy_largest", "failed_messages", "healthy_delivered"}], "reports": [one
// smtpscope.report/v1 per hub, null for a hub read from event files]}.
// Messages are counted by the same rule as Totals (refused MAIL attempts
// are not messages; unknown outcomes are neither delivered nor failed).
package report
