package smtp

import "strconv"

// Reply line parsing (RFC 5321 §4.2) and RFC 3463 enhanced status codes.
// The assembly of multi-line replies is part of the server side of the
// Decoder's state machine (session.go); this file only reads single lines.

// replyLine is one parsed line of a reply.
type replyLine struct {
	// code is the three-digit reply code.
	code int
	// more is set on a continuation line ("250-...", RFC 5321 §4.2.1): more
	// lines of the same reply follow.
	more bool
	// text is what follows the code and its separator; it aliases the input.
	text []byte
}

// parseReplyLine reads one reply line without its CRLF: a three-digit code
// whose first digit is 2 to 5 (RFC 5321 §4.2: "2yz" to "5yz"; 1yz is never
// used by SMTP), then SP, "-" or the end of the line.
//
// Reply-line = *( Reply-code "-" [ textstring ] CRLF )
//
//	Reply-code [ SP textstring ] CRLF     (RFC 5321 §4.2)
func parseReplyLine(line []byte) (replyLine, bool) {
	if len(line) < 3 || line[0] < '2' || line[0] > '5' || !isDigit(line[1]) || !isDigit(line[2]) {
		return replyLine{}, false
	}
	r := replyLine{code: int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')}
	if len(line) == 3 {
		return r, true
	}
	switch line[3] {
	case ' ':
	case '-':
		r.more = true
	default:
		return replyLine{}, false
	}
	r.text = line[4:]
	return r, true
}

// EnhancedCode is an RFC 3463 enhanced status code: class, subject and
// detail, {5, 7, 1} for "5.7.1", as go-smtp's EnhancedCode. The zero value
// means the reply carried none (a class is 2, 4 or 5, never 0).
type EnhancedCode [3]int

// IsZero reports whether the reply carried no enhanced code.
func (e EnhancedCode) IsZero() bool { return e == EnhancedCode{} }

// Class returns the code's class (RFC 3463 §3.1): 2 success, 4 persistent
// transient failure, 5 permanent failure; 0 for no code.
func (e EnhancedCode) Class() int { return e[0] }

// String returns the code as written on the wire ("5.7.1"), "" for none.
// Leading zeros, which RFC 3463 §2 forbids, are not kept.
func (e EnhancedCode) String() string {
	if e.IsZero() {
		return ""
	}
	return strconv.Itoa(e[0]) + "." + strconv.Itoa(e[1]) + "." + strconv.Itoa(e[2])
}

// MarshalText writes the code as String does, so that JSON shows "5.7.1".
func (e EnhancedCode) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// ParseEnhancedCode reads an enhanced status code as String writes it
// ("5.7.1"); it returns zero for anything else.
func ParseEnhancedCode(s string) EnhancedCode {
	code, rest := splitEnhanced([]byte(s))
	if len(rest) > 0 {
		return EnhancedCode{}
	}
	return code
}

// splitEnhanced takes an RFC 3463 §2 enhanced status code off the front of
// a reply's text: class "." subject "." detail, with class 2, 4 or 5 and
// subject and detail of one to three digits, followed by SP or the end.
// It returns the code (zero if there is none) and the text after it.
// Leading zeros, which §2 forbids, are accepted: the code is evidence, not
// something to validate.
func splitEnhanced(text []byte) (code EnhancedCode, rest []byte) {
	n := enhancedLen(text)
	if n == 0 {
		return EnhancedCode{}, text
	}
	rest = text[n:]
	if len(rest) > 0 {
		rest = rest[1:] // the SP after the code
	}
	part := 0
	for _, c := range text[:n] {
		if c == '.' {
			part++
			continue
		}
		code[part] = code[part]*10 + int(c-'0')
	}
	return code, rest
}

// enhancedLen returns the length of the enhanced status code text starts
// with, or 0 if it does not start with one.
func enhancedLen(text []byte) int {
	if len(text) < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.' {
		return 0
	}
	i := 2
	for part := 0; part < 2; part++ {
		start := i
		for i < len(text) && i-start < 3 && isDigit(text[i]) {
			i++
		}
		if i == start {
			return 0
		}
		if part == 0 {
			if i >= len(text) || text[i] != '.' {
				return 0
			}
			i++
		}
	}
	if i < len(text) && text[i] != ' ' {
		return 0
	}
	return i
}

// isGreetingCode reports whether code may open a session: 220 (service
// ready), 421 (not available) or 554 (no SMTP service here), RFC 5321 §3.1
// and §4.3.2, and 521 (does not accept mail), RFC 7504 §3.
func isGreetingCode(code int) bool {
	return code == 220 || code == 421 || code == 554 || code == 521
}

// Class returns the reply's severity digit (RFC 5321 §4.2.1): 2 positive
// completion, 3 intermediate, 4 transient failure, 5 permanent failure. A
// reply whose basic code was missing (Code 0, anomaly "malformed-reply")
// falls back on the class of its enhanced code, which RFC 3463 §2 defines
// with the same meaning; 0 means neither is known.
func (r *Reply) Class() int {
	if r.Code >= 200 && r.Code < 600 {
		return r.Code / 100
	}
	return r.Enhanced.Class()
}

// OutOfSequence reports whether the reply refuses a command for its place
// in the session: 503 "Bad sequence of commands" (RFC 5321 §4.2.2, §4.3.2),
// such as a RCPT after a refused MAIL ("Need MAIL before RCPT").
func (r *Reply) OutOfSequence() bool { return r.Code == 503 }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
