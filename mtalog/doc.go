// Package mtalog reads mail servers' own logs — Microsoft Exchange SMTP
// protocol logs, Postfix (syslog or maillog_file) and Exim main logs — and
// turns them into log sessions: what one MTA wrote about one SMTP
// connection, with the endpoints, times, queue IDs, Message-IDs and reply
// codes it logged, and for every event the line it came from (file and line
// number) so that a report can quote it.
//
// It knows log formats and nothing about packets: joining sessions to
// captured connections is the report's business. The format of a file is
// found from its content, never its name; gzip'd and zstd-compressed files
// are read as capture does ([capture.Decompress]).
//
// Exim main logs are read from its documented layout (and its own test
// suite's logs): arrivals ("<=") become server sessions, each delivery
// attempt to a host ("=>", "->", "==", "**") a client session; lines
// about the daemon or about connections without a message are skipped.
// No Exim ran here to make a sample (Debian's exim4 and postfix exclude
// each other).
//
// Times: Exchange writes UTC with milliseconds; Exim its local time
// (Options.Location) unless log_timezone adds the offset. Classic syslog lines
// ("Dec  1 22:30:00") carry neither year nor time zone: [Options.Location]
// gives the zone (default UTC) and the year is the one that puts the line
// closest before [Options.Reference] (default: the file's modification
// time), counting a month that goes back (December, then January) as a new
// year. RFC 3339 time stamps (rsyslog's high-precision format, RFC 5424)
// carry their own zone and year.
//
// A line the reader cannot use becomes a warning naming the file and line;
// reading goes on. A file of no known format, or a binary one, is a
// one-line error wrapping [ErrUnknownFormat]. Nothing in the input makes
// the package panic.
//
// What it does not do: it does not follow a message across several MTAs'
// logs, does not read Exchange's message tracking logs (only protocol
// logs), and does not resolve host names.
package mtalog
