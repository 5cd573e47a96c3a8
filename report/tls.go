package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/smtp"
	"github.com/smtpscope/smtpscope/tlsrecord"
)

// Rules for TLS: the handshake's facts (tlsrecord, through smtp.TLS) and
// the STARTTLS exchange give causes in layer TLS; a completed handshake is
// no fault and no capture problem. Transactions inferred from records are
// judged here too.

// LayerTLS is the layer of the TLS causes.
const LayerTLS = "TLS"

// The TLS causes.
const (
	// CauseStartTLSRefused: STARTTLS answered 4xx or 5xx.
	CauseStartTLSRefused Cause = "starttls-refused" // TLS
	// CauseStartTLSStripped: the EHLO reply shows a masked extension
	// (XXXXXXXA), the signature of a firewall rewriting it; or it lists no
	// STARTTLS while the same server offered it on other sessions of the
	// input (starttls.go, decided at Builder.Finish).
	CauseStartTLSStripped Cause = "starttls-stripped" // TLS
	// CauseTLSVersionMismatch: a protocol_version alert.
	CauseTLSVersionMismatch Cause = "tls-version-mismatch" // TLS
	// CauseTLSCertRejected: the client aborted right after the server's
	// certificate (an alert in clear in TLS 1.2; in 1.3 an alert-sized
	// record: "probably").
	CauseTLSCertRejected Cause = "tls-cert-rejected" // TLS
	// CauseTLSHandshakeFailed: any other alert, a ClientHello never
	// answered, a handshake cut by FIN or RST, bytes that are not TLS.
	CauseTLSHandshakeFailed Cause = "tls-handshake-failed" // TLS
)

// TLSHandshake is what the records showed of the handshake, in the JSON
// connection's smtp.tls object.
type TLSHandshake struct {
	// Offered is the highest version the ClientHello offered, Negotiated
	// the ServerHello's choice ("" if none was seen).
	Offered     string   `json:"offered,omitempty"`
	Negotiated  string   `json:"negotiated,omitempty"`
	CipherSuite string   `json:"cipher_suite,omitempty"`
	ALPN        []string `json:"alpn,omitempty"`
	// HelloRetry is set when the server asked for a second ClientHello.
	HelloRetry bool `json:"hello_retry,omitempty"`
	// ClientHelloFrame and ServerHelloFrame locate the hellos (0: not seen).
	ClientHelloFrame int `json:"client_hello_frame,omitempty"`
	ServerHelloFrame int `json:"server_hello_frame,omitempty"`
	// Ending is how the handshake ended: complete, alert, probable-alert,
	// fin, rst, gap, capture-end, not-tls, open, or not-captured (implicit
	// TLS picked up after the handshake); EndedBy the side, EndFrame where;
	// HandshakeMS the time from the ClientHello to it.
	Ending      string  `json:"ending"`
	EndedBy     string  `json:"ended_by,omitempty"`
	EndFrame    int     `json:"end_frame,omitempty"`
	HandshakeMS float64 `json:"handshake_ms,omitempty"`
	// Alerts are the alerts in clear (and TLS 1.2's encrypted ones).
	Alerts []TLSAlert `json:"alerts,omitempty"`
	// Certificate is the server's leaf certificate where it was in clear
	// (TLS ≤ 1.2).
	Certificate *TLSCertificate `json:"certificate,omitempty"`
	// Records counts the records each side sent.
	ClientRecords int `json:"client_records"`
	ServerRecords int `json:"server_records"`
	// Conditions are what the record reader met that is not TLS as it
	// should be, or a bound it hit (tlsrecord.Condition: tls-sync-lost,
	// tls-resynchronised, tls-not-a-record, ...).
	Conditions []TLSCondition `json:"conditions,omitempty"`
}

// TLSCondition is one tlsrecord.Condition met by a side at a frame.
type TLSCondition struct {
	Name  string `json:"name"`
	By    string `json:"by"`
	Frame int    `json:"frame"`
}

