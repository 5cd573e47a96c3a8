package smtp

import (
	"bytes"
	"strings"
)

// verb identifies a client command (RFC 5321 §4.1 and the extensions that
// change how the bytes after a command must be read).
type verb int

const (
	verbUnknown  verb = iota // not an SMTP verb this package knows
	verbEHLO                 // RFC 5321 §4.1.1.1
	verbHELO                 // RFC 5321 §4.1.1.1
	verbLHLO                 // LMTP, RFC 2033 §4.1: one reply per recipient after the data
	verbMAIL                 // RFC 5321 §4.1.1.2
	verbRCPT                 // RFC 5321 §4.1.1.3
	verbDATA                 // RFC 5321 §4.1.1.4
	verbBDAT                 // RFC 3030 §2: a binary chunk of the stated size follows the line
	verbRSET                 // RFC 5321 §4.1.1.5
	verbNOOP                 // RFC 5321 §4.1.1.9
	verbVRFY                 // RFC 5321 §4.1.1.6
	verbEXPN                 // RFC 5321 §4.1.1.7
	verbHELP                 // RFC 5321 §4.1.1.8
	verbQUIT                 // RFC 5321 §4.1.1.10
	verbSTARTTLS             // RFC 3207 §4: after its 220 the connection is TLS
	verbAUTH                 // RFC 4954 §4: base64 responses (secrets) may follow
	verbXEXCH50              // Exchange: after a 354 a binary blob of the stated size follows
	verbOther                // a known verb whose bytes need no special reading (ETRN, XCLIENT, ...)
)

// verbNames maps the verbs to the names Command.Verb records. The strings
// are shared, so recording a verb allocates nothing.
var verbNames = [...]struct {
	name string
	v    verb
}{
	{"EHLO", verbEHLO}, {"HELO", verbHELO}, {"LHLO", verbLHLO},
	{"MAIL", verbMAIL}, {"RCPT", verbRCPT}, {"DATA", verbDATA}, {"BDAT", verbBDAT},
	{"RSET", verbRSET}, {"NOOP", verbNOOP}, {"VRFY", verbVRFY}, {"EXPN", verbEXPN},
	{"HELP", verbHELP}, {"QUIT", verbQUIT}, {"STARTTLS", verbSTARTTLS},
	{"AUTH", verbAUTH},
	// Exchange's own AUTH: a GSSAPI/NTLM exchange of base64 blobs follows,
	// as secret as AUTH's.
	{"X-EXPS", verbAUTH},
	{"XEXCH50", verbXEXCH50},
	{"ETRN", verbOther}, {"ATRN", verbOther}, {"TURN", verbOther}, {"BURL", verbOther},
	{"XCLIENT", verbOther}, {"XFORWARD", verbOther}, {"X-LINK2STATE", verbOther},
	{"SEND", verbOther}, {"SOML", verbOther}, {"SAML", verbOther}, {"VERB", verbOther},
	{"ONEX", verbOther},
}

// unknownVerb is Command.Verb for a line whose first word is not kept: it
// could be a credential (see unknownVerbName).
const unknownVerb = "UNKNOWN"

// command is one parsed command line.
type command struct {
	verb verb
	// name and arg become Command.Verb and Command.Arg.
	name, arg string
	// valid is set when the line has the syntax its verb requires; only
	// valid lines end a resynchronisation after a gap.
	valid bool
	// path is the MAIL reverse-path or the RCPT forward-path without its
	// angle brackets; the null reverse-path stays "<>".
	path string
	// size is MAIL's SIZE= (RFC 1870), BDAT's chunk size or XEXCH50's blob
	// size; -1 when absent.
	size int64
	// body is MAIL's BODY= value (RFC 6152), upper case.
	body string
	// last is set on "BDAT n LAST" (RFC 3030 §2).
	last bool
	// truncated is set on a line whose end a capture gap swallowed (see
	// parseCutCommand); pathTruncated when the gap cut the path itself.
	truncated, pathTruncated bool
}

