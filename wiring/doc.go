// Package wiring wires the pipeline to its sinks for the analyze and live
// commands of cmd/smtpscope: the report writer (text, JSON, Markdown,
// HTML, to a file or standard output), the --events writer and console,
// the metrics, the evidence files, the MTA log join, the TLS key logs and
// the hub comparison; and the process settings those runs need (the soft
// memory limit, a CPU profile, the live capture's read timeout and
// default BPF filter).
//
// It is the layer between the command, which owns the flags, their
// checks and the exit statuses, and the packages that do the work
// (pipeline, report, events, metrics, mtalog, tlskeys). It parses no
// flag, decides no verdict and writes no report words of its own; the
// lines it writes on standard error are the command's messages about its
// inputs and outputs (a log that cannot be read, an evidence file not
// written), each on one line.
//
// It exists because package events imports pipeline (for the live
// progress), so pipeline cannot write events itself.
package wiring