// TLSAlert is one alert.
type TLSAlert struct {
	By          string `json:"by"`
	Frame       int    `json:"frame"`
	Level       string `json:"level,omitempty"`
	Description string `json:"description"`
	// Decrypted is set when the alert was encrypted on the wire and read
	// with the key log.
	Decrypted bool `json:"decrypted,omitempty"`
}

// alertsOf lists a connection's alerts in frame order: those in clear,
// and the encrypted ones, each replaced by what the key log read in it
// where it was decrypted (a TLS 1.3 alert, which looks like data from
// outside, is added).
func alertsOf(t *smtp.TLS) []tlsrecord.Alert {
	var out []tlsrecord.Alert
	if t.Handshake != nil {
		out = append(out, t.Handshake.Alerts...)
	}
	if t.Decryption == nil || len(t.Decryption.Alerts) == 0 {
		return out
	}
	for _, d := range t.Decryption.Alerts {
		i := slices.IndexFunc(out, func(a tlsrecord.Alert) bool { return a.Protected && a.Dir == d.Dir && a.At.Frame == d.At.Frame })
		if i >= 0 {
			out[i] = d
			continue
		}
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(a, b tlsrecord.Alert) int { return cmp.Compare(a.At.Frame, b.At.Frame) })
	return out
}

// TLSCertificate is the server's leaf certificate.
type TLSCertificate struct {
	Subject    string    `json:"subject"`
	Issuer     string    `json:"issuer"`
	DNSNames   []string  `json:"dns_names,omitempty"`
	NotBefore  time.Time `json:"not_before"`
	NotAfter   time.Time `json:"not_after"`
	SelfSigned bool      `json:"self_signed"`
	// Expired is true when the capture time is past NotAfter.
	Expired bool `json:"expired"`
	// NamesSNI says whether it is valid for the SNI (absent without SNI).
	NamesSNI *bool `json:"names_sni,omitempty"`
}

// TLSDecryption is what came of decrypting a session with the key log:
// state decrypted (its commands and replies are in the report as in
// plaintext), partly-decrypted, failed or inferred (no key: what it carried
// is inferred from the records), with the reason. No key material.
type TLSDecryption struct {
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// ClientRecords and ServerRecords count the protected records
	// decrypted per side; the Failed ones those that were not.
	ClientRecords int `json:"client_records_decrypted"`
	ServerRecords int `json:"server_records_decrypted"`
	ClientFailed  int `json:"client_records_failed,omitempty"`
	ServerFailed  int `json:"server_records_failed,omitempty"`
	// HeldForKey counts the records held while the session waited for
	// its key to reach a followed key log (live --tls-keylog), then read
	// once it came; KeyWaitMS is the capture time it waited. Absent when
	// the key was there in time (or never came: Reason says so).
	HeldForKey int     `json:"held_for_key,omitempty"`
	KeyWaitMS  float64 `json:"key_wait_ms,omitempty"`
}

// decryptionOf builds the JSON decryption object.
func decryptionOf(d *smtp.Decryption) *TLSDecryption {
	if d == nil {
		return nil
	}
	return &TLSDecryption{State: d.State, Reason: d.Reason, ClientRecords: d.Decrypted[0], ServerRecords: d.Decrypted[1],
		ClientFailed: d.Failed[0], ServerFailed: d.Failed[1], HeldForKey: d.HeldForKey, KeyWaitMS: ms(d.KeyWait)}
}

// KeyLateWords says that a session's key came late and how many records
// waited for it ("TLS key came 350 ms late: 12 records held for it"), ""
// when none did.
func KeyLateWords(d *TLSDecryption) string {
	switch {
	case d == nil || d.HeldForKey == 0:
		return ""
	case d.KeyWaitMS > 0:
		return fmt.Sprintf("TLS key came %s late: %d records held for it", durMS(d.KeyWaitMS), d.HeldForKey)
	}
	return fmt.Sprintf("TLS key came late: %d records held for it", d.HeldForKey)
}