// parseCommand reads one command line without its CRLF. Verbs are matched
// without regard to case (RFC 5321 §2.4). Arguments of AUTH are reduced to
// the mechanism name and those of unknown verbs are dropped: the initial
// response of AUTH PLAIN carries the password (RFC 4954 §4), and a line
// that is not a known command may be an AUTH response seen out of context.
func parseCommand(line []byte) command {
	tok, rest := line, []byte(nil)
	if sp := bytes.IndexByte(line, ' '); sp >= 0 {
		tok, rest = line[:sp], bytes.TrimLeft(line[sp+1:], " ")
	}
	rest = bytes.TrimRight(rest, " \t")
	c := command{verb: verbUnknown, size: -1}
	for _, vn := range verbNames {
		if len(tok) == len(vn.name) && bytes.EqualFold(tok, []byte(vn.name)) {
			c.verb, c.name = vn.v, vn.name
			break
		}
	}
	switch c.verb {
	case verbUnknown:
		c.name = unknownVerbName(tok)
	case verbEHLO, verbHELO, verbLHLO:
		c.arg = string(rest)
		c.valid = len(rest) > 0
	case verbMAIL:
		c.arg = string(rest)
		c.parseMail(rest)
	case verbRCPT:
		c.arg = string(rest)
		if p, ok := cutPrefixFold(rest, "TO:"); ok {
			var path []byte
			path, _, c.valid = splitPath(p)
			c.path = string(path)
		}
	case verbBDAT:
		c.arg = string(rest)
		c.parseBDAT(rest)
	case verbXEXCH50:
		c.arg = string(rest)
		num, _, _ := bytes.Cut(rest, []byte(" "))
		c.size, c.valid = parseSize(num)
	case verbAUTH:
		mech, _, _ := bytes.Cut(rest, []byte(" "))
		if isMechanism(mech) {
			c.arg = strings.ToUpper(string(mech))
			c.valid = true
		}
	case verbDATA, verbRSET, verbQUIT, verbSTARTTLS:
		c.arg = string(rest)
		c.valid = len(rest) == 0
	case verbVRFY, verbEXPN:
		c.arg = string(rest)
		c.valid = len(rest) > 0
	default: // NOOP, HELP, other known verbs
		c.arg = string(rest)
		c.valid = true
	}
	return c
}

// parseMail reads "FROM:<reverse-path> [SP Mail-parameters]" (RFC 5321
// §4.1.1.2, §4.1.2). A space after the colon, which the RFC forbids but
// many clients send, is accepted.
func (c *command) parseMail(arg []byte) {
	p, ok := cutPrefixFold(arg, "FROM:")
	if !ok {
		return
	}
	path, params, ok := splitPath(p)
	if !ok {
		return
	}
	c.path, c.valid = string(path), true
	c.mailParams(params)
}

// mailParams reads MAIL's parameters (RFC 5321 §4.1.2 Mail-parameters).
func (c *command) mailParams(params []byte) {
	for len(params) > 0 {
		var kv []byte
		kv, params, _ = bytes.Cut(params, []byte(" "))
		k, v, _ := bytes.Cut(kv, []byte("="))
		switch {
		case bytes.EqualFold(k, []byte("SIZE")):
			c.size, _ = parseSize(v) // RFC 1870 §6
		case bytes.EqualFold(k, []byte("BODY")):
			c.body = strings.ToUpper(string(v)) // RFC 6152, RFC 3030 §3
		}
	}
}

// parseCutCommand reads the visible start of a command line whose end a
// capture gap swallowed: a snaplen that keeps the first bytes of each
// segment, or a segment lost in the middle of a line. It accepts only a
// line whose verb is unmistakable and whose command leaves the client
// sending command lines, so that nothing after it is misread: MAIL FROM:
// and RCPT TO: with whatever of the path is visible, and the other
// line-only verbs (EHLO, RSET, QUIT, VRFY, ...) when the visible part
// parses. DATA, BDAT, AUTH, STARTTLS and XEXCH50 change how the bytes
// after them are read, and a cut one is skipped rather than guessed. The
// last parameter of a cut line may itself be cut, so it is dropped.
func parseCutCommand(line []byte) (command, bool) {
	c := parseCommand(line)
	c.truncated = true
	switch c.verb {
	case verbMAIL, verbRCPT:
		prefix := "FROM:"
		if c.verb == verbRCPT {
			prefix = "TO:"
		}
		_, rest, _ := bytes.Cut(line, []byte(" "))
		p, ok := cutPrefixFold(bytes.TrimLeft(rest, " "), prefix)
		if !ok {
			return command{}, false
		}
		path, params, cut := visiblePath(p)
		c.path, c.pathTruncated, c.valid = string(path), cut, true
		c.size, c.body = -1, ""
		if c.verb == verbMAIL {
			c.mailParams(params)
		}
		return c, true
	case verbEHLO, verbHELO, verbLHLO, verbRSET, verbNOOP, verbQUIT, verbVRFY, verbEXPN, verbHELP, verbOther:
		return c, c.valid
	}
	return command{}, false
}

