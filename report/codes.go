package report

import (
	"strings"

	"github.com/smtpscope/smtpscope/smtp"
)

// The tables basicMeaning, enhancedMeaning and enhancedCodeMeaning live in
// codes_gen.go, generated from docs/SMTP-CODES.md (a copy of the team's
// shared SMTP-CODES notes). Change the document and regenerate; the test
// TestCodesGenerated fails while the two disagree.

//go:generate go run ./internal/gencodes

// codeMeaning explains a reply: the vendor reading of its complete
// enhanced code when the notes give one (Exchange 4.4.2 "Connection
// dropped"), else the RFC 3463 meaning of the enhanced code's
// subject.detail, else the RFC 5321 meaning of the basic code, else "".
// The class digit is ignored for the RFC 3463 meaning because the basic
// code, not the enhanced class, decides the outcome (RFC 5321 §4.2).
func codeMeaning(code int, enhanced string) string {
	if m, ok := enhancedCodeMeaning[enhanced]; ok {
		return m
	}
	if i := strings.IndexByte(enhanced, '.'); i > 0 {
		if m, ok := enhancedMeaning[enhanced[i+1:]]; ok {
			return m
		}
	}
	return basicMeaning[code]
}

// Class is the reply's severity digit as smtp.Reply.Class gives it: 2 to
// 5, from the basic code or else the enhanced one; 0 if neither is known.
func (r *Reply) Class() int {
	x := smtp.Reply{Code: r.Code, Enhanced: smtp.ParseEnhancedCode(r.Enhanced)}
	return x.Class()
}