// decryptionWords is the TLS line's part on decryption.
func decryptionWords(d *TLSDecryption) string {
	switch {
	case d == nil:
		return ""
	case d.State == smtp.DecryptionDecrypted:
		return "decrypted"
	case d.State == smtp.DecryptionInferred && d.Reason != "":
		return "not decrypted (" + d.Reason + "): inferred"
	case d.State == smtp.DecryptionInferred:
		return "inferred"
	case d.State == smtp.DecryptionFailed:
		return "decryption failed (" + d.Reason + "): inferred"
	}
	return "partly decrypted (" + d.Reason + ")"
}

// tlsOf builds the JSON tls object.
func tlsOf(t *smtp.TLS, red *redactor) *TLS {
	out := &TLS{How: t.How, Frame: t.Frame, Version: t.Version, ServerName: red.host(t.ServerName), Decryption: decryptionOf(t.Decryption)}
	f := t.Handshake
	if f == nil {
		return out
	}
	h := &TLSHandshake{Negotiated: tlsrecord.VersionName(f.Version()), Ending: f.Ending.String(),
		HelloRetry: f.HelloRetryRequest != nil, ClientRecords: f.Records[0], ServerRecords: f.Records[1]}
	if ch := f.ClientHello; ch != nil {
		h.Offered, h.ClientHelloFrame, h.ALPN = tlsrecord.VersionName(ch.MaxVersion()), ch.At.Frame, ch.ALPN
	}
	if sh := f.ServerHello; sh != nil {
		h.ServerHelloFrame, h.CipherSuite = sh.At.Frame, tlsrecord.SuiteName(sh.CipherSuite)
	}
	if f.Ending != tlsrecord.EndOpen {
		h.EndedBy, h.EndFrame = f.EndedBy.String(), f.EndedAt.Frame
		h.HandshakeMS = ms(f.Duration())
	}
	for _, a := range alertsOf(t) {
		al := TLSAlert{By: a.Dir.String(), Frame: a.At.Frame, Description: a.Name(), Decrypted: a.Decrypted}
		switch a.Level {
		case 1:
			al.Level = "warning"
		case 2:
			al.Level = "fatal"
		}
		h.Alerts = append(h.Alerts, al)
		if a.Decrypted && f.Ending == tlsrecord.EndProbableAlert && a.At.Frame == f.EndedAt.Frame {
			h.Ending = tlsrecord.EndAlert.String() // the key log read it
		}
	}
	for _, m := range f.Conditions {
		h.Conditions = append(h.Conditions, TLSCondition{Name: string(m.Condition), By: m.Dir.String(), Frame: m.At.Frame})
	}
	if len(f.Certificates) > 0 && f.Certificates[0].ParseError == "" {
		c := &f.Certificates[0]
		tc := &TLSCertificate{Subject: red.host(c.Subject), Issuer: red.host(c.Issuer), NotBefore: c.NotBefore, NotAfter: c.NotAfter,
			SelfSigned: c.SelfSigned, Expired: c.ExpiredAtCapture}
		for _, n := range c.DNSNames {
			tc.DNSNames = append(tc.DNSNames, red.host(n))
		}
		if t.ServerName != "" {
			ok := c.Names(t.ServerName)
			tc.NamesSNI = &ok
		}
		h.Certificate = tc
	}
	out.Handshake = h
	return out
}

// TLSLine is the one-line summary of a connection's TLS
// ("TLS 1.3 · TLS_AES_128_GCM_SHA256 · SNI relay.example · handshake 4.1 ms"),
// "" without TLS.
func TLSLine(t *TLS) string {
	if t == nil {
		return ""
	}
	h := t.Handshake
	if h == nil {
		return "TLS (" + t.How + ")"
	}
	var parts []string
	switch {
	case h.Negotiated != "":
		parts = append(parts, h.Negotiated)
	case h.Offered != "":
		parts = append(parts, "TLS (client offered up to "+h.Offered+")")
	default:
		parts = append(parts, "TLS ("+t.How+")")
	}
	if h.CipherSuite != "" {
		parts = append(parts, h.CipherSuite)
	}
	if t.ServerName != "" {
		parts = append(parts, "SNI "+t.ServerName)
	}
	for _, w := range []string{decryptionWords(t.Decryption), KeyLateWords(t.Decryption)} {
		if w != "" {
			parts = append(parts, w)
		}
	}
	switch h.Ending {
	case "complete":
		parts = append(parts, fmt.Sprintf("handshake %s", durMS(h.HandshakeMS)))
	case "not-captured":
		parts = append(parts, "handshake before the capture began")
	case "open":
	default:
		parts = append(parts, fmt.Sprintf("handshake ended: %s in frame %d", h.Ending, h.EndFrame))
	}
	return strings.Join(parts, " · ")
}

