package report

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/smtpscope/smtpscope/smtp"
)

// The tables basicMeaning, enhancedMeaning and enhancedCodeMeaning live in
// codes_gen.go, generated from docs/SMTP-CODES.md (a copy of the team's
// shared SMTP-CODES notes). Change the document and regenerate; the test
// TestCodesGenerated fails while the two disagree.

//go:generate go run ./internal/gencodes

// vendorReading is a vendor's own use of a complete enhanced code.
type vendorReading struct {
	vendor, text string
}

// codeMeaning explains a reply's codes, after the server's own text which
// the report quotes first: the RFC 3463 meaning of the enhanced code's
// subject.detail, with beside it the readings of the vendors the server
// is seen to be (seen, from its banner or the reply's text: Exchange's
// "Unable to relay" for 5.7.1 only from an Exchange server); a code only
// one vendor defines (Microsoft 365's 4.7.320) only for that vendor; else
// the RFC 5321 meaning of the basic code; else "". The class digit is
// ignored for the RFC 3463 meaning because the basic code, not the
// enhanced class, decides the outcome (RFC 5321 §4.2).
func codeMeaning(code int, enhanced string, seen vendors) string {
	m := ""
	if i := strings.IndexByte(enhanced, '.'); i > 0 {
		m = enhancedMeaning[enhanced[i+1:]]
	}
	var readings []string
	for _, r := range vendorMeaning[enhanced] {
		if seen.has(r.vendor) {
			readings = append(readings, r.vendor+": "+r.text)
		}
	}
	switch {
	case len(readings) > 0 && m != "":
		return m + " (" + strings.Join(readings, "; ") + ")"
	case len(readings) > 0:
		return strings.Join(readings, "; ")
	case m != "":
		return m
	}
	return basicMeaning[code]
}

// vendors is the evidence of which vendor's software a server runs: the
// words of its banner and of the reply being explained.
type vendors []string

// vendorMarks are the words that show a vendor's software, case aside:
// Exchange's banner says "Microsoft ESMTP MAIL Service", Microsoft 365's
// hosts are under outlook.com, Postfix's banner names it.
var vendorMarks = map[string][]string{
	"Exchange":      {"microsoft", "exchange", "outlook.com"},
	"Microsoft 365": {"outlook.com", "microsoft"},
	"Postfix":       {"postfix"},
}

// has reports whether the evidence names vendor.
func (v vendors) has(vendor string) bool {
	for _, text := range v {
		text = strings.ToLower(text)
		for _, mark := range vendorMarks[vendor] {
			if strings.Contains(text, mark) {
				return true
			}
		}
	}
	return false
}

// Class is the reply's severity digit as smtp.Reply.Class gives it: 2 to
// 5, from the basic code or else the enhanced one; 0 if neither is known.
func (r *Reply) Class() int {
	x := smtp.Reply{Code: r.Code, Enhanced: smtp.ParseEnhancedCode(r.Enhanced)}
	return x.Class()
}

// codes renders a reply's codes as the server sent them: "451 4.7.0",
// "250", or, for a reply that lost its basic code but kept its enhanced
// one (smtp raises malformed-reply for it), "4.7.0" — never a made-up
// "0" — and "no code" when neither is known.
func codes(code int, enhanced string) string {
	switch {
	case code != 0 && enhanced != "":
		return strconv.Itoa(code) + " " + enhanced
	case code != 0:
		return strconv.Itoa(code)
	case enhanced != "":
		return enhanced
	}
	return "no code"
}

// replyFilter is the Wireshark filter for one reply within a connection's
// filter: by its code, or by its frame when it has no basic code (tshark
// shows no smtp.response.code for it).
func replyFilter(filter string, code, frame int) string {
	if code == 0 {
		return fmt.Sprintf("%s && frame.number == %d", filter, frame)
	}
	return fmt.Sprintf("%s && smtp.response.code == %d", filter, code)
}