// visiblePath reads a path from the visible start of a cut MAIL or RCPT
// argument: the path as far as it goes (cut set if its end is not
// visible: no ">", or no space after a bare address) and the parameters
// after it whose end is visible.
func visiblePath(p []byte) (path, params []byte, cut bool) {
	p = bytes.TrimLeft(p, " ")
	switch {
	case len(p) == 0:
		return nil, nil, true
	case p[0] == '<':
		end := bytes.IndexByte(p, '>')
		if end < 0 {
			return p[1:], nil, true
		}
		path, params = p[1:end], p[end+1:]
		if len(path) == 0 {
			path = []byte("<>")
		}
	default:
		sp := bytes.IndexByte(p, ' ')
		if sp < 0 {
			return p, nil, true
		}
		path, params = p[:sp], p[sp:]
	}
	// Only parameters followed by a space are known whole.
	if i := bytes.LastIndexByte(params, ' '); i >= 0 {
		params = bytes.TrimLeft(params[:i], " ")
	} else {
		params = nil
	}
	return path, params, false
}

// parseBDAT reads "chunk-size [SP end-marker]" (RFC 3030 §2).
func (c *command) parseBDAT(arg []byte) {
	num, marker, _ := bytes.Cut(arg, []byte(" "))
	size, ok := parseSize(num)
	if !ok {
		return
	}
	marker = bytes.TrimLeft(marker, " ")
	switch {
	case len(marker) == 0:
	case bytes.EqualFold(marker, []byte("LAST")):
		c.last = true
	default:
		return
	}
	c.size, c.valid = size, true
}

// splitPath takes a path off the front of p (after optional spaces): either
// "<...>" or, leniently, a bare address up to the next space. It returns
// the path without brackets ("<>" for the null path), the rest after it,
// and whether a path was found.
func splitPath(p []byte) (path, rest []byte, ok bool) {
	p = bytes.TrimLeft(p, " ")
	if len(p) == 0 {
		return nil, nil, false
	}
	if p[0] == '<' {
		end := bytes.IndexByte(p, '>')
		if end < 0 {
			return nil, nil, false
		}
		path, rest = p[1:end], p[end+1:]
		if len(path) == 0 {
			path = []byte("<>")
		}
		return path, bytes.TrimLeft(rest, " "), true
	}
	path, rest, _ = bytes.Cut(p, []byte(" "))
	return path, bytes.TrimLeft(rest, " "), true
}

// parseSize reads a decimal size of at most 18 digits, which fits int64.
func parseSize(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return -1, false
	}
	var n int64
	for _, c := range b {
		if !isDigit(c) {
			return -1, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// isMechanism reports whether b looks like a SASL mechanism name (RFC 4422
// §3.1: upper-case letters, digits, "-" and "_", at most 20 characters).
// Lower case is accepted because clients send "auth login".
func isMechanism(b []byte) bool {
	if len(b) == 0 || len(b) > 20 {
		return false
	}
	for _, c := range b {
		if !isAlnum(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// unknownVerbName names the first word of an unknown command: unknownVerb,
// whatever the word. A line that is not a known command is, as often as
// not, a body line the client sent after a refused DATA or that a
// desynchronised reading took for a command, or the base64 of a password
// sent in an AUTH exchange the capture did not show: its first word is
// the sender's text, never shown (#14). Known verbs, extensions included,
// are in verbNames.
func unknownVerbName(tok []byte) string {
	if len(tok) == 0 {
		return ""
	}
	return unknownVerb
}

// cutPrefixFold is bytes.CutPrefix without regard to ASCII case.
func cutPrefixFold(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) || !bytes.EqualFold(b[:len(prefix)], []byte(prefix)) {
		return b, false
	}
	return b[len(prefix):], true
}

// looksLikeCommand reports whether a line seen during an AUTH exchange is
// a command rather than a SASL response: responses are base64 (RFC 4954
// §4) and hold no space or colon, while every command that can follow a
// finished exchange has one ("MAIL FROM:", "RCPT TO:") or is a known verb
// with valid syntax and an argument. A bare "QUIT" stays a response: a
// server in the middle of an exchange reads it as base64, and so do we.
func looksLikeCommand(line []byte) bool {
	if bytes.IndexByte(line, ' ') < 0 && bytes.IndexByte(line, ':') < 0 {
		return false
	}
	c := parseCommand(line)
	return c.verb != verbUnknown && c.valid
}

func isAlnum(c byte) bool {
	return isDigit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
}