func durMS(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.1f ms", v)
	}
	return dur(time.Duration(v * float64(time.Millisecond)))
}

// isMaskedExtension reports whether an EHLO keyword is masked as firewall
// ESMTP inspection masks it: X's, the last letter possibly kept
// ("XXXXXXXA" for STARTTLS).
func isMaskedExtension(kw string) bool {
	if i := strings.IndexByte(kw, ' '); i >= 0 {
		kw = kw[:i]
	}
	if len(kw) < 4 {
		return false
	}
	body := strings.TrimRight(kw[:len(kw)-1], "X")
	return body == "" && kw[len(kw)-1] >= 'A' && kw[len(kw)-1] <= 'Z'
}

// diagnoseTLS applies the TLS rules to a session without a failed
// transaction. ok is false when no TLS rule applies.
func diagnoseTLS(c *reassembly.Conn, s *smtp.Session) (Diagnosis, bool) {
	if d, ok := startTLSRefused(c.Stream, s); ok {
		return d, true
	}
	for _, e := range s.Extensions {
		if isMaskedExtension(e) {
			next := "gave up"
			var evidence []Evidence
			for i := range s.Commands {
				switch cmd := &s.Commands[i]; {
				case cmd.Verb == "MAIL":
					next = "went on in plaintext"
				case (cmd.Verb == "EHLO" || cmd.Verb == "LHLO") && cmd.Reply != nil && cmd.Reply.Class() == 2 && evidence == nil:
					evidence = []Evidence{{Frame: cmd.Reply.Frame, Time: cmd.Reply.Time, What: fmt.Sprintf("the EHLO reply shows %s, no STARTTLS", e)}}
				}
			}
			return Diagnosis{Layer: LayerTLS, Cause: CauseStartTLSStripped, Filter: streamFilter(c.Stream) + ` && smtp.rsp.parameter contains "XXXX"`, Evidence: evidence,
				Summary: fmt.Sprintf("The EHLO reply shows the masked extension %q where STARTTLS would be: a firewall's ESMTP inspection (Cisco ASA \"inspect esmtp\") rewrote it, so the client could not upgrade to TLS and %s.", e, next)}, true
		}
	}
	if s.TLS == nil || s.TLS.Handshake == nil {
		return Diagnosis{}, false
	}
	return handshakeDiagnosis(streamFilter(c.Stream), s.TLS.Handshake, alertsOf(s.TLS))
}

// startTLSRefused finds a STARTTLS answered 4xx or 5xx on tcp.stream
// stream and says what the client did next.
func startTLSRefused(stream int, s *smtp.Session) (Diagnosis, bool) {
	for i := range s.Commands {
		cmd := &s.Commands[i]
		if cmd.Verb != "STARTTLS" || cmd.Reply == nil || cmd.Reply.Class() < 4 {
			continue
		}
		next := "gave up"
		for _, later := range s.Commands[i+1:] {
			if later.Verb == "MAIL" {
				next = "went on in plaintext"
				break
			}
		}
		filter := streamFilter(stream)
		return Diagnosis{Layer: LayerTLS, Cause: CauseStartTLSRefused, Filter: filter + " && smtp.req.command == \"STARTTLS\" || " + replyFilter(filter, cmd.Reply.Code, cmd.Reply.Frame),
			Evidence: []Evidence{{Frame: cmd.Frame, Time: cmd.Time, What: "client sent STARTTLS"},
				{Frame: cmd.Reply.Frame, Time: cmd.Reply.Time, What: "server replied " + replyText(cmd.Reply)}},
			Summary: fmt.Sprintf("The server refused STARTTLS (%s); the client %s.", explain(cmd.Reply, s.Banner), next)}, true
	}
	return Diagnosis{}, false
}

