package smtp

// Anomalies: their names and how they are recorded.

import (
	"fmt"
)

// Anomaly names (Anomaly.Name), one list as Zeek keeps its SMTP commands in
// SMTP_cmd.def. TestAnomaliesRaised raises each of them from input.
const (
	// AnomalyBareLF: a line ended with a bare LF instead of CRLF (RFC 5321 §2.3.8); raised once per session.
	AnomalyBareLF = "bare-lf"
	// AnomalyBareLFEndOfData: a dot line ended with a bare LF in a body, which some servers take for the end of the message (SMTP smuggling).
	AnomalyBareLFEndOfData = "bare-lf-end-of-data"
	// AnomalyBodyWithoutMail: a message body (DATA's or BDAT's) in a
	// session that shows no MAIL for it and where no gap or mid-stream
	// start can explain the missing MAIL.
	AnomalyBodyWithoutMail = "body-without-mail"
	// AnomalyBodyBefore354: the client sent the message body before the server's 354 (RFC 5321 §4.1.1.4, RFC 2920 §3.1).
	AnomalyBodyBefore354 = "body-before-354"
	// AnomalyCommandAfterSTARTTLS: a command was pipelined behind STARTTLS before its reply (RFC 3207 §4; CVE-2011-0411 command injection).
	AnomalyCommandAfterSTARTTLS = "command-after-starttls"
	// AnomalyCommandDuringAUTH: a command came before the AUTH exchange ended (RFC 4954 §4).
	AnomalyCommandDuringAUTH = "command-during-auth"
	// AnomalyContentGap: bytes one peer sent are missing from the capture.
	AnomalyContentGap = "content-gap"
	// AnomalyEmptyCommand: an empty command line (servers answer it with 500, RFC 5321 §4.2.4).
	AnomalyEmptyCommand = "empty-command"
	// AnomalyEndOfDataInGap: a reply answers an end-of-data the capture lost in a gap.
	AnomalyEndOfDataInGap = "end-of-data-in-gap"
	// AnomalyExcessivePendingCommands: more commands awaited replies than Options.MaxPendingCommands (after Zeek's smtp_excessive_pending_cmds).
	AnomalyExcessivePendingCommands = "excessive-pending-commands"
	// AnomalyHeadersTooLong: no end of the header section in the first bytes of a body that are read for the Message-ID.
	AnomalyHeadersTooLong = "headers-too-long"
	// AnomalyHugeBDATChunk: a BDAT chunk larger than Options.MaxChunkSize (RFC 3030 §2).
	AnomalyHugeBDATChunk = "huge-bdat-chunk"
	// AnomalyInvalidBDATCommand: BDAT without a valid chunk size (RFC 3030 §2).
	AnomalyInvalidBDATCommand = "invalid-bdat-command"
	// AnomalyLateReply: the final reply came after the client gave up (Transaction.LateReply).
	AnomalyLateReply = "late-reply"
	// AnomalyLineTooLong: a command or reply line longer than Options.MaxLineLength.
	AnomalyLineTooLong = "line-too-long"
	// AnomalyMalformedReply: a server line that is not a reply line (RFC 5321 §4.2), or a reply that lost its basic code but kept its enhanced one.
	AnomalyMalformedReply = "malformed-reply"
	// AnomalyNestedMailTransaction: MAIL while an accepted transaction was still open (RFC 5321 §4.1.1.2).
	AnomalyNestedMailTransaction = "nested-mail-transaction"
	// AnomalyOneSidedCapture: the capture holds no byte from the server although the client went past its first command.
	AnomalyOneSidedCapture = "one-sided-capture"
	// AnomalyPartialReply: the server's last reply never ended with CRLF.
	AnomalyPartialReply = "partial-reply"
	// AnomalyPregreet: the client sent lines before the server's greeting (RFC 5321 §3.1; Postfix's postscreen calls it PREGREET).
	AnomalyPregreet = "pregreet"
	// AnomalyReplyBeforeCommand: a reply stamped before the command it answers, in a capture that lacks no client byte: the directions were stamped by clocks that differ (two capture points).
	AnomalyReplyBeforeCommand = "reply-before-command"
	// AnomalyReplyCodeMismatch: a line of a multi-line reply carries another code than its first (RFC 5321 §4.2.1).
	AnomalyReplyCodeMismatch = "reply-code-mismatch"
	// AnomalyReplyDuringBody: the server replied in the middle of the message body.
	AnomalyReplyDuringBody = "reply-during-body"
	// AnomalyReplyTooManyLines: a reply of more lines than Options.MaxReplyLines.
	AnomalyReplyTooManyLines = "reply-too-many-lines"
	// AnomalyRcptWithoutMail: RCPT in a session that shows no MAIL for it
	// and where no gap or mid-stream start can explain the missing MAIL.
	AnomalyRcptWithoutMail = "rcpt-without-mail"
	// AnomalyTLSNotClientHello: the client's first TLS bytes are not a readable ClientHello.
	AnomalyTLSNotClientHello = "tls-not-clienthello"
	// AnomalyTLSWithoutSTARTTLS: the client started TLS in a session without STARTTLS.
	AnomalyTLSWithoutSTARTTLS = "tls-without-starttls"
	// AnomalyTooManyCommands: more commands than Options.MaxCommands; later ones are not listed.
	AnomalyTooManyCommands = "too-many-commands"
	// AnomalyTooManyRecipients: more recipients in one transaction than Options.MaxRecipients.
	AnomalyTooManyRecipients = "too-many-recipients"
	// AnomalyTooManyTransactions: more transactions than Options.MaxTransactions.
	AnomalyTooManyTransactions = "too-many-transactions"
	// AnomalyUnmatchedReply: a reply that answers no command the capture shows (Session.Unmatched).
	AnomalyUnmatchedReply = "unmatched-reply"
	// AnomalyUnterminatedCommand: the client's last line never ended with CRLF.
	AnomalyUnterminatedCommand = "unterminated-command"
	// AnomalyUnterminatedReplyLine: the server's last line never ended with CRLF and is not a reply.
	AnomalyUnterminatedReplyLine = "unterminated-reply-line"
)

// anomalyf records an anomaly, within the bounds.
func (d *Decoder) anomalyf(name string, frame int, format string, args ...any) {
	if d.perName == nil {
		d.perName = make(map[string]int)
	}
	d.perName[name]++
	if d.perName[name] > maxAnomaliesPerName || len(d.s.Anomalies) >= d.opts.MaxAnomalies {
		d.s.AnomaliesDropped++
		return
	}
	d.s.Anomalies = append(d.s.Anomalies, Anomaly{Name: name, Frame: frame, Detail: fmt.Sprintf(format, args...)})
}

// anomalyOnce records an anomaly only the first time it happens.
func (d *Decoder) anomalyOnce(name string, frame int, detail string) {
	if d.perName[name] > 0 {
		d.perName[name]++
		return
	}
	d.anomalyf(name, frame, "%s", detail)
}
