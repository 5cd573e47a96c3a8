// Package pipeline owns a run of smtpscope: it reads frames from a
// capture source, hands them to reassembly (which numbers connections as
// Wireshark's tcp.stream and analyses TCP), gives each connection an smtp
// decoder, and adds every connection to a report.Builder as reassembly
// retires it. analyze and live are the same pipeline:
//
//   - Files and Run analyse capture files: one Run per source (a file,
//     or several merged into one timeline), sharded over Options.Workers
//     goroutines by connection when asked. The pipeline assigns stream
//     numbers (reassembly.StreamNumbers puts the shards' numbering back
//     into one), so the report is the same for any number of workers.
//   - Live analyses an interface: the same stages, with capture time
//     advanced on read timeouts, the report's incident rules
//     (report.IncidentRules) run on the open connections as their bytes
//     arrive and on a periodic sweep, and a progress callback. Incidents
//     and the final report come from the same rules in package report, so
//     they cannot disagree. The interface is read by a goroutine of its
//     own that never waits on the analysis (a bounded ring between them);
//     packets lost by the kernel, the interface or the ring are counted,
//     and every connection open while they were is capture-incomplete.
//     Followed TLS key logs (LiveOptions.PollTLSKeys) are read by another
//     goroutine of the run's, which hands what they gained to the analysis
//     (at most two reads wait), so a slow file system never holds it up;
//     Live stops both goroutines and waits for them before it returns.
//     LiveReport adds the Builder, the written packets and the finished
//     report around it.
//   - WriteEvidence cuts failing connections out of their inputs again,
//     picking their frames with reassembly's own decoder.
//
// The pipeline decides nothing about SMTP or TCP and writes no words:
// verdicts and sentences are report's, facts are reassembly's and smtp's,
// output files and sinks are package wiring's, flags cmd/smtpscope's.
//
// # Room for what comes next
//
//   - A TLS layer between reassembly and smtp (it knows TLS records and
//     handshakes, nothing of SMTP; smtp owns the STARTTLS boundary) plugs
//     in where the pipeline makes each connection's handler (smtpHandler,
//     and liveRun.newConn): the pipeline passes its options to the decoder
//     and nothing else changes. Options.TLSKeys (and the keys of pcapng
//     Decryption Secrets Blocks, secrets.go) reach smtp that way.
//   - MTA log sources (Exchange, Postfix, Exim) sit beside capture
//     sources: a run reads them alongside its frames and hands their
//     records to report, which joins them to connections; Source is the
//     place for them.
//   - A metrics and events sink sits beside the report: it gets what the
//     Builder gets (each retired connection, as report.Connection), each
//     incident (LiveOptions.Incident) and each connection whose diagnosis
//     the finished report changed (Options.Revision), and never decides
//     anything itself.
package pipeline