// handshakeDiagnosis says why a handshake did not complete; alerts are
// the connection's alerts (alertsOf), the decrypted ones included.
func handshakeDiagnosis(filter string, f *tlsrecord.Facts, alerts []tlsrecord.Alert) (Diagnosis, bool) {
	end := Evidence{Frame: f.EndedAt.Frame, Time: f.EndedAt.Time}
	hello := Evidence{What: "client sent its ClientHello"}
	if f.ClientHello != nil {
		hello.Frame, hello.Time = f.ClientHello.At.Frame, f.ClientHello.At.Time
	}
	var alert *tlsrecord.Alert
	for i := range alerts {
		if !alerts[i].Protected {
			alert = &alerts[i]
			break
		}
	}
	if alert != nil && alert.Decrypted && f.Ending == tlsrecord.EndProbableAlert {
		// The key log opened the alert-sized record: no longer probable.
		return alertDiagnosis(filter, f, alert, hello, end)
	}
	switch f.Ending {
	case tlsrecord.EndComplete, tlsrecord.EndOpen, tlsrecord.EndNotCaptured:
		return Diagnosis{}, false
	case tlsrecord.EndCaptureEnd, tlsrecord.EndGap:
		return Diagnosis{Layer: LayerCapture, Cause: CauseCaptureIncomplete, Filter: filter,
			Summary: "The capture ends (or misses bytes) in the middle of the TLS handshake: whether it completed cannot be told."}, true
	case tlsrecord.EndAlert:
		if alert != nil {
			return alertDiagnosis(filter, f, alert, hello, end)
		}
		end.What = fmt.Sprintf("%s sent an encrypted alert", f.EndedBy)
		return Diagnosis{Layer: LayerTLS, Cause: CauseTLSHandshakeFailed, Filter: filter + " && tls.record.content_type == 21", Evidence: []Evidence{hello, end},
			Summary: fmt.Sprintf("The TLS handshake failed: the %s sent an encrypted alert before it completed.", f.EndedBy)}, true
	case tlsrecord.EndProbableAlert:
		end.What = "client sent an alert-sized encrypted record"
		return Diagnosis{Layer: LayerTLS, Cause: CauseTLSCertRejected, Filter: filter + " && frame.number >= " + fmt.Sprint(f.Finished[reassembly.ServerToClient].Frame),
			Evidence: []Evidence{hello, {Frame: f.Finished[reassembly.ServerToClient].Frame, Time: f.Finished[reassembly.ServerToClient].Time, What: "server's encrypted flight (its certificate inside) ended"}, end},
			Summary:  "The client probably rejected the server's certificate: in TLS 1.3 the certificate and the alert are encrypted, but right after the server's flight the client sent one record the size of an alert, too short for its Finished, and the handshake went no further."}, true
	case tlsrecord.EndNotTLS:
		end.What = fmt.Sprintf("%s sent bytes that are not TLS", f.EndedBy)
		return Diagnosis{Layer: LayerTLS, Cause: CauseTLSHandshakeFailed, Filter: filter, Evidence: []Evidence{end},
			Summary: fmt.Sprintf("After the switch to TLS the %s sent bytes that are not a TLS record.", f.EndedBy)}, true
	}
	// FIN or RST.
	what := "closed the connection"
	if f.Ending == tlsrecord.EndRST {
		what = "reset the connection"
	}
	end.What = fmt.Sprintf("%s %s", f.EndedBy, what)
	if f.ServerHello == nil && f.ClientHello != nil {
		return Diagnosis{Layer: LayerTLS, Cause: CauseTLSHandshakeFailed, Filter: filter + " && tls.handshake.type == 1", Evidence: []Evidence{hello, end},
			Summary: fmt.Sprintf("The ClientHello was never answered: the %s %s instead (a middlebox dropping or refusing TLS, or a server that cannot negotiate).", f.EndedBy, what)}, true
	}
	return Diagnosis{Layer: LayerTLS, Cause: CauseTLSHandshakeFailed, Filter: filter, Evidence: []Evidence{hello, end},
		Summary: fmt.Sprintf("The TLS handshake was cut: the %s %s before it completed.", f.EndedBy, what)}, true
}

