// Package events writes what smtpscope finds as event streams, beside the
// report: Writer for a log pipeline (--events), Console for the person or
// script watching smtpscope live (standard error). It formats what package
// report decided (report.Incident, report.Connection) and decides nothing.
//
// # Schema smtpscope.events/v1 (--events)
//
// One JSON object per line (JSON Lines), appended to the file: one per
// incident (live), one per finished connection (live and analyze), and
// one per correction (live and analyze). A connection's line is written
// as it ends; a few facts are known only once every session was read (a
// session whose EHLO reply lacked STARTTLS while its server offered it on
// other sessions is starttls-stripped, report.Revision): when the report
// is finished, a correction line gives such a connection's diagnosis now
// and names the line it corrects (smtpscope.corrects), so that a consumer
// that keys connections by stream, input and first frame (or Community ID
// and @timestamp) takes the later cause.
// Names follow the Elastic Common Schema (ECS 8.11) where it has them, so
// that Elastic, OpenSearch, Loki or Kafka consumers that know ECS need no
// mapping; the rest is under "smtpscope". Fields are only ever added;
// a change of meaning or a removal gets a new schema name.
//
//	@timestamp               incident: when it was seen; connection and correction:
//	                         the connection's first packet
//	ecs.version              "8.11.0"
//	event.kind               "alert" (incident) or "event" (connection, correction)
//	event.category           ["network", "email"]
//	event.type               ["connection"]
//	event.action             "incident", "connection" or "correction"
//	event.dataset            "smtpscope.incident", "smtpscope.connection" or "smtpscope.correction"
//	event.outcome            "failure", "success" or "unknown" (capture-incomplete incidents)
//	event.reason             the cause (report.Cause, or "eod-timeout"; a correction's: the cause now)
//	source.ip, source.port            the client (omitted with --redact)
//	destination.ip, destination.port  the server (omitted with --redact)
//	source.address, destination.address  the --redact tokens instead
//	network.transport        "tcp"
//	network.protocol         "smtp" when the connection spoke SMTP
//	network.community_id     Community ID v1, seed 0, as Zeek, Suricata and
//	                         Arkime write it (omitted with --redact)
//	email.from.address       [MAIL FROM], email.to.address [RCPT TO...],
//	email.message_id         for a connection with exactly one transaction
//	smtpscope.schema         "smtpscope.events/v1"
//	smtpscope.stream         Wireshark's tcp.stream of the connection
//	smtpscope.input          the index of the input file (analyze)
//	smtpscope.frame          incident: the frame to look at
//	smtpscope.message        incident: the 1-based transaction (0: the connection)
//	smtpscope.layer, smtpscope.cause, smtpscope.summary   the diagnosis
//	smtpscope.first_frame, last_frame, duration_ms, packets, process   connection
//	                         (a correction: first_frame)
//	smtpscope.corrects       correction: {action "connection", cause}: the line
//	                         of the same stream, input and first_frame it
//	                         corrects, and the cause that line gave
//	smtpscope.l4             {verdict, retransmissions, resets, zero_windows}
//	smtpscope.smtp           whether the connection spoke SMTP
//	smtpscope.decryption     with a TLS key log: the session's decryption as the
//	                         report's tls.decryption {state, reason,
//	                         client_records_decrypted, server_records_decrypted,
//	                         client_records_failed, server_records_failed,
//	                         held_for_key, key_wait_ms (its key came late: live)};
//	                         an incident's as it stood when it was told
//	smtpscope.banner         the greeting reply {code, enhanced, text, frame, time}
//	smtpscope.transactions   [{mail_from, rcpt_to, message_id, size, outcome,
//	                           cause, reply {code, enhanced, text, frame, time,
//	                           latency_ms}, latency_ms, waited_ms,
//	                           refused_attempt (a refused MAIL: no transaction)}]
//
// Addresses and texts are those of the report: --redact replaces them with
// tokens there, and so here. Message bodies and AUTH secrets never appear.
//
// smtpscope.events.v1.schema.json, beside this file, is the same layout as
// a JSON Schema (Draft 2020-12) for a pipeline that validates what it
// ships; cmd/smtpscope's TestEventsSchema holds real output to it.
package events