// alertDiagnosis words a handshake ended by an alert whose description is
// known: in clear, or decrypted with the key log.
func alertDiagnosis(filter string, f *tlsrecord.Facts, alert *tlsrecord.Alert, hello, end Evidence) (Diagnosis, bool) {
	how := ""
	if alert.Decrypted {
		how = ", encrypted on the wire and read with the key log"
	}
	end.What = fmt.Sprintf("%s sent the alert %s%s", alert.Dir, alert.Name(), how)
	// Wireshark shows tls.alert_message of an encrypted alert only with
	// the key log (tls.keylog_file).
	af := filter + " && tls.alert_message"
	switch {
	case alert.Description == tlsrecord.AlertProtocolVersion:
		offered := "?"
		if f.ClientHello != nil {
			offered = tlsrecord.VersionName(f.ClientHello.MaxVersion())
		}
		return Diagnosis{Layer: LayerTLS, Cause: CauseTLSVersionMismatch, Filter: af, Evidence: []Evidence{hello, end},
			Summary: fmt.Sprintf("The peers share no TLS version: the client offered up to %s and the %s answered protocol_version%s.", offered, alert.Dir, how)}, true
	case tlsrecord.IsCertificateAlert(alert.Description) && alert.Dir == reassembly.ClientToServer:
		return Diagnosis{Layer: LayerTLS, Cause: CauseTLSCertRejected, Filter: af, Evidence: []Evidence{hello, end},
			Summary: fmt.Sprintf("The client rejected the server's certificate (alert %s%s)%s.", alert.Name(), how, certWords(f))}, true
	}
	return Diagnosis{Layer: LayerTLS, Cause: CauseTLSHandshakeFailed, Filter: af, Evidence: []Evidence{hello, end},
		Summary: fmt.Sprintf("The TLS handshake failed: the %s sent the alert %s%s.", alert.Dir, alert.Name(), how)}, true
}

// certWords says what is wrong with the server's certificate, if the
// capture shows it.
func certWords(f *tlsrecord.Facts) string {
	if len(f.Certificates) == 0 || f.Certificates[0].ParseError != "" {
		return ""
	}
	c := &f.Certificates[0]
	var w []string
	if c.SelfSigned {
		w = append(w, "self-signed")
	}
	if c.ExpiredAtCapture {
		w = append(w, "expired "+c.NotAfter.UTC().Format("2006-01-02"))
	}
	if f.ClientHello != nil && f.ClientHello.ServerName != "" && !c.Names(f.ClientHello.ServerName) {
		w = append(w, "not valid for "+f.ClientHello.ServerName)
	}
	if len(w) == 0 {
		return ""
	}
	return "; it is " + strings.Join(w, ", ")
}

// inferredTransaction judges a transaction inferred from TLS records.
func inferredTransaction(c *reassembly.Conn, h *reassembly.Health, tx *smtp.Transaction) Diagnosis {
	inf := tx.Inferred
	filter := fmt.Sprintf("tcp.stream eq %d && frame.number >= %d", c.Stream, tx.DataFrame)
	body := fmt.Sprintf("client sent %s in %d records", sizeWords(inf.Bytes), inf.Records)
	last := Evidence{Frame: tx.EndOfDataFrame, Time: tx.EndOfDataTime, What: "client's last record of the message body (inferred end-of-data)"}
	switch {
	case tx.Incomplete:
		return Diagnosis{Layer: LayerCapture, Cause: CauseCaptureIncomplete, Filter: filter, Evidence: []Evidence{last},
			Summary: "Inferred from TLS records: " + body + ", but the capture misses bytes around it, so whether the server answered cannot be told."}
	case inf.Answered:
		return Diagnosis{Layer: LayerNone, Cause: CauseOK, Filter: filter,
			Evidence: []Evidence{last, {Frame: inf.AnswerFrame, Time: inf.AnswerTime, What: fmt.Sprintf("server answered with a %d-byte record", inf.AnswerLength)}},
			Summary:  fmt.Sprintf("Inferred from TLS records: %s; the server answered %s later with a %d-byte record. Encrypted, a 250 and a 5xx look alike: outcome unknown.", body, dur(inf.Latency(tx.EndOfDataTime)), inf.AnswerLength)}
	case tx.Outcome == smtp.OutcomeAborted:
		// The connection ended inside one of the body's records: no
		// end-of-data was sent. The same rules as a body cut short in
		// clear text, told as inferred.
		end := endEvidence(tx, nil)
		d := abortedDiagnosis(c, h, tx, filter, end)
		d.Summary = fmt.Sprintf("Inferred from TLS records (%s, no key): %s, the last of them cut short, so no end-of-data was sent. %s",
			cmp.Or(inf.Version, "version not captured"), body, d.Summary)
		return d
	case tx.Outcome == smtp.OutcomeNoReply:
		if tx.Ended == smtp.EndCaptureEnded {
			// As for decoded transactions (captureMisses): a reply may
			// still have come.
			return Diagnosis{Layer: LayerCapture, Cause: CauseCaptureIncomplete, Filter: filter, Evidence: []Evidence{last},
				Summary: fmt.Sprintf("Inferred from TLS records: %s; no record from the server for %s, when the capture ended: an answer may still have come, so the outcome is unknown.", body, dur(tx.Waited()))}
		}
		then := map[smtp.EndReason]string{
			smtp.EndClientClosed: fmt.Sprintf("the client then sent a %d-byte record (its QUIT, by its size) and closed", inf.NextLength),
			smtp.EndServerClosed: "the server then closed the connection",
			smtp.EndClientReset:  "the client then reset the connection",
			smtp.EndServerReset:  "the server then reset the connection",
		}[tx.Ended]
		if tx.Ended == smtp.EndClientClosed && inf.NextLength == 0 {
			then = "the client then closed the connection"
		}
		prefix := fmt.Sprintf("Inferred from TLS records (%s, no key): %s; no record from the server for %s; %s. ", cmp.Or(inf.Version, "version not captured"), body, dur(tx.Waited()), then)
		end := Evidence{Frame: tx.EndFrame, Time: tx.EndTime, What: then}
		// What TCP proves comes first, as for a decoded end-of-data.
		if d, ok := noReplyL4(c, h, tx, filter, last, end); ok {
			d.Summary = prefix + d.Summary
			return d
		}
		if !tcpFine(h) {
			d := lossDiagnosis(h, filter, []Evidence{last, end}, fmt.Sprintf("no record came from the server within %s", dur(tx.Waited())))
			d.Summary = prefix + d.Summary
			return d
		}
		return Diagnosis{Layer: LayerL7, Cause: CauseEODNoReply, Filter: filter, Evidence: []Evidence{last, end},
			Summary: prefix + "TCP was healthy: the relay never answered the end-of-data."}
	}
	return Diagnosis{Layer: LayerNone, Cause: CauseOK, Filter: filter, Evidence: []Evidence{last},
		Summary: "Inferred from TLS records: " + body + "; outcome unknown."}
}

// inferredSize is an inferred body's size in the reader's words: "2,053
// bytes" when the suite's record overhead is fixed, "1,000-1,300 bytes"
// when padding makes it a range.
func inferredSize(tx *Transaction) string {
	if tx.SizeMin == tx.SizeMax {
		return Thousands(tx.SizeMax) + " bytes"
	}
	return Thousands(tx.SizeMin) + "-" + Thousands(tx.SizeMax) + " bytes"
}

// tlsWatch is what the TLS incident rules remember of a connection.
type tlsWatch struct {
	// told: a TLS cause was told.
	told bool
	// scan is the first command not looked at for a refused STARTTLS
	// (a STARTTLS waiting for its reply is looked at again).
	scan    int
	refused bool
	// inferred counts the inferred transactions decided; flight is the
	// first frame of the body flight whose eod-timeout was told.
	inferred int
	flight   int
	// compared: the session's STARTTLS offer (or its lack) was looked at
	// against the run's other sessions (compareStartTLS).
	compared bool
}

// tlsIncidents applies the TLS rules to a connection still open, as the
// report will apply them when it ends: a TLS cause once the STARTTLS
// exchange or the handshake shows it; each inferred transaction's failure
// once it is decided (the server's silence ended by the client's QUIT or
// a close); and the timed rule on a message-sized client flight that has
// had no record from the server for EODTimeout (then its later no-reply
// is not told again, as for a decoded end-of-data).
func (rules *IncidentRules) tlsIncidents(w *tlsWatch, f *Facts, now time.Time, timed bool, tell func(Incident)) {
	s := f.Session
	// Mail as buildConnection decides (IsSMTP is set only at the end: a
	// greeting or a command shows it before), not TLS on another port.
	if !s.IsSMTP && s.Banner == nil && len(s.Commands) == 0 && !(s.TLS != nil && f.SMTPPort) {
		return
	}
	w.scanStartTLS(s)
	if !w.told && (w.refused || s.TLS != nil || slices.ContainsFunc(s.Extensions, isMaskedExtension)) {
		if d, ok := diagnoseTLS(f.Conn, s); ok && d.Layer == LayerTLS {
			w.told = true
			tell(incidentOf(d, 0, now))
		}
	}
	if !w.compared {
		rules.compareStartTLS(w, f, tell)
	}
	if s.TLS == nil {
		return
	}
	w.inferredIncidents(f, tell)
	if in, ok := rules.flightTimeout(w, s, now, timed); ok {
		tell(in)
	}
}

// scanStartTLS looks at the commands not seen yet for a STARTTLS refused.
func (w *tlsWatch) scanStartTLS(s *smtp.Session) {
	for ; w.scan < len(s.Commands); w.scan++ {
		if cmd := &s.Commands[w.scan]; cmd.Verb == "STARTTLS" {
			if cmd.Reply == nil {
				return
			}
			w.refused = w.refused || cmd.Reply.Class() >= 4
		}
	}
}

// inferredIncidents tells the failures of the inferred transactions
// decided since the last call.
func (w *tlsWatch) inferredIncidents(f *Facts, tell func(Incident)) {
	s := f.Session
	for ; w.inferred < len(s.TLS.Inferred); w.inferred++ {
		tx := &s.TLS.Inferred[w.inferred]
		if tx.DataFrame == w.flight {
			continue // its eod-timeout was told
		}
		h := f.Conn.Health()
		if d := inferredTransaction(f.Conn, &h, tx); d.Cause != CauseOK && d.Layer != LayerCapture {
			in := incidentOf(d, tx.EndFrame, tx.EndTime)
			in.Message = len(s.Transactions) + w.inferred + 1
			tell(in)
		}
	}
}

// flightTimeout is the end-of-data timeout of the message-sized flight
// under way, once.
func (rules *IncidentRules) flightTimeout(w *tlsWatch, s *smtp.Session, now time.Time, timed bool) (Incident, bool) {
	p := s.TLS.Pending
	if p == nil || !timed || rules.EODTimeout <= 0 || p.DataFrame == w.flight || now.Sub(p.EndOfDataTime) < rules.EODTimeout {
		return Incident{}, false
	}
	w.flight = p.DataFrame
	in := Incident{Time: now, Kind: CauseEODTimeout, Layer: LayerL7, Frame: p.EndOfDataFrame, Message: len(s.Transactions) + len(s.TLS.Inferred) + 1,
		Summary: fmt.Sprintf("Inferred from TLS records: the client sent %s in %d records, a message body by its size, and the end-of-data has been unanswered for %s (no record from the server).",
			sizeWords(p.Inferred.Bytes), p.Inferred.Records, dur(now.Sub(p.EndOfDataTime)))}
	if p.Incomplete {
		in.Kind, in.Layer = CauseCaptureIncomplete, LayerCapture
	}
	return in, true
}

// sizeWords renders a byte count as "1.31 MB", "2.1 kB" or "512 bytes".
func sizeWords(n int64) string {
	switch {
	case n >= 1000*1000:
		return fmt.Sprintf("%.2f MB", float64(n)/1e6)
	case n >= 1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d bytes", n)
}
